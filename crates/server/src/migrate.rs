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
//! When the target's shard has replicas, a batch counts as delivered only once they hold it
//! too (WAIT), so a target that crashes mid-migration loses nothing its replica cannot give
//! back after the failover.
//! The mover runs on a blocking thread with blocking I/O: waiting there for the peer while
//! holding the lock stalls no event loop, and depends on no runtime whose workers might be the
//! ones waiting for that lock.

use std::collections::HashMap;
use std::sync::atomic::Ordering;
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrocache_resp::Frame;
use ferrocache_store::db::DumpedKey;
use ferrocache_topology::map::NodeId;
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
/// How often the mover looks for new work when idle, and resends a drained slot the map still lists.
const POLL: Duration = Duration::from_millis(20);
const RESEND: Duration = Duration::from_secs(1);

/// Moves the slots this node is migrating away, one at a time, until the server shuts down;
/// each slot left empty is handed to its target and sent on `drained` (again every second
/// while the map still lists it, in case the first report was lost). Needs a tokio runtime
/// with a blocking pool.
pub async fn run(shared: Arc<Shared>, drained: UnboundedSender<u16>) {
    let worker = tokio::task::spawn_blocking(move || {
        if shared.cluster.is_some() {
            Mover { shared: &shared, drained: &drained, conn: None, reported: HashMap::new(), seen_at: HashMap::new(), target_epoch: HashMap::new() }.run();
        }
    });
    if let Err(e) = worker.await {
        warn!("the slot mover stopped: {e}");
    }
}

/// Slots handed over per pipelined `CLUSTER SETSLOT` round trip.
const HANDOVER_BATCH: usize = 64;

struct Mover<'a> {
    shared: &'a Shared,
    drained: &'a UnboundedSender<u16>,
    conn: Option<BlockingPeer>,
    /// Slots reported drained, and when.
    reported: HashMap<u16, Instant>,
    /// The epoch at which this node first saw each of its migrations: a target serving that
    /// epoch or a later one knows it imports the slot (or already owns it).
    seen_at: HashMap<u16, u64>,
    /// The newest epoch each target (by address) was seen serving.
    target_epoch: HashMap<String, u64>,
}

/// Why a target's slots were put off until the next pass.
enum Skip {
    /// The target does not have the migration's epoch yet.
    NotReady,
    Failed(PeerError),
}

impl From<PeerError> for Skip {
    fn from(e: PeerError) -> Skip {
        Skip::Failed(e)
    }
}

