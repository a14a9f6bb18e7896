//! A minimal RESP client for talking to other nodes: the CLI asks nodes who they are, and a
//! node streams a migrating slot's keys to the slot's new owner. It sends commands (one or a
//! pipeline) and reads whole replies with the same frame parser the tests trust; every wait is
//! bounded by the timeout given at connect, so a dead peer is an error, never a hang.

use std::time::Duration;

use bytes::BytesMut;
use ferrocache_resp::Frame;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;

/// One connection to a peer.
pub struct PeerConn {
    stream: TcpStream,
    buf: BytesMut,
    timeout: Duration,
    addr: String,
}

/// Why a call to a peer failed (an error reply is not a failure: it is a [`Frame::Error`]).
#[derive(Debug)]
pub struct PeerError(pub String);

impl std::fmt::Display for PeerError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for PeerError {}

impl PeerConn {
    /// Connects to `addr` (`host:port`).
    pub async fn connect(addr: &str, timeout: Duration) -> Result<PeerConn, PeerError> {
        let stream = tokio::time::timeout(timeout, TcpStream::connect(addr))
            .await
            .map_err(|_| PeerError(format!("{addr}: no connection within {} ms", timeout.as_millis())))?
            .map_err(|e| PeerError(format!("{addr}: {e}")))?;
        let _ = stream.set_nodelay(true);
        Ok(PeerConn { stream, buf: BytesMut::with_capacity(16 * 1024), timeout, addr: addr.to_string() })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends one command and returns its reply.
    pub async fn call(&mut self, args: &[&[u8]]) -> Result<Frame, PeerError> {
        let mut replies = self.pipeline(&Frame::command(args), 1).await?;
        Ok(replies.pop().expect("one reply"))
    }

    /// Sends `requests` (already encoded, `count` commands) and reads `count` replies.
    pub async fn pipeline(&mut self, requests: &[u8], count: usize) -> Result<Vec<Frame>, PeerError> {
        let io = |e: std::io::Error| PeerError(format!("{}: {e}", self.addr));
        tokio::time::timeout(self.timeout, self.stream.write_all(requests))
            .await
            .map_err(|_| PeerError(format!("{}: write timed out", self.addr)))?
            .map_err(io)?;
        let mut replies = Vec::with_capacity(count);
        while !take_replies(&mut self.buf, count, &mut replies, &self.addr)? {
            let read = tokio::time::timeout(self.timeout, self.stream.read_buf(&mut self.buf))
                .await
                .map_err(|_| PeerError(format!("{}: no reply within {} ms", self.addr, self.timeout.as_millis())))?
                .map_err(|e| PeerError(format!("{}: {e}", self.addr)))?;
            if read == 0 {
                return Err(PeerError(format!("{}: connection closed", self.addr)));
            }
        }
        Ok(replies)
    }

    /// Sends one command and returns its reply's text; an error reply becomes an error.
    pub async fn call_text(&mut self, args: &[&[u8]]) -> Result<String, PeerError> {
        match self.call(args).await? {
            Frame::Error(e) => Err(PeerError(format!("{}: {}", self.addr, String::from_utf8_lossy(&e)))),
            frame => match frame.as_bytes() {
                Some(b) => Ok(String::from_utf8_lossy(b).into_owned()),
                None => match frame {
                    Frame::Integer(n) => Ok(n.to_string()),
                    other => Err(PeerError(format!("{}: unexpected reply {other:?}", self.addr))),
                },
            },
        }
    }
}

/// Moves the whole replies at the front of `buf` into `replies`, up to `count`; true once
/// there are `count`.
fn take_replies(buf: &mut BytesMut, count: usize, replies: &mut Vec<Frame>, addr: &str) -> Result<bool, PeerError> {
    while replies.len() < count {
        match ferrocache_resp::frame::parse(buf) {
            Ok(Some((frame, used))) => {
                let _ = buf.split_to(used);
                replies.push(frame);
            }
            Ok(None) => return Ok(false),
            Err(e) => return Err(PeerError(format!("{addr}: bad reply: {e}"))),
        }
    }
    Ok(true)
}

/// The same as [`PeerConn`] with blocking I/O, for a thread that must not depend on a runtime:
/// the slot mover waits for its peer while it holds a keyspace lock, and a runtime whose
/// workers wait for that lock could never finish the read.
pub struct BlockingPeer {
    stream: std::net::TcpStream,
    buf: BytesMut,
    addr: String,
}

impl BlockingPeer {
    pub fn connect(addr: &str, timeout: Duration) -> Result<BlockingPeer, PeerError> {
        use std::net::ToSocketAddrs;
        let io = |e: std::io::Error| PeerError(format!("{addr}: {e}"));
        let target = addr.to_socket_addrs().map_err(io)?.next().ok_or_else(|| PeerError(format!("{addr}: no address")))?;
        let stream = std::net::TcpStream::connect_timeout(&target, timeout).map_err(io)?;
        stream.set_read_timeout(Some(timeout)).and_then(|()| stream.set_write_timeout(Some(timeout))).map_err(io)?;
        let _ = stream.set_nodelay(true);
        Ok(BlockingPeer { stream, buf: BytesMut::with_capacity(16 * 1024), addr: addr.to_string() })
    }

    pub fn addr(&self) -> &str {
        &self.addr
    }

    /// Sends `requests` (already encoded, `count` commands) and reads `count` replies.
    pub fn pipeline(&mut self, requests: &[u8], count: usize) -> Result<Vec<Frame>, PeerError> {
        use std::io::{Read, Write};
        let io = |e: std::io::Error| PeerError(format!("{}: {e}", self.addr));
        self.stream.write_all(requests).map_err(io)?;
        let mut replies = Vec::with_capacity(count);
        let mut chunk = [0u8; 16 * 1024];
        while !take_replies(&mut self.buf, count, &mut replies, &self.addr)? {
            let read = self.stream.read(&mut chunk).map_err(io)?;
            if read == 0 {
                return Err(PeerError(format!("{}: connection closed", self.addr)));
            }
            self.buf.extend_from_slice(&chunk[..read]);
        }
        Ok(replies)
    }
}

/// The command that asks a node for [`map_epoch`].
pub const CLUSTER_INFO: &[&[u8]] = &[b"CLUSTER", b"INFO"];

/// The cluster map epoch a node serves, from its CLUSTER INFO reply (`cluster_current_epoch`).
pub fn map_epoch(cluster_info: &str) -> Option<u64> {
    info_field(cluster_info, "cluster_current_epoch")?.parse().ok()
}

/// The value of `field` in an INFO reply (`field:value` lines).
pub fn info_field<'a>(info: &'a str, field: &str) -> Option<&'a str> {
    info.lines().find_map(|line| line.strip_prefix(field)?.strip_prefix(':')).map(str::trim_end)
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn info_fields_are_found_by_exact_name() {
        let info = "# Cluster\r\ncluster_enabled:1\r\nferrocache_admin_url:http://127.0.0.1:8000\r\n";
        assert_eq!(info_field(info, "cluster_enabled"), Some("1"));
        assert_eq!(info_field(info, "ferrocache_admin_url"), Some("http://127.0.0.1:8000"));
        assert_eq!(info_field(info, "cluster"), None);
    }
}
