//! The cluster map: who the nodes are, which shard owns which slots, and
//! the epoch that orders versions of the map.
//!
//! It is state of the control plane's Raft group (the only place it
//! changes); every data node keeps a copy fed by a watch and answers
//! routing from a [`SlotTable`] built from it, so no command waits on Raft.
//! The types serialise with serde so the control plane can store them and
//! the CLI can print them.

use serde::{Deserialize, Serialize};

use crate::placement::SlotRange;
use crate::slot::SLOT_COUNT;

/// A node's identity: 40 hex characters, as Redis Cluster's node ids, so
/// clients that parse CLUSTER NODES accept it. It is chosen once, when a
/// node first joins, and kept across restarts and address changes.
#[derive(Debug, Clone, PartialEq, Eq, PartialOrd, Ord, Hash, Serialize, Deserialize)]
#[serde(try_from = "String", into = "String")]
pub struct NodeId(String);

impl NodeId {
    /// A fresh random id.
    pub fn random() -> NodeId {
        NodeId((0..40).map(|_| char::from_digit(rand::random_range(0..16u32), 16).expect("a hex digit")).collect())
    }

    pub fn as_str(&self) -> &str {
        &self.0
    }
}

impl TryFrom<String> for NodeId {
    type Error = MapError;

    fn try_from(s: String) -> Result<Self, MapError> {
        if s.len() == 40 && s.bytes().all(|b| b.is_ascii_digit() || (b'a'..=b'f').contains(&b)) {
            Ok(NodeId(s))
        } else {
            Err(MapError::BadNodeId(s))
        }
    }
}

impl From<NodeId> for String {
    fn from(id: NodeId) -> String {
        id.0
    }
}

impl std::fmt::Display for NodeId {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

/// What the control plane knows of a node's health.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "lowercase")]
pub enum NodeState {
    /// Serving (its lease is current).
    Up,
    /// Its lease ran out.
    Down,
    /// Leaving: its slots are being moved away.
    Draining,
}

/// A member of the cluster.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Node {
    pub id: NodeId,
    /// `host:port` clients connect to.
    pub addr: String,
    /// URL of its admin API and control plane (`http://host:port`).
    pub admin: String,
    /// Failure domain (rack, zone); replicas avoid their primary's.
    #[serde(default)]
    pub zone: Option<String>,
    /// Share of slots when it is a primary (relative; 0 owns none).
    pub weight: u32,
    pub state: NodeState,
    /// The run of the process the control plane last saw renewing this node's lease (random
    /// per start). A node holds no data across a restart, so a new run of a primary must not
    /// serve as that primary again: the control plane hands its shard to a replica first, and
    /// the node accepts writes only once the map names its current run.
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub boot: Option<String>,
}

/// A primary, its replicas, and the slots they serve.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Shard {
    pub primary: NodeId,
    #[serde(default)]
    pub replicas: Vec<NodeId>,
    #[serde(default)]
    pub slots: Vec<SlotRange>,
}

/// A slot on its way from one shard to another, named by their primaries.
/// While it is listed, the source still owns the slot (MOVED points at it)
/// and answers ASK for keys it no longer holds; the target serves the slot
/// to clients that sent ASKING. Ownership flips, and the entry goes, in one
/// new epoch of the map.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Migration {
    pub slot: u16,
    pub from: NodeId,
    pub to: NodeId,
}

/// The whole map. `epoch` grows with every change, so a node that sees two
/// versions keeps the newer.
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct ClusterMap {
    pub epoch: u64,
    pub nodes: Vec<Node>,
    pub shards: Vec<Shard>,
    /// In slot order. Stored grouped by source and target, as slot ranges (see
    /// [`migration_groups`]).
    #[serde(default, with = "migration_groups")]
    pub migrations: Vec<Migration>,
}

impl ClusterMap {
    pub fn node(&self, id: &NodeId) -> Option<&Node> {
        self.nodes.iter().find(|n| &n.id == id)
    }

