//! `ferrocache deploy ...` and `ferrocache up`: a cluster from one spec file.
//!
//! `validate` checks the spec (and every node setting, as a node would); `plan` prints the
//! actions that take the running cluster to it; `apply` carries them out with the `cluster`
//! operations (create, add-node, rebalance, remove-node) and records each in the control plane
//! under `deploy/<name>/action`, so the audit log and that key's history tell what deploy did,
//! and the applied spec under `deploy/<name>/spec`. Running `apply` again changes nothing:
//! every plan is computed from the cluster map as it is now.
//!
//! The local target's nodes run under a supervisor ([`ferrocache_deploy::local`]): `apply`
//! starts one in the background when none runs, `up` runs it in the foreground (Ctrl-C stops
//! the cluster, keeping its data dir for the next `up`), `destroy` stops it and deletes the
//! cluster's directory.

use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::Subcommand;
use ferrocache_control::client::PutOptions;
use ferrocache_control::command::ContentType;
use ferrocache_deploy::local::{self, LocalDir, NodeProcess};
use ferrocache_deploy::plan::{Action, Observed, Shape};
use ferrocache_deploy::spec::{ADMIN_OFFSET, Launch, Spec, Target};
use ferrocache_server::peer::PeerConn;
use ferrocache_topology::map::{ClusterMap, NodeState, SlotTable};

use crate::cluster_cmd::{self, Ctx};
use crate::conn::CliError;
use crate::output::{Format, Table};

/// The spec `ferrocache up` runs when given none.
const DEFAULT_SPEC: &str = include_str!("../../../examples/local.toml");
/// How long a started node may take to answer.
const START_TIMEOUT: Duration = Duration::from_secs(30);
/// How long a node restarted with a new command line may take to be healthy again.
const RESTART_TIMEOUT: Duration = Duration::from_secs(60);

#[derive(clap::Args)]
pub struct DeployArgs {
    /// Bearer token for the nodes' admin API, when the spec gives a token file.
    #[arg(long, global = true, env = "FERROCACHE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
    /// `text` for people, `json` for scripts.
    #[arg(long, global = true, value_enum, default_value_t = Format::Text, value_name = "FORMAT")]
    output: Format,
    #[command(subcommand)]
    cmd: DeployCmd,
}

#[derive(clap::Args)]
struct SpecFile {
    /// The cluster spec.
    #[arg(short = 'f', long = "file", default_value = "cluster.toml", value_name = "FILE")]
    file: PathBuf,
}

#[derive(Subcommand)]
enum DeployCmd {
    /// Check the spec and its node settings without touching anything.
    Validate(SpecFile),
    /// Print the actions `apply` would take.
    Plan(SpecFile),
    /// Take the running cluster to the spec (start nodes, form, scale, rebalance).
    Apply(SpecFile),
    /// The nodes' processes and the cluster's health; exit code 1 when it is not healthy.
    Status(SpecFile),
    /// Write the files that run the spec's nodes under systemd or Kubernetes (see docs/deploy-render.md).
    Render {
        #[command(flatten)]
        spec: SpecFile,
        /// systemd or kubernetes [default: the spec's target].
        #[arg(long, value_name = "TARGET")]
        target: Option<String>,
        /// Directory to write into (created if missing).
        #[arg(long, value_name = "DIR")]
        out: PathBuf,
    },
    /// Stop every node of a local cluster and delete its directory.
    Destroy {
        #[command(flatten)]
        spec: SpecFile,
        /// Keep the directory (data dirs, logs): a later `apply` restarts the same nodes.
        #[arg(long)]
        keep_data: bool,
    },
    /// Replace every node's binary, one node at a time, with no failed client request
    /// (replicas first, a planned failover before each primary); rolls back if a node does not
    /// come back healthy.
    Upgrade {
        #[command(flatten)]
        spec: SpecFile,
        /// The new `ferrocache` binary.
        #[arg(long, value_name = "PATH")]
        binary: PathBuf,
        /// How long a restarted node may take to be healthy again.
        #[arg(long, default_value_t = 60, value_name = "SECS")]
        timeout: u64,
    },
    /// Run the supervisor of a local cluster's directory (started by `apply`).
    #[command(hide = true)]
    Supervise {
        #[arg(long, value_name = "DIR")]
        dir: PathBuf,
    },
}

