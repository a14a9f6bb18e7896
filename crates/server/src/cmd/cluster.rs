//! Cluster family: CLUSTER's subcommands, ASKING, READONLY and READWRITE.
//!
//! The read-only subcommands (SLOTS, SHARDS, NODES, INFO, ...) describe
//! the node's current [`View`] in Redis 7.0's exact formats, because
//! cluster clients and `redis-cli --cluster` parse them to build their slot
//! tables. The subcommands that change the topology in Redis (MEET,
//! ADDSLOTS, SETSLOT, FAILOVER, ...) are refused with the `ferrocache
//! cluster` command that does the job here: in Ferrocache the topology is
//! the control plane's decision, never one node's.
//!
//! Outside cluster mode every subcommand answers Redis's "cluster support
//! disabled" error.

use std::fmt::Write as _;

use bytes::Bytes;
use ferrocache_resp::ReplyBuf;
use ferrocache_topology::map::{ClusterMap, NodeState};
use ferrocache_topology::placement::SlotRange;
use ferrocache_topology::{key_slot, SLOT_COUNT};

use crate::args::{int, text};
use crate::client::Client;
use crate::cluster::{Cluster, View};
use crate::command::{container, flags::*, spec, CmdError, CmdResult, Ctx, Spec};

pub static COMMANDS: &[Spec] = &[
    container("cluster", -2, "cluster", "3.0.0", "A container for Redis Cluster commands.", SUBCOMMANDS),
    spec("asking", 1, FAST, (0, 0, 0), "cluster", "3.0.0", "Signals that a cluster client is following an -ASK redirect.", asking),
    spec("readonly", 1, LOADING | STALE | FAST, (0, 0, 0), "cluster", "3.0.0", "Enables read-only queries for a connection to a Redis Cluster replica node.", readonly),
    spec("readwrite", 1, LOADING | STALE | FAST, (0, 0, 0), "cluster", "3.0.0", "Enables read-write queries for a connection to a Reids Cluster replica node.", readwrite),
];

/// Flags of the subcommands that change the topology in Redis.
const TOPOLOGY: u32 = ADMIN | STALE;

