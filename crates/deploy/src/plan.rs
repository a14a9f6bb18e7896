//! From the running cluster to the spec: the actions, in the order they must run.
//!
//! [`plan`] is pure: it compares the cluster map (or its absence) with the shape the spec asks
//! for and returns what to do. Applying a plan and planning again gives no action, which is
//! what makes `deploy apply` idempotent; a plan interrupted half-way is finished by the next
//! apply, because every step is planned from what the map says now, not from a journal.
//!
//! Choices: a new shard is a primary added without slots, its replicas, then one rebalance for
//! all new shards (the rebalancer moves the fewest slots). Removing shards takes the shards
//! that sort last (by primary address): their primaries get weight 0, one rebalance moves all
//! their slots to the shards that stay, then replicas and primaries leave, so no key is lost. A shard with too few replicas gets new nodes; one with too
//! many loses its last ones. Nodes that run but are in no shard (left by an interrupted apply)
//! are used before new ones are started.

use std::collections::BTreeMap;

use ferrocache_topology::map::{ClusterMap, NodeId, SlotTable};
use ferrocache_topology::placement;
use serde::Serialize;

/// The cluster shape a spec asks for.
#[derive(Debug, Clone, PartialEq)]
pub struct Shape {
    pub shards: usize,
    pub replicas: usize,
    /// Weight by node address, for targets that list their nodes (others: 1 for all).
    pub weights: Vec<(String, u32)>,
}

impl Shape {
    fn weight(&self, addr: &str) -> u32 {
        self.weights.iter().find(|(a, _)| a == addr).map_or(1, |(_, w)| *w)
    }
}

/// One step. Nodes are named by their client address.
#[derive(Debug, Clone, PartialEq, Eq, Serialize)]
#[serde(tag = "action", rename_all = "snake_case")]
pub enum Action {
    /// Have a node running at `addr` (start a local process; wait for a listed host).
    Provision { addr: String },
    /// Form the cluster: the first `nodes.len() / (replicas + 1)` become primaries.
    Create { nodes: Vec<String>, replicas: usize },
    /// A new shard's primary, without slots until the rebalance.
    AddPrimary { addr: String, weight: u32 },
    AddReplica { addr: String, primary: String },
    SetWeight { addr: String, weight: u32 },
    /// Move slots until every primary has its weighted share.
    Rebalance,
    /// Take a node out of the cluster (a primary has been emptied by a rebalance first).
    RemoveNode { addr: String },
    /// Stop a node that is no longer in the cluster.
    Retire { addr: String },
    /// Restart these nodes one at a time with their new command line (settings that cannot
    /// change live).
    Restart { addrs: Vec<String> },
    /// Roll the fleet's live settings out, through `canary` first when there is one.
    Configure { settings: BTreeMap<String, String>, canary: Option<String> },
}

impl std::fmt::Display for Action {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            Action::Provision { addr } => write!(f, "start node {addr}"),
            Action::Create { nodes, replicas } => {
                write!(f, "create a cluster of {} shard(s) × {replicas} replica(s) from {}", nodes.len() / (replicas + 1), nodes.join(", "))
            }
            Action::AddPrimary { addr, weight } => write!(f, "add primary {addr} (weight {weight})"),
            Action::AddReplica { addr, primary } => write!(f, "add replica {addr} of {primary}"),
            Action::SetWeight { addr, weight } => write!(f, "set the weight of {addr} to {weight}"),
            Action::Rebalance => write!(f, "rebalance slots"),
            Action::RemoveNode { addr } => write!(f, "remove node {addr}"),
            Action::Retire { addr } => write!(f, "stop node {addr}"),
            Action::Restart { addrs } => write!(f, "restart {} one at a time with their new command line", addrs.join(", ")),
            Action::Configure { settings, canary } => {
                let list: Vec<String> = settings.iter().map(|(k, v)| format!("{k}={v}")).collect();
                let list = if list.is_empty() { "the start values".to_string() } else { list.join(" ") };
                match canary {
                    Some(c) => write!(f, "set {list} on canary {c}, watch it, then on every node"),
                    None => write!(f, "set {list} on every node"),
                }
            }
        }
    }
}

