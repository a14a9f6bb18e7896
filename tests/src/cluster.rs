//! A local Ferrocache cluster of real processes: nodes started with `ferrocache server
//! --cluster` (each with its own data dir under the temp dir, removed at the end), formed and
//! reshaped by running the `ferrocache cluster` CLI exactly as an operator would.
//!
//! Nodes listen on 127.0.0.1 unless a test places them elsewhere ([`Place`]): on another
//! address, and in a network namespace, so that a network partition can cut some of them off.

use std::net::{IpAddr, SocketAddr};
use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::process::{ferrocache_bin, run_bounded, Program, Server, LOOPBACK};
use ferrocache_resp::Frame;

/// How long one `ferrocache cluster` command may run.
const CLI_LIMIT: Duration = Duration::from_secs(120);

/// `ferrocache server --cluster` on a port whose admin port (+1000) is also free (a start on a
/// taken admin port fails and is retried on another port).
pub enum ClusterProgram {}

/// The data dir of the node on `port` started by this test process.
fn data_dir(port: u16) -> PathBuf {
    std::env::temp_dir().join(format!("ferrocache-e2e-{}-{port}", std::process::id()))
}

impl Program for ClusterProgram {
    const NAME: &'static str = "ferrocache --cluster";

    fn command(port: u16, extra: &[&str]) -> Command {
        fresh_node_command(&Place::default(), None, port, extra)
    }
}

/// Where a node runs: the address its client and admin ports listen on, and the network
/// namespace it runs in (`ip netns exec`), if any.
#[derive(Clone, Debug)]
pub struct Place {
    pub ip: IpAddr,
    pub netns: Option<String>,
}

impl Default for Place {
    fn default() -> Place {
        Place { ip: LOOPBACK, netns: None }
    }
}

/// The admin token of a cluster whose admin ports listen beyond loopback (the server refuses
/// that without access control): nodes read it from `file`, the CLI presents `secret`.
struct AdminToken {
    file: PathBuf,
    secret: String,
}

impl AdminToken {
    fn create() -> AdminToken {
        let file = std::env::temp_dir().join(format!("ferrocache-e2e-{}-tokens.toml", std::process::id()));
        let secret = format!("e2e-admin-{}-0123456789abcdef", std::process::id());
        std::fs::write(&file, format!("[[token]]\nname = \"e2e\"\nsecret = \"{secret}\"\nrole = \"admin\"\n")).expect("write the token file");
        AdminToken { file, secret }
    }
}

/// A new node's command line at `place`, its data dir emptied first.
fn fresh_node_command(place: &Place, token: Option<&AdminToken>, port: u16, extra: &[&str]) -> Command {
    let _ = std::fs::remove_dir_all(data_dir(port));
    node_command(place, token, port, extra)
}

/// A cluster node's command line at `place`, on its own data dir (kept as it is).
fn node_command(place: &Place, token: Option<&AdminToken>, port: u16, extra: &[&str]) -> Command {
    let dir = data_dir(port);
    let mut cmd = match &place.netns {
        Some(ns) => {
            let mut cmd = Command::new("ip");
            cmd.args(["netns", "exec", ns]).arg(ferrocache_bin());
            cmd
        }
        None => Command::new(ferrocache_bin()),
    };
    let ip = place.ip.to_string();
    cmd.args(["server", "--cluster", "--port", &port.to_string(), "--bind", &ip, "--admin-bind", &ip, "--data-dir"]).arg(&dir);
    if let Some(token) = token {
        cmd.arg("--token-file").arg(&token.file);
    }
    cmd.args(extra).stdin(Stdio::null());
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn,openraft=error");
    }
    cmd
}

pub type ClusterNode = Server<ClusterProgram>;

/// Nodes of one cluster; every process is stopped and every data dir removed when dropped.
pub struct LocalCluster {
    pub nodes: Vec<ClusterNode>,
    /// Where each node runs (parallel to `nodes`).
    places: Vec<Place>,
    token: Option<AdminToken>,
}

