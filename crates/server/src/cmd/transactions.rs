//! Transactions: MULTI, EXEC, DISCARD, WATCH, UNWATCH.
//!
//! Queued commands run inside EXEC while it holds the server's gate
//! exclusively, so no other client's command interleaves with them; what
//! they change is replicated as one `MULTI ... EXEC` block (see
//! [`crate::repl::propagate::Transaction`]).
//! WATCH registers the client's flag on each key's shard; any write (or an
//! expiry of a key that existed when watched) sets it, and EXEC then
//! answers a null array without running anything.

use bytes::Bytes;

use crate::client::{Client, Multi};
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};
use crate::dispatch::run;
use crate::shared::Shared;

pub static COMMANDS: &[Spec] = &[
    spec("multi", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, (0, 0, 0), "transactions", "1.2.0", "Starts a transaction.", multi),
    spec("exec", 1, NOSCRIPT | LOADING | STALE | EXCLUSIVE | SKIP_SLOWLOG, (0, 0, 0), "transactions", "1.2.0", "Executes all commands in a transaction.", exec),
    spec("discard", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, (0, 0, 0), "transactions", "2.0.0", "Discards a transaction.", discard),
    spec("watch", -2, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, (1, -1, 1), "transactions", "2.2.0", "Monitors changes to keys to determine the execution of a transaction.", watch),
    spec("unwatch", 1, NOSCRIPT | LOADING | STALE | FAST | ALLOW_BUSY, (0, 0, 0), "transactions", "2.2.0", "Forgets about watched keys of a transaction.", unwatch),
];

fn multi(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("MULTI calls can not be nested"));
    }
    ctx.client.multi = Some(Multi::default());
    ctx.out.ok();
    Ok(())
}

fn exec(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let Some(multi) = ctx.client.multi.take() else {
        return Err(CmdError::err("EXEC without MULTI"));
    };
    let touched = ctx.client.watch_flag.is_set() || watched_key_expired(ctx);
    unwatch_all(ctx.shared, ctx.client);
    if multi.failed {
        return Err(CmdError::msg("EXECABORT Transaction discarded because of previous errors."));
    }
    if touched {
        ctx.out.null_array();
        return Ok(());
    }
    ctx.out.array(multi.queued.len());
    let _block = crate::repl::propagate::Transaction::begin(&ctx.shared.repl);
    for (spec, args) in &multi.queued {
        ctx.now = ferrocache_store::clock::now_ms();
        run(ctx, spec, args);
    }
    Ok(())
}

fn watched_key_expired(ctx: &Ctx) -> bool {
    ctx.client
        .watched
        .iter()
        .any(|(db, key)| ctx.shared.dbs[*db].watched_key_expired(key, &ctx.client.watch_flag, ctx.now))
}

fn discard(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    if ctx.client.multi.take().is_none() {
        return Err(CmdError::err("DISCARD without MULTI"));
    }
    unwatch_all(ctx.shared, ctx.client);
    ctx.out.ok();
    Ok(())
}

fn watch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.client.multi.is_some() {
        return Err(CmdError::err("WATCH inside MULTI is not allowed"));
    }
    for key in &args[1..] {
        let db = ctx.client.db;
        if ctx.client.watched.iter().any(|(d, k)| *d == db && k == key) {
            continue;
        }
        ctx.shared.dbs[db].watch(key, &ctx.client.watch_flag, ctx.now);
        ctx.client.watched.push((db, key.clone()));
    }
    ctx.out.ok();
    Ok(())
}

fn unwatch(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    unwatch_all(ctx.shared, ctx.client);
    ctx.out.ok();
    Ok(())
}

/// Drops all of the client's watches and clears its flag.
pub fn unwatch_all(shared: &Shared, client: &mut Client) {
    for (db, key) in client.watched.drain(..) {
        shared.dbs[db].unwatch(&key, &client.watch_flag);
    }
    client.watch_flag.reset();
}
