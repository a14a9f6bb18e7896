//! Cluster mode on the data plane: which node serves a key, and the
//! redirection a client gets when it asked the wrong one.
//!
//! The cluster map is decided by the control plane and handed to the node
//! through [`Cluster::install`] (a newer epoch replaces the old view). A
//! node never asks anybody before answering a command: from each map it
//! derives a [`View`] once, with one precomputed [`SlotRoute`] per hash
//! slot (owned here, owned by the shard this node replicates, owned
//! elsewhere, moving out, moving in), so routing a command is one array
//! index per key. Connections keep the view they route by and swap it only
//! when [`Cluster`]'s version counter moved: one atomic load per command,
//! no lock, no reference-count traffic.
//!
//! The decision itself is [`route`], a pure function of the view, the
//! command's keys, the connection's flags (ASKING, READONLY) and — only
//! for a slot being migrated — whether each key exists here. It follows
//! Redis Cluster's rules and error texts exactly (the order of its checks
//! included), because cluster clients act on those texts: MOVED updates
//! their slot table, ASK is followed once after ASKING, TRYAGAIN and
//! CLUSTERDOWN are retried.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::{Arc, OnceLock};

use bytes::Bytes;
use ferrocache_topology::map::{ClusterMap, MapError, NodeId, NodeState, SlotTable};
use ferrocache_topology::placement::{ranges, SlotRange};
use ferrocache_topology::{key_slot, SLOT_COUNT};
use parking_lot::RwLock;
use tracing::warn;

use crate::client::Client;
use crate::command::{flags, CmdError, Spec};
use crate::shared::Shared;

/// This node's part in a cluster: its identity, the current view, and the
/// URL of its admin API (which the CLI finds through INFO).
pub struct Cluster {
    me: OnceLock<NodeId>,
    view: RwLock<Arc<View>>,
    /// The version of `view`, bumped whenever it is replaced; connections
    /// compare it with their cached view's.
    version: AtomicU64,
    admin_url: RwLock<String>,
    /// The client address the node was told to announce (`--announce`), if any.
    announce: OnceLock<String>,
    /// What this node has moved out in slot migrations (INFO `ferrocache_migrated_*`).
    pub stats: crate::migrate::MigrationStats,
    /// Slots migrating away whose target is known to import them (see [`Cluster::ask_ready`]).
    ask_ready: parking_lot::Mutex<std::collections::HashSet<u16>>,
    /// Importing slots the source has handed over (see [`Cluster::adopt`]).
    adopted: parking_lot::Mutex<std::collections::HashSet<u16>>,
    /// Whether this node may act as a primary now (its lease, its run in the map).
    pub fence: crate::fence::Fence,
    /// The node settings from the control plane this node last applied (for `/metrics`).
    pub settings: parking_lot::Mutex<Option<AppliedSettings>>,
}

/// What a node last did with the node settings the control plane gives it.
#[derive(Debug, Clone, PartialEq)]
pub struct AppliedSettings {
    pub revision: u64,
    /// SHA-256 (hex) of the settings in force.
    pub checksum: String,
    /// Whether the last settings asked for were refused.
    pub refused: bool,
}

impl Default for Cluster {
    fn default() -> Self {
        Cluster { me: OnceLock::new(), view: RwLock::new(Arc::new(View::empty())), version: AtomicU64::new(0), admin_url: RwLock::default(), announce: OnceLock::new(), stats: Default::default(), ask_ready: Default::default(), adopted: Default::default(), fence: Default::default(), settings: Default::default() }
    }
}

impl std::fmt::Debug for Cluster {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Cluster").field("me", &self.me.get()).field("epoch", &self.view.read().map.epoch).finish()
    }
}

impl Cluster {
    /// Gives the node its id (once, before serving). Another id later is
    /// refused with a warning: a node's id never changes while it runs.
    pub fn set_identity(&self, id: NodeId) {
        let mut view = self.view.write();
        if let Some(mine) = self.me.get() {
            if *mine != id {
                warn!(current = %mine, refused = %id, "this node already has an id; keeping it");
            }
            return;
        }
        let _ = self.me.set(id);
        match View::build(view.map.clone(), self.me.get(), self.version.load(Ordering::Relaxed) + 1) {
            Ok(next) => self.replace(&mut view, next),
            Err(e) => warn!(error = %e, "the installed cluster map does not fit this node's id"),
        }
    }

    pub fn my_id(&self) -> Option<NodeId> {
        self.me.get().cloned()
    }