impl LocalCluster {
    /// Starts `n` fresh nodes on 127.0.0.1, not yet formed into a cluster.
    pub fn start(n: usize) -> LocalCluster {
        LocalCluster::start_at(vec![Place::default(); n])
    }

    /// Starts a fresh node at each of `places`, not yet formed into a cluster.
    pub fn start_at(places: Vec<Place>) -> LocalCluster {
        let token = places.iter().any(|p| !p.ip.is_loopback()).then(AdminToken::create);
        let mut cluster = LocalCluster { nodes: Vec::new(), places: Vec::new(), token };
        for place in places {
            cluster.spawn_node_at(place, &[]);
        }
        cluster
    }

    /// Starts `n` nodes and forms them with `ferrocache cluster create --replicas R`.
    pub fn create(n: usize, replicas: usize) -> LocalCluster {
        LocalCluster::form(LocalCluster::start(n), replicas)
    }

    /// Starts a node at each of `places` and forms them with `ferrocache cluster create
    /// --replicas R` (in that order: the first nodes become the primaries).
    pub fn create_at(places: Vec<Place>, replicas: usize) -> LocalCluster {
        LocalCluster::form(LocalCluster::start_at(places), replicas)
    }

    fn form(cluster: LocalCluster, replicas: usize) -> LocalCluster {
        let mut args = vec!["create".to_string(), "--replicas".into(), replicas.to_string()];
        args.extend(cluster.addrs());
        let out = cluster.cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "cluster create failed: {}", text(&out));
        cluster
    }

    /// The nodes' client addresses (`ip:port`).
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.to_string()).collect()
    }

    /// Runs `ferrocache cluster ARGS...` (bounded) and returns its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        self.ferrocache(&[&["cluster"], args].concat())
    }

    /// Runs `ferrocache ARGS...` (bounded), with the cluster's admin token if it has one.
    pub fn ferrocache(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(ferrocache_bin());
        cmd.args(args);
        if let Some(token) = &self.token {
            cmd.env("FERROCACHE_TOKEN", &token.secret);
        }
        run_bounded(cmd, b"", CLI_LIMIT)
    }

    /// kill -9 of node `i`.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again on its port and data dir (so with its identity), after a kill.
    pub fn restart(&mut self, i: usize) {
        let addr = self.nodes[i].addr;
        self.nodes[i] = ClusterNode::start_at(addr, node_command(&self.places[i], self.token.as_ref(), addr.port(), &[]));
    }

    /// Starts one more fresh node (not yet in the cluster) and returns its index.
    pub fn spawn_node(&mut self) -> usize {
        self.spawn_node_with(&[])
    }

    /// Starts one more fresh node with extra flags (e.g. `--join URL`), placed as the first
    /// node is; returns its index.
    pub fn spawn_node_with(&mut self, extra: &[&str]) -> usize {
        let place = self.places.first().cloned().unwrap_or_default();
        self.spawn_node_at(place, extra)
    }

    fn spawn_node_at(&mut self, place: Place, extra: &[&str]) -> usize {
        let token = self.token.as_ref();
        let node = ClusterNode::start_on(place.ip, |port| fresh_node_command(&place, token, port, extra));
        self.nodes.push(node);
        self.places.push(place);
        self.nodes.len() - 1
    }

    /// The slots node `i` owns, from its own line of CLUSTER NODES (slot ranges follow 8
    /// fields; a `[slot-<-id]` or `[slot->-id]` entry is a migration, not ownership).
    pub fn slots_of(&self, i: usize) -> Vec<u16> {
        let Frame::Bulk(nodes) = self.nodes[i].conn().cmd(&["CLUSTER", "NODES"]) else { panic!("CLUSTER NODES") };
        let nodes = String::from_utf8_lossy(&nodes).into_owned();
        let mine = nodes.lines().find(|l| l.contains("myself")).expect("a myself line");
        mine.split_whitespace()
            .skip(8)
            .filter(|r| !r.starts_with('['))
            .flat_map(|r| {
                let (a, b) = r.split_once('-').unwrap_or((r, r));
                a.parse::<u16>().unwrap()..=b.parse::<u16>().unwrap()
            })
            .collect()
    }

    /// The admin URL of node `i` (its client port + 1000).
    pub fn admin_url(&self, i: usize) -> String {
        let SocketAddr::V4(addr) = self.nodes[i].addr else { unreachable!("nodes listen on IPv4") };
        format!("http://{}:{}", addr.ip(), addr.port() + 1000)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let ports: Vec<u16> = self.nodes.iter().map(|n| n.port()).collect();
        self.nodes.clear();
        for port in ports {
            let _ = std::fs::remove_dir_all(data_dir(port));
        }
        if let Some(token) = &self.token {
            let _ = std::fs::remove_file(&token.file);
        }
    }
}