    /// The index of the shard `id` serves in (as primary or replica).
    pub fn shard_of_node(&self, id: &NodeId) -> Option<usize> {
        self.shards.iter().position(|s| &s.primary == id || s.replicas.contains(id))
    }

    /// The next epoch of the map with `moves` (slot, new owner's primary)
    /// under way: each slot must be owned by a shard other than the new
    /// owner's and not already moving.
    pub fn start_migrations(&self, moves: &[(u16, NodeId)]) -> Result<ClusterMap, MapError> {
        let table = SlotTable::build(self)?;
        let mut next = self.clone();
        for (slot, to) in moves {
            let from = table.shard_of(*slot).map(|s| self.shards[s].primary.clone()).ok_or(MapError::BadMigration(*slot, "has no owner to leave"))?;
            next.migrations.push(Migration { slot: *slot, from, to: to.clone() });
        }
        next.migrations.sort_by_key(|m| m.slot);
        next.epoch += 1;
        next.validate()?;
        Ok(next)
    }

    /// The next epoch of the map with the migrations of `slots` finished:
    /// each slot now belongs to its target's shard. Slots without a
    /// migration are left alone; `None` if none of them had one.
    pub fn finish_migrations(&self, slots: &[u16]) -> Option<ClusterMap> {
        let done: Vec<&Migration> = self.migrations.iter().filter(|m| slots.contains(&m.slot)).collect();
        if done.is_empty() {
            return None;
        }
        let mut owners = SlotTable::build(self).ok()?.owners();
        for m in &done {
            owners[usize::from(m.slot)] = self.shards.iter().position(|s| s.primary == m.to);
        }
        let mut next = self.clone();
        for (i, shard) in next.shards.iter_mut().enumerate() {
            let mine: Vec<u16> = (0..SLOT_COUNT).filter(|&s| owners[usize::from(s)] == Some(i)).collect();
            shard.slots = crate::placement::ranges(&mine);
        }
        next.migrations.retain(|m| !slots.contains(&m.slot));
        next.epoch += 1;
        Some(next)
    }

    /// The next epoch of the map with `replica` made the primary of its shard in place of the
    /// current one, which becomes the last of its replicas (a failover). Migrations the old
    /// primary had under way now name the new one, which holds the same keys.
    pub fn promote(&self, replica: &NodeId) -> Result<ClusterMap, MapError> {
        let mut next = self.clone();
        let shard = next.shards.iter_mut().find(|s| s.replicas.contains(replica)).ok_or_else(|| MapError::NotAReplica(replica.clone()))?;
        let old = std::mem::replace(&mut shard.primary, replica.clone());
        shard.replicas.retain(|r| r != replica);
        shard.replicas.push(old.clone());
        for m in &mut next.migrations {
            for end in [&mut m.from, &mut m.to] {
                if *end == old {
                    *end = replica.clone();
                }
            }
        }
        next.epoch += 1;
        next.validate()?;
        Ok(next)
    }

    /// The migration of `slot`, if one is under way.
    pub fn migration(&self, slot: u16) -> Option<&Migration> {
        let at = self.migrations.binary_search_by_key(&slot, |m| m.slot).ok();
        // Maps built by hand may list them in any order.
        at.map(|i| &self.migrations[i]).or_else(|| self.migrations.iter().find(|m| m.slot == slot))
    }

    /// Checks what every reader relies on: ids are unique, shards name
    /// known nodes, a node serves in one shard at most, and no slot has
    /// two owners.
    pub fn validate(&self) -> Result<(), MapError> {
        let mut seen = std::collections::HashSet::new();
        for n in &self.nodes {
            if !seen.insert(&n.id) {
                return Err(MapError::DuplicateNode(n.id.clone()));
            }
        }
        let mut serving = std::collections::HashSet::new();
        for s in &self.shards {
            for id in std::iter::once(&s.primary).chain(&s.replicas) {
                if self.node(id).is_none() {
                    return Err(MapError::UnknownNode(id.clone()));
                }
                if !serving.insert(id) {
                    return Err(MapError::NodeInTwoShards(id.clone()));
                }
            }
        }
        let table = SlotTable::build(self)?;
        let mut moving = std::collections::HashSet::new();
        for m in &self.migrations {
            if !moving.insert(m.slot) {
                return Err(MapError::BadMigration(m.slot, "is listed twice"));
            }
            let primary_of = |id: &NodeId| self.shards.iter().position(|s| &s.primary == id);
            let (Some(from), Some(to)) = (primary_of(&m.from), primary_of(&m.to)) else {
                return Err(MapError::BadMigration(m.slot, "must go from one shard's primary to another's"));
            };
            if from == to || table.shard_of(m.slot) != Some(from) {
                return Err(MapError::BadMigration(m.slot, "must leave the shard that owns it for another"));
            }
        }
        Ok(())
    }
}

