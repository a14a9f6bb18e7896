//! Replication family: REPLICAOF/SLAVEOF and ROLE for operators, REPLCONF and PSYNC/SYNC for
//! the replica's link to its primary (see [`crate::repl`]).

use std::sync::atomic::Ordering;
use bytes::Bytes;

use crate::args::{is, text};
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};
use crate::repl::primary::SyncRequest;

pub static COMMANDS: &[Spec] = &[
    spec("replicaof", 3, ADMIN | NOSCRIPT | STALE, (0, 0, 0), "server", "5.0.0", "Configures a server as replica of another, or promotes it to a master.", replicaof),
    spec("slaveof", 3, ADMIN | NOSCRIPT | STALE, (0, 0, 0), "server", "1.0.0", "Sets a Redis server as a replica of another, or promotes it to being a master.", replicaof),
    spec("role", 1, NOSCRIPT | LOADING | STALE | FAST, (0, 0, 0), "server", "2.8.12", "Returns the replication role.", role),
    spec("replconf", -1, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "server", "3.0.0", "An internal command for configuring the replication stream.", replconf),
    spec("psync", -3, ADMIN | NOSCRIPT | NO_MULTI, (0, 0, 0), "server", "2.8.0", "An internal command used in replication.", psync),
    spec("sync", 1, ADMIN | NOSCRIPT | NO_MULTI, (0, 0, 0), "server", "1.0.0", "An internal command used in replication.", psync),
    spec("wait", 3, NOSCRIPT, (0, 0, 0), "generic", "3.0.0", "Blocks until the asynchronous replication of all preceding write commands sent by the connection is completed.", wait)
        .described(&[], &["request_policy:all_shards", "response_policy:agg_min"]),
];

/// `WAIT numreplicas timeout`: the replicas that acknowledged this client's last write, at once
/// if enough did (or inside a transaction), else once enough do or the timeout (ms, 0 = none)
/// passes; the connection parks meanwhile (see [`crate::repl::acks`]).
fn wait(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let repl = &ctx.shared.repl;
    if repl.is_replica() {
        return Err(CmdError::err("WAIT cannot be used with replica instances. Please also note that since Redis 4.0 if a replica is configured to be writable (which is not the default) writes to replicas are just local and are not propagated."));
    }
    let needed = crate::args::int(&args[1])?;
    let deadline = crate::args::timeout_ms(&args[2], ctx.now)?;
    let offset = ctx.client.woff;
    let acked = repl.acked(offset);
    if acked as i64 >= needed || crate::repl::propagate::in_transaction() || ctx.client.master {
        ctx.out.int(acked as i64);
        return Ok(());
    }
    ctx.client.wait_acks = Some(crate::repl::acks::AckWait { offset, needed, deadline });
    repl.request_acks();
    Ok(())
}

/// `REPLICAOF host port` follows a primary (dropping this node's data for its copy);
/// `REPLICAOF NO ONE` stops following and makes this node a primary with its data.
fn replicaof(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.shared.cluster.is_some() {
        return Err(CmdError::err("REPLICAOF not allowed in cluster mode."));
    }
    if is(&args[1], "no") && is(&args[2], "one") {
        crate::repl::roles::unfollow(ctx.shared);
        ctx.out.ok();
        return Ok(());
    }
    let port = text(&args[2]).parse::<u16>().ok().filter(|&p| p > 0).ok_or_else(|| CmdError::err("Invalid master port"))?;
    let shared = ctx.shared.repl.shared().ok_or_else(|| CmdError::err("replication is not available on this server"))?;
    if crate::repl::roles::follow(&shared, text(&args[1]).to_string(), port) {
        ctx.out.ok();
    } else {
        ctx.out.simple("OK Already connected to specified master");
    }
    Ok(())
}

/// `ROLE`: master with its replicas' offsets, or slave with its primary and link state.
fn role(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let repl = &ctx.shared.repl;
    let out = &mut *ctx.out;
    if let Some(link) = repl.link.lock().clone() {
        out.array(5);
        out.bulk(b"slave");
        out.bulk(link.host.as_bytes());
        out.int(i64::from(link.port));
        out.bulk(if link.up.load(Ordering::Relaxed) { b"connected" } else { b"connect" });
        out.int(link.offset.load(Ordering::Relaxed) as i64);
        return Ok(());
    }
    let replicas = repl.replicas.lock().clone();
    out.array(3);
    out.bulk(b"master");
    out.int(repl.offset() as i64);
    out.array(replicas.len());
    for r in replicas {
        out.array(3);
        out.bulk(r.ip.as_bytes());
        out.bulk(r.port.to_string().as_bytes());
        out.bulk(r.acked.load(Ordering::Relaxed).to_string().as_bytes());
    }
    Ok(())
}

/// `REPLCONF option value ...` from a replica before PSYNC: its listening port is kept for
/// INFO; the other options (capa, ip-address) are accepted. ACKs go to the feeder directly.
fn replconf(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    for pair in args[1..].chunks(2) {
        if is(&pair[0], "listening-port") {
            ctx.client.replica_port = text(&pair[1]).parse().map_err(|_| CmdError::err("value is not an integer or out of range"))?;
        } else if is(&pair[0], "ack") || is(&pair[0], "getack") {
            return Ok(());
        } else if !(is(&pair[0], "capa") || is(&pair[0], "ip-address")) {
            return Err(CmdError::err(format!("Unrecognized REPLCONF option: {}", text(&pair[0]))));
        }
    }
    ctx.out.ok();
    Ok(())
}

/// `PSYNC replid offset` (or `SYNC`): after this reply-less command the connection feeds the
/// replica (see [`crate::repl::primary::feed`]).
fn psync(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.shared.repl.is_replica() {
        return Err(CmdError::err("a replica of a replica is not supported yet: replicate its primary"));
    }
    // A cluster node without a current lease, or restarted without its data, may have been
    // replaced already: copying it would give its replicas stale or no data.
    if ctx.shared.cluster.as_ref().is_some_and(|c| !c.fence.open()) {
        return Err(CmdError::msg(crate::fence::FENCED));
    }
    let (replid, from) = match args {
        [_, id, from] => (text(id).to_string(), text(from).parse().unwrap_or(-1)),
        _ => ("?".to_string(), -1),
    };
    ctx.client.sync = Some(SyncRequest { replid, from, port: ctx.client.replica_port });
    Ok(())
}