/// A command's stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}

/// Writes `key:i` = `value:i` (and reads each back) through redis-py's cluster client until the
/// file named by argv[2] exists, then checks that every acknowledged write is readable with its
/// value. Redirections are followed inside the client; any other exception fails the script,
/// except one: redis-py (8.x) cannot follow an ASK to a node missing from its slot table (a new
/// primary that owns no slot yet) and raises AttributeError; that write is not acknowledged, so
/// the script counts it and writes the key again.
const PYTHON_UNDER_LOAD: &str = r#"
import os, sys, time
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
acked = 0
unknown_ask = 0
while not os.path.exists(sys.argv[2]) or acked < 5000:
    try:
        rc.set(f"key:{acked}", f"value:{acked}")
    except AttributeError:
        unknown_ask += 1
        continue
    acked += 1
    if acked % 7 == 0:
        assert rc.get(f"key:{acked - 3}") == f"value:{acked - 3}".encode(), acked - 3
lost = [i for i in range(acked) if rc.get(f"key:{i}") != f"value:{i}".encode()]
total = sum(rc.dbsize(target_nodes=n) for n in rc.get_primaries())
print(f"acked {acked} lost {len(lost)} total {total} first-lost {lost[:5]} asks-to-unknown-nodes {unknown_ask}")
assert not lost and total == acked
print("under load ok")
"#;

/// [`PYTHON_UNDER_LOAD`] running against a cluster: [`Writer::finish`] stops it and fails the
/// test if it saw an error or lost an acknowledged write.
pub struct Writer {
    child: Option<std::process::Child>,
    stop: PathBuf,
}

impl Writer {
    /// Starts writing through the node on `port`, and gives the writer two seconds to get going.
    pub fn start(port: u16) -> Writer {
        let stop = std::env::temp_dir().join(format!("ferrocache-e2e-stop-{}-{port}", std::process::id()));
        let _ = std::fs::remove_file(&stop);
        let mut python = Command::new("python3");
        python.args(["-c", PYTHON_UNDER_LOAD, &port.to_string()]).arg(&stop);
        python.stdout(Stdio::piped()).stderr(Stdio::piped());
        let child = python.spawn().expect("python3 runs");
        std::thread::sleep(Duration::from_secs(2));
        Writer { child: Some(child), stop }
    }

    /// Stops the writer and checks every acknowledged write; returns its report line.
    pub fn finish(mut self) -> String {
        std::fs::write(&self.stop, b"stop").expect("stop file");
        let out = crate::process::wait_bounded(self.child.take().expect("running"), CLI_LIMIT);
        let _ = std::fs::remove_file(&self.stop);
        let report = text(&out);
        assert!(out.status.success() && report.contains("under load ok"), "the writer saw an error or lost keys:\n{report}");
        report
    }
}

impl Drop for Writer {
    fn drop(&mut self) {
        if let Some(mut child) = self.child.take() {
            let _ = child.kill();
            let _ = child.wait();
        }
        let _ = std::fs::remove_file(&self.stop);
    }
}