    /// Installs `map` if its epoch is newer than the current one (an older
    /// or equal epoch is ignored); a map that fails validation is logged
    /// and ignored. See [`try_install`](Self::try_install).
    pub fn install(&self, map: ClusterMap) {
        let epoch = map.epoch;
        if let Err(e) = self.try_install(map) {
            warn!(epoch, error = %e, "cluster map refused; routing by the previous one");
        }
    }

    /// Like [`install`](Self::install), telling what happened: Ok(true)
    /// when the map became the current view, Ok(false) when its epoch was
    /// not newer, Err when it is not a valid map.
    pub fn try_install(&self, map: ClusterMap) -> Result<bool, MapError> {
        let mut view = self.view.write();
        if map.epoch <= view.map.epoch {
            return Ok(false);
        }
        let next = View::build(Arc::new(map), self.me.get(), self.version.load(Ordering::Relaxed) + 1)?;
        self.replace(&mut view, next);
        Ok(true)
    }

    fn replace(&self, current: &mut Arc<View>, next: View) {
        let version = next.version;
        let me = self.me.get().and_then(|id| next.map.node(id));
        self.fence.saw_map(me.and_then(|n| n.boot.as_deref()));
        self.adopted.lock().retain(|&slot| matches!(next.slot(slot), SlotRoute::Importing { .. }));
        *current = Arc::new(next);
        self.version.store(version, Ordering::Release);
    }

    /// The current map (empty, epoch 0, before the first install).
    pub fn map(&self) -> Arc<ClusterMap> {
        self.view.read().map.clone()
    }

    /// The current view.
    pub fn view(&self) -> Arc<View> {
        self.view.read().clone()
    }

    /// The view a connection routes by: its `cached` one, replaced first
    /// if a newer view was installed since.
    pub fn view_for<'c>(&self, cached: &'c mut Option<Arc<View>>) -> &'c View {
        let version = self.version.load(Ordering::Acquire);
        if cached.as_ref().is_some_and(|v| v.version != version) {
            *cached = None;
        }
        cached.get_or_insert_with(|| self.view())
    }

    /// Whether clients may be sent on with ASK for `slot`: only once the migration's target
    /// has the map that lists it, since until then it would answer MOVED back here and the
    /// client would bounce between the two. Before that the source still serves the whole slot
    /// (new keys included: the mover takes them along).
    pub fn ask_ready(&self, slot: u16) -> bool {
        self.ask_ready.lock().contains(&slot)
    }

    /// Marks (or, with `false`, unmarks) `slot` as [`ask_ready`](Self::ask_ready).
    pub fn set_ask_ready(&self, slot: u16, ready: bool) {
        let mut set = self.ask_ready.lock();
        if ready { set.insert(slot) } else { set.remove(&slot) };
    }

    /// Keeps only the ASK-ready marks of `slots` (those still migrating away).
    pub fn retain_ask_ready(&self, slots: &[u16]) {
        self.ask_ready.lock().retain(|s| slots.contains(s));
    }

    /// Takes over `slot`, which is being imported here, before the map says so: its source has
    /// moved every key and is about to hand the slot over in the next epoch (`CLUSTER SETSLOT
    /// slot NODE <this node>`, sent target first as in Redis). From now on this node serves
    /// the slot to every client, not only after ASKING; otherwise, once the source has the new
    /// map and this node not yet, each would send clients to the other with MOVED. The mark
    /// goes when a map no longer lists the slot as importing. Refused (false) unless the
    /// current map migrates `slot` to this node or already gives it to this node.
    pub fn adopt(&self, slot: u16) -> bool {
        let view = self.view.read();
        match view.slot(slot) {
            SlotRoute::Importing { .. } => {
                self.adopted.lock().insert(slot);
                true
            }
            route => route == SlotRoute::Mine,
        }
    }

    /// Whether `slot` was [adopted](Self::adopt) and is still importing.
    pub fn adopted(&self, slot: u16) -> bool {
        self.adopted.lock().contains(&slot)
    }

    /// Where this node's admin API listens (INFO `ferrocache_admin_url`).
    pub fn set_admin_url(&self, url: String) {
        *self.admin_url.write() = url;
    }

    pub fn admin_url(&self) -> String {
        self.admin_url.read().clone()
    }

    /// The client address this node asks to be known by in the cluster map (INFO
    /// `ferrocache_announce`), when it is not the one it is reached at: a stable DNS name
    /// behind a changing IP, or an address behind NAT. Set once, at start.
    pub fn set_announce(&self, addr: String) {
        let _ = self.announce.set(addr);
    }

    pub fn announce(&self) -> Option<&str> {
        self.announce.get().map(String::as_str)
    }
}

