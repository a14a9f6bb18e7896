//! The failover controller: the control-plane leader's loop that keeps the cluster map in step
//! with which data nodes are alive.
//!
//! Why the leader, and why through the map: only the Raft leader acts, and every decision is a
//! new epoch of the map written with compare-and-swap, so two controllers (an old leader that
//! has not noticed it lost) can never both promote, and every data node learns the outcome from
//! the same place it learns slot ownership. A primary that might still be running has fenced
//! itself before its lease could end (see [`crate::liveness`]), so a promoted replica is never a
//! second primary taking writes.
//!
//! Each round (after every change of the control plane's state, and every 250 ms) it compares
//! the map with the alive keys:
//! - a node whose alive key is gone (its lease ended) is marked down; if it was a primary with
//!   replicas, the replica with the highest replication offset (asked with ROLE) is promoted
//!   and the old primary becomes one of its replicas, so it rejoins as a replica on return;
//! - a node that restarted (its alive key names a new boot) lost its data: if it was a primary
//!   with a replica, that replica is promoted too; the map then records the new boot, which the
//!   node waits for before it serves as a primary;
//! - a node marked down whose alive key is back is marked up.
//!
//! Nodes never seen alive by this leader get a grace period, so a new cluster or a new leader
//! does not fail over nodes that simply have not renewed with it yet.

use std::collections::{HashMap, HashSet};
use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrocache_topology::map::{ClusterMap, NodeId, NodeState};
use tokio::io::{AsyncReadExt, AsyncWriteExt};

use crate::liveness::{Alive, alive_nodes};
use crate::node::{MapAccess, Node};

/// How often the leader compares the map with the alive keys when nothing changed.
const ROUND: Duration = Duration::from_millis(250);
/// How long a node this leader never saw alive may go without a lease before it is failed.
const GRACE: Duration = Duration::from_secs(2);
/// How long a replica has to tell its replication offset.
const PROBE_TIMEOUT: Duration = Duration::from_millis(300);
/// The audit log's actor for the controller's map changes.
const ACTOR: &str = "failover";

pub async fn run(node: Arc<Node>) {
    let maps = MapAccess { node: node.clone() };
    let mut memory = Memory::default();
    let mut tick = tokio::time::interval(ROUND);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    // A round runs as soon as the state changed (an ended lease deleted an alive key), and on a
    // timer for the grace periods.
    let mut applied = node.sm.revision.subscribe();
    loop {
        tokio::select! {
            _ = node.cancel.cancelled() => return,
            _ = tick.tick() => {}
            changed = applied.changed() => if changed.is_err() { return },
        }
        if !node.is_leader() {
            memory = Memory::default();
            continue;
        }
        let Ok(Some((revision, map))) = maps.current() else { continue };
        let alive: HashMap<String, Alive> = alive_nodes(&node.sm.data.read().kv).into_iter().collect();
        let plan = decide(&map, &alive, &mut memory, Instant::now());
        let Some(mut next) = plan.map else { continue };
        for shard in plan.promote {
            let candidates = &next.shards[shard].replicas;
            let usable: Vec<NodeId> = candidates.iter().filter(|r| usable(&next, &alive, r)).cloned().collect();
            match best_replica(&next, &usable).await {
                Some(chosen) => match next.promote(&chosen) {
                    Ok(promoted) => {
                        tracing::warn!(old = %next.shards[shard].primary, new = %chosen, "failover: promoting a replica");
                        next = promoted;
                    }
                    Err(e) => tracing::error!("failover: {e}"),
                },
                None => tracing::warn!(primary = %next.shards[shard].primary, "failover: no replica answered; retrying"),
            }
        }
        next.epoch = map.epoch;
        if next == map {
            continue;
        }
        next.epoch = map.epoch + 1;
        if let Err(e) = maps.propose(ACTOR, &next, revision).await {
            tracing::debug!("failover: the map changed meanwhile ({}); next round", e.message);
        }
    }
}

/// What the controller remembers between rounds (forgotten when it stops being the leader).
#[derive(Default)]
struct Memory {
    /// Nodes seen alive under this leader: their lease ending is a failure at once.
    seen: HashSet<NodeId>,
    /// Nodes never seen alive, and since when this leader has been waiting for them.
    waiting: HashMap<NodeId, Instant>,
}

