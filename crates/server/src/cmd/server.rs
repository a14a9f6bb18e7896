//! Server family: keyspace-wide administration (DBSIZE, FLUSHDB, FLUSHALL,
//! SWAPDB), TIME, SHUTDOWN, and the introspection commands, each in its own
//! module: INFO ([`info`]), CONFIG ([`config`]), SLOWLOG ([`slowlog`]),
//! LATENCY ([`latency`]), MONITOR ([`monitor`]) and COMMAND ([`command`]).
//!
//! FLUSHDB, FLUSHALL and SWAPDB run EXCLUSIVE: no other command is in flight,
//! so a client never sees half a flush or half a swap.

mod command;
mod config;
mod info;
mod info_stats;
mod latency;
mod monitor;
mod slowlog;

use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrocache_store::Db;
use tracing::warn;

use crate::args::{int, is};
use crate::command::{container, flags::*, spec, CmdError, CmdResult, Ctx, Spec};

pub static COMMANDS: &[Spec] = &[
    spec("dbsize", 1, READONLY | FAST, (0, 0, 0), "server", "1.0.0", "Returns the number of keys in the database.", dbsize),
    spec("flushdb", -1, WRITE | EXCLUSIVE, (0, 0, 0), "server", "1.0.0", "Removes all keys from a database.", flushdb),
    spec("flushall", -1, WRITE | EXCLUSIVE, (0, 0, 0), "server", "1.0.0", "Removes all keys from all databases.", flushall),
    spec("swapdb", 3, WRITE | FAST | EXCLUSIVE, (0, 0, 0), "server", "4.0.0", "Swaps two Redis databases.", swapdb),
    spec("time", 1, LOADING | STALE | FAST, (0, 0, 0), "server", "2.6.0", "Returns the server time.", time),
    spec("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI | ALLOW_BUSY, (0, 0, 0), "server", "1.0.0", "Shuts down the server.", shutdown),
    spec("info", -1, LOADING | STALE, (0, 0, 0), "server", "1.0.0", "Returns information and statistics about the server.", info::info),
    container("config", -2, "server", "2.0.0", "A container for server configuration commands.", config::SUBCOMMANDS),
    container("slowlog", -2, "server", "2.2.12", "A container for slow log commands.", slowlog::SUBCOMMANDS),
    container("latency", -2, "server", "2.8.13", "A container for latency diagnostics commands.", latency::SUBCOMMANDS),
    spec("monitor", 1, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "server", "1.0.0", "Streams every command the server runs to this connection.", monitor::monitor),
    command::COMMAND,
];

fn dbsize(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.db().len() as i64);
    Ok(())
}

/// Whether a FLUSHDB/FLUSHALL frees memory in the background: `[ASYNC|SYNC]`.
fn flush_mode(args: &[Bytes]) -> Result<bool, CmdError> {
    match args {
        [_] => Ok(false),
        [_, mode] if is(mode, "async") => Ok(true),
        [_, mode] if is(mode, "sync") => Ok(false),
        _ => Err(CmdError::Syntax),
    }
}

/// Empties `dbs`; with `lazy`, the old tables are dropped on a background
/// thread so a large flush does not stall this connection.
fn flush<'a>(dbs: impl Iterator<Item = &'a Db>, lazy: bool) {
    let old: Vec<_> = dbs.flat_map(Db::flush).collect();
    if lazy {
        // If no thread can be started, `old` is dropped right here instead.
        let _ = std::thread::Builder::new().name("lazyfree".into()).spawn(move || drop(old));
    }
}

fn flushdb(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lazy = flush_mode(args)?;
    flush(std::iter::once(ctx.db()), lazy);
    ctx.out.ok();
    Ok(())
}

fn flushall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let lazy = flush_mode(args)?;
    flush(ctx.shared.dbs.iter(), lazy);
    ctx.out.ok();
    Ok(())
}

fn swapdb(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.shared.cluster.is_some() {
        return Err(CmdError::err("SWAPDB is not allowed in cluster mode"));
    }
    // Redis reads both as C ints: anything outside int32 is "invalid".
    let int32 = |arg: &[u8]| int(arg).ok().filter(|n| i32::try_from(*n).is_ok());
    let a = int32(&args[1]).ok_or_else(|| CmdError::err("invalid first DB index"))?;
    let b = int32(&args[2]).ok_or_else(|| CmdError::err("invalid second DB index"))?;
    let dbs = &ctx.shared.dbs;
    let in_range = |i: i64| i >= 0 && (i as u64) < dbs.len() as u64;
    if !in_range(a) || !in_range(b) {
        return Err(CmdError::err("DB index is out of range"));
    }
    let (lo, hi) = (a.min(b) as usize, a.max(b) as usize);
    dbs[lo].swap_with(&dbs[hi]);
    ctx.shared.blocking.dbs_changed(&[lo, hi]);
    ctx.out.ok();
    Ok(())
}

fn time(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let now = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default();
    ctx.out.array(2);
    ctx.out.bulk_int(now.as_secs() as i64);
    ctx.out.bulk_int(now.subsec_micros() as i64);
    Ok(())
}

/// `SHUTDOWN [NOSAVE|SAVE] [NOW] [FORCE] [ABORT]`. Shutdown is immediate
/// here (no save to wait for), so there is never one to ABORT; NOW is
/// implied. SAVE cannot be honoured without persistence: like a failed save
/// in Redis it refuses, unless FORCE.
fn shutdown(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let has = |word: &str| args[1..].iter().any(|a| is(a, word));
    let known = ["nosave", "save", "now", "force", "abort"];
    if args[1..].iter().any(|a| !known.iter().any(|k| is(a, k))) {
        return Err(CmdError::Syntax);
    }
    let abort = has("abort");
    if (abort && args[1..].iter().any(|a| !is(a, "abort"))) || (has("save") && has("nosave")) {
        return Err(CmdError::Syntax);
    }
    if abort {
        return Err(CmdError::err("No shutdown in progress."));
    }
    if has("save") && !has("force") {
        warn!("SHUTDOWN SAVE refused: persistence is not supported (use NOSAVE, or FORCE)");
        return Err(CmdError::err("Errors trying to SHUTDOWN. Check logs."));
    }
    ctx.shared.shutdown.request();
    ctx.client.close = true;
    Ok(())
}

