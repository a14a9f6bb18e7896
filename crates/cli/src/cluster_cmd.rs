//! `ferrocache cluster ...`: forms and reshapes a cluster of nodes started with
//! `ferrocache server --cluster`, the way `redis-cli --cluster` users do it: nodes are named
//! by the `HOST:PORT` clients use. Each node tells its id (`CLUSTER MYID`) and its admin URL
//! (INFO `ferrocache_admin_url`) over RESP; everything that changes the cluster goes through
//! the control plane (membership calls and a new epoch of the map under `cluster/map`, written
//! with compare-and-swap so two operators cannot overwrite each other's change).

use std::time::Duration;

use clap::Subcommand;
use ferrocache_control::client::{Client, PutOptions};
use ferrocache_control::cluster_map::{MAP_KEY, REBALANCE_KEY};
use ferrocache_control::command::ContentType;
use ferrocache_server::peer::{info_field, map_epoch, PeerConn, CLUSTER_INFO};
use ferrocache_topology::map::{ClusterMap, Migration, Node, NodeId, NodeState, RebalancePlan, Shard};
use ferrocache_topology::placement::{SlotRange, assign_replicas, split};

use crate::conn::CliError;
use crate::output::{Format, Table};

/// How long one node may take to answer a RESP call.
const NODE_TIMEOUT: Duration = Duration::from_secs(5);
/// How long the nodes may take to report the new map as served.
const SETTLE_TIMEOUT: Duration = Duration::from_secs(30);

/// Flags of every cluster command.
#[derive(clap::Args)]
pub struct ClusterArgs {
    /// Bearer token for the nodes' admin API, when they have a token file.
    #[arg(long, global = true, env = "FERROCACHE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    /// `text` for people, `json` for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    output: Format,
    #[command(subcommand)]
    cmd: ClusterCmd,
}

#[derive(Subcommand)]
enum ClusterCmd {
    /// Form a cluster from fresh nodes (started with `ferrocache server --cluster --port P`):
    /// the first nodes become primaries with the slots split evenly, the rest their replicas;
    /// the first 3 (or 5, from 5 nodes on) form the control plane's voters.
    Create {
        /// Replicas per primary: N nodes make N/(R+1) shards.
        #[arg(long, default_value_t = 0, value_name = "R")]
        replicas: usize,
        /// The nodes' client addresses.
        #[arg(required = true, value_name = "HOST:PORT")]
        nodes: Vec<String>,
    },
    /// Nodes, roles, slot ranges, key counts and health, as seen from any node.
    Status {
        #[arg(default_value = "127.0.0.1:7000", value_name = "HOST:PORT")]
        node: String,
    },
    /// Add a fresh node to the cluster that `existing` belongs to: as a primary without slots
    /// (give it slots with `rebalance`), or as a replica with `--replica`.
    AddNode {
        #[arg(value_name = "NEW_HOST:PORT")]
        new: String,
        #[arg(value_name = "EXISTING_HOST:PORT")]
        existing: String,
        /// Join as a replica of the shard with the fewest replicas (or of `--primary`).
        #[arg(long)]
        replica: bool,
        /// With `--replica`: the primary to follow (node id or HOST:PORT).
        #[arg(long, value_name = "NODE", requires = "replica")]
        primary: Option<String>,
        /// Share of slots as a primary, relative to the others' [default: 1].
        #[arg(long, default_value_t = 1)]
        weight: u32,
    },
    /// Remove a node (id or HOST:PORT) from the cluster and its control plane.
    RemoveNode {
        #[arg(value_name = "NODE")]
        node: String,
        #[arg(value_name = "EXISTING_HOST:PORT")]
        existing: String,
        /// If it is a primary that owns slots, move them to the other primaries first.
        #[arg(long)]
        drain: bool,
    },
    /// Move the fewest slots that give every primary its weighted share, live, with progress.
    Rebalance {
        #[arg(value_name = "EXISTING_HOST:PORT")]
        existing: String,
        /// Print the plan only.
        #[arg(long)]
        dry_run: bool,
        /// Slots migrating at once (each source still moves one slot at a time; a larger
        /// window means fewer new epochs of the map).
        #[arg(long, default_value_t = DEFAULT_PARALLEL, value_name = "N")]
        parallel: usize,
    },
    /// Planned switchover of the shard NODE serves in: a replica becomes its primary with no
    /// write lost (writes to the shard pause until the replica has them all, then get MOVED).
    Failover {
        /// Any node of the shard (HOST:PORT), usually its primary.
        #[arg(value_name = "HOST:PORT")]
        node: String,
        /// The replica to promote (id or HOST:PORT) [default: the most up-to-date one].
        #[arg(long, value_name = "NODE")]
        to: Option<String>,
        /// Longest time writes stay paused; the switch is abandoned if it would take longer.
        #[arg(long, default_value_t = 5000, value_name = "MS")]
        pause_ms: u64,
    },
    /// Set a primary's weight (its relative share of slots; 0 empties it at the next rebalance).
    SetWeight {
        #[arg(value_name = "NODE")]
        node: String,
        weight: u32,
        #[arg(value_name = "EXISTING_HOST:PORT")]
        existing: String,
    },
}