/// A rebalance as it was planned: every slot it moves and to which primary. The rebalancer
/// gives the map a window of these at a time, so the map alone shows only the slots moving
/// now; kept beside it, the plan tells how far the whole rebalance has come, read from the
/// map as it is (a slot is moved once its target's shard owns it), whoever looks and whenever.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct RebalancePlan {
    /// When it started, in milliseconds since the Unix epoch.
    pub started_ms: u64,
    /// Stored like the map's migrations: grouped by source and target, as slot ranges.
    #[serde(with = "migration_groups")]
    pub moves: Vec<Migration>,
}

/// How far the slots a plan moves from one primary to another have come.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
pub struct MoveProgress {
    pub from: NodeId,
    pub to: NodeId,
    /// Slots planned, those now owned by the target's shard, and those migrating right now.
    pub slots: usize,
    pub moved: usize,
    pub moving: usize,
}

impl RebalancePlan {
    /// The plan of a rebalance starting at `now_ms` with `moves`. If `previous` is one that did
    /// not finish (it was interrupted, and this one takes over what it left), the new plan
    /// carries its start and the moves it had already made, so that progress reads as one
    /// rebalance rather than starting again from zero.
    pub fn continuing(previous: Option<&RebalancePlan>, map: &ClusterMap, moves: Vec<Migration>, now_ms: u64) -> RebalancePlan {
        let unfinished = previous.filter(|p| p.progress(map).iter().any(|g| g.moved < g.slots));
        let Some(previous) = unfinished else {
            return RebalancePlan { started_ms: now_ms, moves };
        };
        let table = SlotTable::build(map).ok();
        let replanned: std::collections::HashSet<u16> = moves.iter().map(|m| m.slot).collect();
        let done = |m: &&Migration| moved(map, table.as_ref(), m) && !replanned.contains(&m.slot);
        let mut all: Vec<Migration> = previous.moves.iter().filter(done).cloned().collect();
        all.extend(moves);
        all.sort_by_key(|m| m.slot);
        RebalancePlan { started_ms: previous.started_ms, moves: all }
    }

    /// Progress per (source, target) pair, in the plan's order, against `map`. The target is
    /// found by shard, so a failover of either side during the move changes nothing.
    pub fn progress(&self, map: &ClusterMap) -> Vec<MoveProgress> {
        let table = SlotTable::build(map).ok();
        let mut out: Vec<MoveProgress> = Vec::new();
        for m in &self.moves {
            let moved = moved(map, table.as_ref(), m);
            let moving = !moved && map.migration(m.slot).is_some();
            let at = match out.iter().position(|g| g.from == m.from && g.to == m.to) {
                Some(at) => at,
                None => {
                    out.push(MoveProgress { from: m.from.clone(), to: m.to.clone(), slots: 0, moved: 0, moving: 0 });
                    out.len() - 1
                }
            };
            let group = &mut out[at];
            group.slots += 1;
            group.moved += usize::from(moved);
            group.moving += usize::from(moving);
        }
        out
    }
}

/// Whether `m`'s slot is owned by the shard `m.to` serves in (`table` is `map`'s).
fn moved(map: &ClusterMap, table: Option<&SlotTable>, m: &Migration) -> bool {
    let target = map.shard_of_node(&m.to);
    target.is_some() && table.and_then(|t| t.shard_of(m.slot)) == target
}