/// One round's decision: the next map before promotions (None: nothing to change), and the
/// shards whose primary must be replaced by a replica.
#[derive(Debug, Default)]
struct Plan {
    map: Option<ClusterMap>,
    promote: Vec<usize>,
}

/// Compares `map` with the alive keys (pure, apart from `memory`).
fn decide(map: &ClusterMap, alive: &HashMap<String, Alive>, memory: &mut Memory, now: Instant) -> Plan {
    let mut next = map.clone();
    let mut changed = false;
    let mut promote = Vec::new();
    for node in &mut next.nodes {
        let id = node.id.clone();
        let shard = map.shards.iter().position(|s| s.primary == id);
        let has_replica = shard.is_some_and(|s| map.shards[s].replicas.iter().any(|r| usable(map, alive, r)));
        match alive.get(id.as_str()) {
            Some(record) => {
                memory.seen.insert(id.clone());
                memory.waiting.remove(&id);
                if node.state == NodeState::Down {
                    tracing::info!(node = %id, "failover: node is back");
                    node.state = NodeState::Up;
                    changed = true;
                }
                if node.boot.as_deref() != Some(record.boot.as_str()) {
                    let restarted = node.boot.is_some();
                    node.boot = Some(record.boot.clone());
                    changed = true;
                    if restarted && has_replica {
                        tracing::warn!(node = %id, "failover: a primary restarted without its data");
                        promote.extend(shard);
                    }
                }
            }
            None => {
                let since = *memory.waiting.entry(id.clone()).or_insert(now);
                let failed = memory.seen.contains(&id) || now.duration_since(since) >= GRACE;
                if failed && node.state == NodeState::Up {
                    tracing::warn!(node = %id, "failover: lease ended; node is down");
                    node.state = NodeState::Down;
                    changed = true;
                }
                if failed && has_replica {
                    promote.extend(shard);
                }
            }
        }
    }
    Plan { map: changed.then_some(next).or_else(|| (!promote.is_empty()).then(|| map.clone())), promote }
}

/// Whether `id` may be promoted: up, alive, and its current run known to the map.
fn usable(map: &ClusterMap, alive: &HashMap<String, Alive>, id: &NodeId) -> bool {
    let Some(node) = map.node(id) else { return false };
    let Some(record) = alive.get(id.as_str()) else { return false };
    node.state == NodeState::Up && node.boot.as_deref() == Some(record.boot.as_str())
}

/// The candidate with the highest replication offset among those that answer in time.
async fn best_replica(map: &ClusterMap, candidates: &[NodeId]) -> Option<NodeId> {
    let probes = candidates.iter().map(|id| {
        let addr = map.node(id).map(|n| n.addr.clone()).unwrap_or_default();
        async move { (id.clone(), tokio::time::timeout(PROBE_TIMEOUT, replica_offset(&addr)).await.ok().flatten()) }
    });
    let answers = futures::future::join_all(probes).await;
    answers.into_iter().filter_map(|(id, offset)| Some((offset?, id))).max_by_key(|(offset, _)| *offset).map(|(_, id)| id)
}