/// What this node does with one slot.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum SlotRoute {
    /// Nobody owns it: CLUSTERDOWN.
    Unassigned,
    /// This node is the primary of the owning shard.
    Mine,
    /// Mine, on its way to the node `to` (an index in the map's nodes):
    /// keys still here are served, missing ones are asked for there.
    Migrating { to: u32 },
    /// Owned by `shard`, whose replica this node is: reads after READONLY.
    Replica { shard: u32 },
    /// Owned by another shard.
    Elsewhere { shard: u32 },
    /// Owned by `shard` and coming here: served to clients that sent ASKING.
    Importing { shard: u32 },
}

/// One version of the cluster map, prepared for routing.
pub struct View {
    pub map: Arc<ClusterMap>,
    version: u64,
    /// This node's id, when it has one.
    pub my_id: Option<NodeId>,
    /// This node's index in `map.nodes`, when the map lists it.
    pub me: Option<usize>,
    /// One entry per slot.
    slots: Box<[SlotRoute]>,
    /// Each shard's primary (an index in `map.nodes`).
    primaries: Vec<usize>,
    /// Each shard's slots as maximal runs, in slot order, however the map
    /// happens to list them.
    pub shard_ranges: Vec<Vec<SlotRange>>,
    /// Slots that have an owner.
    pub assigned: usize,
    /// Assigned slots whose primary is down.
    pub failing: usize,
}

impl std::fmt::Debug for View {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        write!(f, "View(epoch {}, node {:?}, {} slots assigned)", self.map.epoch, self.me, self.assigned)
    }
}

impl View {
    /// The view before any map: no slot is served.
    fn empty() -> View {
        View {
            map: Arc::default(),
            version: 0,
            my_id: None,
            me: None,
            slots: vec![SlotRoute::Unassigned; usize::from(SLOT_COUNT)].into_boxed_slice(),
            primaries: Vec::new(),
            shard_ranges: Vec::new(),
            assigned: 0,
            failing: 0,
        }
    }

    /// Derives the routing of every slot from `map`, as node `me` sees it.
    pub fn build(map: Arc<ClusterMap>, me: Option<&NodeId>, version: u64) -> Result<View, MapError> {
        map.validate()?;
        let table = SlotTable::build(&map)?;
        let index = |id: &NodeId| node_index(&map, id).ok_or_else(|| MapError::UnknownNode(id.clone()));
        let primaries = map.shards.iter().map(|s| index(&s.primary)).collect::<Result<Vec<_>, _>>()?;
        let my_shard = me.and_then(|id| map.shard_of_node(id));
        let primary_here = my_shard.is_some_and(|s| Some(&map.shards[s].primary) == me);
        let mut slots = vec![SlotRoute::Unassigned; usize::from(SLOT_COUNT)].into_boxed_slice();
        let mut owned: Vec<Vec<u16>> = vec![Vec::new(); map.shards.len()];
        let mut failing = 0;
        for slot in 0..SLOT_COUNT {
            let Some(s) = table.shard_of(slot) else { continue };
            owned[s].push(slot);
            failing += usize::from(map.nodes[primaries[s]].state == NodeState::Down);
            let shard = s as u32;
            slots[usize::from(slot)] = match (Some(s) == my_shard, primary_here) {
                (true, true) => SlotRoute::Mine,
                (true, false) => SlotRoute::Replica { shard },
                (false, _) => SlotRoute::Elsewhere { shard },
            };
        }
        for m in &map.migrations {
            let route = &mut slots[usize::from(m.slot)];
            match *route {
                SlotRoute::Mine if Some(&m.from) == me => *route = SlotRoute::Migrating { to: index(&m.to)? as u32 },
                SlotRoute::Elsewhere { shard } if Some(&m.to) == me => *route = SlotRoute::Importing { shard },
                _ => {}
            }
        }
        Ok(View {
            me: me.and_then(|id| node_index(&map, id)),
            my_id: me.cloned(),
            version,
            slots,
            primaries,
            shard_ranges: owned.iter().map(|slots| ranges(slots)).collect(),
            assigned: table.assigned(),
            failing,
            map,
        })
    }

    /// What this node does with `slot` (Unassigned past the last slot).
    pub fn slot(&self, slot: u16) -> SlotRoute {
        self.slots.get(usize::from(slot)).copied().unwrap_or(SlotRoute::Unassigned)
    }

