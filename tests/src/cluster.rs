//! A local Ferrocache cluster of real processes: nodes started with `ferrocache server
//! --cluster` (each with its own data dir under the temp dir, removed at the end), formed and
//! reshaped by running the `ferrocache cluster` CLI exactly as an operator would.

use std::path::PathBuf;
use std::process::{Command, Output, Stdio};
use std::time::Duration;

use crate::process::{ferrocache_bin, run_bounded, Program, Server};

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
        let _ = std::fs::remove_dir_all(data_dir(port));
        node_command(port, extra)
    }
}

/// A cluster node's command line, on its own data dir (kept as it is).
fn node_command(port: u16, extra: &[&str]) -> Command {
    let dir = data_dir(port);
    let mut cmd = Command::new(ferrocache_bin());
    cmd.args(["server", "--cluster", "--port", &port.to_string(), "--bind", "127.0.0.1", "--data-dir"])
        .arg(&dir)
        .args(extra)
        .stdin(Stdio::null());
    if std::env::var_os("RUST_LOG").is_none() {
        cmd.env("RUST_LOG", "warn,openraft=error");
    }
    cmd
}

pub type ClusterNode = Server<ClusterProgram>;

/// Nodes of one cluster; every process is stopped and every data dir removed when dropped.
pub struct LocalCluster {
    pub nodes: Vec<ClusterNode>,
}

impl LocalCluster {
    /// Starts `n` fresh nodes, not yet formed into a cluster.
    pub fn start(n: usize) -> LocalCluster {
        LocalCluster { nodes: (0..n).map(|_| ClusterNode::start()).collect() }
    }

    /// Starts `n` nodes and forms them with `ferrocache cluster create --replicas R`.
    pub fn create(n: usize, replicas: usize) -> LocalCluster {
        let cluster = LocalCluster::start(n);
        let mut args = vec!["create".to_string(), "--replicas".into(), replicas.to_string()];
        args.extend(cluster.addrs());
        let out = cluster.cli(&args.iter().map(String::as_str).collect::<Vec<_>>());
        assert!(out.status.success(), "cluster create failed: {}", text(&out));
        cluster
    }

    /// The nodes' client addresses (`127.0.0.1:port`).
    pub fn addrs(&self) -> Vec<String> {
        self.nodes.iter().map(|n| n.addr.to_string()).collect()
    }

    /// Runs `ferrocache cluster ARGS...` (bounded) and returns its output.
    pub fn cli(&self, args: &[&str]) -> Output {
        let mut cmd = Command::new(ferrocache_bin());
        cmd.arg("cluster").args(args);
        run_bounded(cmd, b"", CLI_LIMIT)
    }

    /// kill -9 of node `i`.
    pub fn kill(&mut self, i: usize) {
        self.nodes[i].kill();
    }

    /// Starts node `i` again on its port and data dir (so with its identity), after a kill.
    pub fn restart(&mut self, i: usize) {
        let port = self.nodes[i].port();
        self.nodes[i] = ClusterNode::start_at(port, node_command(port, &[]));
    }

    /// Starts one more fresh node (not yet in the cluster) and returns its index.
    pub fn spawn_node(&mut self) -> usize {
        self.spawn_node_with(&[])
    }

    /// Starts one more fresh node with extra flags (e.g. `--join URL`); returns its index.
    pub fn spawn_node_with(&mut self, extra: &[&str]) -> usize {
        self.nodes.push(ClusterNode::start_with(extra));
        self.nodes.len() - 1
    }

    /// The admin URL of node `i` (its client port + 1000).
    pub fn admin_url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.nodes[i].port() + 1000)
    }
}

impl Drop for LocalCluster {
    fn drop(&mut self) {
        let ports: Vec<u16> = self.nodes.iter().map(|n| n.port()).collect();
        self.nodes.clear();
        for port in ports {
            let _ = std::fs::remove_dir_all(data_dir(port));
        }
    }
}

/// A command's stdout and stderr, for assertion messages.
pub fn text(out: &Output) -> String {
    format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr))
}