/// `ferrocache up`'s flags.
#[derive(clap::Args)]
pub struct UpArgs {
    /// A local cluster spec [default: 3 shards × 1 replica from port 7000, examples/local.toml].
    #[arg(short = 'f', long = "file", value_name = "FILE")]
    file: Option<PathBuf>,
    #[arg(long, env = "FERROCACHE_TOKEN", hide_env_values = true, value_name = "TOKEN")]
    token: Option<String>,
}

pub fn main(args: DeployArgs) -> std::process::ExitCode {
    let ctx = Ctx::new(args.token, args.output);
    let result = match args.cmd {
        DeployCmd::Validate(f) => load(&f.file).map(|spec| {
            if ctx.format == Format::Text {
                println!("{}: {} ({} target, {} shard(s) × {} replica(s), {} node(s)) is valid", f.file.display(), spec.name, spec.target.name(), spec.shards, spec.replicas, spec.node_count());
            }
            0
        }),
        DeployCmd::Plan(f) => load(&f.file).and_then(|spec| block_on(async { apply(&ctx, &spec, false).await.map(|_| 0) })),
        DeployCmd::Apply(f) => load(&f.file).and_then(|spec| {
            ensure_supervisor(&spec)?;
            block_on(async { apply(&ctx, &spec, true).await.map(|_| 0) })
        }),
        DeployCmd::Status(f) => load(&f.file).and_then(|spec| block_on(status(&ctx, &spec))),
        DeployCmd::Upgrade { spec, binary, timeout } => load(&spec.file).and_then(|spec| {
            ensure_supervisor(&spec)?;
            block_on(async {
                let run = Run { ctx: &ctx, spec: &spec, seed: None, pending: Vec::new() };
                let record = async |value: serde_json::Value| run.record_value(value).await;
                crate::upgrade::upgrade(&ctx, &spec, &binary, Duration::from_secs(timeout.max(1)), record).await.map(|()| 0)
            })
        }),
        DeployCmd::Render { spec, target, out } => load(&spec.file).and_then(|spec| render(&spec, target.as_deref(), &out).map(|()| 0)),
        DeployCmd::Destroy { spec, keep_data } => load(&spec.file).and_then(|spec| destroy(&spec, keep_data).map(|()| 0)),
        DeployCmd::Supervise { dir } => {
            local::stop_on_signals();
            local::Supervisor::new(LocalDir::new(dir)).map_err(CliError::failed).map(|s| {
                s.run();
                0
            })
        }
    };
    exit(result)
}

/// `ferrocache up`: the spec's local cluster, supervised in the foreground until Ctrl-C.
pub fn up(args: UpArgs) -> std::process::ExitCode {
    let spec = match &args.file {
        Some(file) => load(file),
        None => parse(Path::new("examples/local.toml (built in)"), DEFAULT_SPEC),
    };
    let result = spec.and_then(|spec| {
        if spec.target != Target::Local {
            return Err(CliError::usage(format!("`up` runs local clusters; {} is for {}: use `ferrocache deploy render`", spec.path.display(), spec.target.name())));
        }
        let dir = LocalDir::new(spec.local_dir());
        if let Some(pid) = dir.supervisor() {
            return Err(CliError::failed(format!(
                "{} already runs under process {pid}; see `ferrocache deploy status -f SPEC`, or stop it with `ferrocache deploy destroy`",
                dir.root.display()
            )));
        }
        let supervisor = local::Supervisor::new(dir.clone()).map_err(CliError::failed)?;
        local::stop_on_signals();
        let thread = std::thread::spawn(move || supervisor.run());
        let ctx = Ctx::new(args.token, Format::Text);
        let applied = block_on(async {
            let work = async {
                apply(&ctx, &spec, true).await?;
                status(&ctx, &spec).await
            };
            // Ctrl-C while the cluster forms stops it at once rather than after the step.
            let interrupted = async {
                while !local::stop_requested() {
                    tokio::time::sleep(Duration::from_millis(50)).await;
                }
            };
            tokio::select! {
                done = work => done,
                () = interrupted => Err(CliError { code: 130, message: "interrupted".into() }),
            }
        });
        match &applied {
            Err(e) => eprintln!("ferrocache: {}", e.message),
            Ok(_) => println!("\nThe cluster runs until Ctrl-C (its data stays in {}; `ferrocache up` again restarts it).", dir.root.display()),
        }
        let _ = thread.join();
        applied.map(|_| 0)
    });
    exit(result)
}

