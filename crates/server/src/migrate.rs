//! Live slot migration, the source's side: stream a migrating slot's keys to its new owner.
//!
//! The control plane lists a migration in the map (slot, source, target); this node, when it
//! is the source, moves the slot's keys in batches and reports the slot once it holds none of
//! them, so that the control plane can give the slot to the target in the next epoch.
//!
//! Why a batch is moved while its shard stays locked: the keys are dumped, sent to the target
//! (`RESTORE-ASKING ... REPLACE ABSTTL`, pipelined), acknowledged and deleted here under one
//! hold of the shard lock (see `Db::move_slot_batch`). No command can touch those keys in
//! between, so a write made during the move is either applied here before the batch is taken
//! (and travels with it) or after the keys left (and is sent on with ASK to the target, which
//! then holds them): nothing written is lost, and no deleted key comes back. Only the keys of
//! that one lock shard wait, for one round trip, where Redis's MIGRATE stops the whole server.
//! The mover runs on a blocking thread with blocking I/O: waiting there for the peer while
//! holding the lock stalls no event loop, and depends on no runtime whose workers might be the
//! ones waiting for that lock.

use std::sync::Arc;
use std::sync::atomic::Ordering;
use std::time::Duration;

use ferrocache_resp::Frame;
use ferrocache_store::db::DumpedKey;
use tokio::sync::mpsc::UnboundedSender;
use tracing::{info, warn};

use crate::peer::{BlockingPeer, PeerError};
use crate::shared::Shared;

/// Keys and bytes (keys plus payloads) this node has moved out.
#[derive(Debug, Default)]
pub struct MigrationStats {
    pub keys: std::sync::atomic::AtomicU64,
    pub bytes: std::sync::atomic::AtomicU64,
}

/// Keys per batch, and the payload bytes after which a batch is closed.
const BATCH_KEYS: usize = 512;
const BATCH_BYTES: usize = 1 << 20;
/// How long a peer may take to answer a batch (the batch's lock shard waits as long).
const PEER_TIMEOUT: Duration = Duration::from_secs(2);
/// How often the mover looks for new work, and resends a drained slot the map still lists.
const POLL: Duration = Duration::from_millis(20);
const RESEND: Duration = Duration::from_secs(1);

/// Moves the slots this node is migrating away, one at a time, until the server shuts down;
/// each slot left empty is sent on `drained` (again every second while the map still lists
/// it, in case the first report was lost). Needs a tokio runtime with a blocking pool.
pub async fn run(shared: Arc<Shared>, drained: UnboundedSender<u16>) {
    let worker = tokio::task::spawn_blocking(move || mover(&shared, &drained));
    if let Err(e) = worker.await {
        warn!("the slot mover stopped: {e}");
    }
}

fn mover(shared: &Shared, drained: &UnboundedSender<u16>) {
    let Some(cluster) = &shared.cluster else { return };
    let mut conn: Option<BlockingPeer> = None;
    let mut reported: Vec<(u16, std::time::Instant)> = Vec::new();
    while !shared.shutdown.is_requested() {
        let map = cluster.map();
        let me = cluster.my_id();
        let work: Vec<(u16, String)> = map
            .migrations
            .iter()
            .filter(|m| Some(&m.from) == me.as_ref())
            .filter_map(|m| Some((m.slot, map.node(&m.to)?.addr.clone())))
            .collect();
        reported.retain(|(slot, _)| work.iter().any(|(s, _)| s == slot));
        cluster.retain_ask_ready(&work.iter().map(|(s, _)| *s).collect::<Vec<_>>());
        let mut idle = true;
        for (slot, target) in work {
            if reported.iter().any(|(s, at)| *s == slot && at.elapsed() < RESEND) {
                continue;
            }
            idle = false;
            match move_slot(shared, &mut conn, slot, &target) {
                Ok(keys) => {
                    if keys > 0 {
                        info!(slot, keys, target, "slot drained");
                    }
                    reported.retain(|(s, _)| *s != slot);
                    reported.push((slot, std::time::Instant::now()));
                    if drained.send(slot).is_err() {
                        return;
                    }
                }
                // The target may not have seen the migration's epoch yet: it answers MOVED.
                Err(e) if e.0.contains("MOVED") => {
                    tracing::debug!(slot, target, "the target is not importing yet: {e}");
                    std::thread::sleep(Duration::from_millis(20));
                }
                Err(e) => {
                    warn!(slot, target, "moving the slot failed, will retry: {e}");
                    conn = None;
                    std::thread::sleep(Duration::from_millis(200));
                }
            }
            if shared.shutdown.is_requested() {
                return;
            }
        }
        if idle {
            std::thread::sleep(POLL);
        }
    }
}

