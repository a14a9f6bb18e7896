//! Control-plane clusters of real processes, for fault tests (kill -9, SIGSTOP/SIGCONT).
//!
//! The control crate has no binary of its own, so a test binary re-runs itself: a test file
//! declares an ignored test that calls [`run_child_node`], and [`Cluster`] spawns the test
//! binary with only that test selected and the node's settings in [`CHILD_ENV`]. The child runs
//! the same `ControlNode::start` as `ferrocache server` does, with shorter timers than the
//! server's flags allow. A child exits by itself when its parent test process goes away, and
//! [`Cluster`] kills its children when dropped, also when a test panics.

use std::path::PathBuf;
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

use ferrocache_control::{ControlConfig, ControlNode, Timers};
use serde_json::Value;

/// Environment variable carrying a child node's settings: `id;port;data_dir;join_url`.
pub const CHILD_ENV: &str = "FERROCACHE_FAULT_NODE";

/// Timers of the child nodes: Raft as in production, quick lease checks and request timeouts
/// so that calls to a paused or isolated node give up well within a test's time.
fn timers() -> Timers {
    Timers { heartbeat_ms: 100, election_min_ms: 400, election_max_ms: 800, lease_check_ms: 50, compaction_check_ms: 60_000, request_timeout_ms: 2_000 }
}

/// Runs a node when this process was started as one (see the module docs); returns at once
/// otherwise. Never returns in a child: it exits when the parent is gone.
pub fn run_child_node() {
    let Ok(spec) = std::env::var(CHILD_ENV) else { return };
    let parts: Vec<&str> = spec.splitn(4, ';').collect();
    let [id, port, dir, join] = parts[..] else { panic!("bad {CHILD_ENV}: {spec}") };
    let mut config = ControlConfig::new(id.parse().unwrap(), dir, format!("127.0.0.1:{port}").parse().unwrap());
    config.join = (!join.is_empty()).then(|| join.to_string());
    config.timers = timers();
    // Snapshots and log purges happen during the tests, so catching up exercises them too.
    config.snapshot_every = 400;
    config.keep_logs_after_snapshot = 100;
    let parent = std::os::unix::process::parent_id();
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(async move {
        let _node = ControlNode::start(config).await.expect("node start");
        while std::os::unix::process::parent_id() == parent {
            tokio::time::sleep(Duration::from_millis(200)).await;
        }
    });
    std::process::exit(0);
}

