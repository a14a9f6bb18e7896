//! Test harness for end-to-end tests: start servers, talk RESP to them.
//!
//! - [`start`] runs a Ferrocache server in this process on a free port
//!   (fast; used by most protocol tests);
//! - [`Conn`] is a raw RESP client that returns exact [`Frame`]s, so tests
//!   can assert Redis's exact reply shapes and error strings.
//!
//! Servers bind 127.0.0.1 only, and stop when their handle is dropped.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::Arc;
use std::time::Duration;

pub use ferrocache_resp::Frame;
use ferrocache_server::{Config, Server, Shared};

/// A server running in this process on its own runtime thread.
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

/// A blocking raw RESP connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

impl Conn {
    pub fn connect(addr: SocketAddr) -> Conn {
        let stream = TcpStream::connect(addr).expect("connect");
        stream.set_read_timeout(Some(Duration::from_secs(10))).expect("timeout");
        stream.set_nodelay(true).expect("nodelay");
        Conn { stream, buf: Vec::new() }
    }

    /// Sends one command and reads its reply.
    pub fn cmd(&mut self, args: &[&str]) -> Frame {
        let raw: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.cmd_bytes(&raw)
    }

    pub fn cmd_bytes(&mut self, args: &[&[u8]]) -> Frame {
        self.send_raw(&Frame::command(args));
        self.read_frame().expect("reply")
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one frame; None if the server closed the connection.
    pub fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = ferrocache_resp::frame::parse(&self.buf).expect("valid reply") {
                self.buf.drain(..used);
                return Some(frame);
            }
            let mut chunk = [0u8; 65536];
            match self.stream.read(&mut chunk) {
                Ok(0) | Err(_) => return None,
                Ok(n) => self.buf.extend_from_slice(&chunk[..n]),
            }
        }
    }

    /// Whether the server has closed this connection (reads EOF).
    pub fn is_closed(&mut self) -> bool {
        self.read_frame().is_none()
    }
}

/// Shorthands for expected replies.
pub mod reply {
    use super::Frame;
    use bytes::Bytes;

    pub fn ok() -> Frame {
        simple("OK")
    }

    pub fn simple(s: &str) -> Frame {
        Frame::Simple(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn err(s: &str) -> Frame {
        Frame::Error(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    pub fn int(n: i64) -> Frame {
        Frame::Integer(n)
    }

    pub fn nil() -> Frame {
        Frame::NullBulk
    }

    pub fn arr(items: Vec<Frame>) -> Frame {
        Frame::Array(items)
    }

    pub fn bulks(items: &[&str]) -> Frame {
        Frame::Array(items.iter().map(|s| bulk(s)).collect())
    }
}