/// Moves `slot`'s keys to `target` until none is left; returns how many moved.
fn move_slot(shared: &Shared, conn: &mut Option<BlockingPeer>, slot: u16, target: &str) -> Result<u64, PeerError> {
    if conn.as_ref().is_none_or(|c| c.addr() != target) {
        *conn = Some(BlockingPeer::connect(target, PEER_TIMEOUT)?);
    }
    let peer = conn.as_mut().expect("connected above");
    let cluster = shared.cluster.as_ref().expect("cluster mode");
    if !cluster.ask_ready(slot) {
        let epoch = cluster.map().epoch;
        let theirs = peer_epoch(peer)?;
        if theirs < epoch {
            return Err(PeerError(format!("{target} is at epoch {theirs}, not yet {epoch}: MOVED until it catches up")));
        }
        cluster.set_ask_ready(slot, true);
    }
    let stats = &cluster.stats;
    let db = &shared.dbs[0];
    let mut moved = 0;
    while !shared.shutdown.is_requested() {
        let now = ferrocache_store::clock::now_ms();
        let sent = db.move_slot_batch(slot, BATCH_KEYS, BATCH_BYTES, now, |batch| send(peer, batch))?;
        if sent.keys == 0 {
            return Ok(moved);
        }
        moved += sent.keys as u64;
        stats.keys.fetch_add(sent.keys as u64, Ordering::Relaxed);
        stats.bytes.fetch_add(sent.bytes as u64, Ordering::Relaxed);
    }
    Err(PeerError("shutting down".into()))
}

/// The map epoch the peer serves (CLUSTER INFO `cluster_current_epoch`).
fn peer_epoch(peer: &mut BlockingPeer) -> Result<u64, PeerError> {
    let reply = peer.pipeline(&Frame::command(&[b"CLUSTER", b"INFO"]), 1)?;
    let text = reply.first().and_then(Frame::as_bytes).map(String::from_utf8_lossy).unwrap_or_default();
    crate::peer::info_field(&text, "cluster_current_epoch")
        .and_then(|e| e.parse().ok())
        .ok_or_else(|| PeerError(format!("{}: no epoch in CLUSTER INFO", peer.addr())))
}

/// Restores `batch` on the target, pipelined; every reply must be OK.
fn send(peer: &mut BlockingPeer, batch: &[DumpedKey]) -> Result<(), PeerError> {
    let mut requests = Vec::with_capacity(batch.iter().map(|(k, p, _)| k.len() + p.len() + 64).sum());
    for (key, payload, expire_at) in batch {
        let ttl = expire_at.unwrap_or(0).to_string();
        let args: [&[u8]; 6] = [b"RESTORE-ASKING", key, ttl.as_bytes(), payload, b"REPLACE", b"ABSTTL"];
        requests.extend_from_slice(&Frame::command(&args));
    }
    let replies = peer.pipeline(&requests, batch.len())?;
    match replies.iter().find(|r| !matches!(r, Frame::Simple(s) if &s[..] == b"OK")) {
        None => Ok(()),
        Some(other) => Err(PeerError(format!("{}: RESTORE-ASKING answered {other:?}", peer.addr()))),
    }
}