static SUBCOMMANDS: &[Spec] = &[
    spec("info", 2, STALE, (0, 0, 0), "cluster", "3.0.0", "Returns information about the state of a node.", info),
    spec("myid", 2, STALE, (0, 0, 0), "cluster", "3.0.0", "Returns the ID of a node.", myid),
    spec("nodes", 2, STALE, (0, 0, 0), "cluster", "3.0.0", "Returns the cluster configuration for a node.", nodes),
    spec("slots", 2, STALE, (0, 0, 0), "cluster", "3.0.0", "Returns the mapping of cluster slots to nodes.", slots),
    spec("shards", 2, STALE, (0, 0, 0), "cluster", "7.0.0", "Returns the mapping of cluster slots to shards.", shards),
    spec("links", 2, STALE, (0, 0, 0), "cluster", "7.0.0", "Returns a list of all TCP links to and from peer nodes.", links),
    spec("keyslot", 3, STALE, (0, 0, 0), "cluster", "3.0.0", "Returns the hash slot for a key.", keyslot),
    spec("countkeysinslot", 3, STALE, (0, 0, 0), "cluster", "3.0.0", "Returns the number of keys in a hash slot.", countkeysinslot),
    spec("getkeysinslot", 4, STALE, (0, 0, 0), "cluster", "3.0.0", "Returns the key names in a hash slot.", getkeysinslot),
    spec("count-failure-reports", 3, ADMIN | STALE, (0, 0, 0), "cluster", "3.0.0", "Returns the number of active failure reports active for a node.", count_failure_reports),
    spec("replicas", 3, ADMIN | STALE, (0, 0, 0), "cluster", "5.0.0", "Lists the replica nodes of a master node.", replicas),
    spec("slaves", 3, ADMIN | STALE, (0, 0, 0), "cluster", "3.0.0", "Lists the replica nodes of a master node.", replicas),
    spec("help", 2, LOADING | STALE, (0, 0, 0), "cluster", "5.0.0", "Returns helpful text about the different subcommands.", help),
    spec("meet", -4, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Forces a node to handshake with another node.", decided_elsewhere),
    spec("forget", 3, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Removes a node from the nodes table.", decided_elsewhere),
    spec("replicate", 3, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Configure a node as replica of a master node.", decided_elsewhere),
    spec("failover", -2, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Forces a replica to perform a manual failover of its master.", decided_elsewhere),
    spec("reset", -2, TOPOLOGY | NOSCRIPT, (0, 0, 0), "cluster", "3.0.0", "Resets a node.", decided_elsewhere),
    spec("addslots", -3, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Assigns new hash slots to a node.", decided_elsewhere),
    spec("addslotsrange", -4, TOPOLOGY, (0, 0, 0), "cluster", "7.0.0", "Assigns new hash slot ranges to a node.", decided_elsewhere),
    spec("delslots", -3, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Sets hash slots as unbound for a node.", decided_elsewhere),
    spec("delslotsrange", -4, TOPOLOGY, (0, 0, 0), "cluster", "7.0.0", "Sets hash slot ranges as unbound for a node.", decided_elsewhere),
    spec("flushslots", 2, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Deletes all slots information from a node.", decided_elsewhere),
    spec("setslot", -4, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Binds a hash slot to a node.", setslot),
    spec("set-config-epoch", 3, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Sets the configuration epoch for a new node.", decided_elsewhere),
    spec("bumpepoch", 2, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Advances the cluster config epoch.", decided_elsewhere),
    spec("saveconfig", 2, TOPOLOGY, (0, 0, 0), "cluster", "3.0.0", "Forces a node to save the cluster configuration to disk.", decided_elsewhere),
];

/// Which `ferrocache cluster` command does what each topology subcommand
/// does in Redis.
pub const DECIDED_BY: &[(&str, &str)] = &[
    ("meet", "add-node"),
    ("replicate", "add-node"),
    ("forget", "remove-node"),
    ("reset", "remove-node"),
    ("failover", "failover"),
    ("addslots", "rebalance"),
    ("addslotsrange", "rebalance"),
    ("delslots", "rebalance"),
    ("delslotsrange", "rebalance"),
    ("flushslots", "rebalance"),
    ("setslot", "rebalance"),
    ("bumpepoch", "rebalance"),
    ("set-config-epoch", "create"),
    ("saveconfig", "create"),
];

/// Redis's reply to cluster commands when cluster mode is off.
pub fn disabled() -> CmdError {
    CmdError::err("This instance has cluster support disabled")
}

fn enabled<'a>(ctx: &Ctx<'a>) -> Result<&'a Cluster, CmdError> {
    ctx.shared.cluster.as_ref().ok_or_else(disabled)
}

/// ASKING, READONLY, READWRITE: a flag of the connection, in cluster mode.
fn set_flag(ctx: &mut Ctx, set: fn(&mut Client)) -> CmdResult {
    enabled(ctx)?;
    set(ctx.client);
    ctx.out.ok();
    Ok(())
}

fn asking(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    set_flag(ctx, |c| c.asking = true)
}

fn readonly(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    set_flag(ctx, |c| c.readonly = true)
}

fn readwrite(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    set_flag(ctx, |c| c.readonly = false)
}

fn decided_elsewhere(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    enabled(ctx)?;
    let name = text(&args[1]).to_ascii_lowercase();
    let command = DECIDED_BY.iter().find(|(sub, _)| *sub == name).map_or("status", |(_, command)| command);
    Err(CmdError::err(format!(
        "CLUSTER {} is decided by the control plane in Ferrocache: use 'ferrocache cluster {command}'",
        name.to_ascii_uppercase()
    )))
}

/// `CLUSTER SETSLOT slot NODE <this node's id>` on the node a slot is migrating to: the
/// source sends it once it has moved every key of the slot, just before it hands the slot over
/// in the map (the target-first order of Redis's resharding), and this node serves the slot
/// from then on (see [`Cluster::adopt`]). Every other form is the control plane's business.
fn setslot(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let cluster = enabled(ctx)?;
    let mine = cluster.my_id().is_some_and(|id| args.len() == 5 && args[4][..] == *id.as_str().as_bytes());
    if !(mine && args[3].eq_ignore_ascii_case(b"node")) {
        return decided_elsewhere(ctx, args);
    }
    let slot = int(&args[2]).ok().and_then(|s| u16::try_from(s).ok()).filter(|&s| s < SLOT_COUNT).ok_or_else(|| CmdError::err("Invalid or out of range slot"))?;
    if !cluster.adopt(slot) {
        return Err(CmdError::err(format!("slot {slot} is not migrating to this node in the cluster map it has")));
    }
    ctx.out.ok();
    Ok(())
}

/// `CLUSTER INFO`: Redis 7.0's fields. There is no cluster bus, so the
/// message counters Redis always shows are 0; the one epoch is the map's.
fn info(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let view = enabled(ctx)?.view();
    let map = &view.map;
    let size = view.shard_ranges.iter().filter(|r| !r.is_empty()).count();
    let mut text = String::new();
    let fields: [(&str, &dyn std::fmt::Display); 12] = [
        ("cluster_state", &if view.healthy() { "ok" } else { "fail" }),
        ("cluster_slots_assigned", &view.assigned),
        ("cluster_slots_ok", &(view.assigned - view.failing)),
        ("cluster_slots_pfail", &0),
        ("cluster_slots_fail", &view.failing),
        ("cluster_known_nodes", &(map.nodes.len() + usize::from(view.me.is_none() && view.my_id.is_some()))),
        ("cluster_size", &size),
        ("cluster_current_epoch", &map.epoch),
        ("cluster_my_epoch", &map.epoch),
        ("cluster_stats_messages_sent", &0),
        ("cluster_stats_messages_received", &0),
        ("total_cluster_links_buffer_limit_exceeded", &0),
    ];
    for (name, value) in fields {
        let _ = write!(text, "{name}:{value}\r\n");
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn myid(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let id = enabled(ctx)?.my_id().ok_or_else(|| CmdError::err("this node has no id yet: it gets one when it joins a cluster"))?;
    ctx.out.bulk(id.as_str().as_bytes());
    Ok(())
}

/// `CLUSTER NODES`: one line per node, `<id> <ip:port@cport> <flags>
/// <primary> <ping-sent> <pong-recv> <config-epoch> <link> <slots...>`.
/// The cluster-bus port Redis shows is the node's admin API port here
/// (the control plane is this cluster's bus); pings are not exchanged, so
/// both times are 0.
fn nodes(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let cluster = enabled(ctx)?;
    let view = cluster.view();
    let mut text = String::new();
    for i in 0..view.map.nodes.len() {
        node_line(&view, i, &mut text);
        text.push('\n');
    }
    if let (None, Some(id)) = (view.me, &view.my_id) {
        // Not in the map yet: Redis shows a lone node without its address.
        let port = ctx.shared.port.load(std::sync::atomic::Ordering::Relaxed);
        let _ = writeln!(text, "{id} :{port}@{} myself,master - 0 0 {} connected", url_port(&cluster.admin_url()), view.map.epoch);
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

/// The role of node `i`: the shard it serves in and whether as primary.
fn role(map: &ClusterMap, i: usize) -> Option<(usize, bool)> {
    let id = &map.nodes[i].id;
    map.shard_of_node(id).map(|s| (s, map.shards[s].primary == *id))
}

/// Node `i`'s CLUSTER NODES line (without the newline).
fn node_line(view: &View, i: usize, out: &mut String) {
    let map = &view.map;
    let node = &map.nodes[i];
    let role = role(map, i);
    let primary = match role {
        Some((s, false)) => map.shards[s].primary.as_str(),
        _ => "-",
    };
    let myself = view.me == Some(i);
    let down = node.state == NodeState::Down;
    let flags = [(myself, "myself"), (primary == "-", "master"), (primary != "-", "slave"), (down, "fail")];
    let flags: Vec<&str> = flags.iter().filter(|(on, _)| *on).map(|(_, name)| *name).collect();
    let link = if down { "disconnected" } else { "connected" };
    let _ = write!(out, "{} {}@{} {} {primary} 0 0 {} {link}", node.id, node.addr, url_port(&node.admin), flags.join(","), map.epoch);
    if let Some((s, true)) = role {
        for r in &view.shard_ranges[s] {
            let _ = if r.start == r.end { write!(out, " {}", r.start) } else { write!(out, " {}-{}", r.start, r.end) };
        }
    }
    if myself {
        let mut moving: Vec<_> = map.migrations.iter().collect();
        moving.sort_by_key(|m| m.slot);
        for m in moving {
            if m.from == node.id {
                let _ = write!(out, " [{}->-{}]", m.slot, m.to);
            } else if m.to == node.id {
                let _ = write!(out, " [{}-<-{}]", m.slot, m.from);
            }
        }
    }
}

/// `host:port` split for replies that give them apart (IPv6 brackets dropped).
fn host_port(addr: &str) -> (&str, u16) {
    match addr.rsplit_once(':') {
        Some((host, port)) => (host.trim_start_matches('[').trim_end_matches(']'), port.parse().unwrap_or(0)),
        None => (addr, 0),
    }
}

/// The port of an admin URL (`http://host:port[/...]`), 0 if it has none.
fn url_port(url: &str) -> u16 {
    let rest = url.split_once("://").map_or(url, |(_, rest)| rest);
    let authority = rest.split('/').next().unwrap_or_default();
    authority.rsplit_once(':').and_then(|(_, port)| port.parse().ok()).unwrap_or(0)
}

/// `CLUSTER SLOTS`: each run of slots, in slot order, with its primary
/// then its replicas that are not down, each as `[ip, port, id, {}]`.
fn slots(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let view = enabled(ctx)?.view();
    let map = &view.map;
    let mut runs: Vec<(SlotRange, usize)> =
        view.shard_ranges.iter().enumerate().flat_map(|(s, runs)| runs.iter().map(move |r| (*r, s))).collect();
    runs.sort_by_key(|(r, _)| r.start);
    let out = &mut *ctx.out;
    out.array(runs.len());
    for (run, s) in runs {
        let shard = &map.shards[s];
        let replicas: Vec<usize> = shard
            .replicas
            .iter()
            .filter_map(|id| view.node_index(id))
            .filter(|&n| map.nodes[n].state != NodeState::Down)
            .collect();
        out.array(3 + replicas.len());
        out.int(i64::from(run.start));
        out.int(i64::from(run.end));
        for n in view.primary(s).into_iter().chain(replicas) {
            let node = &map.nodes[n];
            let (host, port) = host_port(&node.addr);
            out.array(4);
            out.bulk(host.as_bytes());
            out.int(i64::from(port));
            out.bulk(node.id.as_str().as_bytes());
            out.map(0);
        }
    }
    Ok(())
}

/// `CLUSTER SHARDS`: every shard (a node serving in none is a shard of its
/// own, as a Redis master without slots is) with its slot runs and its
/// nodes, primary first. Without replication streams yet, offsets are 0,
/// which Redis reports as a replica still `loading`.
fn shards(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let view = enabled(ctx)?.view();
    let map = &view.map;
    let index = |id| view.node_index(id);
    let mut groups: Vec<(&[SlotRange], Vec<usize>)> = map
        .shards
        .iter()
        .zip(&view.shard_ranges)
        .map(|(s, runs)| (&runs[..], std::iter::once(&s.primary).chain(&s.replicas).filter_map(index).collect()))
        .collect();
    groups.extend((0..map.nodes.len()).filter(|&i| role(map, i).is_none()).map(|i| (&[][..], vec![i])));
    let out = &mut *ctx.out;
    out.array(groups.len());
    for (runs, members) in groups {
        out.map(2);
        out.bulk(b"slots");
        out.array(2 * runs.len());
        for r in runs {
            out.int(i64::from(r.start));
            out.int(i64::from(r.end));
        }
        out.bulk(b"nodes");
        out.array(members.len());
        for i in members {
            shard_member(out, map, i);
        }
    }
    Ok(())
}

fn shard_member(out: &mut ReplyBuf, map: &ClusterMap, i: usize) {
    let node = &map.nodes[i];
    let (host, port) = host_port(&node.addr);
    let replica = matches!(role(map, i), Some((_, false)));
    let health = match (node.state, replica) {
        (NodeState::Down, _) => "failed",
        (_, true) => "loading",
        _ => "online",
    };
    out.map(7);
    out.bulk(b"id");
    out.bulk(node.id.as_str().as_bytes());
    out.bulk(b"port");
    out.int(i64::from(port));
    for (name, value) in [("ip", host), ("endpoint", host), ("role", if replica { "replica" } else { "master" })] {
        out.bulk(name.as_bytes());
        out.bulk(value.as_bytes());
    }
    out.bulk(b"replication-offset");
    out.int(0);
    out.bulk(b"health");
    out.bulk(health.as_bytes());
}

/// `CLUSTER LINKS`: the cluster bus's connections; there is no bus.
fn links(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    enabled(ctx)?;
    ctx.out.array(0);
    Ok(())
}

fn keyslot(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    enabled(ctx)?;
    ctx.out.int(i64::from(key_slot(&args[2])));
    Ok(())
}

fn countkeysinslot(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    enabled(ctx)?;
    let slot = u16::try_from(int(&args[2])?).ok().filter(|&s| s < SLOT_COUNT).ok_or_else(|| CmdError::err("Invalid slot"))?;
    ctx.out.int(ctx.shared.dbs[0].count_keys_in_slot(slot) as i64);
    Ok(())
}

fn getkeysinslot(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    enabled(ctx)?;
    let (slot, count) = (int(&args[2])?, int(&args[3])?);
    let slot = u16::try_from(slot).ok().filter(|&s| s < SLOT_COUNT);
    let (Some(slot), Ok(count)) = (slot, usize::try_from(count)) else {
        return Err(CmdError::err("Invalid slot or number of keys"));
    };
    let keys = ctx.shared.dbs[0].keys_in_slot(slot, count);
    ctx.out.array(keys.len());
    for k in keys {
        ctx.out.bulk(&k);
    }
    Ok(())
}

/// The map's index of the node named by `arg`, or Redis's error.
fn known_node(view: &View, arg: &[u8]) -> Result<usize, CmdError> {
    view.map.nodes.iter().position(|n| n.id.as_str().as_bytes() == arg).ok_or_else(|| CmdError::err(format!("Unknown node {}", text(arg))))
}

/// Failure reports are gossip; here the control plane decides failures.
fn count_failure_reports(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    known_node(&enabled(ctx)?.view(), &args[2])?;
    ctx.out.int(0);
    Ok(())
}

fn replicas(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let view = enabled(ctx)?.view();
    let i = known_node(&view, &args[2])?;
    let s = match role(&view.map, i) {
        Some((_, false)) => return Err(CmdError::err("The specified node is not a master")),
        Some((s, true)) => Some(s),
        None => None,
    };
    let listed: Vec<usize> = s.map_or(Vec::new(), |s| view.map.shards[s].replicas.iter().filter_map(|id| view.node_index(id)).collect());
    ctx.out.array(listed.len());
    for r in listed {
        let mut line = String::new();
        node_line(&view, r, &mut line);
        ctx.out.bulk(line.as_bytes());
    }
    Ok(())
}

fn help(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    enabled(ctx)?;
    ctx.help(
        "CLUSTER",
        &[
            "COUNTKEYSINSLOT <slot>",
            "    Return the number of keys in <slot>.",
            "COUNT-FAILURE-REPORTS <node-id>",
            "    Return number of failure reports for <node-id> (always 0: the control plane decides failures).",
            "GETKEYSINSLOT <slot> <count>",
            "    Return key names stored by current node in a slot.",
            "INFO",
            "    Return information about the cluster.",
            "KEYSLOT <key>",
            "    Return the hash slot for <key>.",
            "LINKS",
            "    Return information about all network links between this node and its peers (none: there is no cluster bus).",
            "MYID",
            "    Return the node id.",
            "NODES",
            "    Return cluster configuration seen by node. Output format:",
            "    <id> <ip:port@admin-port> <flags> <master> <pings> <pongs> <epoch> <link> <slot> ...",
            "REPLICAS <node-id>",
            "    Return <node-id> replicas.",
            "SLOTS",
            "    Return information about slots range mappings. Each range is made of:",
            "    start, end, master and replicas IP addresses, ports and ids",
            "SHARDS",
            "    Return information about slot range mappings and the nodes associated with them.",
            "ADDSLOTS, ADDSLOTSRANGE, DELSLOTS, DELSLOTSRANGE, FLUSHSLOTS, SETSLOT, BUMPEPOCH",
            "    Decided by the control plane: use 'ferrocache cluster rebalance'.",
            "MEET, REPLICATE",
            "    Decided by the control plane: use 'ferrocache cluster add-node'.",
            "FORGET, RESET",
            "    Decided by the control plane: use 'ferrocache cluster remove-node'.",
            "FAILOVER",
            "    Decided by the control plane: use 'ferrocache cluster failover'.",
            "SET-CONFIG-EPOCH, SAVECONFIG",
            "    Decided by the control plane: use 'ferrocache cluster create'.",
        ],
    )
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn addresses_split_into_host_and_ports() {
        assert_eq!(host_port("127.0.0.1:7000"), ("127.0.0.1", 7000));
        assert_eq!(host_port("[::1]:7000"), ("::1", 7000));
        assert_eq!(host_port("cache-3.internal:6379"), ("cache-3.internal", 6379));
        assert_eq!(host_port("nohost"), ("nohost", 0));
        assert_eq!(url_port("http://127.0.0.1:17000"), 17000);
        assert_eq!(url_port("https://admin.example:8443/v1"), 8443);
        assert_eq!(url_port("127.0.0.1:8000"), 8000);
        assert_eq!(url_port("http://example"), 0);
    }

    #[test]
    fn every_topology_subcommand_names_its_ferrocache_command() {
        // SETSLOT refuses every form but the one a migration's source sends.
        let refusing = [decided_elsewhere as crate::command::Handler, setslot];
        let refused: Vec<&str> = SUBCOMMANDS.iter().filter(|s| refusing.iter().any(|&h| std::ptr::fn_addr_eq(s.handler, h))).map(|s| s.name).collect();
        let named: Vec<&str> = DECIDED_BY.iter().map(|(name, _)| *name).collect();
        assert_eq!(refused.len(), 14);
        assert!(refused.iter().all(|s| named.contains(s)) && named.iter().all(|s| refused.contains(s)), "{refused:?} vs {named:?}");
    }
}
