//! The local target: nodes as processes on this machine, kept running by a supervisor.
//!
//! Everything lives in one directory (the spec's `local.dir`):
//!
//! ```text
//! nodes.json        what should run: each node's address, binary and arguments (written by
//!                   `deploy apply`, read by the supervisor every tick)
//! status.json       what runs: pid, restarts, last exit per node (written by the supervisor)
//! supervisor.lock   held (flock) by the running supervisor; supervisor.pid names it
//! nodes/<port>/     a node's data dir: its identity and control-plane log survive restarts
//! logs/<port>.log   a node's output; logs/supervisor.log the supervisor's
//! ```
//!
//! The supervisor is a plain loop rather than a tokio task: it starts what `nodes.json` lists,
//! restarts a node that exits with exponential backoff (0.5 s doubling to 30 s, reset after a
//! minute up), restarts a node whose binary or arguments changed (a rolling upgrade changes one
//! node at a time), and stops nodes that are no longer listed. On SIGTERM or SIGINT it stops
//! every node and exits. Each node is started with `PR_SET_PDEATHSIG`, so a supervisor killed
//! with SIGKILL does not leave nodes behind.

use std::collections::BTreeMap;
use std::fs::File;
use std::io::Write;
use std::os::fd::AsRawFd;
use std::os::unix::process::CommandExt;
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::{Duration, Instant, SystemTime, UNIX_EPOCH};

use serde::{Deserialize, Serialize};

const NODES: &str = "nodes.json";
const STATUS: &str = "status.json";
const LOCK: &str = "supervisor.lock";
const PID: &str = "supervisor.pid";
const TICK: Duration = Duration::from_millis(100);
const FIRST_BACKOFF: Duration = Duration::from_millis(500);
const MAX_BACKOFF: Duration = Duration::from_secs(30);
/// A node up this long is healthy again: its next crash starts the backoff over.
const STABLE: Duration = Duration::from_secs(60);
/// How long a node may take to stop on SIGTERM before it gets SIGKILL.
const STOP_GRACE: Duration = Duration::from_secs(10);

/// One node the supervisor keeps running.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct NodeProcess {
    /// Client address, `127.0.0.1:PORT`: the node's name here.
    pub addr: String,
    pub binary: PathBuf,
    pub args: Vec<String>,
    pub log: PathBuf,
    /// Raised to restart the node with the same command line (a binary rebuilt in place).
    #[serde(default)]
    pub generation: u64,
}

/// What should run (`nodes.json`).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct Registry {
    pub nodes: Vec<NodeProcess>,
    /// The binary new nodes run, once an upgrade has set it.
    #[serde(default)]
    pub binary: Option<PathBuf>,
}

/// What runs, per node (`status.json`).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ProcessStatus {
    pub addr: String,
    pub pid: Option<u32>,
    /// `running`, `restarting` (waiting out its backoff) or `stopped`.
    pub state: String,
    pub restarts: u32,
    /// Unix ms when it was last started.
    pub started_ms: u64,
    /// How its last run ended, e.g. `killed by signal 9`.
    pub last_exit: Option<String>,
}

/// The local target's directory.
#[derive(Debug, Clone)]
pub struct LocalDir {
    pub root: PathBuf,
}

impl LocalDir {
    pub fn new(root: impl Into<PathBuf>) -> LocalDir {
        LocalDir { root: root.into() }
    }

    pub fn data_dir(&self, port: u16) -> PathBuf {
        self.root.join("nodes").join(port.to_string())
    }

    pub fn log(&self, port: u16) -> PathBuf {
        self.root.join("logs").join(format!("{port}.log"))
    }

    pub fn supervisor_log(&self) -> PathBuf {
        self.root.join("logs").join("supervisor.log")
    }

    pub fn registry(&self) -> Result<Registry, String> {
        read_json(&self.root.join(NODES)).map(Option::unwrap_or_default)
    }

    pub fn save_registry(&self, registry: &Registry) -> Result<(), String> {
        write_json(&self.root.join(NODES), registry)
    }

    pub fn status(&self) -> Result<Vec<ProcessStatus>, String> {
        read_json(&self.root.join(STATUS)).map(Option::unwrap_or_default)
    }

    /// The running supervisor's pid, if one holds the lock.
    pub fn supervisor(&self) -> Option<u32> {
        let lock = File::open(self.root.join(LOCK)).ok()?;
        // SAFETY: flock on a descriptor we own; a shared probe that fails means it is held.
        let free = unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } == 0;
        if free {
            return None;
        }
        std::fs::read_to_string(self.root.join(PID)).ok()?.trim().parse().ok()
    }
}