impl Mover<'_> {
    fn cluster(&self) -> &crate::cluster::Cluster {
        self.shared.cluster.as_ref().expect("checked in run")
    }

    fn run(&mut self) {
        while !self.shared.shutdown.is_requested() {
            let map = self.cluster().map();
            let me = self.cluster().my_id();
            let mut work: Vec<(&NodeId, &str, u16)> =
                map.migrations.iter().filter(|m| Some(&m.from) == me.as_ref()).filter_map(|m| Some((&m.to, map.node(&m.to)?.addr.as_str(), m.slot))).collect();
            work.sort_unstable();
            self.reported.retain(|slot, _| work.iter().any(|w| w.2 == *slot));
            self.seen_at.retain(|slot, _| work.iter().any(|w| w.2 == *slot));
            for w in &work {
                self.seen_at.entry(w.2).or_insert(map.epoch);
            }
            self.cluster().retain_ask_ready(&work.iter().map(|w| w.2).collect::<Vec<_>>());
            let mut busy = false;
            for group in work.chunk_by(|a, b| a.0 == b.0) {
                let (to, target) = (group[0].0, group[0].1);
                let due: Vec<u16> = group.iter().map(|w| w.2).filter(|s| self.reported.get(s).is_none_or(|at| at.elapsed() >= RESEND)).collect();
                if due.is_empty() {
                    continue;
                }
                match self.move_slots(to, target, &due) {
                    Ok(moved) => busy |= moved > 0,
                    Err(Skip::NotReady) => tracing::debug!(target, "the target does not import the slots yet"),
                    Err(Skip::Failed(e)) => {
                        warn!(target, "moving slots failed, will retry: {e}");
                        self.conn = None;
                        std::thread::sleep(Duration::from_millis(200));
                    }
                }
                if self.shared.shutdown.is_requested() || self.drained.is_closed() {
                    return;
                }
            }
            if !busy {
                std::thread::sleep(POLL);
            }
        }
    }

    /// Moves `slots` to `target` one after the other, handing them over in batches; returns
    /// how many slots were handed over.
    fn move_slots(&mut self, to: &NodeId, target: &str, slots: &[u16]) -> Result<usize, Skip> {
        if self.conn.as_ref().is_none_or(|c| c.addr() != target) {
            self.conn = Some(BlockingPeer::connect(target, PEER_TIMEOUT)?);
        }
        let mut empty = Vec::new();
        let mut handed = 0;
        for &slot in slots {
            if !self.ask_ready(slot, target)? {
                break;
            }
            let replicas = up_replicas(&self.cluster().map(), to);
            let keys = self.move_slot(slot, replicas)?;
            if keys > 0 {
                info!(slot, keys, target, "slot drained");
            }
            empty.push(slot);
            if empty.len() == HANDOVER_BATCH {
                handed += self.hand_over(to, &mut empty)?;
            }
        }
        handed += self.hand_over(to, &mut empty)?;
        if handed == 0 && !slots.is_empty() && !self.cluster().ask_ready(slots[0]) {
            return Err(Skip::NotReady);
        }
        Ok(handed)
    }

    /// Whether the target is known to import `slot`; asks it for its epoch when that is not
    /// yet known. Marks the slot so that clients are sent on with ASK from now on.
    fn ask_ready(&mut self, slot: u16, target: &str) -> Result<bool, PeerError> {
        let cluster = self.shared.cluster.as_ref().expect("checked in run");
        if cluster.ask_ready(slot) {
            return Ok(true);
        }
        let needed = self.seen_at.get(&slot).copied().unwrap_or(u64::MAX);
        if self.target_epoch.get(target).is_none_or(|&e| e < needed) {
            let peer = self.conn.as_mut().expect("connected");
            let theirs = peer_epoch(peer)?;
            self.target_epoch.insert(target.to_string(), theirs);
        }
        let ready = self.target_epoch[target] >= needed;
        if ready {
            cluster.set_ask_ready(slot, true);
        }
        Ok(ready)
    }

    /// Moves `slot`'s keys until none is left, each batch confirmed by `replicas` replicas of
    /// the target; returns how many moved.
    fn move_slot(&mut self, slot: u16, replicas: usize) -> Result<u64, PeerError> {
        let cluster = self.shared.cluster.as_ref().expect("checked in run");
        let peer = self.conn.as_mut().expect("connected");
        let db = &self.shared.dbs[0];
        let mut moved = 0;
        while !self.shared.shutdown.is_requested() {
            let now = ferrocache_store::clock::now_ms();
            let sent = db.move_slot_batch(slot, BATCH_KEYS, BATCH_BYTES, now, |batch| send(peer, batch, replicas))?;
            if sent.keys == 0 {
                return Ok(moved);
            }
            moved += sent.keys as u64;
            cluster.stats.keys.fetch_add(sent.keys as u64, Ordering::Relaxed);
            cluster.stats.bytes.fetch_add(sent.bytes as u64, Ordering::Relaxed);
        }
        Err(PeerError("shutting down".into()))
    }

    /// Tells the target (`CLUSTER SETSLOT slot NODE target`, pipelined) that it holds every key
    /// of the `empty` slots and may serve them before its map says so, then reports them
    /// drained, so that this node hands them over in the next epoch. Without this the target,
    /// until it had that epoch, would send clients back here with MOVED, and this node,
    /// having it, would send them there. Returns how many were handed over.
    fn hand_over(&mut self, to: &NodeId, empty: &mut Vec<u16>) -> Result<usize, PeerError> {
        if empty.is_empty() {
            return Ok(0);
        }
        let peer = self.conn.as_mut().expect("connected");
        let mut requests = Vec::new();
        for slot in empty.iter() {
            requests.extend_from_slice(&Frame::command(&[b"CLUSTER", b"SETSLOT", slot.to_string().as_bytes(), b"NODE", to.as_str().as_bytes()]));
        }
        let replies = peer.pipeline(&requests, empty.len())?;
        let mut handed = 0;
        for (&slot, reply) in empty.iter().zip(&replies) {
            if !matches!(reply, Frame::Simple(s) if &s[..] == b"OK") {
                warn!(slot, target = peer.addr(), "CLUSTER SETSLOT answered {reply:?}; will retry");
                continue;
            }
            handed += 1;
            self.reported.insert(slot, Instant::now());
            let _ = self.drained.send(slot);
        }
        empty.clear();
        Ok(handed)
    }
}