pub fn main(args: ClusterArgs) -> std::process::ExitCode {
    let runtime = match tokio::runtime::Builder::new_current_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferrocache: cannot start the runtime: {e}");
            return std::process::ExitCode::FAILURE;
        }
    };
    let ctx = Ctx::new(args.token, args.output);
    let result = runtime.block_on(async {
        match args.cmd {
            ClusterCmd::Create { replicas, nodes } => create(&ctx, replicas, &nodes).await,
            ClusterCmd::Status { node } => status(&ctx, &node).await,
            ClusterCmd::AddNode { new, existing, replica, primary, weight } => {
                add_node(&ctx, &new, &existing, replica.then_some(primary), weight).await
            }
            ClusterCmd::RemoveNode { node, existing, drain } => remove_node(&ctx, &node, &existing, drain).await,
            ClusterCmd::Rebalance { existing, dry_run, parallel } => rebalance(&ctx, &existing, dry_run, parallel.max(1)).await,
            ClusterCmd::Failover { node, to, pause_ms } => {
                crate::cluster_failover::failover(&ctx, &node, &node, to.as_deref(), Duration::from_millis(pause_ms.max(100))).await
            }
            ClusterCmd::SetWeight { node, weight, existing } => set_weight(&ctx, &node, weight, &existing).await.map(drop),
        }
    });
    match result {
        Ok(()) => std::process::ExitCode::SUCCESS,
        Err(e) => {
            eprintln!("ferrocache: {}", e.message);
            std::process::ExitCode::from(e.code)
        }
    }
}

pub(crate) struct Ctx {
    token: Option<String>,
    pub(crate) format: Format,
}

/// A node as found over RESP and its admin API.
pub(crate) struct Probe {
    addr: String,
    id: NodeId,
    admin: String,
    /// Its run (INFO `ferrocache_boot`), recorded in the map so that it need not wait for the
    /// control plane to record it before it serves.
    boot: Option<String>,
    raft_id: u64,
    /// Whether its control plane already belongs to a cluster.
    pub(crate) member: bool,
    pub(crate) client: Client,
}

impl Probe {
    /// The node's client address, as it was probed.
    pub(crate) fn addr(&self) -> &str {
        &self.addr
    }
}

impl Ctx {
    pub(crate) fn new(token: Option<String>, format: Format) -> Ctx {
        Ctx { token, format }
    }

    pub(crate) async fn probe(&self, addr: &str) -> Result<Probe, CliError> {
        let mut conn = PeerConn::connect(addr, NODE_TIMEOUT)
            .await
            .map_err(|e| CliError::failed(format!("cannot reach {e} — is `ferrocache server --cluster` running there?")))?;
        let id = conn.call_text(&[b"CLUSTER", b"MYID"]).await.map_err(|e| {
            CliError::failed(format!("{e} — start the node in cluster mode: `ferrocache server --cluster --port PORT`"))
        })?;
        let id = NodeId::try_from(id).map_err(|e| CliError::failed(format!("{addr}: {e}")))?;
        let info = conn.call_text(&[b"INFO", b"cluster"]).await.map_err(|e| CliError::failed(e.to_string()))?;
        let admin = info_field(&info, "ferrocache_admin_url")
            .ok_or_else(|| CliError::failed(format!("{addr} runs without its control plane (no admin URL in INFO cluster)")))?
            .to_string();
        let boot = info_field(&info, "ferrocache_boot").map(str::to_string);
        // A node started with `--announce` is known by that address, not the one used here.
        let known_as = info_field(&info, "ferrocache_announce").unwrap_or(addr).to_string();
        let client = self.client(&admin)?;
        let status = client.status().await?;
        Ok(Probe { addr: known_as, id, admin, boot, raft_id: status.node_id, member: !status.members.is_empty(), client })
    }

    pub(crate) fn client(&self, admin: &str) -> Result<Client, CliError> {
        let mut client = Client::new(admin, self.token.clone())?;
        if let Ok(user) = std::env::var("USER") {
            client = client.with_actor(user);
        }
        Ok(client)
    }
}

