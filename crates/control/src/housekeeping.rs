//! The leader's timers: end expired leases and compact old history; and every node's check
//! whether enough writes or bytes were applied to build a snapshot.
//!
//! The state machine never reads a clock, so time only moves forward through commands: the
//! leader notices a lease deadline has passed on its own clock and proposes `ExpireLeases`
//! stamped with that time. Followers run the same loop but do nothing while they follow.

use std::sync::Arc;
use std::time::Duration;

use crate::command::Op;
use crate::node::{Node, now_ms};

/// The actor name the node's own commands carry in the audit log.
pub const SYSTEM_ACTOR: &str = "system";

pub async fn run(node: Arc<Node>) {
    let timers = node.config.timers.clone();
    // The term in which this node, as leader, last refreshed the leases.
    let mut refreshed_term = None;
    let mut lease_tick = tokio::time::interval(Duration::from_millis(timers.lease_check_ms.max(10)));
    let mut compact_tick = tokio::time::interval(Duration::from_millis(timers.compaction_check_ms.max(10)));
    loop {
        tokio::select! {
            _ = node.cancel.cancelled() => return,
            _ = lease_tick.tick() => {
                maybe_snapshot(&node).await;
                if node.is_leader() {
                    refresh_leases(&node, &mut refreshed_term).await;
                    expire_leases(&node).await;
                }
            }
            _ = compact_tick.tick() => compact(&node).await,
        }
    }
}

/// Once per term, a new leader extends every lease to at least half its TTL from now: clients could not
/// keep their leases alive while there was no leader.
async fn refresh_leases(node: &Node, refreshed_term: &mut Option<u64>) {
    let (term, applied_term) = {
        let m = node.raft.metrics();
        let m = m.borrow();
        (m.current_term, m.last_applied.map(|id| id.leader_id.term))
    };
    // Until the leader's own first entry is applied, its state may still miss older leases.
    if *refreshed_term == Some(term) || applied_term != Some(term) {
        return;
    }
    let has_leases = node.sm.data.read().kv.next_lease_deadline().is_some();
    if !has_leases {
        *refreshed_term = Some(term);
        return;
    }
    match node.propose(SYSTEM_ACTOR, Op::RefreshLeases).await {
        Ok(_) => *refreshed_term = Some(term),
        Err(e) => tracing::warn!("lease refresh: {e}"),
    }
}

/// openraft's own policy counts log entries, but an entry may batch up to 512 writes: a node
/// also snapshots (on its own, as every node does) once `snapshot_writes` writes or
/// `snapshot_bytes` bytes were applied since its last snapshot, so the log and the replay
/// after a restart stay bounded under heavy batched load.
async fn maybe_snapshot(node: &Node) {
    let (writes, bytes) = (node.config.snapshot_writes, node.config.snapshot_bytes);
    let due = {
        let mut since = node.sm.since_snapshot.lock();
        let due = (writes > 0 && since.writes >= writes) || (bytes > 0 && since.bytes >= bytes);
        if due {
            // Counted afresh from here, so one build is asked for once.
            *since = Default::default();
        }
        due
    };
    if due && let Err(e) = node.raft.trigger().snapshot().await {
        tracing::warn!("snapshot: {e}");
    }
}

async fn expire_leases(node: &Node) {
    let due = node.sm.data.read().kv.next_lease_deadline().is_some_and(|deadline| deadline <= now_ms());
    if due && let Err(e) = node.propose(SYSTEM_ACTOR, Op::ExpireLeases).await {
        tracing::warn!("lease expiry: {e}");
    }
}

/// Applies the retention settings (`retain_revisions`, `retain_ms`). With a count rule it waits
/// until a tenth of that has piled up beyond it, so compaction is a batch job rather than one
/// command per write.
async fn compact(node: &Node) {
    let (keep, keep_ms) = (node.config.retain_revisions, node.config.retain_ms);
    if !node.is_leader() {
        return;
    }
    let keep_since = (keep_ms > 0).then(|| now_ms().saturating_sub(keep_ms));
    let (target, first) = {
        let data = node.sm.data.read();
        (data.kv.compaction_target(keep, keep_since), data.kv.first_revision())
    };
    let Some(target) = target else { return };
    if target > first + keep / 10
        && let Err(e) = node.propose(SYSTEM_ACTOR, Op::Compact { revision: target }).await
    {
        tracing::warn!("compaction: {e}");
    }
}
