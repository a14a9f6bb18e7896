//! A blocking raw RESP client.
//!
//! Tests compare exact reply frames (types, error strings), which client
//! libraries hide, so the harness speaks RESP itself. Every read is bounded
//! by a timeout: a server that stops answering fails the test with a message
//! instead of hanging it.

use std::io::{self, ErrorKind, Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::time::{Duration, Instant};

use ferrocache_resp::Frame;

/// How long a read waits for the server unless told otherwise.
pub const READ_TIMEOUT: Duration = Duration::from_secs(10);

/// A blocking raw RESP connection.
pub struct Conn {
    pub stream: TcpStream,
    buf: Vec<u8>,
}

/// What [`Conn::drain`] saw: the bytes, and whether the server closed.
#[derive(Debug, PartialEq)]
pub struct Drained {
    pub bytes: Vec<u8>,
    pub closed: bool,
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
        let stream = TcpStream::connect_timeout(&addr, Duration::from_secs(5))?;
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

/// Waits until `addr` answers PING with PONG, or `within` passes.
pub fn wait_for_ping(addr: SocketAddr, within: Duration) -> bool {
    let deadline = Instant::now() + within;
    while Instant::now() < deadline {
        if let Ok(mut c) = Conn::try_connect(addr) {
            c.set_timeout(Duration::from_millis(500));
            c.send(&["PING"]);
            if let Got::Data = c.fill() {
                if c.buf.starts_with(b"+PONG\r\n") {
                    return true;
                }
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