/// What exists: the cluster map, if the cluster was formed, and the nodes that are provisioned
/// (running or meant to run) whether or not they are in the map.
pub struct Observed<'a> {
    pub map: Option<&'a ClusterMap>,
    pub provisioned: &'a [String],
}

/// The actions that take `observed` to `shape`. `fresh` names a new node each time it is called
/// (the next free port of a local cluster; the next listed host nobody uses).
pub fn plan(shape: &Shape, observed: &Observed, mut fresh: impl FnMut() -> Option<String>) -> Result<Vec<Action>, String> {
    let in_map = |addr: &str| observed.map.is_some_and(|m| m.nodes.iter().any(|n| n.addr == addr));
    // Running nodes outside the cluster are used first, in a stable order.
    let mut idle: Vec<String> = observed.provisioned.iter().filter(|a| !in_map(a)).cloned().collect();
    idle.sort_by_key(|a| std::cmp::Reverse(addr_order(a)));
    let mut actions = Vec::new();
    let mut next = |actions: &mut Vec<Action>| -> Result<String, String> {
        if let Some(addr) = idle.pop() {
            return Ok(addr);
        }
        let addr = fresh().ok_or("no free node for the spec: list more [[nodes]] or free some ports")?;
        actions.push(Action::Provision { addr: addr.clone() });
        Ok(addr)
    };
    let Some(map) = observed.map else {
        let count = shape.shards * (shape.replicas + 1);
        let nodes = (0..count).map(|_| next(&mut actions)).collect::<Result<Vec<_>, _>>()?;
        actions.push(Action::Create { nodes, replicas: shape.replicas });
        retire_idle(&mut actions, idle);
        return Ok(actions);
    };
    let addr = |id: &NodeId| map.node(id).map_or_else(|| id.to_string(), |n| n.addr.clone());
    // Shards in a stable order; the last ones go when there are too many.
    let mut shards: Vec<usize> = (0..map.shards.len()).collect();
    shards.sort_by_key(|&i| addr_order(&addr(&map.shards[i].primary)));
    let (kept, dropped) = shards.split_at(shards.len().min(shape.shards));
    // Leaving nodes: replicas before their primary, which must be empty and alone to leave.
    let mut leaving = Vec::new();
    let mut rebalance = false;
    for &i in kept {
        let shard = &map.shards[i];
        let primary = addr(&shard.primary);
        let want = shape.weight(&primary);
        if map.node(&shard.primary).is_some_and(|n| n.weight != want) {
            actions.push(Action::SetWeight { addr: primary.clone(), weight: want });
            rebalance = true;
        }
        for _ in shard.replicas.len()..shape.replicas {
            let new = next(&mut actions)?;
            actions.push(Action::AddReplica { addr: new, primary: primary.clone() });
        }
        leaving.extend(shard.replicas.iter().skip(shape.replicas).map(addr));
    }
    for &i in dropped {
        let shard = &map.shards[i];
        let primary = addr(&shard.primary);
        if map.node(&shard.primary).is_some_and(|n| n.weight != 0) {
            actions.push(Action::SetWeight { addr: primary.clone(), weight: 0 });
        }
        rebalance = true;
        leaving.extend(shard.replicas.iter().map(addr));
        leaving.push(primary);
    }
    for _ in kept.len()..shape.shards {
        let primary = next(&mut actions)?;
        let weight = shape.weight(&primary);
        actions.push(Action::AddPrimary { addr: primary.clone(), weight });
        for _ in 0..shape.replicas {
            let new = next(&mut actions)?;
            actions.push(Action::AddReplica { addr: new, primary: primary.clone() });
        }
        rebalance = true;
    }
    if rebalance || !map.migrations.is_empty() || unbalanced(map)? {
        actions.push(Action::Rebalance);
    }
    actions.extend(leaving.iter().map(|addr| Action::RemoveNode { addr: addr.clone() }));
    actions.extend(leaving.into_iter().map(|addr| Action::Retire { addr }));
    retire_idle(&mut actions, idle);
    Ok(actions)
}

fn retire_idle(actions: &mut Vec<Action>, idle: Vec<String>) {
    actions.extend(idle.into_iter().map(|addr| Action::Retire { addr }));
}

