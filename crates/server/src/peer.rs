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
        while replies.len() < count {
            match ferrocache_resp::frame::parse(&self.buf) {
                Ok(Some((frame, used))) => {
                    let _ = self.buf.split_to(used);
                    replies.push(frame);
                    continue;
                }
                Ok(None) => {}
                Err(e) => return Err(PeerError(format!("{}: bad reply: {e}", self.addr))),
            }
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
