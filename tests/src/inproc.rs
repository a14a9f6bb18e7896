//! A Ferrocache server inside the test process: starts in milliseconds and
//! lets a test reach its shared state, so most protocol tests use it.

use std::net::SocketAddr;
use std::sync::Arc;

use ferrocache_server::{Config, Server, Shared};

use crate::Conn;

/// A server running in this process on its own runtime thread; stops
/// when dropped.
pub struct TestServer {
    pub addr: SocketAddr,
    pub shared: Arc<Shared>,
    thread: Option<std::thread::JoinHandle<()>>,
}

/// Starts a server with default settings on a free port.
pub fn start() -> TestServer {
    start_with(|_| {})
}

/// Starts a server after `tweak` adjusted its settings.
pub fn start_with(tweak: impl FnOnce(&mut Config)) -> TestServer {
    let mut config = Config { port: 0, ..Config::default() };
    tweak(&mut config);
    let (tx, rx) = std::sync::mpsc::channel();
    let thread = std::thread::spawn(move || {
        let rt = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().expect("runtime");
        rt.block_on(async move {
            let server = Server::bind(config).await.expect("bind");
            tx.send((server.local_addr(), server.shared())).expect("send addr");
            server.run().await.expect("run");
        });
    });
    let (addr, shared) = rx.recv().expect("server started");
    TestServer { addr, shared, thread: Some(thread) }
}

impl TestServer {
    pub fn conn(&self) -> Conn {
        Conn::connect(self.addr)
    }
}

impl Drop for TestServer {
    fn drop(&mut self) {
        self.shared.shutdown.request();
        if let Some(t) = self.thread.take() {
            let _ = t.join();
        }
    }
}