pub fn free_port() -> u16 {
    std::net::TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

/// `n` voters on 127.0.0.1; node ids are index + 1.
pub struct Cluster {
    /// The ignored test that runs [`run_child_node`].
    child_test: &'static str,
    ports: Vec<u16>,
    /// Data dirs and node logs (stderr); kept when a test fails.
    root: PathBuf,
    procs: Vec<Option<Child>>,
    pub http: reqwest::Client,
}

impl Cluster {
    /// Starts node 1 as a new cluster, lets the others join, and waits for `n` voters.
    pub async fn start(n: usize, child_test: &'static str) -> Cluster {
        let root = std::env::temp_dir().join(format!("ferrocache-faults-{}-{}", std::process::id(), free_port()));
        std::fs::create_dir_all(&root).unwrap();
        let http = reqwest::Client::builder().timeout(Duration::from_secs(5)).connect_timeout(Duration::from_millis(500)).build().unwrap();
        let mut cluster = Cluster { child_test, ports: (0..n).map(|_| free_port()).collect(), root, procs: Vec::new(), http };
        cluster.procs = (0..n).map(|_| None).collect();
        cluster.spawn(0, false);
        eventually(20, "node 1 to lead", || async { cluster.status(0).await.filter(|s| s["leader"] == 1) }).await;
        for i in 1..n {
            cluster.spawn(i, true);
        }
        eventually(30, "all voters", || async {
            let status = cluster.status(0).await?;
            let members = status["members"].as_array()?;
            (members.len() == n && members.iter().all(|m| m["voter"] == true)).then_some(())
        })
        .await;
        cluster
    }

    /// Starts node `i` from its data dir (joining through node 1 on its first start).
    fn spawn(&mut self, i: usize, join: bool) {
        let dir = self.root.join(format!("n{}", i + 1));
        let join = if join { self.url(0) } else { String::new() };
        let spec = format!("{};{};{};{join}", i + 1, self.ports[i], dir.display());
        let log = std::fs::OpenOptions::new().create(true).append(true).open(self.root.join(format!("n{}.log", i + 1))).unwrap();
        let child = Command::new(std::env::current_exe().unwrap())
            .args([self.child_test, "--exact", "--ignored", "--nocapture", "--test-threads=1"])
            .env(CHILD_ENV, spec)
            .stdout(Stdio::null())
            .stderr(log)
            .spawn()
            .unwrap();
        self.procs[i] = Some(child);
    }

    pub fn len(&self) -> usize {
        self.ports.len()
    }

    pub fn url(&self, i: usize) -> String {
        format!("http://127.0.0.1:{}", self.ports[i])
    }

    /// Index of the node with Raft id `id`.
    pub fn index_of(&self, id: u64) -> usize {
        id as usize - 1
    }

    /// SIGKILL, and reap the process.
    pub fn kill(&mut self, i: usize) {
        if let Some(mut child) = self.procs[i].take() {
            let _ = child.kill();
            let _ = child.wait();
        }
    }

    /// Restarts a killed node from its data dir.
    pub fn restart(&mut self, i: usize) {
        assert!(self.procs[i].is_none(), "node {} is still running", i + 1);
        self.spawn(i, false);
    }

    /// Sends SIGSTOP (`pause`) or SIGCONT to node `i`.
    pub fn signal(&self, i: usize, signal: &str) {
        let pid = self.procs[i].as_ref().expect("node running").id();
        let status = Command::new("kill").args([&format!("-{signal}"), &pid.to_string()]).status().unwrap();
        assert!(status.success(), "kill -{signal} {pid}");
        if signal == "STOP" {
            wait_stopped(pid);
        }
    }

    /// GETs `path` from node `i`; the JSON body of a 200 answer.
    pub async fn get_json(&self, i: usize, path: &str) -> Option<Value> {
        let resp = self.http.get(format!("{}{path}", self.url(i))).timeout(Duration::from_secs(2)).send().await.ok()?;
        if resp.status() != 200 {
            return None;
        }
        resp.json().await.ok()
    }

    pub async fn status(&self, i: usize) -> Option<Value> {
        self.get_json(i, "/v1/status").await
    }

    /// The leader id all of `nodes` agree on, if they do.
    pub async fn agreed_leader(&self, nodes: &[usize]) -> Option<u64> {
        let mut leader = None;
        for &i in nodes {
            let l = self.status(i).await?["leader"].as_u64()?;
            if leader.is_some_and(|x| x != l) {
                return None;
            }
            leader = Some(l);
        }
        leader
    }

    /// Waits for `nodes` to agree on a leader among them; returns its id and how long it took.
    pub async fn wait_leader_among(&self, nodes: &[usize], secs: u64) -> (u64, Duration) {
        let started = Instant::now();
        let leader = eventually(secs, "an agreed leader", || async {
            self.agreed_leader(nodes).await.filter(|l| nodes.contains(&self.index_of(*l)))
        })
        .await;
        (leader, started.elapsed())
    }
}

impl Drop for Cluster {
    fn drop(&mut self) {
        for i in 0..self.procs.len() {
            self.kill(i);
        }
        if std::thread::panicking() {
            eprintln!("node data and logs kept in {}", self.root.display());
        } else {
            let _ = std::fs::remove_dir_all(&self.root);
        }
    }
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: std::future::Future<Output = Option<T>>,
{
    let deadline = Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(Instant::now() < deadline, "timed out after {secs} s waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// Waits until every thread of process `pid` is stopped. `kill -STOP` returns
/// before that: on a loaded machine a thread of the target can still receive a
/// request sent after the call and answer it (a "paused" follower acknowledging an
/// append), which made the quorum tests fail about once in ten runs under load.
fn wait_stopped(pid: u32) {
    let deadline = Instant::now() + Duration::from_secs(5);
    let stopped = |stat: String| stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with(['T', 't']));
    loop {
        let all = std::fs::read_dir(format!("/proc/{pid}/task"))
            .map(|tasks| tasks.flatten().all(|t| std::fs::read_to_string(t.path().join("stat")).is_ok_and(stopped)))
            .unwrap_or(false);
        if all {
            return;
        }
        assert!(Instant::now() < deadline, "process {pid} had not stopped 5 s after SIGSTOP");
        std::thread::sleep(Duration::from_millis(1));
    }
}