fn exit(result: Result<u8, CliError>) -> std::process::ExitCode {
    match result {
        Ok(code) => std::process::ExitCode::from(code),
        Err(e) => {
            eprintln!("ferrocache: {}", e.message);
            std::process::ExitCode::from(e.code)
        }
    }
}

fn block_on<T>(work: impl Future<Output = Result<T, CliError>>) -> Result<T, CliError> {
    tokio::runtime::Builder::new_current_thread()
        .enable_all()
        .build()
        .map_err(|e| CliError::failed(format!("cannot start the runtime: {e}")))?
        .block_on(work)
}

fn load(path: &Path) -> Result<Spec, CliError> {
    let text = std::fs::read_to_string(path).map_err(|e| CliError::usage(format!("cannot read the spec {}: {e}", path.display())))?;
    parse(path, &text)
}

/// Parses the spec and checks every node setting the way a node would at start.
fn parse(path: &Path, text: &str) -> Result<Spec, CliError> {
    let spec = Spec::parse(path, text).map_err(|e| CliError::usage(e.to_string()))?;
    let mut config = ferrocache_server::Config::default();
    for (name, setting) in &spec.settings {
        let at = format!("{}:{}: settings.{name}", path.display(), setting.line);
        if ["port", "bind", "cluster-enabled"].contains(&name.as_str()) {
            return Err(CliError::usage(format!("{at}: deploy sets this one itself; remove it")));
        }
        config.apply(name, &setting.value).map_err(|e| CliError::usage(format!("{at}: {e}")))?;
    }
    Ok(spec)
}

/// A new node of a local cluster: the binary an upgrade set, else the spec's, else this one.
fn local_node(spec: &Spec, dir: &LocalDir, upgraded: Option<&Path>, port: u16) -> Result<NodeProcess, CliError> {
    let binary = match upgraded.or(spec.local.binary.as_deref()) {
        Some(b) => b.to_path_buf(),
        None => std::env::current_exe().map_err(|e| CliError::failed(format!("cannot find this executable: {e}")))?,
    };
    let at = Launch {
        bind: "127.0.0.1".into(),
        port,
        admin_bind: "127.0.0.1".into(),
        admin_port: port + ADMIN_OFFSET,
        admin_advertise: None,
        data_dir: absolute(&dir.data_dir(port)),
        announce: None,
    };
    // Settings that can change live come from the control plane (see `live_settings`); only
    // the others are on the command line, so changing a live one restarts no process.
    let mut boot = spec.clone();
    boot.settings.retain(|name, _| !is_live(name));
    Ok(NodeProcess { addr: format!("127.0.0.1:{port}"), binary, args: boot.server_args(&at), log: absolute(&dir.log(port)), generation: 0 })
}

/// Whether a node setting can change while the node runs (CONFIG SET can change it).
fn is_live(name: &str) -> bool {
    ferrocache_server::config::param(name).is_some_and(|p| p.mutable)
}

/// The spec's settings that the control plane hands to the nodes live.
fn live_settings(spec: &Spec) -> ferrocache_control::settings::Settings {
    spec.settings.iter().filter(|(name, _)| is_live(name)).map(|(k, v)| (k.clone(), v.value.clone())).collect()
}

fn absolute(path: &Path) -> PathBuf {
    std::path::absolute(path).unwrap_or_else(|_| path.to_path_buf())
}

fn port_of(addr: &str) -> Option<u16> {
    addr.rsplit_once(':')?.1.parse().ok()
}