    /// Whether keyed commands are served: every slot has an owner whose
    /// primary is not down (CLUSTER INFO `cluster_state:ok`). Redis, with
    /// its default `cluster-require-full-coverage yes`, refuses every keyed
    /// command otherwise, so that a client never sees part of a dataset.
    pub fn healthy(&self) -> bool {
        self.assigned == usize::from(SLOT_COUNT) && self.failing == 0
    }

    /// The index of node `id` in `map.nodes`.
    pub fn node_index(&self, id: &NodeId) -> Option<usize> {
        node_index(&self.map, id)
    }

    /// The index (in `map.nodes`) of the primary of `shard`.
    pub fn primary(&self, shard: usize) -> Option<usize> {
        self.primaries.get(shard).copied()
    }

    fn node_addr(&self, node: usize) -> &str {
        self.map.nodes.get(node).map_or("", |n| n.addr.as_str())
    }

    fn primary_addr(&self, shard: u32) -> &str {
        self.primary(shard as usize).map_or("", |n| self.node_addr(n))
    }
}

fn node_index(map: &ClusterMap, id: &NodeId) -> Option<usize> {
    map.nodes.iter().position(|n| &n.id == id)
}

/// What the connection that sent a command has said, and what the command is.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub struct Request {
    /// The command writes (for EXEC: one of the queued commands does).
    pub write: bool,
    /// The connection sent ASKING just before.
    pub asking: bool,
    /// The connection sent READONLY.
    pub readonly: bool,
    /// Shard pub/sub (SPUBLISH, SSUBSCRIBE): its "keys" are channels, which
    /// need no data, so they are never asked for elsewhere and replicas
    /// serve them without READONLY.
    pub shard_channels: bool,
}

/// The routing decision for one command.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Route<'v> {
    /// Run it here.
    Serve,
    /// The slot's owner is the primary at `addr`.
    Moved { slot: u16, addr: &'v str },
    /// The slot is migrating and the keys are not here: ask `addr` once.
    Ask { slot: u16, addr: &'v str },
    /// The keys hash to more than one slot.
    CrossSlot,
    /// The first key's slot has no owner.
    Unbound,
    /// Some slot has no owner, or its primary is down.
    Down,
    /// Several keys of a migrating slot, some here and some not yet moved.
    TryAgain,
}

impl Route<'_> {
    /// The error reply a client gets instead of running the command.
    pub fn error(&self) -> Option<CmdError> {
        let text = match *self {
            Route::Serve => return None,
            Route::Moved { slot, addr } => format!("MOVED {slot} {addr}"),
            Route::Ask { slot, addr } => format!("ASK {slot} {addr}"),
            Route::CrossSlot => "CROSSSLOT Keys in request don't hash to the same slot".into(),
            Route::Unbound => "CLUSTERDOWN Hash slot not served".into(),
            Route::Down => "CLUSTERDOWN The cluster is down".into(),
            Route::TryAgain => "TRYAGAIN Multiple keys request during rehashing of slot".into(),
        };
        Some(CmdError::Msg(text))
    }
}

/// Where a command with `keys` runs, by Redis Cluster's rules and in their
/// order: the first key's slot must have an owner, every key must share
/// it, the cluster must be up; then a migrating slot serves the keys it
/// still has (ASK for none, TRYAGAIN for some), an importing slot serves
/// clients that sent ASKING, a replica serves READONLY reads of its
/// primary's slots, and everything else is MOVED to the owner. `exists`
/// is asked only about keys of a slot that is moving.
pub fn route<'v, 'k>(view: &'v View, keys: impl IntoIterator<Item = &'k [u8]>, req: Request, mut exists: impl FnMut(&[u8]) -> bool) -> Route<'v> {
    let mut first: Option<(&[u8], u16, SlotRoute)> = None;
    let (mut several, mut missing, mut present) = (false, 0usize, 0usize);
    for key in keys {
        let slot = key_slot(key);
        let here = match first {
            None => {
                let here = view.slot(slot);
                if here == SlotRoute::Unassigned {
                    return Route::Unbound;
                }
                first = Some((key, slot, here));
                here
            }
            Some((first_key, first_slot, here)) => {
                if slot != first_slot {
                    return Route::CrossSlot;
                }
                several |= key != first_key;
                here
            }
        };
        if matches!(here, SlotRoute::Migrating { .. } | SlotRoute::Importing { .. }) && !req.shard_channels {
            if exists(key) {
                present += 1;
            } else {
                missing += 1;
            }
        }
    }
    let Some((_, slot, here)) = first else {
        return Route::Serve;
    };
    if !view.healthy() {
        return Route::Down;
    }
    match here {
        SlotRoute::Mine => Route::Serve,
        SlotRoute::Migrating { to } => match (missing, present) {
            (0, _) => Route::Serve,
            (_, 0) => Route::Ask { slot, addr: view.node_addr(to as usize) },
            _ => Route::TryAgain,
        },
        SlotRoute::Importing { .. } if req.asking => {
            if several && missing > 0 {
                Route::TryAgain
            } else {
                Route::Serve
            }
        }
        SlotRoute::Replica { .. } if (req.readonly || req.shard_channels) && !req.write => Route::Serve,
        SlotRoute::Replica { shard } | SlotRoute::Elsewhere { shard } | SlotRoute::Importing { shard } => {
            Route::Moved { slot, addr: view.primary_addr(shard) }
        }
        SlotRoute::Unassigned => Route::Unbound,
    }
}

