//! The network front of a Ferrocache node: accepts Redis-protocol
//! connections, runs commands against the keyspace, and shuts down cleanly.
//!
//! Map: [`conn`] (one task per connection) → [`dispatch`] (lookup, arity,
//! auth, MULTI queueing) → a handler in [`cmd`] (one module per command
//! family) registered in [`table`]. [`shared`] holds what all connections
//! share; [`config`] the settings; [`background`] the periodic work;
//! [`pause`] holds commands during CLIENT PAUSE and [`park`] lets a
//! connection wait (for that, or in WAIT) without stopping its loop.

pub mod affinity;
pub mod args;
pub mod background;
pub mod blocking;
pub mod client;
pub mod cluster;
pub mod cmd;
pub mod cmdstats;
pub mod command;
pub mod config;
pub mod conn;
pub mod dispatch;
pub mod evict;
pub mod fence;
pub mod float80;
pub mod latency;
pub mod latency_report;
pub mod metrics;
pub mod migrate;
pub mod monitor;
pub mod park;
pub mod pause;
pub mod peer;
pub mod pubsub;
pub mod repl;
pub mod shared;
pub mod signal;
pub mod slowlog;
pub mod table;

use std::io;
use std::net::SocketAddr;
use std::sync::Arc;
use std::time::Duration;

use tokio::io::AsyncWriteExt;
use tokio::net::TcpListener;
use tracing::{info, warn};

pub use config::Config;
pub use shared::Shared;

/// The version of Redis whose semantics Ferrocache follows; client
/// libraries pick features by it (INFO `redis_version`, HELLO `version`).
pub const REDIS_VERSION: &str = "7.0.15";

/// A bound, not yet running server.
///
/// Threading: one event-loop thread per CPU (`io-threads`), each with its
/// own single-threaded runtime and its own listening socket on the same
/// port (`SO_REUSEPORT`), so the kernel spreads connections across threads
/// and a connection stays on the thread that accepted it: no work
/// stealing, no cross-thread wake-ups on the request path.
pub struct Server {
    shared: Arc<Shared>,
    /// One group per event-loop thread: its socket on every bind address.
    groups: Vec<Vec<std::net::TcpListener>>,
}

