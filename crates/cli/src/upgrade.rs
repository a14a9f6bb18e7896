//! `ferrocache deploy upgrade --binary PATH`: a rolling upgrade of a local cluster, one node at
//! a time, with no failed client request.
//!
//! Replicas go first (clients do not use them), each restarted with the new binary by the
//! supervisor and waited for until it is back: same identity, the current map, its replication
//! link up and synced. Then each primary hands its shard to an in-sync replica with a planned
//! failover (writes pause, then get MOVED; nothing is refused or lost) before it restarts as a
//! replica. A node that does not come back healthy in time aborts the upgrade: every node
//! already upgraded, that one included, goes back to its previous binary the same way, newest
//! first, and the command fails saying why.
//!
//! A shard without a replica cannot be upgraded without losing its keys (nodes keep no data
//! across restarts), so the upgrade refuses to start until every shard has one.

use std::path::Path;
use std::time::Duration;

use ferrocache_deploy::local::{LocalDir, NodeProcess, Registry};
use ferrocache_deploy::spec::{Spec, Target};
use ferrocache_server::peer::{PeerConn, info_field, map_epoch, CLUSTER_INFO};
use ferrocache_topology::map::{ClusterMap, NodeId};

use crate::cluster_cmd::{self, Ctx};
use crate::conn::CliError;

/// How long planned failovers may pause writes.
const FAILOVER_PAUSE: Duration = Duration::from_secs(5);

/// One node's step, and what it ran before (for a rollback).
struct Step {
    addr: String,
    id: NodeId,
    old: NodeProcess,
}

pub async fn upgrade(ctx: &Ctx, spec: &Spec, binary: &Path, timeout: Duration, record: impl AsyncFn(serde_json::Value) -> Result<(), CliError>) -> Result<(), CliError> {
    if spec.target != Target::Local {
        return Err(CliError::usage(format!(
            "upgrade replaces local nodes; for {} nodes follow the rendered README (replicas first, `ferrocache cluster failover` before each primary)",
            spec.target.name()
        )));
    }
    let binary = std::path::absolute(binary).map_err(|e| CliError::usage(format!("{}: {e}", binary.display())))?;
    check_binary(&binary)?;
    let what = format!("upgrade to {}", binary.display());
    roll(ctx, spec, &what, timeout, |p| p.binary = binary.clone(), record).await?;
    let dir = LocalDir::new(spec.local_dir());
    let mut registry = dir.registry().map_err(CliError::failed)?;
    registry.binary = Some(binary.clone());
    dir.save_registry(&registry).map_err(CliError::failed)?;
    println!("[OK] every node runs {}", binary.display());
    Ok(())
}

/// Restarts every node of a local cluster with `change` made to its process entry (a new
/// binary, new arguments), one at a time in the safe order; rolls every changed node back if
/// one does not come back healthy. `what` names the change in messages and records.
pub async fn roll(
    ctx: &Ctx,
    spec: &Spec,
    what: &str,
    timeout: Duration,
    change: impl Fn(&mut NodeProcess),
    record: impl AsyncFn(serde_json::Value) -> Result<(), CliError>,
) -> Result<(), CliError> {
    let dir = LocalDir::new(spec.local_dir());
    let registry = dir.registry().map_err(CliError::failed)?;
    let seed = registry.nodes.first().map(|n| n.addr.clone()).ok_or_else(|| CliError::failed("the cluster runs no node: `ferrocache deploy apply` first"))?;
    let map = current_map(ctx, &seed).await?;
    let steps = order(&map, &registry)?;
    println!("{what}: {} node(s), replicas first, then each primary after a planned failover", steps.len());
    let mut done: Vec<&Step> = Vec::new();
    for (i, step) in steps.iter().enumerate() {
        println!("[{}/{}] {}", i + 1, steps.len(), step.addr);
        done.push(step);
        if let Err(e) = replace(ctx, &dir, step, &change, timeout).await {
            let reason = format!("{what}: {}: {}", step.addr, e.message);
            eprintln!("{reason}; rolling back {} node(s)", done.len());
            record(serde_json::json!({ "step": "aborted", "change": what, "reason": reason })).await?;
            for back in done.iter().rev() {
                let restore = |p: &mut NodeProcess| {
                    p.binary = back.old.binary.clone();
                    p.args = back.old.args.clone();
                };
                replace(ctx, &dir, back, &restore, timeout)
                    .await
                    .map_err(|e| CliError::failed(format!("{reason}; rolling {} back failed too: {}", back.addr, e.message)))?;
            }
            return Err(CliError::failed(format!("aborted and rolled back: {reason}")));
        }
        record(serde_json::json!({ "step": "restarted", "change": what, "node": step.addr })).await?;
    }
    Ok(())
}

/// The new binary must exist and answer `--version`.
fn check_binary(binary: &Path) -> Result<(), CliError> {
    let out = std::process::Command::new(binary)
        .arg("--version")
        .output()
        .map_err(|e| CliError::usage(format!("cannot run {}: {e}", binary.display())))?;
    if !out.status.success() {
        return Err(CliError::usage(format!("{} --version failed: is it a ferrocache binary?", binary.display())));
    }
    Ok(())
}

