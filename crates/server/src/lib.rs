//! The network front of a Ferrocache node: accepts Redis-protocol
//! connections, runs commands against the keyspace, and shuts down cleanly.
//!
//! Map: [`conn`] (one task per connection) → [`dispatch`] (lookup, arity,
//! auth, MULTI queueing) → a handler in [`cmd`] (one module per command
//! family) registered in [`table`]. [`shared`] holds what all connections
//! share; [`config`] the settings; [`background`] the periodic work.

pub mod args;
pub mod background;
pub mod client;
pub mod cmd;
pub mod command;
pub mod config;
pub mod conn;
pub mod dispatch;
pub mod evict;
pub mod float80;
pub mod shared;
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
pub struct Server {
    shared: Arc<Shared>,
    listeners: Vec<TcpListener>,
}

impl Server {
    /// Binds every configured address. Port 0 picks a free port (the same
    /// one for all addresses is not guaranteed; tests bind one address).
    pub async fn bind(config: Config) -> io::Result<Server> {
        raise_fd_limit();
        let mut listeners = Vec::new();
        for addr in &config.bind {
            let ip: std::net::IpAddr = addr.parse().map_err(|_| io::Error::other(format!("bad bind address {addr}")))?;
            let listener = TcpListener::bind(SocketAddr::new(ip, config.port))
                .await
                .map_err(|e| io::Error::new(e.kind(), format!("cannot listen on {addr}:{}: {e}", config.port)))?;
            listeners.push(listener);
        }
        let shared = Arc::new(Shared::new(config));
        let port = listeners[0].local_addr()?.port();
        shared.port.store(port as u64, std::sync::atomic::Ordering::Relaxed);
        Ok(Server { shared, listeners })
    }

    pub fn local_addr(&self) -> SocketAddr {
        self.listeners[0].local_addr().expect("bound listener")
    }

    pub fn shared(&self) -> Arc<Shared> {
        self.shared.clone()
    }

    /// Serves until shutdown is requested (SHUTDOWN, or
    /// [`shared::Shutdown::request`] from a signal handler), then closes
    /// every connection.
    pub async fn run(self) -> io::Result<()> {
        for listener in self.listeners {
            info!(addr = %listener.local_addr()?, "listening");
            tokio::spawn(accept_loop(self.shared.clone(), listener));
        }
        tokio::spawn(background::run(self.shared.clone()));
        self.shared.shutdown.wait().await;
        info!("shutting down: closing client connections");
        self.shared.clients.kill_all();
        for _ in 0..100 {
            if self.shared.clients.is_empty() {
                break;
            }
            tokio::time::sleep(Duration::from_millis(20)).await;
        }
        info!("bye");
        Ok(())
    }
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