fn read_json<T: for<'de> Deserialize<'de>>(path: &Path) -> Result<Option<T>, String> {
    match std::fs::read(path) {
        Ok(bytes) => serde_json::from_slice(&bytes).map(Some).map_err(|e| format!("{} is damaged: {e}", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => Ok(None),
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// Writes through a temporary file and a rename, so a reader never sees half a file.
fn write_json<T: Serialize>(path: &Path, value: &T) -> Result<(), String> {
    let dir = path.parent().unwrap_or(Path::new("."));
    std::fs::create_dir_all(dir).map_err(|e| format!("cannot create {}: {e}", dir.display()))?;
    let tmp = path.with_extension("tmp");
    let bytes = serde_json::to_vec_pretty(value).map_err(|e| e.to_string())?;
    std::fs::write(&tmp, bytes).and_then(|()| std::fs::rename(&tmp, path)).map_err(|e| format!("cannot write {}: {e}", path.display()))
}

fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

/// Set by SIGTERM/SIGINT: the supervisor stops its nodes and returns.
static STOP: AtomicBool = AtomicBool::new(false);

extern "C" fn on_stop_signal(_: libc::c_int) {
    STOP.store(true, Ordering::SeqCst);
}

/// Makes SIGTERM and SIGINT stop [`Supervisor::run`] instead of the process.
pub fn stop_on_signals() {
    // SAFETY: the handler only stores to an atomic, which is async-signal-safe.
    unsafe {
        libc::signal(libc::SIGTERM, on_stop_signal as *const () as libc::sighandler_t);
        libc::signal(libc::SIGINT, on_stop_signal as *const () as libc::sighandler_t);
    }
}

/// Whether a stop was asked for (by a signal or [`request_stop`]).
pub fn stop_requested() -> bool {
    STOP.load(Ordering::SeqCst)
}

/// Asks a running [`Supervisor::run`] in this process to stop (as a signal would).
pub fn request_stop() {
    STOP.store(true, Ordering::SeqCst);
}

enum Run {
    Up { child: Child, since: Instant, spec: NodeProcess },
    /// Exited; starts again at `at`.
    Waiting { at: Instant },
}

struct Slot {
    run: Run,
    restarts: u32,
    /// Crashes in a row, for the backoff.
    streak: u32,
    started_ms: u64,
    last_exit: Option<String>,
}

/// Keeps the nodes of one [`LocalDir`] running.
pub struct Supervisor {
    dir: LocalDir,
    _lock: File,
    slots: BTreeMap<String, Slot>,
    last_status: Vec<ProcessStatus>,
}

impl Supervisor {
    /// Takes the directory's lock: one supervisor per cluster.
    pub fn new(dir: LocalDir) -> Result<Supervisor, String> {
        std::fs::create_dir_all(dir.root.join("logs")).map_err(|e| format!("cannot create {}: {e}", dir.root.display()))?;
        let path = dir.root.join(LOCK);
        let lock = File::create(&path).map_err(|e| format!("cannot create {}: {e}", path.display()))?;
        // SAFETY: flock on a descriptor we own.
        if unsafe { libc::flock(lock.as_raw_fd(), libc::LOCK_EX | libc::LOCK_NB) } != 0 {
            let pid = std::fs::read_to_string(dir.root.join(PID)).unwrap_or_default();
            return Err(format!("{} is already supervised by process {}", dir.root.display(), pid.trim()));
        }
        std::fs::write(dir.root.join(PID), std::process::id().to_string()).map_err(|e| format!("cannot write the pid file: {e}"))?;
        Ok(Supervisor { dir, _lock: lock, slots: BTreeMap::new(), last_status: Vec::new() })
    }

    /// Runs until [`request_stop`] or a signal (with [`stop_on_signals`]); then stops every node.
    pub fn run(mut self) {
        while !STOP.load(Ordering::SeqCst) {
            match self.dir.registry() {
                Ok(registry) => self.reconcile(&registry),
                Err(e) => eprintln!("supervisor: {e}"),
            }
            self.publish();
            std::thread::sleep(TICK);
        }
        let addrs: Vec<String> = self.slots.keys().cloned().collect();
        for addr in &addrs {
            if let Some(Slot { run: Run::Up { child, .. }, .. }) = self.slots.get_mut(addr) {
                signal(child, libc::SIGTERM);
            }
        }
        for addr in addrs {
            if let Some(Slot { run: Run::Up { mut child, .. }, .. }) = self.slots.remove(&addr) {
                wait_or_kill(&mut child);
            }
        }
        self.publish();
        let _ = std::fs::remove_file(self.dir.root.join(PID));
    }

    fn reconcile(&mut self, registry: &Registry) {
        let gone: Vec<String> = self.slots.keys().filter(|a| !registry.nodes.iter().any(|n| &n.addr == *a)).cloned().collect();
        for addr in gone {
            if let Some(Slot { run: Run::Up { mut child, .. }, .. }) = self.slots.remove(&addr) {
                eprintln!("supervisor: stopping {addr}: no longer in the cluster");
                stop(&mut child);
            }
        }
        for node in &registry.nodes {
            let slot = self.slots.entry(node.addr.clone()).or_insert_with(|| Slot {
                run: Run::Waiting { at: Instant::now() },
                restarts: 0,
                streak: 0,
                started_ms: 0,
                last_exit: None,
            });
            match &mut slot.run {
                Run::Up { child, spec, .. } if spec != node => {
                    eprintln!("supervisor: restarting {} with its new command line", node.addr);
                    stop(child);
                    slot.streak = 0;
                    slot.run = Run::Waiting { at: Instant::now() };
                }
                Run::Up { child, since, .. } => {
                    if let Ok(Some(status)) = child.try_wait() {
                        let ran = since.elapsed();
                        slot.streak = if ran >= STABLE { 1 } else { slot.streak + 1 };
                        let backoff = FIRST_BACKOFF.saturating_mul(1 << slot.streak.saturating_sub(1).min(6)).min(MAX_BACKOFF);
                        let how = exit_text(status);
                        eprintln!("supervisor: {} {how} after {:.1} s; starting it again in {:.1} s", node.addr, ran.as_secs_f64(), backoff.as_secs_f64());
                        slot.last_exit = Some(how);
                        slot.restarts += 1;
                        slot.run = Run::Waiting { at: Instant::now() + backoff };
                    }
                }
                Run::Waiting { at } if Instant::now() >= *at => match spawn(node) {
                    Ok(child) => {
                        slot.started_ms = now_ms();
                        slot.run = Run::Up { child, since: Instant::now(), spec: node.clone() };
                    }
                    Err(e) => {
                        eprintln!("supervisor: cannot start {}: {e}", node.addr);
                        slot.last_exit = Some(format!("cannot start: {e}"));
                        slot.run = Run::Waiting { at: Instant::now() + MAX_BACKOFF };
                    }
                },
                Run::Waiting { .. } => {}
            }
        }
    }

    fn publish(&mut self) {
        let status: Vec<ProcessStatus> = self
            .slots
            .iter()
            .map(|(addr, slot)| ProcessStatus {
                addr: addr.clone(),
                pid: match &slot.run {
                    Run::Up { child, .. } => Some(child.id()),
                    Run::Waiting { .. } => None,
                },
                state: match &slot.run {
                    Run::Up { .. } => "running",
                    Run::Waiting { .. } if STOP.load(Ordering::SeqCst) => "stopped",
                    Run::Waiting { .. } => "restarting",
                }
                .to_string(),
                restarts: slot.restarts,
                started_ms: slot.started_ms,
                last_exit: slot.last_exit.clone(),
            })
            .collect();
        if status != self.last_status {
            if let Err(e) = write_json(&self.dir.root.join(STATUS), &status) {
                eprintln!("supervisor: {e}");
            }
            self.last_status = status;
        }
    }
}

fn spawn(node: &NodeProcess) -> std::io::Result<Child> {
    if let Some(dir) = node.log.parent() {
        std::fs::create_dir_all(dir)?;
    }
    let mut log = std::fs::OpenOptions::new().create(true).append(true).open(&node.log)?;
    writeln!(log, "--- started by the supervisor at unix ms {}", now_ms())?;
    let mut cmd = Command::new(&node.binary);
    cmd.args(&node.args).stdin(Stdio::null()).stdout(log.try_clone()?).stderr(log);
    // SAFETY: prctl is async-signal-safe; it only sets this child's parent-death signal.
    unsafe {
        cmd.pre_exec(|| {
            if libc::prctl(libc::PR_SET_PDEATHSIG, libc::SIGTERM) != 0 {
                return Err(std::io::Error::last_os_error());
            }
            Ok(())
        });
    }
    cmd.spawn()
}

/// Sends SIGTERM to `pid` (a supervisor, which then stops its nodes).
pub fn terminate(pid: u32) {
    // SAFETY: kill only sends a signal.
    unsafe {
        libc::kill(pid as libc::pid_t, libc::SIGTERM);
    }
}

fn signal(child: &Child, sig: libc::c_int) {
    // SAFETY: kill on the pid of a child we have not reaped yet.
    unsafe {
        libc::kill(child.id() as libc::pid_t, sig);
    }
}

fn stop(child: &mut Child) {
    signal(child, libc::SIGTERM);
    wait_or_kill(child);
}

fn wait_or_kill(child: &mut Child) {
    let deadline = Instant::now() + STOP_GRACE;
    while Instant::now() < deadline {
        if let Ok(Some(_)) = child.try_wait() {
            return;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let _ = child.kill();
    let _ = child.wait();
}

fn exit_text(status: std::process::ExitStatus) -> String {
    use std::os::unix::process::ExitStatusExt;
    match (status.code(), status.signal()) {
        (Some(code), _) => format!("exited with code {code}"),
        (None, Some(sig)) => format!("was killed by signal {sig}"),
        _ => "ended".into(),
    }
}

/// The lowest ports from `base` whose client and admin (+`admin_offset`) ports are neither
/// `taken` nor in use on 127.0.0.1.
pub fn free_ports(base: u16, admin_offset: u16, taken: &[u16], count: usize) -> Vec<u16> {
    let bindable = |p: u16| std::net::TcpListener::bind(("127.0.0.1", p)).is_ok();
    (base..base.saturating_add(admin_offset))
        .filter(|p| !taken.contains(p) && bindable(*p) && p.checked_add(admin_offset).is_some_and(bindable))
        .take(count)
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sleeper(dir: &Path, name: &str, secs: &str) -> NodeProcess {
        NodeProcess { addr: name.into(), binary: "/bin/sleep".into(), args: vec![secs.into()], log: dir.join(format!("{name}.log")), generation: 0 }
    }

    fn wait_for(mut cond: impl FnMut() -> bool) {
        let deadline = Instant::now() + Duration::from_secs(10);
        while !cond() {
            assert!(Instant::now() < deadline, "timed out");
            std::thread::sleep(Duration::from_millis(20));
        }
    }

    fn alive(pid: u32) -> bool {
        std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
    }

    /// One test drives the whole life cycle: the supervisor's stop flag is process-wide.
    #[test]
    fn the_supervisor_starts_restarts_replaces_and_stops_its_nodes() {
        let root = std::env::temp_dir().join(format!("ferrocache-supervisor-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        let dir = LocalDir::new(&root);
        let a = sleeper(&root, "a", "30");
        dir.save_registry(&Registry { nodes: vec![a.clone()], binary: None }).unwrap();
        let sup = Supervisor::new(dir.clone()).unwrap();
        assert!(Supervisor::new(dir.clone()).err().unwrap().contains("already supervised"));
        let thread = std::thread::spawn(move || sup.run());
        assert_eq!(dir.supervisor(), Some(std::process::id()));
        let pid_of = |addr: &str| dir.status().unwrap().into_iter().find(|s| s.addr == addr).and_then(|s| s.pid);
        wait_for(|| pid_of("a").is_some());
        let first = pid_of("a").unwrap();
        // Killed: started again, counted, with how it ended.
        unsafe { libc::kill(first as i32, libc::SIGKILL) };
        wait_for(|| pid_of("a").is_some_and(|p| p != first));
        let a_status = dir.status().unwrap().into_iter().find(|s| s.addr == "a").unwrap();
        assert_eq!((a_status.restarts, a_status.last_exit.as_deref()), (1, Some("was killed by signal 9")));
        // A changed command line restarts it; a node no longer listed is stopped.
        let second = pid_of("a").unwrap();
        let b = sleeper(&root, "b", "30");
        dir.save_registry(&Registry { nodes: vec![sleeper(&root, "a", "31"), b], binary: None }).unwrap();
        wait_for(|| pid_of("b").is_some() && pid_of("a").is_some_and(|p| p != second));
        assert!(!alive(second));
        let b_pid = pid_of("b").unwrap();
        dir.save_registry(&Registry { nodes: vec![sleeper(&root, "a", "31")], binary: None }).unwrap();
        wait_for(|| pid_of("b").is_none());
        assert!(!alive(b_pid));
        // Stopping the supervisor stops every node and frees the lock.
        let last = pid_of("a").unwrap();
        request_stop();
        thread.join().unwrap();
        assert!(!alive(last));
        assert_eq!(dir.supervisor(), None);
        STOP.store(false, Ordering::SeqCst);
        let _ = std::fs::remove_dir_all(&root);
    }

    #[test]
    fn free_ports_skip_taken_and_bound_ones() {
        let held = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
        let port = held.local_addr().unwrap().port();
        let got = free_ports(port - 1, 1, &[port - 1], 1);
        assert!(!got.contains(&port) && !got.contains(&(port - 1)), "{got:?}");
    }
}