/// Which shard owns each slot: the lookup behind MOVED, built once per
/// map version (32 KiB, one array index per command).
#[derive(Clone)]
pub struct SlotTable {
    owner: Box<[u16; SLOT_COUNT as usize]>,
}

impl std::fmt::Debug for SlotTable {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "SlotTable({} slots assigned)", self.assigned())
    }
}

/// A slot nobody owns.
const NOBODY: u16 = u16::MAX;

impl SlotTable {
    pub fn build(map: &ClusterMap) -> Result<SlotTable, MapError> {
        let mut owner = Box::new([NOBODY; SLOT_COUNT as usize]);
        for (i, shard) in map.shards.iter().enumerate() {
            for r in &shard.slots {
                if r.start > r.end || r.end >= SLOT_COUNT {
                    return Err(MapError::BadRange(*r));
                }
                for slot in r.start..=r.end {
                    let o = &mut owner[usize::from(slot)];
                    if *o != NOBODY {
                        return Err(MapError::SlotTwice(slot));
                    }
                    *o = i as u16;
                }
            }
        }
        Ok(SlotTable { owner })
    }

    /// The index (in the map's `shards`) of the shard owning `slot`.
    pub fn shard_of(&self, slot: u16) -> Option<usize> {
        self.owner.get(usize::from(slot)).copied().filter(|&o| o != NOBODY).map(usize::from)
    }

    /// Slots with an owner (CLUSTER INFO `cluster_slots_assigned`).
    pub fn assigned(&self) -> usize {
        self.owner.iter().filter(|&&o| o != NOBODY).count()
    }

    /// Each slot's owner, for [`crate::placement::rebalance`].
    pub fn owners(&self) -> Vec<Option<usize>> {
        self.owner.iter().map(|&o| (o != NOBODY).then_some(usize::from(o))).collect()
    }
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum MapError {
    BadNodeId(String),
    DuplicateNode(NodeId),
    UnknownNode(NodeId),
    NodeInTwoShards(NodeId),
    BadRange(SlotRange),
    SlotTwice(u16),
    BadMigration(u16, &'static str),
    NotAReplica(NodeId),
}

impl std::fmt::Display for MapError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            MapError::BadNodeId(s) => write!(f, "node id {s:?} is not 40 lower-case hex characters"),
            MapError::DuplicateNode(id) => write!(f, "node {id} is listed twice"),
            MapError::UnknownNode(id) => write!(f, "a shard names node {id}, which is not a member"),
            MapError::NodeInTwoShards(id) => write!(f, "node {id} serves in two shards"),
            MapError::BadRange(r) => write!(f, "slot range {}-{} is not within 0-{}", r.start, r.end, SLOT_COUNT - 1),
            MapError::SlotTwice(s) => write!(f, "slot {s} is owned by two shards"),
            MapError::BadMigration(s, why) => write!(f, "the migration of slot {s} {why}"),
            MapError::NotAReplica(id) => write!(f, "node {id} is no shard's replica"),
        }
    }
}

impl std::error::Error for MapError {}

/// How the map stores its migrations: one entry per (source, target) pair with the slots as
/// ranges, because a rebalance lists thousands of slots at once and the map is written
/// through the control plane's log, kept in its history and sent to every node at every
/// epoch. Listed one object per slot, 5,461 slots made a 570 KB map; grouped, well under 1 KB.
mod migration_groups {
    use serde::{Deserialize, Deserializer, Serialize, Serializer};

    use super::{Migration, NodeId};
    use crate::placement::{ranges, SlotRange};

    #[derive(Serialize, Deserialize)]
    struct Group {
        from: NodeId,
        to: NodeId,
        slots: Vec<SlotRange>,
    }