async fn current_map(ctx: &Ctx, seed: &str) -> Result<ClusterMap, CliError> {
    let probe = ctx.probe(seed).await?;
    cluster_cmd::read_map(&probe.client).await?.1.ok_or_else(|| CliError::failed("the cluster has no map yet: `ferrocache deploy apply` first"))
}

/// Replicas, then primaries; refuses a shard without a replica.
fn order(map: &ClusterMap, registry: &Registry) -> Result<Vec<Step>, CliError> {
    let step = |id: &NodeId| -> Result<Step, CliError> {
        let node = map.node(id).ok_or_else(|| CliError::failed(format!("node {id} is in a shard but not in the map")))?;
        let process = registry
            .nodes
            .iter()
            .find(|p| p.addr == node.addr)
            .ok_or_else(|| CliError::failed(format!("{} is not one of this directory's nodes", node.addr)))?;
        Ok(Step { addr: node.addr.clone(), id: id.clone(), old: process.clone() })
    };
    if let Some(alone) = map.shards.iter().find(|s| s.replicas.is_empty()) {
        let addr = map.node(&alone.primary).map_or("?", |n| n.addr.as_str());
        return Err(CliError::failed(format!(
            "the shard of {addr} has no replica, so restarting it would lose its keys: set replicas = 1 or more and apply first"
        )));
    }
    let replicas = map.shards.iter().flat_map(|s| &s.replicas).map(step);
    let primaries = map.shards.iter().map(|s| step(&s.primary));
    replicas.chain(primaries).collect()
}

/// Restarts `step`'s node with `change` made (after a planned failover if it is a primary) and
/// waits until it is healthy.
async fn replace(ctx: &Ctx, dir: &LocalDir, step: &Step, change: &impl Fn(&mut NodeProcess), timeout: Duration) -> Result<(), CliError> {
    let other = dir.registry().map_err(CliError::failed)?.nodes.into_iter().map(|n| n.addr).find(|a| a != &step.addr);
    let other = other.ok_or_else(|| CliError::failed("no other node to talk to"))?;
    let map = current_map(ctx, &other).await?;
    if map.shards.iter().any(|s| s.primary == step.id) {
        // Nodes record their new runs in the map as they restart, so a switchover can meet a
        // map that moved on; it changed nothing then, and is tried again on the new one.
        let mut tries = 0;
        while let Err(e) = crate::cluster_failover::failover(ctx, &step.addr, &other, None, FAILOVER_PAUSE).await {
            tries += 1;
            if tries == 5 || !e.message.contains("changed meanwhile") {
                return Err(e);
            }
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    }
    let was = dir.status().map_err(CliError::failed)?.into_iter().find(|s| s.addr == step.addr);
    let (before, restarts) = (was.as_ref().and_then(|s| s.pid), was.map_or(0, |s| s.restarts));
    let mut registry = dir.registry().map_err(CliError::failed)?;
    let process = registry.nodes.iter_mut().find(|n| n.addr == step.addr).ok_or_else(|| CliError::failed(format!("{} left the directory", step.addr)))?;
    change(process);
    // Restarted even when nothing else changed (a binary rebuilt in place).
    process.generation += 1;
    dir.save_registry(&registry).map_err(CliError::failed)?;
    let deadline = tokio::time::Instant::now() + timeout;
    let mut last = String::from("it has not restarted");
    while tokio::time::Instant::now() < deadline {
        let now = dir.status().map_err(CliError::failed)?.into_iter().find(|s| s.addr == step.addr);
        if let Some(s) = now.filter(|s| s.pid.is_some() && s.pid != before) {
            match healthy(ctx, &step.addr, &step.id, &other).await {
                Ok(()) => return Ok(()),
                Err(why) => last = why,
            }
            if let Some(exit) = s.last_exit.filter(|_| s.restarts > restarts) {
                last = format!("it {exit} ({} time(s))", s.restarts - restarts);
            }
        }
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
    Err(CliError::failed(format!("not healthy after {} s: {last}", timeout.as_secs())))
}

/// Whether the node at `addr` is back as itself, routes by the current map, and (as a replica)
/// has its replication link up and synced.
async fn healthy(ctx: &Ctx, addr: &str, id: &NodeId, other: &str) -> Result<(), String> {
    let mut conn = PeerConn::connect(addr, Duration::from_secs(1)).await.map_err(|e| format!("it does not answer: {e}"))?;
    let me = conn.call_text(&[b"CLUSTER", b"MYID"]).await.map_err(|e| e.to_string())?;
    if me != id.as_str() {
        return Err(format!("it came back as {me}, not {id}"));
    }
    let map = current_map(ctx, other).await.map_err(|e| e.message)?;
    let epoch = map_epoch(&conn.call_text(CLUSTER_INFO).await.map_err(|e| e.to_string())?).unwrap_or(0);
    if epoch < map.epoch {
        return Err(format!("it routes by epoch {epoch}, the map is at {}", map.epoch));
    }
    if map.shards.iter().any(|s| s.replicas.contains(id)) {
        let info = conn.call_text(&[b"INFO", b"replication"]).await.map_err(|e| e.to_string())?;
        if info_field(&info, "master_link_status") != Some("up") || info_field(&info, "master_sync_in_progress") == Some("1") {
            return Err("its replication link is not up and synced".into());
        }
    }
    Ok(())
}
