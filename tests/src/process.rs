//! Servers as real processes: the reference `redis-server`, and the
//! `ferrocache` binary for tests that need a real process (signals, exit
//! codes, external clients such as `redis-cli` and Python).
//!
//! Both listen on 127.0.0.1 only, on a port picked free just before the
//! start (retried if another process took it meanwhile), and are stopped
//! when their handle is dropped: SIGTERM, then SIGKILL after a bounded wait.

use std::io::Write;
use std::marker::PhantomData;
use std::net::{IpAddr, Ipv4Addr, SocketAddr, TcpListener};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, ExitStatus, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant, SystemTime};

use rustix::process::{kill_process, Pid, Signal};

use crate::conn::wait_for_ping;
use crate::Conn;

/// How long a server may take to answer its first PING.
const START_TIMEOUT: Duration = Duration::from_secs(20);
/// How long a stopping server may take before it is killed.
const STOP_TIMEOUT: Duration = Duration::from_secs(5);
/// Start attempts (each on a new port) before giving up.
const START_ATTEMPTS: usize = 5;

/// Where the test servers listen unless a test places them elsewhere.
pub const LOOPBACK: IpAddr = IpAddr::V4(Ipv4Addr::LOCALHOST);

/// A port that no socket on 127.0.0.1 uses right now.
pub fn free_port() -> u16 {
    free_port_on(LOOPBACK)
}

/// A port that no socket on `ip` uses right now. An address this process cannot bind belongs
/// to another network namespace (see `netns`), a fresh one with no other sockets: any port
/// free here will do.
pub fn free_port_on(ip: IpAddr) -> u16 {
    let listener = TcpListener::bind((ip, 0)).or_else(|_| TcpListener::bind((LOOPBACK, 0))).expect("bind 127.0.0.1:0");
    listener.local_addr().expect("local addr").port()
}

/// A child process that serves RESP on `addr`.
struct Served {
    child: Child,
    addr: SocketAddr,
    what: String,
}

impl Served {
    /// Starts `command(port)` on free ports of `ip` until one attempt answers PING.
    fn start(what: &str, ip: IpAddr, command: impl Fn(u16) -> Command) -> Served {
        for _ in 0..START_ATTEMPTS {
            let port = free_port_on(ip);
            let mut cmd = command(port);
            let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {what} ({cmd:?}): {e}"));
            let mut served = Served { child, addr: SocketAddr::new(ip, port), what: what.to_string() };
            if served.came_up() {
                return served;
            }
        }
        panic!("{what} did not start on any of {START_ATTEMPTS} free ports");
    }

    /// Whether the child answers PING and is still alive (another process
    /// may own the port if ours failed to bind it).
    fn came_up(&mut self) -> bool {
        let up = wait_for_ping(self.addr, START_TIMEOUT);
        std::thread::sleep(Duration::from_millis(30));
        if up && self.child.try_wait().ok().flatten().is_none() {
            return true;
        }
        self.kill();
        false
    }

    fn pid(&self) -> Pid {
        Pid::from_child(&self.child)
    }

    fn signal(&self, sig: Signal) {
        let _ = kill_process(self.pid(), sig);
    }