/// Whether some primary holds more or fewer slots than its weighted share.
fn unbalanced(map: &ClusterMap) -> Result<bool, String> {
    let owners = SlotTable::build(map).map_err(|e| e.to_string())?.owners();
    let weights: Vec<u32> = map.shards.iter().map(|s| map.node(&s.primary).map_or(0, |n| n.weight)).collect();
    Ok(!placement::rebalance(&owners, &weights).map_err(|e| e.to_string())?.is_empty())
}

/// Sorts `host:port` addresses by host, then port as a number.
fn addr_order(addr: &str) -> (String, u32) {
    match addr.rsplit_once(':') {
        Some((host, port)) => (host.to_string(), port.parse().unwrap_or(u32::MAX)),
        None => (addr.to_string(), 0),
    }
}

#[cfg(test)]
mod tests {
    use ferrocache_topology::map::{Node, NodeState, Shard};
    use ferrocache_topology::placement::{SlotRange, split};

    use super::*;

    fn shape(shards: usize, replicas: usize) -> Shape {
        Shape { shards, replicas, weights: Vec::new() }
    }

    fn ports(from: u16) -> impl FnMut() -> Option<String> {
        let mut next = from;
        move || {
            next += 1;
            Some(format!("127.0.0.1:{}", next - 1))
        }
    }

    /// A balanced map with `shards` primaries on ports 7000.. and `replicas` each after them.
    fn cluster(shards: usize, replicas: usize) -> ClusterMap {
        let count = shards * (replicas + 1);
        let nodes: Vec<Node> = (0..count)
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
        let runs = split(&vec![1; shards]).unwrap();
        let shards = (0..shards)
            .zip(runs)
            .map(|(s, run)| Shard {
                primary: nodes[s].id.clone(),
                replicas: (0..replicas).map(|r| nodes[shards + s * replicas + r].id.clone()).collect(),
                slots: run.into_iter().collect::<Vec<SlotRange>>(),
            })
            .collect();
        ClusterMap { epoch: 1, nodes, shards, migrations: Vec::new() }
    }

    fn addrs(map: &ClusterMap) -> Vec<String> {
        map.nodes.iter().map(|n| n.addr.clone()).collect()
    }

    fn run(shape: &Shape, map: Option<&ClusterMap>, provisioned: &[String]) -> Vec<String> {
        plan(shape, &Observed { map, provisioned }, ports(7000 + provisioned.len() as u16)).unwrap().iter().map(ToString::to_string).collect()
    }

    #[test]
    fn a_new_cluster_starts_its_nodes_then_creates() {
        let steps = run(&shape(2, 1), None, &[]);
        assert_eq!(steps.len(), 5);
        assert_eq!(steps[0], "start node 127.0.0.1:7000");
        assert_eq!(steps[4], "create a cluster of 2 shard(s) × 1 replica(s) from 127.0.0.1:7000, 127.0.0.1:7001, 127.0.0.1:7002, 127.0.0.1:7003");
    }

    #[test]
    fn nodes_already_running_are_used_before_new_ones() {
        let running = vec!["127.0.0.1:7001".to_string(), "127.0.0.1:7000".to_string()];
        let steps = run(&shape(3, 0), None, &running);
        assert_eq!(steps, ["start node 127.0.0.1:7002", "create a cluster of 3 shard(s) × 0 replica(s) from 127.0.0.1:7000, 127.0.0.1:7001, 127.0.0.1:7002"]);
    }

    #[test]
    fn the_cluster_as_specified_needs_nothing() {
        let map = cluster(3, 1);
        assert!(run(&shape(3, 1), Some(&map), &addrs(&map)).is_empty());
    }

    #[test]
    fn scaling_out_adds_a_shard_with_its_replica_then_rebalances() {
        let map = cluster(3, 1);
        let steps = run(&shape(4, 1), Some(&map), &addrs(&map));
        assert_eq!(
            steps,
            [
                "start node 127.0.0.1:7006",
                "add primary 127.0.0.1:7006 (weight 1)",
                "start node 127.0.0.1:7007",
                "add replica 127.0.0.1:7007 of 127.0.0.1:7006",
                "rebalance slots"
            ]
        );
    }