/// The map epoch the peer serves (CLUSTER INFO `cluster_current_epoch`).
fn peer_epoch(peer: &mut BlockingPeer) -> Result<u64, PeerError> {
    let reply = peer.pipeline(&Frame::command(crate::peer::CLUSTER_INFO), 1)?;
    let text = reply.first().and_then(Frame::as_bytes).map(String::from_utf8_lossy).unwrap_or_default();
    crate::peer::map_epoch(&text).ok_or_else(|| PeerError(format!("{}: no epoch in CLUSTER INFO", peer.addr())))
}

/// How long the target's replicas may take to confirm a batch.
const REPLICA_WAIT_MS: &str = "1000";

/// Restores `batch` on the target, pipelined; every reply must be OK. With `replicas` > 0 the
/// batch also waits (WAIT) until that many of the target's replicas hold it: this node deletes
/// the keys once the batch succeeds, and a target that crashed right after would otherwise
/// take the only copy with it.
fn send(peer: &mut BlockingPeer, batch: &[DumpedKey], replicas: usize) -> Result<(), PeerError> {
    let mut requests = Vec::with_capacity(batch.iter().map(|(k, p, _)| k.len() + p.len() + 64).sum());
    for (key, payload, expire_at) in batch {
        let ttl = expire_at.unwrap_or(0).to_string();
        let args: [&[u8]; 6] = [b"RESTORE-ASKING", key, ttl.as_bytes(), payload, b"REPLACE", b"ABSTTL"];
        requests.extend_from_slice(&Frame::command(&args));
    }
    let wanted = replicas.to_string();
    if replicas > 0 {
        requests.extend_from_slice(&Frame::command(&[b"WAIT", wanted.as_bytes(), REPLICA_WAIT_MS.as_bytes()]));
    }
    let replies = peer.pipeline(&requests, batch.len() + usize::from(replicas > 0))?;
    if let Some(other) = replies[..batch.len()].iter().find(|r| !matches!(r, Frame::Simple(s) if &s[..] == b"OK")) {
        return Err(PeerError(format!("{}: RESTORE-ASKING answered {other:?}", peer.addr())));
    }
    match replies.get(batch.len()) {
        None => Ok(()),
        Some(Frame::Integer(n)) if *n >= replicas as i64 => Ok(()),
        Some(other) => Err(PeerError(format!("{}: {replicas} replica(s) of the target should hold the batch; WAIT answered {other:?}", peer.addr()))),
    }
}

/// The replicas of the shard whose primary is `to` that are up: each holds every batch.
fn up_replicas(map: &ferrocache_topology::map::ClusterMap, to: &NodeId) -> usize {
    let shard = map.shards.iter().find(|s| &s.primary == to);
    shard.map_or(0, |s| s.replicas.iter().filter(|r| map.node(r).is_some_and(|n| n.state == ferrocache_topology::map::NodeState::Up)).count())
}