    /// The exit status if the process ends within `within`.
    fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        let deadline = Instant::now() + within;
        loop {
            if let Ok(Some(status)) = self.child.try_wait() {
                return Some(status);
            }
            if Instant::now() >= deadline {
                return None;
            }
            std::thread::sleep(Duration::from_millis(10));
        }
    }

    /// SIGTERM, then SIGKILL if it has not exited within [`STOP_TIMEOUT`].
    fn stop(&mut self) {
        if self.child.try_wait().ok().flatten().is_some() {
            return;
        }
        self.signal(Signal::TERM);
        if self.wait_exit(STOP_TIMEOUT).is_none() {
            eprintln!("{} did not exit within {STOP_TIMEOUT:?} of SIGTERM; killing it", self.what);
            self.kill();
        }
    }

    fn kill(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

/// Which server program a [`Server`] runs.
pub trait Program {
    /// For messages.
    const NAME: &'static str;
    /// The command that serves on 127.0.0.1:`port`, with `extra` arguments.
    fn command(port: u16, extra: &[&str]) -> Command;
}

/// The reference: Debian's `redis-server`, without persistence.
pub enum Redis {}

impl Program for Redis {
    const NAME: &'static str = "redis-server";

    fn command(port: u16, extra: &[&str]) -> Command {
        let mut cmd = Command::new("redis-server");
        cmd.args(["--port", &port.to_string(), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"])
            .args(["--daemonize", "no", "--loglevel", "warning"])
            .args(extra)
            .stdin(Stdio::null())
            .stdout(Stdio::null());
        cmd
    }
}

/// The `ferrocache` binary ([`ferrocache_bin`]) running `server`; it logs
/// warnings only, unless `RUST_LOG` says otherwise.
pub enum Ferrocache {}

impl Program for Ferrocache {
    const NAME: &'static str = "ferrocache";

    fn command(port: u16, extra: &[&str]) -> Command {
        let mut cmd = Command::new(ferrocache_bin());
        // No control plane unless a test asks for one (`extra` may set --admin-port).
        let admin: &[&str] = if extra.contains(&"--admin-port") { &[] } else { &["--admin-port", "0"] };
        cmd.args(["server", "--port", &port.to_string(), "--bind", "127.0.0.1"]).args(admin).args(extra).stdin(Stdio::null());
        if std::env::var_os("RUST_LOG").is_none() {
            cmd.env("RUST_LOG", "warn");
        }
        cmd
    }
}

/// A server process; stopped (SIGTERM, then SIGKILL) when dropped.
pub struct Server<P: Program> {
    pub addr: SocketAddr,
    served: Served,
    program: PhantomData<P>,
}

/// The reference `redis-server`.
pub type RedisServer = Server<Redis>;
/// The `ferrocache` binary in its own process.
pub type ProcessServer = Server<Ferrocache>;

impl<P: Program> Server<P> {
    pub fn start() -> Server<P> {
        Server::start_with(&[])
    }

    /// Starts with extra command-line arguments, e.g. `["--requirepass", "x"]`.
    pub fn start_with(extra: &[&str]) -> Server<P> {
        Server::start_on(LOOPBACK, |port| P::command(port, extra))
    }

    /// Starts `command(port)`, which must serve on `ip`:`port`, on a free port of `ip`.
    pub fn start_on(ip: IpAddr, command: impl Fn(u16) -> Command) -> Server<P> {
        let served = Served::start(P::NAME, ip, command);
        Server { addr: served.addr, served, program: PhantomData }
    }

    /// Runs `cmd`, which must serve on `addr` (a restart on a known port); panics if it does
    /// not answer PING.
    pub fn start_at(addr: SocketAddr, cmd: Command) -> Server<P> {
        let mut cmd = cmd;
        let child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {}: {e}", P::NAME));
        let mut served = Served { child, addr, what: P::NAME.to_string() };
        assert!(served.came_up(), "{} did not come up again on {addr}", P::NAME);
        Server { addr: served.addr, served, program: PhantomData }
    }

    /// SIGKILL, and waits for the process to be gone.
    pub fn kill(&mut self) {
        self.served.kill();
    }

    pub fn conn(&self) -> Conn {
        Conn::connect(self.addr)
    }

    pub fn port(&self) -> u16 {
        self.addr.port()
    }

    pub fn pid(&self) -> i32 {
        self.served.pid().as_raw_nonzero().get()
    }

    /// Sends SIGTERM (a graceful shutdown request).
    pub fn terminate(&self) {
        self.served.signal(Signal::TERM);
    }

    /// The exit status if the process ends within `within`.
    pub fn wait_exit(&mut self, within: Duration) -> Option<ExitStatus> {
        self.served.wait_exit(within)
    }
}

impl<P: Program> Drop for Server<P> {
    fn drop(&mut self) {
        self.served.stop();
    }
}

/// Runs an external program (a client such as `redis-cli` or `python3`)
/// with `input` on stdin; panics if it runs longer than `limit`.
pub fn run_bounded(mut cmd: Command, input: &[u8], limit: Duration) -> Output {
    let shown = format!("{cmd:?}");
    cmd.stdin(Stdio::piped()).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = cmd.spawn().unwrap_or_else(|e| panic!("cannot run {shown}: {e}"));
    let pid = Pid::from_child(&child);
    let mut stdin = child.stdin.take().expect("piped stdin");
    let input = input.to_vec();
    let writer = std::thread::spawn(move || {
        let _ = stdin.write_all(&input);
    });
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    let Ok(output) = rx.recv_timeout(limit) else {
        let _ = kill_process(pid, Signal::KILL);
        panic!("{shown} did not finish within {limit:?}");
    };
    let _ = writer.join();
    output.unwrap_or_else(|e| panic!("waiting for {shown}: {e}"))
}

/// Waits for a spawned child's output, killing it after `limit`.
pub fn wait_bounded(child: std::process::Child, limit: Duration) -> std::process::Output {
    let (tx, rx) = std::sync::mpsc::channel();
    let pid = child.id();
    std::thread::spawn(move || {
        let _ = tx.send(child.wait_with_output());
    });
    match rx.recv_timeout(limit) {
        Ok(out) => out.expect("wait for the child"),
        Err(_) => {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
            panic!("the child did not finish within {limit:?}");
        }
    }
}

/// The workspace root (the tests crate lives one level below it).
pub fn workspace_root() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).parent().expect("tests crate has a parent").to_path_buf()
}

/// The `ferrocache` binary to test: `$FERROCACHE_BIN`, else the one built
/// with the same profile as this test binary, else `target/debug` or
/// `target/release`. Panics if it is missing or older than the sources, so
/// a stale build never passes for the current code.
pub fn ferrocache_bin() -> PathBuf {
    if let Some(bin) = std::env::var_os("FERROCACHE_BIN") {
        return PathBuf::from(bin);
    }
    let root = workspace_root();
    let same_profile = std::env::current_exe().ok().and_then(|exe| Some(exe.parent()?.parent()?.join("ferrocache")));
    let candidates = same_profile.into_iter().chain(["debug", "release"].map(|p| root.join("target").join(p).join("ferrocache")));
    let Some(bin) = candidates.into_iter().find(|p| p.is_file()) else {
        panic!("no ferrocache binary found: run `cargo build -p ferrocache` (scripts/test.sh does) or set FERROCACHE_BIN");
    };
    let built = modified(&bin);
    if let Some((newer, _)) = newest_source(&root).filter(|(_, t)| *t > built) {
        panic!(
            "{} is older than {}: run `cargo build -p ferrocache` (scripts/test.sh does) or set FERROCACHE_BIN",
            bin.display(),
            newer.display()
        );
    }
    bin
}

fn modified(path: &Path) -> SystemTime {
    std::fs::metadata(path).and_then(|m| m.modified()).unwrap_or(SystemTime::UNIX_EPOCH)
}

/// The most recently changed input of the binary: `Cargo.lock`, and each
/// crate's `Cargo.toml`, `build.rs` and `src/` files.
fn newest_source(root: &Path) -> Option<(PathBuf, SystemTime)> {
    let mut inputs = vec![root.join("Cargo.lock")];
    let mut dirs = Vec::new();
    for krate in std::fs::read_dir(root.join("crates")).into_iter().flatten().flatten() {
        let dir = krate.path();
        inputs.extend([dir.join("Cargo.toml"), dir.join("build.rs")]);
        dirs.push(dir.join("src"));
    }
    while let Some(dir) = dirs.pop() {
        for entry in std::fs::read_dir(&dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() { dirs.push(path) } else { inputs.push(path) }
        }
    }
    inputs.into_iter().filter(|p| p.is_file()).map(|p| (modified(&p), p)).max().map(|(t, p)| (p, t))
}