impl Server {
    /// Binds every configured address. Port 0 picks a free port (the same
    /// one for all addresses is not guaranteed; tests bind one address).
    pub async fn bind(config: Config) -> io::Result<Server> {
        raise_fd_limit();
        let threads = config.io_threads.max(1);
        let mut groups: Vec<Vec<std::net::TcpListener>> = (0..threads).map(|_| Vec::new()).collect();
        for addr in &config.bind {
            let ip: std::net::IpAddr = addr.parse().map_err(|_| io::Error::other(format!("bad bind address {addr}")))?;
            let fail = |e: io::Error| io::Error::new(e.kind(), format!("cannot listen on {addr}:{}: {e}", config.port));
            let first = listen(SocketAddr::new(ip, config.port)).map_err(fail)?;
            let bound = first.local_addr()?;
            groups[0].push(first);
            for group in groups.iter_mut().skip(1) {
                group.push(listen(bound).map_err(fail)?);
            }
        }
        let shared = Arc::new(Shared::new(config));
        repl::install(&shared);
        evict::sync_tuning(&shared);
        let port = groups[0][0].local_addr()?.port();
        shared.port.store(port as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(Server { shared, groups })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.groups[0][0].local_addr().expect("bound listener")
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Serves until shutdown is requested (SHUTDOWN, or
    /// [`shared::Shutdown::request`] from a signal handler), then closes
    /// every connection.
    pub async fn run(self) -> io::Result<()> {
        for l in &self.groups[0] {
            info!(addr = %l.local_addr()?, threads = self.groups.len(), "listening");
        }
        let (senders, receivers): (Vec<_>, Vec<_>) = self.groups.iter().map(|_| tokio::sync::mpsc::unbounded_channel()).unzip();
        let _ = self.shared.loops.set(senders);
        let mut threads = Vec::new();
        for (i, (group, moved)) in self.groups.into_iter().zip(receivers).enumerate() {
            let shared = self.shared.clone();
            let thread = std::thread::Builder::new().name(format!("ferrocache-io-{i}")).spawn(move || event_loop(i, shared, group, moved))?;
            threads.push(thread);
        }
        tokio::spawn(background::run(self.shared.clone()));
        self.shared.shutdown.wait().await;
        info!("shutting down: closing client connections");
        self.shared.clients.kill_all();
        while threads.iter().any(|t| !t.is_finished()) {
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
        for t in threads {
            t.join().map_err(|_| io::Error::other("an event-loop thread panicked"))??;
        }
        info!("bye");
        Ok(())
    }
}

/// One event-loop thread: accepts on its sockets and serves the
/// connections it accepted or was handed by another loop
/// ([`affinity`]) until shutdown, then lets them close (bounded).
fn event_loop(
    index: usize,
    shared: Arc<Shared>,
    group: Vec<std::net::TcpListener>,
    mut moved: tokio::sync::mpsc::UnboundedReceiver<conn::Moved>,
) -> io::Result<()> {
    affinity::set_current_loop(index);
    // I/O and timers only: the process and signal drivers cost a check on
    // every turn of the loop, and these loops spawn no processes.
    let rt = tokio::runtime::Builder::new_current_thread().enable_io().enable_time().build()?;
    rt.block_on(async move {
        for l in group {
            l.set_nonblocking(true)?;
            tokio::spawn(accept_loop(shared.clone(), TcpListener::from_std(l)?));
        }
        let handover = shared.clone();
        tokio::spawn(async move {
            while let Some(m) = moved.recv().await {
                tokio::spawn(conn::resume(handover.clone(), m));
            }
        });
        shared.shutdown.wait().await;
        for _ in 0..100 {
            if shared.clients.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        Ok(())
    })
}

async fn accept_loop(shared: Arc<Shared>, listener: TcpListener) {
    loop {
        let (mut stream, addr) = tokio::select! {
            r = listener.accept() => match r {
                Ok(c) => c,
                Err(e) => {
                    warn!(error = %e, "accept failed");
                    tokio::time::sleep(Duration::from_millis(10)).await;
                    continue;
                }
            },
            _ = shared.shutdown.wait() => return,
        };
        let laddr = stream.local_addr().unwrap_or(addr);
        let max = shared.config.read().maxclients;
        match shared.clients.register(addr, laddr, ferrocache_store::clock::now_ms(), max) {
            Some(handle) => {
                tokio::spawn(conn::serve(shared.clone(), stream, handle));
            }
            None => {
                tokio::spawn(async move {
                    let _ = stream.write_all(b"-ERR max number of clients reached\r\n").await;
                });
            }
        }
    }
}

/// Redis's default `tcp-backlog`: bursts of connections wait in the
/// kernel's accept queue instead of being dropped.
const TCP_BACKLOG: u32 = 511;

fn listen(addr: SocketAddr) -> io::Result<std::net::TcpListener> {
    use socket2::{Domain, Socket, Type};
    let socket = Socket::new(Domain::for_address(addr), Type::STREAM, None)?;
    socket.set_reuse_address(true)?;
    socket.set_reuse_port(true)?;
    socket.bind(&addr.into())?;
    socket.listen(TCP_BACKLOG as i32)?;
    Ok(socket.into())
}

/// Lifts the open-files soft limit to the hard limit, so `maxclients`
/// connections fit.
fn raise_fd_limit() {
    // SAFETY: getrlimit/setrlimit with a valid pointer to a local struct.
    unsafe {
        let mut lim = libc::rlimit { rlim_cur: 0, rlim_max: 0 };
        if libc::getrlimit(libc::RLIMIT_NOFILE, &mut lim) == 0 && lim.rlim_cur < lim.rlim_max {
            lim.rlim_cur = lim.rlim_max;
            libc::setrlimit(libc::RLIMIT_NOFILE, &lim);
        }
    }
}