    #[test]
    fn scaling_in_empties_the_last_shard_then_removes_its_nodes() {
        let map = cluster(4, 1);
        let steps = run(&shape(3, 1), Some(&map), &addrs(&map));
        assert_eq!(
            steps,
            [
                "set the weight of 127.0.0.1:7003 to 0",
                "rebalance slots",
                "remove node 127.0.0.1:7007",
                "remove node 127.0.0.1:7003",
                "stop node 127.0.0.1:7007",
                "stop node 127.0.0.1:7003"
            ]
        );
    }

    #[test]
    fn replicas_are_added_and_removed_per_shard() {
        let map = cluster(2, 1);
        assert_eq!(
            run(&shape(2, 2), Some(&map), &addrs(&map)),
            ["start node 127.0.0.1:7004", "add replica 127.0.0.1:7004 of 127.0.0.1:7000", "start node 127.0.0.1:7005", "add replica 127.0.0.1:7005 of 127.0.0.1:7001"]
        );
        assert_eq!(
            run(&shape(2, 0), Some(&map), &addrs(&map)),
            ["remove node 127.0.0.1:7002", "remove node 127.0.0.1:7003", "stop node 127.0.0.1:7002", "stop node 127.0.0.1:7003"]
        );
    }

    #[test]
    fn an_interrupted_scale_out_is_finished() {
        // The primary was added, the rebalance never ran, its replica was started but not added.
        let mut map = cluster(2, 0);
        let extra = Node { id: NodeId::try_from(format!("{:040x}", 99)).unwrap(), addr: "127.0.0.1:7002".into(), ..map.nodes[0].clone() };
        map.shards.push(Shard { primary: extra.id.clone(), replicas: Vec::new(), slots: Vec::new() });
        map.nodes.push(extra);
        let mut provisioned = addrs(&map);
        provisioned.push("127.0.0.1:7003".into());
        assert_eq!(run(&shape(3, 1), Some(&map), &provisioned)[..2], ["add replica 127.0.0.1:7003 of 127.0.0.1:7000", "start node 127.0.0.1:7004"]);
        assert_eq!(run(&shape(3, 0), Some(&map), &provisioned), ["rebalance slots", "stop node 127.0.0.1:7003"]);
    }

    #[test]
    fn weights_follow_listed_nodes() {
        let map = cluster(2, 0);
        let mut s = shape(2, 0);
        s.weights = vec![("127.0.0.1:7001".into(), 3)];
        assert_eq!(run(&s, Some(&map), &addrs(&map)), ["set the weight of 127.0.0.1:7001 to 3", "rebalance slots"]);
    }