/// After a new map: clients blocked (BLPOP, ...) on keys whose slot this node no longer serves
/// are sent on with MOVED (or CLUSTERDOWN), as Redis does, instead of waiting here for pushes
/// that now go to the new owner.
pub fn redirect_blocked(shared: &Shared) -> usize {
    let Some(cluster) = &shared.cluster else { return 0 };
    let view = cluster.view();
    shared.blocking.redirect(|keys| {
        let req = Request { write: true, asking: false, readonly: false, shard_channels: false };
        match route(&view, keys.iter().map(|k| &k[..]), req, |_| true) {
            decided @ (Route::Moved { .. } | Route::Down | Route::Unbound) => decided.error().map(|e| String::from_utf8_lossy(&e.bytes()).into_owned()),
            _ => None,
        }
    })
}

/// The keys `spec` names in `args`, without allocating.
fn keys_of<'a>(spec: &Spec, args: &'a [Bytes]) -> impl Iterator<Item = &'a [u8]> {
    spec.key_positions(args).into_iter().flatten().filter_map(|i| args.get(i)).map(|a| &a[..])
}

/// The routing check dispatch runs before every command in cluster mode
/// (also before queueing one in MULTI). Keyless commands pass at once;
/// EXEC is checked over every queued command, so a transaction runs only
/// if all its keys share one slot served here.
pub fn check(shared: &Shared, cluster: &Cluster, client: &mut Client, spec: &Spec, args: &[Bytes], now: u64) -> Result<(), CmdError> {
    let exec = !spec.has_keys() && spec.name == "exec" && client.multi.is_some();
    // The primary's stream is applied whatever the slots: it is this shard's data.
    if (!spec.has_keys() && !exec) || client.master {
        return Ok(());
    }
    let Client { asking, readonly, cluster_view, multi, .. } = client;
    let view = cluster.view_for(cluster_view);
    let db = &shared.dbs[0];
    // Only keys of a moving slot are looked up; remember that slot for the ASK-ready check.
    let moving = std::cell::Cell::new(None);
    let exists = |key: &[u8]| {
        moving.set(Some(key_slot(key)));
        db.lock(key, now).get(key).is_some()
    };
    // RESTORE-ASKING carries its own ASKING: a migrating node sends its keys with it.
    let asking = *asking || spec.has(flags::ASKING);
    let req = Request { write: spec.has(flags::WRITE), asking, readonly: *readonly, shard_channels: spec.has(flags::PUBSUB) };
    let (decided, write) = match multi {
        Some(m) if exec => {
            let queued = || m.queued.iter().map(|(s, a)| (*s, a));
            let req = Request {
                write: queued().any(|(s, _)| s.has(flags::WRITE)),
                shard_channels: queued().any(|(s, _)| s.has(flags::PUBSUB) && s.has_keys()),
                ..req
            };
            (route(view, queued().flat_map(|(s, a)| keys_of(s, a)), req, exists), req.write)
        }
        _ => (route(view, keys_of(spec, args), req, exists), req.write),
    };
    let routed = routed_here(cluster, view, decided, moving.get());
    if routed.is_ok() && write && !cluster.fence.open() {
        return Err(CmdError::msg(crate::fence::FENCED));
    }
    routed
}