/// Starts the supervisor of a local spec's directory in the background, unless one runs.
fn ensure_supervisor(spec: &Spec) -> Result<(), CliError> {
    if spec.target != Target::Local {
        return Ok(());
    }
    let dir = LocalDir::new(spec.local_dir());
    if dir.supervisor().is_some() {
        return Ok(());
    }
    std::fs::create_dir_all(dir.root.join("logs")).map_err(|e| CliError::failed(format!("cannot create {}: {e}", dir.root.display())))?;
    let log = std::fs::OpenOptions::new()
        .create(true)
        .append(true)
        .open(dir.supervisor_log())
        .map_err(|e| CliError::failed(format!("cannot open {}: {e}", dir.supervisor_log().display())))?;
    let exe = std::env::current_exe().map_err(|e| CliError::failed(format!("cannot find this executable: {e}")))?;
    let mut cmd = std::process::Command::new(exe);
    cmd.args(["deploy", "supervise", "--dir"]).arg(absolute(&dir.root));
    cmd.stdin(std::process::Stdio::null()).stdout(log.try_clone().map_err(|e| CliError::failed(e.to_string()))?).stderr(log);
    // Its own session: the supervisor outlives this command and the terminal's Ctrl-C.
    std::os::unix::process::CommandExt::process_group(&mut cmd, 0);
    cmd.spawn().map_err(|e| CliError::failed(format!("cannot start the supervisor: {e}")))?;
    let deadline = std::time::Instant::now() + Duration::from_secs(10);
    while dir.supervisor().is_none() {
        if std::time::Instant::now() >= deadline {
            return Err(CliError::failed(format!("the supervisor did not start; see {}", dir.supervisor_log().display())));
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    Ok(())
}

/// The nodes the target provides: a local cluster's registry, the spec's listed hosts
/// (systemd), or the StatefulSet's pods by their stable DNS names (Kubernetes: `apply` runs in
/// the bootstrap Job inside the cluster).
fn provisioned(spec: &Spec) -> Result<Vec<String>, CliError> {
    match spec.target {
        Target::Local => Ok(LocalDir::new(spec.local_dir()).registry().map_err(CliError::failed)?.nodes.into_iter().map(|n| n.addr).collect()),
        Target::Systemd | Target::Kubernetes => Ok(listed_nodes(spec)),
    }
}

/// The nodes a systemd or Kubernetes spec names.
fn listed_nodes(spec: &Spec) -> Vec<String> {
    match spec.target {
        Target::Kubernetes => ferrocache_deploy::render::kubernetes::node_addrs(spec),
        _ => spec.nodes.iter().map(|n| n.addr()).collect(),
    }
}

/// The cluster map, read from the first node that is a control-plane member, after waiting
/// (up to [`START_TIMEOUT`]) for every provisioned node to answer.
async fn observe(ctx: &Ctx, nodes: &[String]) -> Result<Option<ClusterMap>, CliError> {
    wait_for_nodes(nodes).await?;
    Ok(member_map(ctx, nodes).await?.map(|(_, map)| map))
}

/// The first of `nodes` that answers as a control-plane member holding a cluster map, and
/// that map.
async fn member_map(ctx: &Ctx, nodes: &[String]) -> Result<Option<(cluster_cmd::Probe, ClusterMap)>, CliError> {
    for addr in nodes {
        let Ok(probe) = ctx.probe(addr).await else { continue };
        if !probe.member {
            continue;
        }
        if let (_, Some(map)) = cluster_cmd::read_map(&probe.client).await? {
            return Ok(Some((probe, map)));
        }
    }
    Ok(None)
}

async fn wait_for_nodes(nodes: &[String]) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + START_TIMEOUT;
    for addr in nodes {
        while PeerConn::connect(addr, Duration::from_secs(1)).await.is_err() {
            if tokio::time::Instant::now() >= deadline {
                return Err(CliError::failed(format!("{addr} does not answer after {} s; see its log", START_TIMEOUT.as_secs())));
            }
            tokio::time::sleep(Duration::from_millis(50)).await;
        }
    }
    Ok(())
}

/// Plans and, with `execute`, applies the spec. Returns the actions taken.
async fn apply(ctx: &Ctx, spec: &Spec, execute: bool) -> Result<Vec<Action>, CliError> {
    let provisioned = provisioned(spec)?;
    let map = observe(ctx, &provisioned).await?;
    let shape = Shape {
        shards: spec.shards as usize,
        replicas: spec.replicas as usize,
        weights: spec.nodes.iter().map(|n| (n.addr(), n.weight)).collect(),
    };
    let taken: Vec<u16> = provisioned.iter().filter_map(|a| port_of(a)).collect();
    let mut fresh: Box<dyn FnMut() -> Option<String>> = match spec.target {
        Target::Local => {
            let mut ports = local::free_ports(spec.local.base_port, ADMIN_OFFSET, &taken, spec.node_count()).into_iter();
            Box::new(move || ports.next().map(|p| format!("127.0.0.1:{p}")))
        }
        _ => {
            let in_map = |a: &String| map.as_ref().is_some_and(|m| m.nodes.iter().any(|n| &n.addr == a));
            let mut unused = listed_nodes(spec).into_iter().filter(|a| !in_map(a)).collect::<Vec<_>>().into_iter();
            Box::new(move || unused.next())
        }
    };
    let mut actions = ferrocache_deploy::plan::plan(&shape, &Observed { map: map.as_ref(), provisioned: &provisioned }, &mut fresh)
        .map_err(CliError::failed)?;
    if spec.target == Target::Local && map.is_some() {
        // Nodes whose command line the spec changed (settings that cannot change live).
        let dir = LocalDir::new(spec.local_dir());
        let registry = dir.registry().map_err(CliError::failed)?;
        let mut stale = Vec::new();
        for node in &registry.nodes {
            let port = port_of(&node.addr).ok_or_else(|| CliError::failed(format!("bad address {}", node.addr)))?;
            if local_node(spec, &dir, None, port)?.args != node.args {
                stale.push(node.addr.clone());
            }
        }
        if !stale.is_empty() {
            actions.push(Action::Restart { addrs: stale });
        }
    }
    let wanted = live_settings(spec);
    let current = match &map {
        Some(m) => match m.nodes.first() {
            Some(n) => crate::rollout::fleet(&ctx.probe(&n.addr).await?.client).await?,
            None => None,
        },
        None => None,
    };
    if current.as_ref().unwrap_or(&Default::default()) != &wanted {
        // A running fleet gets a change through a canary; a new cluster gets it at once.
        let canary = match (&current, &map) {
            (Some(_), Some(m)) => spec.rollout.canary.clone().or_else(|| m.shards.first().and_then(|s| m.node(&s.primary)).map(|n| n.addr.clone())),
            _ => None,
        };
        actions.push(Action::Configure { settings: wanted, canary });
    }
    if !execute {
        match ctx.format {
            Format::Json => crate::output::print_json(&actions),
            Format::Text if actions.is_empty() => println!("{}: nothing to do; the cluster matches the spec", spec.name),
            Format::Text => {
                println!("{}: {} action(s)", spec.name, actions.len());
                for (i, a) in actions.iter().enumerate() {
                    println!("  {}. {a}", i + 1);
                }
            }
        }
        return Ok(actions);
    }
    if actions.is_empty() {
        if ctx.format == Format::Text {
            println!("{}: nothing to do; the cluster matches the spec", spec.name);
        }
        return Ok(actions);
    }
    let mut run = Run { ctx, spec, seed: map.as_ref().and_then(|m| m.nodes.first()).map(|n| n.addr.clone()), pending: Vec::new() };
    for (i, action) in actions.iter().enumerate() {
        if ctx.format == Format::Text {
            println!("[{}/{}] {action}", i + 1, actions.len());
        }
        run.step(action).await.map_err(|e| CliError { code: e.code, message: format!("{action}: {}", e.message) })?;
        run.record(action).await?;
    }
    run.wait_pending().await?;
    run.record_spec().await?;
    if ctx.format == Format::Text {
        println!("[OK] {} matches {}", spec.name, spec.path.display());
    }
    Ok(actions)
}

/// One `apply` under way.
struct Run<'a> {
    ctx: &'a Ctx,
    spec: &'a Spec,
    /// A node of the cluster to send changes through.
    seed: Option<String>,
    /// Nodes started and not yet seen answering.
    pending: Vec<String>,
}