    /// Carries out `actions` on a model of the cluster, as the CLI does on the real one.
    fn simulate(map: &mut Option<ClusterMap>, provisioned: &mut Vec<String>, actions: &[Action]) {
        let node = |addr: &str, weight: u32| Node {
            id: NodeId::try_from(format!("{:040x}", addr.rsplit_once(':').unwrap().1.parse::<u64>().unwrap())).unwrap(),
            addr: addr.to_string(),
            admin: String::new(),
            zone: None,
            weight,
            state: NodeState::Up,
            boot: None,
        };
        let id_of = |m: &ClusterMap, addr: &str| m.nodes.iter().find(|n| n.addr == addr).unwrap().id.clone();
        for action in actions {
            match action {
                Action::Provision { addr } => provisioned.push(addr.clone()),
                Action::Configure { .. } | Action::Restart { .. } => {}
                Action::Retire { addr } => provisioned.retain(|a| a != addr),
                Action::Create { nodes, replicas } => {
                    let primaries = nodes.len() / (replicas + 1);
                    let runs = split(&vec![1; primaries]).unwrap();
                    let nodes: Vec<Node> = nodes.iter().map(|a| node(a, 1)).collect();
                    let shards = runs
                        .into_iter()
                        .enumerate()
                        .map(|(s, run)| Shard {
                            primary: nodes[s].id.clone(),
                            replicas: (0..*replicas).map(|r| nodes[primaries + s * replicas + r].id.clone()).collect(),
                            slots: run.into_iter().collect(),
                        })
                        .collect();
                    *map = Some(ClusterMap { epoch: 1, nodes, shards, migrations: Vec::new() });
                }
                Action::AddPrimary { addr, weight } => {
                    let m = map.as_mut().unwrap();
                    m.nodes.push(node(addr, *weight));
                    m.shards.push(Shard { primary: id_of(m, addr), replicas: Vec::new(), slots: Vec::new() });
                }
                Action::AddReplica { addr, primary } => {
                    let m = map.as_mut().unwrap();
                    m.nodes.push(node(addr, 1));
                    let (p, r) = (id_of(m, primary), id_of(m, addr));
                    m.shards.iter_mut().find(|s| s.primary == p).unwrap().replicas.push(r);
                }
                Action::SetWeight { addr, weight } => {
                    let m = map.as_mut().unwrap();
                    m.nodes.iter_mut().find(|n| &n.addr == addr).unwrap().weight = *weight;
                }
                Action::Rebalance => {
                    let m = map.as_mut().unwrap();
                    let mut owners = SlotTable::build(m).unwrap().owners();
                    let weights: Vec<u32> = m.shards.iter().map(|s| m.node(&s.primary).unwrap().weight).collect();
                    for mv in placement::rebalance(&owners, &weights).unwrap() {
                        owners[mv.slot as usize] = Some(mv.to);
                    }
                    for (i, shard) in m.shards.iter_mut().enumerate() {
                        let mine: Vec<u16> = (0..16384u16).filter(|&s| owners[s as usize] == Some(i)).collect();
                        shard.slots = placement::ranges(&mine);
                    }
                }
                Action::RemoveNode { addr } => {
                    let m = map.as_mut().unwrap();
                    let id = id_of(m, addr);
                    if let Some(i) = m.shards.iter().position(|s| s.primary == id) {
                        assert!(m.shards[i].slots.is_empty() && m.shards[i].replicas.is_empty(), "{addr} left with slots or replicas");
                        m.shards.remove(i);
                    }
                    for s in &mut m.shards {
                        s.replicas.retain(|r| r != &id);
                    }
                    m.nodes.retain(|n| n.id != id);
                }
            }
        }
    }

    proptest::proptest! {
        #[test]
        fn applying_a_plan_reaches_the_shape_and_the_next_plan_is_empty(
            from in proptest::option::of((1usize..6, 0usize..3)),
            to in (1usize..6, 0usize..3),
        ) {
            let mut map = from.map(|(s, r)| cluster(s, r));
            let mut provisioned = map.as_ref().map(addrs).unwrap_or_default();
            let shape = shape(to.0, to.1);
            let mut free = (7000u16..7100).map(|p| format!("127.0.0.1:{p}")).collect::<Vec<_>>();
            let steps = {
                let taken = provisioned.clone();
                free.retain(|a| !taken.contains(a));
                free.reverse();
                let mut pool = free.clone();
                plan(&shape, &Observed { map: map.as_ref(), provisioned: &provisioned }, move || pool.pop()).unwrap()
            };
            simulate(&mut map, &mut provisioned, &steps);
            let m = map.as_ref().unwrap();
            proptest::prop_assert_eq!(m.shards.len(), to.0);
            proptest::prop_assert!(m.shards.iter().all(|s| s.replicas.len() == to.1));
            proptest::prop_assert_eq!(SlotTable::build(m).unwrap().assigned(), 16384);
            let mut in_map = addrs(m);
            in_map.sort();
            provisioned.sort();
            proptest::prop_assert_eq!(&in_map, &provisioned);
            let again = plan(&shape, &Observed { map: Some(m), provisioned: &provisioned }, || None).unwrap();
            proptest::prop_assert!(again.is_empty(), "second plan: {:?}", again);
        }
    }

    #[test]
    fn running_out_of_nodes_is_an_error() {
        let map = cluster(1, 0);
        let result = plan(&shape(2, 0), &Observed { map: Some(&map), provisioned: &addrs(&map) }, || None);
        assert!(result.unwrap_err().contains("no free node"));
    }
}