/// `decided`, except where this node serves a moving slot itself (see [`check`]).
fn routed_here(cluster: &Cluster, view: &View, decided: Route<'_>, moving: Option<u16>) -> Result<(), CmdError> {
    let importing_adopted = |slot: u16| matches!(view.slot(slot), SlotRoute::Importing { .. }) && cluster.adopted(slot);
    match decided {
        // Not yet: the target does not know it imports the slot, so this node serves it whole.
        Route::Ask { slot, .. } if !cluster.ask_ready(slot) => Ok(()),
        Route::TryAgain if moving.is_some_and(|slot| matches!(view.slot(slot), SlotRoute::Migrating { .. }) && !cluster.ask_ready(slot)) => {
            Ok(())
        }
        // Handed over by its source: every key of the slot is here.
        Route::Moved { slot, .. } if importing_adopted(slot) => Ok(()),
        Route::TryAgain if moving.is_some_and(importing_adopted) => Ok(()),
        _ => decided.error().map_or(Ok(()), Err),
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use ferrocache_topology::map::{Migration, Node, Shard};
    use ferrocache_topology::placement::split;
    use proptest::prelude::*;

    /// Three shards of one primary and one replica each; node i listens on
    /// port 7000+i. Shard 0 owns 0-5460, 1 owns 5461-10922, 2 the rest.
    fn three_shards() -> ClusterMap {
        let nodes: Vec<Node> = (0..6)
            .map(|i| Node {
                id: NodeId::try_from(format!("{:040x}", i + 1)).unwrap(),
                addr: format!("127.0.0.1:{}", 7000 + i),
                admin: format!("http://127.0.0.1:{}", 8000 + i),
                zone: None,
                weight: 1,
                state: NodeState::Up,
                boot: None,
            })
            .collect();
        let runs = split(&[1, 1, 1]).unwrap();
        let shards = (0..3)
            .map(|i| Shard { primary: nodes[i].id.clone(), replicas: vec![nodes[i + 3].id.clone()], slots: runs[i].into_iter().collect() })
            .collect();
        ClusterMap { epoch: 1, nodes, shards, migrations: Vec::new() }
    }

    fn view_of(map: &ClusterMap, me: usize) -> View {
        View::build(Arc::new(map.clone()), Some(&map.nodes[me].id), 1).unwrap()
    }

    fn decide<'v>(view: &'v View, keys: &[&str], req: Request, here: &[&str]) -> Route<'v> {
        route(view, keys.iter().map(|k| k.as_bytes()), req, |k| here.iter().any(|h| h.as_bytes() == k))
    }

    const PLAIN: Request = Request { write: false, asking: false, readonly: false, shard_channels: false };
    const WRITE: Request = Request { write: true, ..PLAIN };

    #[test]
    fn keys_go_to_their_owner() {
        let map = three_shards();
        let node0 = view_of(&map, 0);
        // bar is slot 5061 (shard 0), foo 12182 (shard 2).
        assert_eq!(decide(&node0, &["bar"], WRITE, &[]), Route::Serve);
        assert_eq!(decide(&node0, &["foo"], WRITE, &[]), Route::Moved { slot: 12182, addr: "127.0.0.1:7002" });
        assert_eq!(decide(&node0, &[], WRITE, &[]), Route::Serve, "keyless");
        assert_eq!(decide(&node0, &["foo", "bar"], WRITE, &[]), Route::CrossSlot);
        assert_eq!(decide(&node0, &["{bar}1", "{bar}2", "bar"], WRITE, &[]), Route::Serve, "one hash tag, one slot");
        assert_eq!(decide(&node0, &["foo", "foo"], PLAIN, &[]), Route::Moved { slot: 12182, addr: "127.0.0.1:7002" });
        assert_eq!(Route::Moved { slot: 12182, addr: "127.0.0.1:7002" }.error().unwrap().text(), "MOVED 12182 127.0.0.1:7002");
    }

    #[test]
    fn without_a_map_or_an_owner_nothing_keyed_is_served() {
        let empty = View::empty();
        assert_eq!(decide(&empty, &["foo"], PLAIN, &[]), Route::Unbound);
        assert_eq!(decide(&empty, &[], PLAIN, &[]), Route::Serve);
        let mut map = three_shards();
        map.shards[2].slots.clear();
        let node0 = view_of(&map, 0);
        assert!(!node0.healthy());
        assert_eq!(decide(&node0, &["foo"], PLAIN, &[]), Route::Unbound, "foo's slot has no owner");
        assert_eq!(decide(&node0, &["bar"], PLAIN, &[]), Route::Down, "bar's has, but the cluster is not whole");
        assert_eq!(decide(&node0, &["bar", "foo"], PLAIN, &[]), Route::CrossSlot, "the first key's owner is checked first");
        let mut map = three_shards();
        map.nodes[1].state = NodeState::Down;
        let node0 = view_of(&map, 0);
        assert_eq!((node0.failing, node0.healthy()), (5462, false));
        assert_eq!(decide(&node0, &["bar"], PLAIN, &[]), Route::Down);
    }

    #[test]
    fn replicas_serve_reads_after_readonly() {
        let map = three_shards();
        let replica0 = view_of(&map, 3);
        let moved = Route::Moved { slot: 5061, addr: "127.0.0.1:7000" };
        assert_eq!(decide(&replica0, &["bar"], PLAIN, &[]), moved);
        let readonly = Request { readonly: true, ..PLAIN };
        assert_eq!(decide(&replica0, &["bar"], readonly, &[]), Route::Serve);
        assert_eq!(decide(&replica0, &["bar"], Request { write: true, ..readonly }, &[]), moved);
        assert_eq!(decide(&replica0, &["foo"], readonly, &[]), Route::Moved { slot: 12182, addr: "127.0.0.1:7002" }, "not its primary's slot");
        assert_eq!(decide(&replica0, &["bar"], Request { shard_channels: true, ..PLAIN }, &[]), Route::Serve);
    }

    fn migrating_bar() -> ClusterMap {
        let mut map = three_shards();
        map.migrations.push(Migration { slot: 5061, from: map.nodes[0].id.clone(), to: map.nodes[1].id.clone() });
        map
    }

    #[test]
    fn a_migrating_slot_serves_what_it_still_has() {
        let map = migrating_bar();
        let source = view_of(&map, 0);
        let ask = Route::Ask { slot: 5061, addr: "127.0.0.1:7001" };
        assert_eq!(decide(&source, &["bar"], WRITE, &["bar"]), Route::Serve);
        assert_eq!(decide(&source, &["bar"], WRITE, &[]), ask);
        assert_eq!(decide(&source, &["bar", "{bar}x"], PLAIN, &["bar"]), Route::TryAgain);
        assert_eq!(decide(&source, &["bar", "{bar}x"], PLAIN, &[]), ask);
        assert_eq!(decide(&source, &["bar", "{bar}x"], PLAIN, &["bar", "{bar}x"]), Route::Serve);
        assert_eq!(decide(&source, &["bar"], Request { shard_channels: true, ..PLAIN }, &[]), Route::Serve, "channels are not moved");
        assert_eq!(ask.error().unwrap().text(), "ASK 5061 127.0.0.1:7001");
        assert_eq!(Route::TryAgain.error().unwrap().text(), "TRYAGAIN Multiple keys request during rehashing of slot");
        // The source's replica and the third shard know nothing of it.
        assert_eq!(decide(&view_of(&map, 3), &["bar"], Request { readonly: true, ..PLAIN }, &[]), Route::Serve);
        assert_eq!(decide(&view_of(&map, 2), &["bar"], PLAIN, &[]), Route::Moved { slot: 5061, addr: "127.0.0.1:7000" });
    }

    #[test]
    fn an_importing_slot_serves_only_after_asking() {
        let map = migrating_bar();
        let target = view_of(&map, 1);
        let asking = Request { asking: true, ..WRITE };
        assert_eq!(decide(&target, &["bar"], WRITE, &["bar"]), Route::Moved { slot: 5061, addr: "127.0.0.1:7000" });
        assert_eq!(decide(&target, &["bar"], asking, &[]), Route::Serve);
        assert_eq!(decide(&target, &["bar", "bar"], asking, &[]), Route::Serve, "one key, named twice");
        assert_eq!(decide(&target, &["bar", "{bar}x"], asking, &["bar"]), Route::TryAgain);
        assert_eq!(decide(&target, &["bar", "{bar}x"], asking, &["bar", "{bar}x"]), Route::Serve);
    }

    #[test]
    fn maps_that_do_not_hold_together_are_refused() {
        let cluster = Cluster::default();
        let mut map = three_shards();
        map.epoch = 5;
        cluster.set_identity(map.nodes[0].id.clone());
        assert_eq!(cluster.try_install(map.clone()), Ok(true));
        let mut broken = map.clone();
        broken.epoch = 6;
        broken.shards[1].slots.push(SlotRange { start: 0, end: 0 });
        assert_eq!(cluster.try_install(broken), Err(MapError::SlotTwice(0)));
        let mut older = map.clone();
        older.epoch = 4;
        older.shards[2].slots.clear();
        assert_eq!(cluster.try_install(older), Ok(false));
        assert_eq!(cluster.try_install(map.clone()), Ok(false), "the same epoch again");
        assert_eq!(*cluster.map(), map);
    }

    #[test]
    fn connections_pick_up_a_new_view_and_identity() {
        let cluster = Cluster::default();
        let mut cached = None;
        assert_eq!(cluster.view_for(&mut cached).map.epoch, 0);
        let map = three_shards();
        cluster.install(map.clone());
        assert_eq!(decide(cluster.view_for(&mut cached), &["bar"], PLAIN, &[]), Route::Moved { slot: 5061, addr: "127.0.0.1:7000" }, "no identity yet");
        cluster.set_identity(map.nodes[0].id.clone());
        let view = cluster.view_for(&mut cached);
        assert_eq!((view.map.epoch, view.me), (1, Some(0)));
        assert_eq!(decide(view, &["bar"], PLAIN, &[]), Route::Serve);
        cluster.set_identity(map.nodes[1].id.clone());
        assert_eq!(cluster.my_id(), Some(map.nodes[0].id.clone()), "an id is given once");
        assert_eq!(view_of(&map, 0).shard_ranges[1], vec![SlotRange { start: 5461, end: 10922 }]);
    }

    /// The rules again, written the plain way: a list of keys and their slots.
    fn model(map: &ClusterMap, me: usize, keys: &[Vec<u8>], req: Request, here: &[Vec<u8>]) -> Result<(), String> {
        let Some(first) = keys.first() else { return Ok(()) };
        let slot = key_slot(first);
        let owner = map.shards.iter().position(|s| s.slots.iter().any(|r| r.contains(slot)));
        let Some(owner) = owner else { return Err("CLUSTERDOWN Hash slot not served".into()) };
        if keys.iter().any(|k| key_slot(k) != slot) {
            return Err("CROSSSLOT Keys in request don't hash to the same slot".into());
        }
        let id = &map.nodes[me].id;
        let shard = &map.shards[owner];
        let addr = |id: &NodeId| map.node(id).unwrap().addr.clone();
        let moving = map.migration(slot);
        let has = |k: &Vec<u8>| here.contains(k);
        if moving.is_some_and(|m| &m.from == id) && !req.shard_channels {
            let missing = keys.iter().filter(|k| !has(k)).count();
            if missing == keys.len() {
                return Err(format!("ASK {slot} {}", addr(&moving.unwrap().to)));
            } else if missing > 0 {
                return Err("TRYAGAIN Multiple keys request during rehashing of slot".into());
            }
        }
        if &shard.primary == id {
            return Ok(());
        }
        if req.asking && moving.is_some_and(|m| &m.to == id) {
            let distinct = keys.iter().any(|k| k != first);
            return if distinct && !req.shard_channels && keys.iter().any(|k| !has(k)) {
                Err("TRYAGAIN Multiple keys request during rehashing of slot".into())
            } else {
                Ok(())
            };
        }
        if shard.replicas.contains(id) && (req.readonly || req.shard_channels) && !req.write {
            return Ok(());
        }
        Err(format!("MOVED {slot} {}", addr(&shard.primary)))
    }

    proptest! {
        #[test]
        fn routing_matches_the_plain_rules(
            me in 0usize..6,
            tags in proptest::collection::vec(0u8..4, 0..4),
            present in proptest::collection::vec(any::<bool>(), 4),
            migrate in any::<bool>(),
            (write, asking, readonly, shard_channels) in any::<(bool, bool, bool, bool)>(),
        ) {
            // Keys under a few tags, some sharing a slot, some not; bar's
            // slot (5061) is the one that may be migrating.
            let names = ["{bar}a", "{bar}b", "{foo}c", "{zap}d"];
            let keys: Vec<Vec<u8>> = tags.iter().map(|&t| names[usize::from(t)].as_bytes().to_vec()).collect();
            let here: Vec<Vec<u8>> = names.iter().zip(&present).filter(|(_, p)| **p).map(|(n, _)| n.as_bytes().to_vec()).collect();
            let map = if migrate { migrating_bar() } else { three_shards() };
            let req = Request { write, asking, readonly, shard_channels };
            let view = view_of(&map, me);
            let got = route(&view, keys.iter().map(|k| &k[..]), req, |k| here.iter().any(|h| h == k));
            let got = got.error().map_or(Ok(()), |e| Err(e.text()));
            prop_assert_eq!(got, model(&map, me, &keys, req, &here));
        }
    }
}
