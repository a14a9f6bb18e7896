//! CONFIG GET/SET/RESETSTAT/REWRITE/HELP, over the parameter table of
//! [`crate::config`], so run-time changes accept exactly the names and
//! values the command line and the file do.
//!
//! Changes take effect without restarting anything: every reader (accept
//! loop, connections, background task) reads the settings when it needs
//! them. CONFIG SET is all or nothing, like Redis 7.0's.

use std::sync::atomic::Ordering;

use bytes::Bytes;
use ferrocache_store::glob;

use crate::args::text;
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};
use crate::config::{RuntimeSetError, PARAMS};

const FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;

pub static SUBCOMMANDS: &[Spec] = &[
    spec("get", -3, FLAGS, (0, 0, 0), "server", "2.0.0", "Returns the effective values of configuration parameters.", get),
    spec("set", -4, FLAGS, (0, 0, 0), "server", "2.0.0", "Sets configuration parameters in-flight.", set),
    spec("resetstat", 2, FLAGS, (0, 0, 0), "server", "2.0.0", "Resets the server's statistics.", resetstat),
    spec("rewrite", 2, FLAGS, (0, 0, 0), "server", "2.8.0", "Persists the effective configuration to file (not supported).", rewrite),
    spec("help", 2, LOADING | STALE, (0, 0, 0), "server", "5.0.0", "Returns helpful text about the different subcommands.", help),
];

/// `CONFIG GET pattern [pattern ...]`: every parameter name or alias that
/// matches a pattern (case-insensitively), with its value.
fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let patterns: Vec<Vec<u8>> = args[2..].iter().map(|p| p.to_ascii_lowercase()).collect();
    let config = ctx.shared.config.read();
    let mut found = Vec::new();
    for p in PARAMS {
        for name in std::iter::once(&p.name).chain(p.aliases) {
            if patterns.iter().any(|pat| glob::matches(pat, name.as_bytes())) {
                found.push((*name, (p.get)(&config)));
            }
        }
    }
    drop(config);
    ctx.out.map(found.len());
    for (name, value) in found {
        ctx.out.bulk(name.as_bytes());
        ctx.out.bulk(value.as_bytes());
    }
    Ok(())
}

/// `CONFIG SET name value [name value ...]`.
fn set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let words: Vec<String> = args[2..].iter().map(|a| text(a)).collect();
    let pairs: Vec<(&str, &str)> = words.chunks(2).map(|p| (p[0].as_str(), p[1].as_str())).collect();
    ctx.shared.config.write().set_at_runtime(&pairs).map_err(|e| match e {
        RuntimeSetError::Unknown(name) => CmdError::err(format!("Unknown option or number of arguments for CONFIG SET - '{name}'")),
        RuntimeSetError::Rejected { name, reason } => CmdError::err(format!("CONFIG SET failed (possibly related to argument '{name}') - {reason}")),
    })?;
    // The keyspace keeps its own copy of the eviction settings.
    crate::evict::sync_tuning(ctx.shared);
    ctx.out.ok();
    Ok(())
}

/// Zeroes the counters INFO reports (keyspace hits/misses/expired,
/// commands, connections, network bytes, per-command and error statistics).
fn resetstat(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let shared = ctx.shared;
    for db in shared.dbs.iter() {
        db.reset_stats();
    }
    let s = &shared.stats;
    for counter in [&s.commands, &s.net_input_bytes, &s.net_output_bytes, &s.obuf_closed, &shared.clients.rejected, &shared.clients.total_connections]
    {
        counter.store(0, Ordering::Relaxed);
    }
    s.samples.lock().clear();
    shared.cmdstats.reset();
    ctx.out.ok();
    Ok(())
}

/// Settings live in a TOML file the operator owns; it is never rewritten.
fn rewrite(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Err(CmdError::err("CONFIG REWRITE is not supported: there is no config file the server rewrites; edit the TOML file given with --config instead"))
}

fn help(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.help(
        "CONFIG",
        &[
            "GET <pattern>",
            "    Return parameters matching the glob-like <pattern> and their values.",
            "SET <directive> <value>",
            "    Set the configuration <directive> to <value>.",
            "RESETSTAT",
            "    Reset statistics reported by the INFO command.",
            "REWRITE",
            "    Rewrite the configuration file.",
        ],
    )
}