impl Run<'_> {
    async fn step(&mut self, action: &Action) -> Result<(), CliError> {
        if !matches!(action, Action::Provision { .. }) {
            self.wait_pending().await?;
        }
        let ctx = self.ctx;
        match action {
            Action::Provision { addr } => {
                if self.spec.target == Target::Local {
                    let dir = LocalDir::new(self.spec.local_dir());
                    let port = port_of(addr).ok_or_else(|| CliError::failed(format!("bad address {addr}")))?;
                    let mut registry = dir.registry().map_err(CliError::failed)?;
                    let node = local_node(self.spec, &dir, registry.binary.as_deref(), port)?;
                    registry.nodes.push(node);
                    dir.save_registry(&registry).map_err(CliError::failed)?;
                }
                self.pending.push(addr.clone());
            }
            Action::Create { nodes, replicas } => {
                cluster_cmd::create(ctx, *replicas, nodes).await?;
                self.seed = nodes.first().cloned();
            }
            Action::AddPrimary { addr, weight } => cluster_cmd::add_node(ctx, addr, self.seed()?, None, *weight).await?,
            Action::AddReplica { addr, primary } => {
                cluster_cmd::add_node(ctx, addr, self.seed()?, Some(Some(primary.clone())), 1).await?
            }
            Action::SetWeight { addr, weight } => cluster_cmd::set_weight(ctx, addr, *weight, self.seed()?).await.map(drop)?,
            Action::Rebalance => cluster_cmd::rebalance(ctx, self.seed()?, false, cluster_cmd::DEFAULT_PARALLEL).await?,
            Action::RemoveNode { addr } => {
                if self.seed.as_deref() == Some(addr) {
                    self.seed = self.other_seed(addr).await?;
                }
                cluster_cmd::remove_node(ctx, addr, self.seed()?, false).await?
            }
            Action::Retire { addr } => {
                if self.spec.target == Target::Local {
                    retire(self.spec, addr).await?;
                }
            }
            Action::Restart { .. } => {
                let dir = LocalDir::new(self.spec.local_dir());
                let spec = self.spec;
                let args = |p: &mut NodeProcess| {
                    if let Some(node) = port_of(&p.addr).and_then(|port| local_node(spec, &dir, None, port).ok()) {
                        p.args = node.args;
                    }
                };
                let record = async |value: serde_json::Value| self.record_value(value).await;
                crate::upgrade::roll(ctx, spec, "new command line", RESTART_TIMEOUT, args, record).await?;
            }
            Action::Configure { settings, canary } => {
                let probe = ctx.probe(self.seed()?).await?;
                let (_, map) = cluster_cmd::read_map(&probe.client).await?;
                let map = map.ok_or_else(|| CliError::failed("the cluster has no map"))?;
                let canary_client = match canary {
                    Some(addr) => {
                        let node = cluster_cmd::find_node(&map, addr)?;
                        Some((addr.as_str(), ctx.client(&node.admin)?))
                    }
                    None => None,
                };
                let watch = Duration::from_secs(self.spec.rollout.watch_secs);
                let record = async |value: serde_json::Value| self.record_value(value).await;
                let rows = crate::rollout::roll_out(&probe.client, canary_client.as_ref().map(|(a, c)| (*a, c)), &map, settings, watch, record).await?;
                if ctx.format == Format::Text {
                    crate::rollout::print_node_settings(&rows, ctx.format);
                }
            }
        }
        Ok(())
    }

    fn seed(&self) -> Result<&str, CliError> {
        self.seed.as_deref().ok_or_else(|| CliError::failed("no node of the cluster to talk to"))
    }

    /// Another node of the cluster than `leaving`.
    async fn other_seed(&self, leaving: &str) -> Result<Option<String>, CliError> {
        let probe = self.ctx.probe(self.seed()?).await?;
        let (_, map) = cluster_cmd::read_map(&probe.client).await?;
        Ok(map.and_then(|m| m.nodes.into_iter().map(|n| n.addr).find(|a| a != leaving)))
    }

    async fn wait_pending(&mut self) -> Result<(), CliError> {
        if self.pending.is_empty() {
            return Ok(());
        }
        let bar = indicatif::ProgressBar::new(self.pending.len() as u64);
        if self.ctx.format == Format::Text {
            if let Ok(style) = indicatif::ProgressStyle::with_template("{bar:40} {pos}/{len} nodes answering") {
                bar.set_style(style);
            }
        } else {
            bar.set_draw_target(indicatif::ProgressDrawTarget::hidden());
        }
        for addr in std::mem::take(&mut self.pending) {
            wait_for_nodes(std::slice::from_ref(&addr)).await?;
            bar.inc(1);
        }
        bar.finish_and_clear();
        Ok(())
    }

    /// Writes `action` under `deploy/<name>/action`: its history is the deploy log, and each
    /// write is an audit entry.
    async fn record(&self, action: &Action) -> Result<(), CliError> {
        if self.seed.is_none() || matches!(action, Action::Provision { .. }) {
            return Ok(());
        }
        self.record_value(serde_json::json!({ "spec": self.spec.path.display().to_string(), "step": action.to_string(), "action": action })).await
    }

    /// Writes `value` under `deploy/<name>/action` through the seed, or any node that answers.
    async fn record_value(&self, value: serde_json::Value) -> Result<(), CliError> {
        let nodes = match &self.seed {
            Some(seed) => vec![seed.clone()],
            None => provisioned(self.spec)?,
        };
        let mut last = CliError::failed("no node to record the action through");
        for node in nodes {
            match self.put("action", value.to_string().into_bytes(), ContentType::Json, &node).await {
                Ok(()) => return Ok(()),
                Err(e) => last = e,
            }
        }
        Err(last)
    }

    async fn record_spec(&self) -> Result<(), CliError> {
        let Some(seed) = &self.seed else { return Ok(()) };
        self.put("spec", self.spec.text.clone().into_bytes(), ContentType::Toml, seed).await
    }

    async fn put(&self, what: &str, value: Vec<u8>, content_type: ContentType, seed: &str) -> Result<(), CliError> {
        let probe = self.ctx.probe(seed).await?;
        let opts = PutOptions { content_type: Some(content_type), if_revision: None, lease: None };
        probe.client.put(&format!("deploy/{}/{what}", self.spec.name), value, &opts).await?;
        Ok(())
    }
}