/// The map and the revision that wrote it (0 when there is none yet). While the control plane
/// elects a leader (a voter was lost) the read is retried for up to [`SETTLE_TIMEOUT`].
pub(crate) async fn read_map(client: &Client) -> Result<(u64, Option<ClusterMap>), CliError> {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        match client.get(MAP_KEY, None).await {
            Ok(kv) => {
                let bytes = kv.bytes()?.unwrap_or_default();
                let map = serde_json::from_slice(&bytes).map_err(|e| CliError::failed(format!("{MAP_KEY} does not hold a map: {e}")))?;
                return Ok((kv.mod_revision, Some(map)));
            }
            Err(e) if e.code() == Some("not_found") => return Ok((0, None)),
            Err(e) if matches!(e.code(), Some("unavailable" | "timeout")) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// Writes `map` if the map is still at `revision` (0 = there is none yet).
pub(crate) async fn write_map(client: &Client, map: &ClusterMap, revision: u64) -> Result<(), CliError> {
    let value = serde_json::to_vec(map).map_err(|e| CliError::failed(e.to_string()))?;
    let opts = PutOptions { content_type: Some(ContentType::Json), if_revision: Some(revision), lease: None };
    client.put(MAP_KEY, value, &opts).await.map(drop).map_err(|e| match e.code() {
        Some("conflict") => CliError::failed("the cluster map changed meanwhile (another operator?): run the command again"),
        _ => e.into(),
    })
}

/// The failure domain of a node: its zone, else the host of its address.
fn domain(node: &Node) -> &str {
    node.zone.as_deref().unwrap_or_else(|| host(&node.addr))
}

fn host(addr: &str) -> &str {
    addr.rsplit_once(':').map_or(addr, |(h, _)| h)
}

fn new_node(p: &Probe, weight: u32) -> Node {
    Node { id: p.id.clone(), addr: p.addr.clone(), admin: p.admin.clone(), zone: None, weight, state: NodeState::Up, boot: p.boot.clone() }
}

/// The first map of a cluster: `nodes.len() / (replicas + 1)` primaries in the order given, the
/// slots split evenly between them, the other nodes their replicas (away from their primary's
/// host when possible).
fn first_map(nodes: Vec<Node>, replicas: usize) -> Result<ClusterMap, CliError> {
    let primaries = nodes.len() / (replicas + 1);
    if primaries == 0 {
        return Err(CliError::usage(format!(
            "{} node(s) cannot make a shard with {replicas} replica(s): give at least {} nodes or fewer --replicas",
            nodes.len(),
            replicas + 1
        )));
    }
    let runs = split(&vec![1; primaries]).map_err(|e| CliError::failed(e.to_string()))?;
    let (heads, spares) = nodes.split_at(primaries);
    let picks = assign_replicas(&heads.iter().map(domain).collect::<Vec<_>>(), &spares.iter().map(domain).collect::<Vec<_>>());
    let shards = heads
        .iter()
        .zip(runs)
        .zip(picks)
        .map(|((head, run), picked)| Shard {
            primary: head.id.clone(),
            replicas: picked.into_iter().map(|i| spares[i].id.clone()).collect(),
            slots: run.into_iter().collect(),
        })
        .collect();
    let map = ClusterMap { epoch: 1, nodes, shards, migrations: Vec::new() };
    map.validate().map_err(|e| CliError::failed(e.to_string()))?;
    Ok(map)
}

/// How many of `n` members vote: 5 from 5 nodes on, 3 from 3, else 1 (an even count of
/// voters tolerates no more failures than one fewer).
fn voter_count(n: usize) -> usize {
    match n {
        0..=2 => 1,
        3 | 4 => 3,
        _ => 5,
    }
}

pub(crate) async fn create(ctx: &Ctx, replicas: usize, addrs: &[String]) -> Result<(), CliError> {
    let mut seen = std::collections::HashSet::new();
    if let Some(dup) = addrs.iter().find(|a| !seen.insert(a.as_str())) {
        return Err(CliError::usage(format!("{dup} is listed twice")));
    }
    let mut probes = Vec::new();
    for addr in addrs {
        let p = ctx.probe(addr).await?;
        if p.member {
            return Err(CliError::failed(format!(
                "{addr} already belongs to a cluster; add fresh nodes with `ferrocache cluster add-node`, or restart it with an empty --data-dir"
            )));
        }
        probes.push(p);
    }
    let map = first_map(probes.iter().map(|p| new_node(p, 1)).collect(), replicas)?;
    if ctx.format == Format::Text {
        print_plan(&map);
    }
    let voters = voter_count(probes.len());
    let first = &probes[0];
    first.client.init().await?;
    for (i, p) in probes.iter().enumerate().skip(1) {
        add_member(&first.client, p, i < voters).await?;
    }
    write_map(&first.client, &map, 0).await?;
    settle(&map).await?;
    match ctx.format {
        Format::Json => crate::output::print_json(&map),
        Format::Text => println!("[OK] All 16384 slots covered: {} shard(s), {} node(s), {voters} control-plane voter(s).", map.shards.len(), map.nodes.len()),
    }
    Ok(())
}

fn print_plan(map: &ClusterMap) {
    println!(">>> Performing hash slots allocation on {} nodes...", map.nodes.len());
    let addr = |id: &NodeId| map.node(id).map_or("?", |n| n.addr.as_str());
    for (i, s) in map.shards.iter().enumerate() {
        println!("Primary[{i}] -> Slots {}", ranges_text(&s.slots));
    }
    for s in &map.shards {
        for r in &s.replicas {
            println!("Adding replica {} to {}", addr(r), addr(&s.primary));
        }
    }
}

fn ranges_text(ranges: &[SlotRange]) -> String {
    if ranges.is_empty() {
        return "-".into();
    }
    ranges.iter().map(|r| if r.start == r.end { r.start.to_string() } else { format!("{}-{}", r.start, r.end) }).collect::<Vec<_>>().join(",")
}

/// Waits until every node of `map` serves it (its epoch or later), so that the command's
/// end means clients can use the cluster.
async fn settle(map: &ClusterMap) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    for node in map.nodes.iter().filter(|n| n.state == NodeState::Up) {
        loop {
            if node_epoch(&node.addr).await.is_some_and(|e| e >= map.epoch) && lease_held(&node.addr).await {
                break;
            }
            if tokio::time::Instant::now() >= deadline {
                return Err(CliError::failed(format!(
                    "{} has not picked up epoch {} after {} s; see `ferrocache cluster status`",
                    node.addr,
                    map.epoch,
                    SETTLE_TIMEOUT.as_secs()
                )));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// The map epoch a node serves (CLUSTER INFO `cluster_current_epoch`).
async fn node_epoch(addr: &str) -> Option<u64> {
    let mut conn = PeerConn::connect(addr, Duration::from_secs(1)).await.ok()?;
    map_epoch(&conn.call_text(CLUSTER_INFO).await.ok()?)
}

/// Whether a node holds its lease and may serve as a primary (INFO `ferrocache_lease_held`).
async fn lease_held(addr: &str) -> bool {
    let Ok(mut conn) = PeerConn::connect(addr, Duration::from_secs(1)).await else { return false };
    conn.call_text(&[b"INFO", b"cluster"]).await.is_ok_and(|info| info_field(&info, "ferrocache_lease_held") == Some("1"))
}

/// Adds `node` to the control plane through `client`, waiting out a membership change still
/// in progress (a cluster just initialized commits its first membership in a moment).
async fn add_member(client: &Client, node: &Probe, voter: bool) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        match client.member_add(node.raft_id, &node.admin, voter).await {
            Ok(_) => return Ok(()),
            Err(e) if matches!(e.code(), Some("membership_change" | "unavailable")) && tokio::time::Instant::now() < deadline => {
                tokio::time::sleep(Duration::from_millis(100)).await;
            }
            Err(e) => return Err(CliError::failed(format!("cannot add {} to the control plane: {}", node.addr, CliError::from(e).message))),
        }
    }
}

/// Finds a node of `map` by id, id prefix (8+ characters) or address.
pub(crate) fn find_node<'a>(map: &'a ClusterMap, name: &str) -> Result<&'a Node, CliError> {
    let by_id = |n: &&Node| name.len() >= 8 && n.id.as_str().starts_with(name);
    map.nodes
        .iter()
        .find(|n| n.addr == name)
        .or_else(|| map.nodes.iter().find(by_id))
        .ok_or_else(|| CliError::failed(format!("no node {name} in the cluster; `ferrocache cluster status` lists them")))
}

pub(crate) async fn add_node(ctx: &Ctx, new: &str, existing: &str, replica_of: Option<Option<String>>, weight: u32) -> Result<(), CliError> {
    let seed = ctx.probe(existing).await?;
    let (revision, map) = read_map(&seed.client).await?;
    let mut map = map.ok_or_else(|| CliError::failed(format!("{existing} has no cluster map: form the cluster with `ferrocache cluster create` first")))?;
    let fresh = ctx.probe(new).await?;
    if map.node(&fresh.id).is_some() {
        return Err(CliError::failed(format!("{new} is already in the cluster")));
    }
    if fresh.member {
        return Err(CliError::failed(format!("{new} already belongs to a cluster; restart it with an empty --data-dir to add it")));
    }
    map.nodes.push(new_node(&fresh, weight));
    match replica_of {
        None => map.shards.push(Shard { primary: fresh.id.clone(), replicas: Vec::new(), slots: Vec::new() }),
        Some(primary) => {
            let shard = match primary {
                Some(name) => {
                    let id = find_node(&map, &name)?.id.clone();
                    map.shards.iter().position(|s| s.primary == id).ok_or_else(|| CliError::failed(format!("{name} is not a primary")))?
                }
                None => (0..map.shards.len()).min_by_key(|&i| map.shards[i].replicas.len()).ok_or_else(|| CliError::failed("the cluster has no shard"))?,
            };
            map.shards[shard].replicas.push(fresh.id.clone());
        }
    }
    map.epoch += 1;
    add_member(&seed.client, &fresh, false).await?;
    write_map(&seed.client, &map, revision).await?;
    settle(&map).await?;
    match ctx.format {
        Format::Json => crate::output::print_json(&map),
        Format::Text => println!("[OK] {new} ({}) joined at epoch {}.", fresh.id, map.epoch),
    }
    Ok(())
}

/// `rebalance --parallel`'s default: moving 5,461 slots took 1.7 s with 256, 1.1 s with 1024 and
/// 0.8 s with all of them at once (bench/migrate.sh); 1024 keeps the listed migrations, and the
/// slots whose clients get ASK, bounded.
pub(crate) const DEFAULT_PARALLEL: usize = 1024;

pub(crate) async fn remove_node(ctx: &Ctx, name: &str, existing: &str, drain: bool) -> Result<(), CliError> {
    if drain {
        set_weight(ctx, name, 0, existing).await?;
        rebalance(ctx, existing, false, DEFAULT_PARALLEL).await?;
    }
    let seed = ctx.probe(existing).await?;
    let (revision, map) = read_map(&seed.client).await?;
    let mut map = map.ok_or_else(|| CliError::failed(format!("{existing} has no cluster map")))?;
    let node = find_node(&map, name)?.clone();
    if let Some(shard) = map.shards.iter().position(|s| s.primary == node.id) {
        if !map.shards[shard].slots.is_empty() {
            return Err(CliError::failed(format!(
                "{} is a primary that owns slots {}: give --drain to move them to the other primaries first",
                node.addr,
                ranges_text(&map.shards[shard].slots)
            )));
        }
        if !map.shards[shard].replicas.is_empty() {
            return Err(CliError::failed(format!("{} still has replicas: remove them first", node.addr)));
        }
        map.shards.remove(shard);
    }
    for s in &mut map.shards {
        s.replicas.retain(|r| r != &node.id);
    }
    map.nodes.retain(|n| n.id != node.id);
    map.epoch += 1;
    write_map(&seed.client, &map, revision).await?;
    let raft_id = match ctx.client(&node.admin)?.status().await {
        Ok(status) => Some(status.node_id),
        Err(_) => None,
    };
    if let Some(id) = raft_id {
        seed.client.member_remove(id).await?;
    }
    match ctx.format {
        Format::Json => crate::output::print_json(&map),
        Format::Text => println!("[OK] {} ({}) left at epoch {}.", node.addr, node.id, map.epoch),
    }
    Ok(())
}

/// Sets the weight of `name` in a new epoch of the map; returns the map written.
pub(crate) async fn set_weight(ctx: &Ctx, name: &str, weight: u32, existing: &str) -> Result<ClusterMap, CliError> {
    let seed = ctx.probe(existing).await?;
    let (revision, map) = read_map(&seed.client).await?;
    let mut map = map.ok_or_else(|| CliError::failed(format!("{existing} has no cluster map")))?;
    let id = find_node(&map, name)?.id.clone();
    if let Some(node) = map.nodes.iter_mut().find(|n| n.id == id) {
        node.weight = weight;
    }
    map.epoch += 1;
    write_map(&seed.client, &map, revision).await?;
    Ok(map)
}

/// A primary's share: its weight, none while it drains or is down.
fn shard_weights(map: &ClusterMap) -> Vec<u32> {
    map.shards
        .iter()
        .map(|s| map.node(&s.primary).filter(|n| n.state == NodeState::Up).map_or(0, |n| n.weight))
        .collect()
}

#[derive(serde::Serialize)]
struct PlanStep {
    from: String,
    to: String,
    slots: usize,
}

/// Totals the sources report in INFO cluster: (keys, bytes) moved out so far.
async fn moved_so_far(map: &ClusterMap) -> (u64, u64) {
    let mut total = (0, 0);
    for node in &map.nodes {
        let Ok(mut conn) = PeerConn::connect(&node.addr, Duration::from_secs(1)).await else { continue };
        let Ok(info) = conn.call_text(&[b"INFO", b"cluster"]).await else { continue };
        let field = |name| info_field(&info, name).and_then(|v| v.parse::<u64>().ok()).unwrap_or(0);
        total.0 += field("ferrocache_migrated_keys");
        total.1 += field("ferrocache_migrated_bytes");
    }
    total
}

/// The primary of the shard `node` serves in now: a failover during a rebalance may have made
/// the planned target a replica of its shard.
fn primary_now(map: &ClusterMap, node: &NodeId) -> NodeId {
    map.shards.iter().find(|s| s.replicas.contains(node)).map_or_else(|| node.clone(), |s| s.primary.clone())
}

/// Starts the migrations of `targets` (slot, new owner's primary) in a new epoch and returns
/// that map. A write whose outcome is unknown (the control plane lost its leader meanwhile) is
/// settled by reading the map again: moves already under way or done are not started twice.
async fn start_chunk(client: &Client, targets: &[(u16, NodeId)]) -> Result<ClusterMap, CliError> {
    let deadline = tokio::time::Instant::now() + SETTLE_TIMEOUT;
    loop {
        let (revision, map) = read_map(client).await?;
        let map = map.ok_or_else(|| CliError::failed("the cluster map disappeared"))?;
        let owner = |slot: u16| map.shards.iter().find(|s| s.slots.iter().any(|r| r.contains(slot))).map(|s| &s.primary);
        let wanted: Vec<(u16, NodeId)> = targets
            .iter()
            .map(|(slot, to)| (*slot, primary_now(&map, to)))
            .filter(|(slot, to)| map.migration(*slot).is_none() && owner(*slot) != Some(to))
            .collect();
        if wanted.is_empty() {
            return Ok(map);
        }
        let next = map.start_migrations(&wanted).map_err(|e| CliError::failed(format!("cannot start the migrations: {e}")))?;
        match write_map(client, &next, revision).await {
            Ok(()) => return Ok(next),
            Err(e) if tokio::time::Instant::now() < deadline => {
                tracing::debug!("starting migrations: {}; reading the map again", e.message);
                tokio::time::sleep(Duration::from_millis(200)).await;
            }
            Err(e) => return Err(e),
        }
    }
}

pub(crate) async fn rebalance(ctx: &Ctx, existing: &str, dry_run: bool, parallel: usize) -> Result<(), CliError> {
    let seed = ctx.probe(existing).await?;
    let (_, mut map) = read_map(&seed.client).await?;
    // Migrations left by an interrupted rebalance finish first (their sources resume them).
    let mut waited = false;
    while let Some(m) = map.as_ref().filter(|m| !m.migrations.is_empty()) {
        if !waited && ctx.format == Format::Text && !dry_run {
            println!("waiting for {} slot migration(s) already under way", m.migrations.len());
        }
        if dry_run {
            break;
        }
        waited = true;
        tokio::time::sleep(Duration::from_millis(200)).await;
        map = read_map(&seed.client).await?.1;
    }
    let map = map.ok_or_else(|| CliError::failed(format!("{existing} has no cluster map")))?;
    let owners = ferrocache_topology::map::SlotTable::build(&map).map_err(|e| CliError::failed(e.to_string()))?.owners();
    let moves = ferrocache_topology::placement::rebalance(&owners, &shard_weights(&map)).map_err(|e| CliError::failed(e.to_string()))?;
    let addr = |shard: Option<usize>| shard.and_then(|s| map.node(&map.shards[s].primary)).map_or("(unassigned)".to_string(), |n| n.addr.clone());
    let mut steps: Vec<PlanStep> = Vec::new();
    for m in &moves {
        let (from, to) = (addr(m.from), addr(Some(m.to)));
        match steps.iter_mut().find(|s| s.from == from && s.to == to) {
            Some(step) => step.slots += 1,
            None => steps.push(PlanStep { from, to, slots: 1 }),
        }
    }
    match ctx.format {
        Format::Json if dry_run => crate::output::print_json(&steps),
        Format::Json => {}
        Format::Text => {
            println!("{} slot(s) to move", moves.len());
            for s in &steps {
                println!("  {} -> {}: {} slot(s)", s.from, s.to, s.slots);
            }
        }
    }
    if dry_run || moves.is_empty() {
        return Ok(());
    }
    if moves.iter().any(|m| m.from.is_none()) {
        return Err(CliError::failed("some slots have no owner, so their keys cannot be moved; this needs a repair, not a rebalance"));
    }
    // The plan goes beside the map first: the map will only ever list the window under way,
    // the plan lets the dashboard show how far the whole rebalance has come (an interrupted
    // one's included, when this run finishes it).
    let planned = moves.iter().filter_map(|m| {
        let from = map.shards[m.from?].primary.clone();
        Some(Migration { slot: m.slot, from, to: map.shards[m.to].primary.clone() })
    });
    // An unreadable earlier plan only costs the continuity of the progress shown.
    let previous = read_plan(&seed.client).await.unwrap_or_default();
    let plan = RebalancePlan::continuing(previous.as_ref(), &map, planned.collect(), crate::output::now_ms());
    let opts = PutOptions { content_type: Some(ContentType::Json), if_revision: None, lease: None };
    let value = serde_json::to_vec(&plan).map_err(|e| CliError::failed(e.to_string()))?;
    seed.client.put(REBALANCE_KEY, value, &opts).await?;
    let bar = indicatif::ProgressBar::new(moves.len() as u64);
    if ctx.format == Format::Text {
        let style = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} slots {msg}").map_err(|e| CliError::failed(e.to_string()))?;
        bar.set_style(style);
    } else {
        bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
    }
    let started = std::time::Instant::now();
    let before = moved_so_far(&map).await;
    // A sliding window: up to `parallel` slots migrate at once, topped up as soon as half of
    // them are done, so the sources never wait for the slowest slot of a batch.
    let mut queued = moves.iter().map(|m| (m.slot, map.shards[m.to].primary.clone())).collect::<std::collections::VecDeque<_>>();
    let mut in_flight: Vec<u16> = Vec::new();
    let mut current = map.clone();
    while !queued.is_empty() || !in_flight.is_empty() {
        if in_flight.len() * 2 <= parallel && !queued.is_empty() {
            let take = (parallel - in_flight.len()).min(queued.len());
            let starting: Vec<(u16, NodeId)> = queued.drain(..take).collect();
            current = start_chunk(&seed.client, &starting).await?;
            in_flight.extend(starting.iter().map(|(slot, _)| *slot));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
        if let (_, Some(now)) = read_map(&seed.client).await? {
            in_flight.retain(|slot| now.migration(*slot).is_some());
            current = now;
        }
        bar.set_position((moves.len() - queued.len() - in_flight.len()) as u64);
        let moved = moved_so_far(&current).await;
        let (keys, bytes) = (moved.0.saturating_sub(before.0), moved.1.saturating_sub(before.1));
        let secs = started.elapsed().as_secs_f64().max(0.001);
        bar.set_message(format!("{keys} keys, {:.1} MB, {:.1} MB/s", bytes as f64 / 1e6, bytes as f64 / 1e6 / secs));
    }
    bar.finish();
    let (_, after) = read_map(&seed.client).await?;
    let moved = moved_so_far(after.as_ref().unwrap_or(&map)).await;
    let (keys, bytes) = (moved.0.saturating_sub(before.0), moved.1.saturating_sub(before.1));
    let secs = started.elapsed().as_secs_f64();
    match ctx.format {
        Format::Json => crate::output::print_json(&serde_json::json!({ "slots": moves.len(), "keys": keys, "bytes": bytes, "seconds": secs })),
        Format::Text => println!(
            "[OK] moved {} slot(s), {keys} key(s), {:.1} MB in {secs:.1} s ({:.1} MB/s); now at epoch {}",
            moves.len(),
            bytes as f64 / 1e6,
            bytes as f64 / 1e6 / secs.max(0.001),
            after.map_or(0, |m| m.epoch)
        ),
    }
    Ok(())
}

/// One row of `status`.
#[derive(serde::Serialize)]
struct NodeRow {
    id: String,
    addr: String,
    role: String,
    slots: String,
    slot_count: usize,
    keys: Option<u64>,
    health: String,
}

pub(crate) async fn status(ctx: &Ctx, addr: &str) -> Result<(), CliError> {
    let seed = ctx.probe(addr).await?;
    let (_, map) = read_map(&seed.client).await?;
    let map = map.ok_or_else(|| CliError::failed(format!("{addr} has no cluster map yet: form one with `ferrocache cluster create`")))?;
    let mut rows = Vec::new();
    for node in &map.nodes {
        let shard = map.shard_of_node(&node.id).map(|i| &map.shards[i]);
        let (role, slots) = match shard {
            Some(s) if s.primary == node.id => ("primary".to_string(), s.slots.clone()),
            Some(s) => (format!("replica of {}", map.node(&s.primary).map_or("?", |p| p.addr.as_str())), Vec::new()),
            None => ("spare".to_string(), Vec::new()),
        };
        let (keys, health) = match probe_keys(&node.addr).await {
            Ok(keys) => (Some(keys), format!("{:?}", node.state).to_lowercase()),
            Err(e) => (None, format!("unreachable ({e})")),
        };
        let slot_count = slots.iter().map(SlotRange::len).sum();
        rows.push(NodeRow { id: node.id.to_string(), addr: node.addr.clone(), role, slots: ranges_text(&slots), slot_count, keys, health });
    }
    let plan = read_plan(&seed.client).await?;
    let progress = plan.as_ref().map(|p| p.progress(&map)).unwrap_or_default();
    match ctx.format {
        Format::Json => {
            let rebalance = plan.map(|p| serde_json::json!({ "started_ms": p.started_ms, "moves": progress }));
            crate::output::print_json(&serde_json::json!({ "epoch": map.epoch, "nodes": rows, "migrations": map.migrations, "rebalance": rebalance }))
        }
        Format::Text => {
            let assigned: usize = rows.iter().map(|r| r.slot_count).sum();
            println!("epoch {}, {} shard(s), {assigned} of 16384 slots assigned, {} migration(s) under way", map.epoch, map.shards.len(), map.migrations.len());
            let (moved, planned) = progress.iter().fold((0, 0), |(m, p), g| (m + g.moved, p + g.slots));
            if let Some(plan) = plan.filter(|_| moved < planned) {
                println!("rebalance started {} UTC: {moved} of {planned} slots moved", crate::output::time(plan.started_ms));
            }
            let mut table = Table::new(&["ID", "ADDRESS", "ROLE", "SLOTS", "KEYS", "HEALTH"]);
            for r in rows {
                let slots = if r.slot_count == 0 { "-".into() } else { format!("{} ({})", r.slots, r.slot_count) };
                table.row(vec![r.id[..8].to_string(), r.addr, r.role, slots, r.keys.map_or("-".into(), |k| k.to_string()), r.health]);
            }
            table.print();
        }
    }
    Ok(())
}

/// The last rebalance's plan (see [`RebalancePlan`]), if one was recorded.
async fn read_plan(client: &Client) -> Result<Option<RebalancePlan>, CliError> {
    let Some(bytes) = crate::rollout::value_of(client, REBALANCE_KEY).await? else { return Ok(None) };
    serde_json::from_slice(&bytes).map(Some).map_err(|e| CliError::failed(format!("{REBALANCE_KEY} does not hold a rebalance plan: {e}")))
}

async fn probe_keys(addr: &str) -> Result<u64, String> {
    let mut conn = PeerConn::connect(addr, Duration::from_secs(1)).await.map_err(|e| e.to_string())?;
    conn.call_text(&[b"DBSIZE"]).await.map_err(|e| e.to_string())?.parse().map_err(|e| format!("DBSIZE: {e}"))
}

#[cfg(test)]
mod tests {
    use super::*;

    fn node(addr: &str) -> Node {
        Node { id: NodeId::random(), addr: addr.into(), admin: String::new(), zone: None, weight: 1, state: NodeState::Up, boot: None }
    }

    #[test]
    fn a_first_map_splits_slots_and_keeps_replicas_off_their_primarys_host() {
        let nodes = ["a:1", "a:2", "b:1", "b:2", "c:1", "c:2"].map(node).to_vec();
        let map = first_map(nodes.clone(), 1).unwrap();
        assert_eq!(map.shards.len(), 3);
        let slots: Vec<String> = map.shards.iter().map(|s| ranges_text(&s.slots)).collect();
        assert_eq!(slots, ["0-5460", "5461-10922", "10923-16383"], "as redis-cli --cluster create splits");
        for s in &map.shards {
            let primary = host(&map.node(&s.primary).unwrap().addr);
            assert_eq!(s.replicas.len(), 1);
            assert_ne!(host(&map.node(&s.replicas[0]).unwrap().addr), primary);
        }
        assert_eq!(first_map(nodes[..3].to_vec(), 0).unwrap().shards.len(), 3);
        let err = first_map(nodes[..1].to_vec(), 1).err().unwrap();
        assert!(err.message.contains("at least 2 nodes"), "{}", err.message);
    }

    #[test]
    fn voters_are_odd_and_at_most_five() {
        assert_eq!([1, 2, 3, 4, 5, 6, 9].map(voter_count), [1, 1, 3, 3, 5, 5, 5]);
    }
}