    pub fn serialize<S: Serializer>(migrations: &[Migration], out: S) -> Result<S::Ok, S::Error> {
        let mut groups: Vec<(&NodeId, &NodeId, Vec<u16>)> = Vec::new();
        for m in migrations {
            match groups.iter_mut().find(|(from, to, _)| *from == &m.from && *to == &m.to) {
                Some((_, _, slots)) => slots.push(m.slot),
                None => groups.push((&m.from, &m.to, vec![m.slot])),
            }
        }
        let groups: Vec<Group> = groups
            .into_iter()
            .map(|(from, to, mut slots)| {
                slots.sort_unstable();
                Group { from: from.clone(), to: to.clone(), slots: ranges(&slots) }
            })
            .collect();
        groups.serialize(out)
    }

    /// Back to one entry per slot, in slot order.
    pub fn deserialize<'de, D: Deserializer<'de>>(input: D) -> Result<Vec<Migration>, D::Error> {
        let groups = Vec::<Group>::deserialize(input)?;
        let mut out = Vec::new();
        for g in groups {
            for r in g.slots {
                if r.start > r.end {
                    return Err(serde::de::Error::custom(format!("slot range {}-{} runs backwards", r.start, r.end)));
                }
                out.extend((r.start..=r.end).map(|slot| Migration { slot, from: g.from.clone(), to: g.to.clone() }));
            }
        }
        out.sort_by_key(|m| m.slot);
        Ok(out)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::placement::split;

    fn node(zone: &str) -> Node {
        Node { id: NodeId::random(), addr: "127.0.0.1:7000".into(), admin: "127.0.0.1:8000".into(), zone: Some(zone.into()), weight: 1, state: NodeState::Up, boot: None }
    }

    fn three_shards() -> ClusterMap {
        let nodes: Vec<Node> = ["a", "b", "c", "a", "b", "c"].into_iter().map(node).collect();
        let runs = split(&[1, 1, 1]).unwrap();
        let shards = (0..3)
            .map(|i| Shard { primary: nodes[i].id.clone(), replicas: vec![nodes[i + 3].id.clone()], slots: runs[i].into_iter().collect() })
            .collect();
        ClusterMap { epoch: 1, nodes, shards, migrations: Vec::new() }
    }

    #[test]
    fn a_valid_map_routes_every_slot() {
        let map = three_shards();
        map.validate().unwrap();
        let table = SlotTable::build(&map).unwrap();
        assert_eq!(table.assigned(), 16384);
        assert_eq!((table.shard_of(0), table.shard_of(5461), table.shard_of(16383)), (Some(0), Some(1), Some(2)));
        assert_eq!(table.shard_of(crate::key_slot(b"foo")), Some(2), "foo is slot 12182");
        assert_eq!(table.shard_of(16384), None, "not a slot");
    }

    #[test]
    fn promoting_a_replica_swaps_it_with_its_primary() {
        let mut map = three_shards();
        let (old, new) = (map.shards[0].primary.clone(), map.shards[0].replicas[0].clone());
        let third = map.shards[2].primary.clone();
        map = map.start_migrations(&[(0, third.clone()), (5461, old.clone())]).unwrap();
        let next = map.promote(&new).unwrap();
        assert_eq!(next.epoch, map.epoch + 1);
        assert_eq!((&next.shards[0].primary, &next.shards[0].replicas), (&new, &vec![old.clone()]));
        assert_eq!(next.shards[0].slots, map.shards[0].slots, "the shard keeps its slots");
        assert_eq!(next.migration(0).map(|m| (&m.from, &m.to)), Some((&new, &third)));
        assert_eq!(next.migration(5461).map(|m| &m.to), Some(&new));
        assert_eq!(map.promote(&old), Err(MapError::NotAReplica(old)), "a primary is no replica");
    }

    #[test]
    fn broken_maps_are_refused_with_the_reason() {
        let mut map = three_shards();
        map.shards[1].slots.push(SlotRange { start: 10, end: 10 });
        assert_eq!(map.validate(), Err(MapError::SlotTwice(10)));
        let mut map = three_shards();
        map.shards[0].slots = vec![SlotRange { start: 16000, end: 16384 }];
        assert!(matches!(map.validate(), Err(MapError::BadRange(_))));
        let mut map = three_shards();
        let stranger = NodeId::random();
        map.shards[2].replicas.push(stranger.clone());
        assert_eq!(map.validate(), Err(MapError::UnknownNode(stranger)));
        let mut map = three_shards();
        let again = map.shards[0].primary.clone();
        map.shards[1].replicas.push(again.clone());
        assert_eq!(map.validate(), Err(MapError::NodeInTwoShards(again)));
        let mut map = three_shards();
        map.nodes.push(map.nodes[0].clone());
        assert!(matches!(map.validate(), Err(MapError::DuplicateNode(_))));
        let mut map = three_shards();
        let (from, to) = (map.shards[0].primary.clone(), map.shards[1].primary.clone());
        map.migrations.push(Migration { slot: 7, from: from.clone(), to: to.clone() });
        map.validate().unwrap();
        assert_eq!(map.migration(7).map(|m| &m.to), Some(&to));
        map.migrations.push(Migration { slot: 7, from: from.clone(), to: to.clone() });
        assert_eq!(map.validate(), Err(MapError::BadMigration(7, "is listed twice")));
        map.migrations = vec![Migration { slot: 6000, from: from.clone(), to: to.clone() }];
        assert!(matches!(map.validate(), Err(MapError::BadMigration(6000, _))), "slot 6000 is not the source's");
        map.migrations = vec![Migration { slot: 7, from: map.shards[0].replicas[0].clone(), to }];
        assert!(matches!(map.validate(), Err(MapError::BadMigration(7, _))), "a replica is not a source");
        let mut map = three_shards();
        map.shards[2].slots.clear();
        assert_eq!(SlotTable::build(&map).unwrap().assigned(), 16384 - 5461);
    }

    #[test]
    fn a_plan_tells_its_progress_from_the_map_through_a_failover() {
        let map = three_shards();
        let (a, b, c) = (map.shards[0].primary.clone(), map.shards[1].primary.clone(), map.shards[2].primary.clone());
        let plan = RebalancePlan {
            started_ms: 1,
            moves: vec![
                Migration { slot: 0, from: a.clone(), to: c.clone() },
                Migration { slot: 1, from: a.clone(), to: c.clone() },
                Migration { slot: 2, from: a.clone(), to: c.clone() },
                Migration { slot: 5461, from: b.clone(), to: c.clone() },
            ],
        };
        let counts = |map: &ClusterMap| plan.progress(map).iter().map(|g| (g.slots, g.moved, g.moving)).collect::<Vec<_>>();
        assert_eq!(counts(&map), [(3, 0, 0), (1, 0, 0)], "nothing started");
        let map = map.start_migrations(&[(0, c.clone()), (1, c.clone()), (5461, c.clone())]).unwrap();
        assert_eq!(counts(&map), [(3, 0, 2), (1, 0, 1)]);
        let map = map.finish_migrations(&[0, 5461]).unwrap();
        assert_eq!(counts(&map), [(3, 1, 1), (1, 1, 0)]);
        // The target's replica takes over: its shard still owns what was moved.
        let map = map.promote(&map.shards[2].replicas[0].clone()).unwrap();
        assert_eq!(counts(&map), [(3, 1, 1), (1, 1, 0)]);
        assert_eq!((&plan.progress(&map)[0].from, &plan.progress(&map)[0].to), (&a, &c), "named as planned");
        // Stored as the map stores migrations: ranges per pair.
        let json = serde_json::to_value(&plan).unwrap();
        assert_eq!(json["moves"][0]["slots"], serde_json::json!([{ "start": 0, "end": 2 }]));
        assert_eq!(serde_json::from_value::<RebalancePlan>(json).unwrap(), plan);
    }

    #[test]
    fn a_rebalance_run_again_after_an_interruption_continues_its_plan() {
        let map = three_shards();
        let (a, c) = (map.shards[0].primary.clone(), map.shards[2].primary.clone());
        let to_c = |slot| Migration { slot, from: a.clone(), to: c.clone() };
        let first = RebalancePlan { started_ms: 10, moves: vec![to_c(0), to_c(1), to_c(2)] };
        // Slot 0 moved, then the rebalance was stopped; run again, it plans the other two.
        let map = map.start_migrations(&[(0, c.clone())]).unwrap().finish_migrations(&[0]).unwrap();
        let again = RebalancePlan::continuing(Some(&first), &map, vec![to_c(1), to_c(2)], 99);
        assert_eq!(again, RebalancePlan { started_ms: 10, moves: vec![to_c(0), to_c(1), to_c(2)] });
        let counts: Vec<_> = again.progress(&map).iter().map(|g| (g.slots, g.moved)).collect();
        assert_eq!(counts, [(3, 1)], "one rebalance, a third done");
        // After a finished one, or with none before, a new rebalance starts its own plan.
        let map = map.start_migrations(&[(1, c.clone()), (2, c.clone())]).unwrap().finish_migrations(&[1, 2]).unwrap();
        assert_eq!(RebalancePlan::continuing(Some(&first), &map, vec![to_c(5)], 99), RebalancePlan { started_ms: 99, moves: vec![to_c(5)] });
        assert_eq!(RebalancePlan::continuing(None, &map, vec![to_c(5)], 99).started_ms, 99);
    }

    #[test]
    fn migrations_start_and_finish_in_new_epochs() {
        let map = three_shards();
        let (a, b) = (map.shards[0].primary.clone(), map.shards[1].primary.clone());
        let moving = map.start_migrations(&[(0, b.clone()), (5460, b.clone())]).unwrap();
        assert_eq!((moving.epoch, moving.migrations.len()), (2, 2));
        assert_eq!(moving.migration(0), Some(&Migration { slot: 0, from: a.clone(), to: b.clone() }));
        assert!(map.start_migrations(&[(0, a.clone())]).is_err(), "a slot cannot move to its own shard");
        assert!(moving.start_migrations(&[(0, b.clone())]).is_err(), "nor move twice at once");
        let done = moving.finish_migrations(&[0, 7]).unwrap();
        assert_eq!(done.epoch, 3);
        assert_eq!(done.migrations.len(), 1, "only slot 0 finished");
        assert_eq!(done.shards[0].slots, vec![SlotRange { start: 1, end: 5460 }]);
        assert_eq!(done.shards[1].slots, vec![SlotRange { start: 0, end: 0 }, SlotRange { start: 5461, end: 10922 }]);
        done.validate().unwrap();
        assert!(done.finish_migrations(&[0]).is_none(), "nothing left to finish for slot 0");
    }

    #[test]
    fn the_map_round_trips_through_json_and_checks_node_ids() {
        let map = three_shards();
        let text = serde_json::to_string(&map).unwrap();
        assert_eq!(serde_json::from_str::<ClusterMap>(&text).unwrap(), map);
        // A third of the slots moving, half from each of two primaries, as a rebalance lists them.
        let (a, b, c) = (map.shards[0].primary.clone(), map.shards[1].primary.clone(), map.shards[2].primary.clone());
        let moves: Vec<(u16, NodeId)> = (0..2730).chain(5461..8192).map(|s| (s, c.clone())).chain([(10923, a.clone()), (16383, b)]).collect();
        let moving = map.start_migrations(&moves).unwrap();
        let text = serde_json::to_string(&moving).unwrap();
        assert!(text.len() < 2000, "{} bytes: {text}", text.len());
        assert_eq!(serde_json::from_str::<ClusterMap>(&text).unwrap(), moving);
        assert_eq!(moving.migration(5461).map(|m| (&m.from, &m.to)), Some((&map.shards[1].primary, &c)));
        let backwards = text.replacen(r#""start":0,"end":2729"#, r#""start":2729,"end":0"#, 1);
        assert!(serde_json::from_str::<ClusterMap>(&backwards).unwrap_err().to_string().contains("runs backwards"));
        let bad = text.replacen(map.nodes[0].id.as_str(), "not-an-id", 1);
        assert!(serde_json::from_str::<ClusterMap>(&bad).unwrap_err().to_string().contains("not 40 lower-case hex"));
    }
}