/// Takes a node that left the cluster off the registry, waits for the supervisor to stop it
/// and deletes its data dir: its identity belongs to a cluster it is no longer in.
async fn retire(spec: &Spec, addr: &str) -> Result<(), CliError> {
    let dir = LocalDir::new(spec.local_dir());
    let mut registry = dir.registry().map_err(CliError::failed)?;
    registry.nodes.retain(|n| n.addr != addr);
    dir.save_registry(&registry).map_err(CliError::failed)?;
    let deadline = tokio::time::Instant::now() + Duration::from_secs(30);
    while dir.status().map_err(CliError::failed)?.iter().any(|s| s.addr == addr) && dir.supervisor().is_some() {
        if tokio::time::Instant::now() >= deadline {
            return Err(CliError::failed(format!("the supervisor has not stopped {addr}")));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
    if let Some(port) = port_of(addr) {
        let data = dir.data_dir(port);
        std::fs::remove_dir_all(&data).or_else(|e| if e.kind() == std::io::ErrorKind::NotFound { Ok(()) } else { Err(e) }).map_err(|e| {
            CliError::failed(format!("cannot delete {}: {e}", data.display()))
        })?;
    }
    Ok(())
}

/// Why the cluster is not as the spec wants it (empty: healthy).
fn problems(spec: &Spec, map: &ClusterMap, answering: &[bool]) -> Vec<String> {
    let mut out = Vec::new();
    if map.shards.len() != spec.shards as usize {
        out.push(format!("{} shard(s), the spec wants {}", map.shards.len(), spec.shards));
    }
    if let Some(s) = map.shards.iter().find(|s| s.replicas.len() != spec.replicas as usize) {
        let addr = map.node(&s.primary).map_or("?", |n| n.addr.as_str());
        out.push(format!("the shard of {addr} has {} replica(s), the spec wants {}", s.replicas.len(), spec.replicas));
    }
    match SlotTable::build(map) {
        Ok(t) if t.assigned() == 16384 => {}
        Ok(t) => out.push(format!("{} of 16384 slots assigned", t.assigned())),
        Err(e) => out.push(e.to_string()),
    }
    if !map.migrations.is_empty() {
        out.push(format!("{} slot migration(s) under way", map.migrations.len()));
    }
    for (node, up) in map.nodes.iter().zip(answering) {
        if node.state != NodeState::Up || !up {
            out.push(format!("{} is down", node.addr));
        }
    }
    out
}

#[derive(serde::Serialize)]
struct StatusOut {
    name: String,
    healthy: bool,
    problems: Vec<String>,
    epoch: Option<u64>,
    processes: Vec<local::ProcessStatus>,
}

async fn status(ctx: &Ctx, spec: &Spec) -> Result<u8, CliError> {
    let found = member_map(ctx, &provisioned(spec)?).await?;
    if let Some((probe, _)) = &found
        && ctx.format == Format::Text
    {
        cluster_cmd::status(ctx, probe.addr()).await?;
    }
    let processes = match spec.target {
        Target::Local => LocalDir::new(spec.local_dir()).status().map_err(CliError::failed)?,
        _ => Vec::new(),
    };
    let problems = match &found {
        None => vec!["no cluster yet: run `ferrocache deploy apply`".to_string()],
        Some((probe, m)) => {
            let mut answering = Vec::new();
            for n in &m.nodes {
                answering.push(PeerConn::connect(&n.addr, Duration::from_secs(1)).await.is_ok());
            }
            let mut problems = problems(spec, m, &answering);
            let rows = crate::rollout::node_settings(&probe.client, m).await?;
            problems.extend(rows.iter().filter(|r| r.state != "in sync").map(|r| format!("{}: settings {}", r.addr, r.state)));
            problems
        }
    };
    let epoch = found.as_ref().map(|(_, m)| m.epoch);
    let out = StatusOut { name: spec.name.clone(), healthy: problems.is_empty(), problems, epoch, processes };
    match ctx.format {
        Format::Json => crate::output::print_json(&out),
        Format::Text => {
            if !out.processes.is_empty() {
                let mut table = Table::new(&["NODE", "PROCESS", "PID", "RESTARTS", "LAST EXIT"]);
                for p in &out.processes {
                    table.row(vec![
                        p.addr.clone(),
                        p.state.clone(),
                        p.pid.map_or("-".into(), |p| p.to_string()),
                        p.restarts.to_string(),
                        p.last_exit.clone().unwrap_or_else(|| "-".into()),
                    ]);
                }
                println!();
                table.print();
            }
            match out.healthy {
                true => println!("{}: healthy", out.name),
                false => println!("{}: not healthy: {}", out.name, out.problems.join("; ")),
            }
        }
    }
    Ok(if out.healthy { 0 } else { 1 })
}

fn render(spec: &Spec, target: Option<&str>, out: &Path) -> Result<(), CliError> {
    let target = match target {
        None => spec.target,
        Some("systemd") => Target::Systemd,
        Some("kubernetes") => Target::Kubernetes,
        Some(other) => return Err(CliError::usage(format!("--target {other}: give systemd or kubernetes"))),
    };
    use ferrocache_deploy::render::RenderError;
    let written = ferrocache_deploy::render::render(spec, target, out).map_err(|e| match e {
        RenderError::Spec(m) => CliError::usage(m),
        other => CliError::failed(other.to_string()),
    })?;
    for path in written {
        println!("{}", path.display());
    }
    Ok(())
}

fn destroy(spec: &Spec, keep_data: bool) -> Result<(), CliError> {
    if spec.target != Target::Local {
        return Err(CliError::usage(format!("destroy removes local clusters; stop {} nodes with their own tools", spec.target.name())));
    }
    let dir = LocalDir::new(spec.local_dir());
    if let Some(pid) = dir.supervisor() {
        local::terminate(pid);
        let deadline = std::time::Instant::now() + Duration::from_secs(30);
        while dir.supervisor().is_some() {
            if std::time::Instant::now() >= deadline {
                return Err(CliError::failed(format!("the supervisor (process {pid}) did not stop; see {}", dir.supervisor_log().display())));
            }
            std::thread::sleep(Duration::from_millis(50));
        }
    }
    if !keep_data && dir.root.exists() {
        std::fs::remove_dir_all(&dir.root).map_err(|e| CliError::failed(format!("cannot delete {}: {e}", dir.root.display())))?;
    }
    println!("{}: stopped{}", spec.name, if keep_data { format!("; its data stays in {}", dir.root.display()) } else { String::new() });
    Ok(())
}