/// A replica's replication offset, from its answer to ROLE (`slave host port state offset`).
async fn replica_offset(addr: &str) -> Option<u64> {
    let mut stream = tokio::net::TcpStream::connect(addr).await.ok()?;
    stream.write_all(&ferrocache_resp::Frame::command(&[b"ROLE"])).await.ok()?;
    let mut buf = Vec::with_capacity(256);
    loop {
        if stream.read_buf(&mut buf).await.ok()? == 0 {
            return None;
        }
        if let Some((frame, _)) = ferrocache_resp::frame::parse(&buf).ok()? {
            let ferrocache_resp::Frame::Array(items) = frame else { return None };
            return match items.as_slice() {
                [ferrocache_resp::Frame::Bulk(role), .., ferrocache_resp::Frame::Integer(offset)] if &role[..] == b"slave" => u64::try_from(*offset).ok(),
                _ => None,
            };
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::test_nodes::id;
    use ferrocache_topology::map::{Node as MapNode, Shard};
    use ferrocache_topology::placement::SlotRange;

    /// One shard: node 1 primary, node 2 its replica; node 3 a primary without replica.
    fn map() -> ClusterMap {
        let node = |n: u8| MapNode { boot: Some(format!("boot{n}")), ..crate::test_nodes::node(n) };
        ClusterMap {
            epoch: 5,
            nodes: vec![node(1), node(2), node(3)],
            shards: vec![
                Shard { primary: id(1), replicas: vec![id(2)], slots: vec![SlotRange { start: 0, end: 8191 }] },
                Shard { primary: id(3), replicas: vec![], slots: vec![SlotRange { start: 8192, end: 16383 }] },
            ],
            migrations: vec![],
        }
    }

    fn alive(nodes: &[(u8, &str)]) -> HashMap<String, Alive> {
        nodes.iter().map(|(n, boot)| (id(*n).to_string(), Alive { boot: boot.to_string() })).collect()
    }

    #[test]
    fn all_alive_changes_nothing() {
        let mut memory = Memory::default();
        let plan = decide(&map(), &alive(&[(1, "boot1"), (2, "boot2"), (3, "boot3")]), &mut memory, Instant::now());
        assert!(plan.map.is_none() && plan.promote.is_empty());
    }

    #[test]
    fn a_primary_whose_lease_ended_is_replaced_by_its_replica() {
        let mut memory = Memory::default();
        let now = Instant::now();
        decide(&map(), &alive(&[(1, "boot1"), (2, "boot2"), (3, "boot3")]), &mut memory, now);
        let plan = decide(&map(), &alive(&[(2, "boot2"), (3, "boot3")]), &mut memory, now);
        assert_eq!(plan.promote, vec![0]);
        let next = plan.map.unwrap();
        assert_eq!(next.node(&id(1)).unwrap().state, NodeState::Down);
        // A primary without replicas is only marked down.
        let plan = decide(&map(), &alive(&[(1, "boot1"), (2, "boot2")]), &mut memory, now);
        assert!(plan.promote.is_empty());
        assert_eq!(plan.map.unwrap().node(&id(3)).unwrap().state, NodeState::Down);
    }

    #[test]
    fn nodes_never_seen_alive_get_a_grace_period() {
        let mut memory = Memory::default();
        let now = Instant::now();
        let few = alive(&[(2, "boot2"), (3, "boot3")]);
        assert!(decide(&map(), &few, &mut memory, now).map.is_none(), "node 1 may not have renewed with this leader yet");
        let later = decide(&map(), &few, &mut memory, now + GRACE);
        assert_eq!(later.promote, vec![0]);
    }

    #[test]
    fn a_restarted_primary_hands_its_shard_to_its_replica_and_returning_nodes_come_up() {
        let mut memory = Memory::default();
        let plan = decide(&map(), &alive(&[(1, "again"), (2, "boot2"), (3, "boot3")]), &mut memory, Instant::now());
        assert_eq!(plan.promote, vec![0]);
        assert_eq!(plan.map.unwrap().node(&id(1)).unwrap().boot.as_deref(), Some("again"));
        // First registration (no boot recorded yet) is no restart.
        let mut fresh = map();
        fresh.nodes[0].boot = None;
        let plan = decide(&fresh, &alive(&[(1, "boot1"), (2, "boot2"), (3, "boot3")]), &mut Memory::default(), Instant::now());
        assert!(plan.promote.is_empty());
        assert_eq!(plan.map.unwrap().node(&id(1)).unwrap().boot.as_deref(), Some("boot1"));
        // A node marked down comes back up.
        let mut down = map();
        down.nodes[2].state = NodeState::Down;
        let plan = decide(&down, &alive(&[(1, "boot1"), (2, "boot2"), (3, "boot3")]), &mut Memory::default(), Instant::now());
        assert_eq!(plan.map.unwrap().node(&id(3)).unwrap().state, NodeState::Up);
    }

    #[test]
    fn a_replica_that_is_down_or_restarted_is_not_promoted() {
        let mut memory = Memory::default();
        let now = Instant::now();
        decide(&map(), &alive(&[(1, "boot1"), (2, "boot2"), (3, "boot3")]), &mut memory, now);
        let plan = decide(&map(), &alive(&[(2, "new"), (3, "boot3")]), &mut memory, now);
        assert!(plan.promote.is_empty(), "its replica restarted: no copy of the data left to promote");
    }
}
