//! A blocking raw RESP client.
//!
//! Tests compare exact reply frames (types, error strings), which client
//! libraries hide, so the harness speaks RESP itself. Every read is bounded
//! by a timeout: a server that stops answering fails the test with a message
//! instead of hanging it.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{IpAddr, SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ferrocache_resp::Frame;
use rustix::net::{bind, connect, socket, AddressFamily, SocketType};

/// How long a read waits for the server unless told otherwise.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking raw RESP connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// What [`Conn::drain`] saw: the bytes, and whether the server closed.
#[derive(PartialEq)]
pub struct Drained {
    pub bytes: Vec<u8>,
    pub closed: bool,
}

impl std::fmt::Debug for Drained {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let state = if self.closed { "then closed" } else { "still open" };
        write!(f, "\"{}\" {state}", self.bytes.escape_ascii())
    }
}

/// The outcome of one bounded read.
enum Got {
    Data,
    Closed,
    TimedOut,
}

impl Conn {
    /// Connects or panics (the server is expected to be up).
    pub fn connect(addr: SocketAddr) -> Conn {
        Conn::try_connect(addr).unwrap_or_else(|e| panic!("connect to {addr}: {e}"))
    }

    pub fn try_connect(addr: SocketAddr) -> io::Result<Conn> {
        Conn::wrap(TcpStream::connect_timeout(&addr, Duration::from_secs(5))?)
    }

    /// Connects from a chosen local address (any 127.x.y.z works on
    /// Linux). Thousands of short connections to one server port would
    /// otherwise reuse local ports whose previous connection the server
    /// still holds in TIME_WAIT, and stall for a SYN retry.
    pub fn connect_from(source: IpAddr, addr: SocketAddr) -> io::Result<Conn> {
        let family = if source.is_ipv4() { AddressFamily::INET } else { AddressFamily::INET6 };
        let fd = socket(family, SocketType::STREAM, None)?;
        bind(&fd, &SocketAddr::new(source, 0))?;
        connect(&fd, &addr)?;
        Conn::wrap(TcpStream::from(fd))
    }

    fn wrap(stream: TcpStream) -> io::Result<Conn> {
        stream.set_read_timeout(Some(READ_TIMEOUT))?;
        stream.set_write_timeout(Some(READ_TIMEOUT))?;
        stream.set_nodelay(true)?;
        Ok(Conn { stream, buf: Vec::new() })
    }

    /// Changes how long reads wait.
    pub fn set_timeout(&mut self, timeout: Duration) {
        self.stream.set_read_timeout(Some(timeout)).expect("set timeout");
    }

    /// Sends one command and reads its reply.
    pub fn cmd(&mut self, args: &[&str]) -> Frame {
        self.cmd_bytes(args)
    }

    /// The value of field `name` in `INFO section` (panics if it is missing).
    pub fn info_field(&mut self, section: &str, name: &str) -> String {
        let info = crate::reply::text(&self.cmd(&["INFO", section]));
        let prefix = format!("{name}:");
        info.lines().find_map(|l| l.strip_prefix(&prefix)).unwrap_or_else(|| panic!("no {name} in {info}")).to_string()
    }

    /// Sends one command of binary arguments and reads its reply.
    pub fn cmd_bytes<A: AsRef<[u8]>>(&mut self, args: &[A]) -> Frame {
        self.send(args);
        self.read_frame().unwrap_or_else(|| panic!("connection closed instead of replying to {}", show_args(args)))
    }

    /// Sends one command without reading its reply.
    pub fn send<A: AsRef<[u8]>>(&mut self, args: &[A]) {
        let raw: Vec<&[u8]> = args.iter().map(AsRef::as_ref).collect();
        self.send_raw(&Frame::command(&raw));
    }

    pub fn send_raw(&mut self, bytes: &[u8]) {
        self.stream.write_all(bytes).expect("write");
    }

    /// Reads one frame; None if the server closed the connection. Panics
    /// if nothing arrives within the read timeout.
    pub fn read_frame(&mut self) -> Option<Frame> {
        loop {
            if let Some((frame, used)) = ferrocache_resp::frame::parse(&self.buf).expect("valid reply") {
                self.buf.drain(..used);
                return Some(frame);
            }
            match self.fill() {
                Got::Data => {}
                Got::Closed => return None,
                Got::TimedOut => panic!("no reply within the read timeout (have {:?})", self.buf.escape_ascii().to_string()),
            }
        }
    }

    /// Whether the server has closed this connection (reads EOF); false if
    /// a frame arrives instead.
    pub fn is_closed(&mut self) -> bool {
        self.read_frame().is_none()
    }

    /// Reads raw bytes until the server closes or `quiet` passes without
    /// any data; for checking exactly what a server sends before it hangs up.
    pub fn drain(&mut self, quiet: Duration) -> Drained {
        self.set_timeout(quiet);
        let closed = loop {
            match self.fill() {
                Got::Data => {}
                Got::Closed => break true,
                Got::TimedOut => break false,
            }
        };
        self.set_timeout(READ_TIMEOUT);
        Drained { bytes: std::mem::take(&mut self.buf), closed }
    }

    /// Reads once more into the buffer.
    fn fill(&mut self) -> Got {
        let mut chunk = [0u8; 65536];
        match self.stream.read(&mut chunk) {
            Ok(0) => Got::Closed,
            Ok(n) => {
                self.buf.extend_from_slice(&chunk[..n]);
                Got::Data
            }
            Err(e) if matches!(e.kind(), ErrorKind::WouldBlock | ErrorKind::TimedOut) => Got::TimedOut,
            Err(e) if e.kind() == ErrorKind::Interrupted => Got::Data,
            Err(_) => Got::Closed,
        }
    }
}

/// Waits until `addr` answers PING with PONG (or NOAUTH, when the server
/// wants a password), or `within` passes.
/// Waits until INFO reports `n` blocked clients (a blocking command sent
/// on another connection has reached the server).
pub fn await_blocked(c: &mut Conn, n: usize) {
    let want = format!("blocked_clients:{n}\r\n");
    for _ in 0..500 {
        if let Frame::Bulk(b) = c.cmd(&["INFO", "clients"])
            && String::from_utf8_lossy(&b).contains(&want)
        {
            return;
        }
        std::thread::sleep(Duration::from_millis(5));
    }
    panic!("never saw {want}");
}

pub fn wait_for_ping(addr: SocketAddr, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(mut c) = Conn::try_connect(addr) {
            c.set_timeout(Duration::from_millis(500));
            c.send(&["PING"]);
            if let Got::Data = c.fill()
                && (c.buf.starts_with(b"+PONG\r\n") || c.buf.starts_with(b"-NOAUTH"))
            {
                return true;
            }
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

/// A command as text for messages: `SET "k" "\x00"`.
pub fn show_args<A: AsRef<[u8]>>(args: &[A]) -> String {
    let mut out = String::new();
    for (i, a) in args.iter().enumerate() {
        if i > 0 {
            out.push(' ');
        }
        out.push('"');
        out.push_str(&a.as_ref().escape_ascii().to_string());
        out.push('"');
    }
    out
}
