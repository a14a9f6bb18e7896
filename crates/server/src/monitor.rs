//! MONITOR: clients that receive every command the server runs, one
//! status line each, in Redis's format:
//! `+<unix secs>.<micros> [<db> <ip:port>] "arg" "arg" ...`.
//!
//! What is shown is what Redis 7.0 shows: each command after it ran
//! (so SELECT shows the database it selected, and a transaction shows
//! MULTI, its commands, then EXEC), commands refused before running
//! (unknown, wrong arity, not authenticated) not at all, admin commands
//! not at all, AUTH and HELLO's passwords as `(redacted)`, a blocking
//! command once, when it first ran.
//!
//! Why this shape: every command asks "is anyone monitoring?", so the
//! question is one relaxed load of a counter. Only when a monitor is
//! attached is the line built (once, with one clock read) and queued on
//! each monitor's [`crate::pubsub::Inbox`], the same bounded queue pub/sub
//! messages use: a monitor that stops reading is closed once its pending
//! output passes `client-output-buffer-limit normal` (Redis counts
//! monitors as normal clients too) or, when that class is unlimited (its
//! default, under which Redis lets a monitor grow without bound), the
//! `pubsub` class's limit (32mb hard, 8mb for 60 s by default), so it
//! always costs bounded memory.

use std::fmt::Write as _;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use parking_lot::RwLock;

use crate::client::{Client, ClientHandle};
use crate::shared::Shared;

/// The clients in MONITOR mode.
#[derive(Debug, Default)]
pub struct Monitors {
    /// How many there are: the hot path's only question.
    count: AtomicUsize,
    list: RwLock<Vec<Arc<ClientHandle>>>,
}

impl Monitors {
    /// Whether any client is monitoring.
    #[inline]
    pub fn active(&self) -> bool {
        self.count.load(Ordering::Relaxed) > 0
    }

    /// Adds a monitor; false if it already was one.
    pub fn add(&self, handle: &Arc<ClientHandle>) -> bool {
        let mut list = self.list.write();
        if list.iter().any(|h| h.id == handle.id) {
            return false;
        }
        list.push(handle.clone());
        self.count.store(list.len(), Ordering::Relaxed);
        true
    }

    /// Removes client `id` if it monitors.
    pub fn remove(&self, id: u64) {
        let mut list = self.list.write();
        list.retain(|h| h.id != id);
        self.count.store(list.len(), Ordering::Relaxed);
    }

    /// Sends every monitor the line for `args`, run by the client at `addr` in `db`.
    pub fn feed(&self, shared: &Shared, db: usize, addr: &str, args: &[Bytes]) {
        let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
        let line = Bytes::from(line(now.as_secs(), now.subsec_micros(), db, addr, args));
        let limit = {
            let c = shared.config.read();
            // Redis leaves a monitor unbounded under the default `normal 0 0 0`; here it is
            // always bounded: by the pub/sub class's limit when the normal class has none.
            if c.obuf_normal == (0, 0, 0) { c.obuf_pubsub } else { c.obuf_normal }
        };
        let now_ms = now.as_millis() as u64;
        for handle in self.list.read().iter() {
            if !handle.inbox.push(&line, limit, now_ms) {
                shared.stats.obuf_closed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(id = handle.id, "closing monitor that overcame its output buffer limit");
                handle.kill();
            }
        }
    }
}

/// Ends `client`'s monitor mode, if it was in it (RESET, disconnect).
pub fn leave(shared: &Shared, client: &mut Client) {
    if std::mem::take(&mut client.monitor) {
        shared.monitors.remove(client.id);
        client.handle.meta.lock().monitor = false;
    }
}

/// One monitor line, with its `+` and CRLF.
pub fn line(secs: u64, micros: u32, db: usize, addr: &str, args: &[Bytes]) -> Vec<u8> {
    let mut head = String::with_capacity(48);
    let _ = write!(head, "+{secs}.{micros:06} [{db} {addr}]");
    let mut out = head.into_bytes();
    let mut redacted;
    let args = if crate::slowlog::needs_redaction(args) {
        redacted = args.to_vec();
        crate::slowlog::redact(&mut redacted);
        &redacted[..]
    } else {
        args
    };
    for a in args {
        out.push(b' ');
        quote(&mut out, a);
    }
    out.extend_from_slice(b"\r\n");
    out
}

/// Appends `arg` in double quotes the way Redis's `sdscatrepr` does:
/// backslash and quote escaped, `\n \r \t \a \b` by name, other bytes
/// outside printable ASCII as `\xhh`.
pub fn quote(out: &mut Vec<u8>, arg: &[u8]) {
    out.push(b'"');
    for &b in arg {
        match b {
            b'\\' | b'"' => out.extend_from_slice(&[b'\\', b]),
            b'\n' => out.extend_from_slice(b"\\n"),
            b'\r' => out.extend_from_slice(b"\\r"),
            b'\t' => out.extend_from_slice(b"\\t"),
            7 => out.extend_from_slice(b"\\a"),
            8 => out.extend_from_slice(b"\\b"),
            0x20..=0x7e => out.push(b),
            _ => out.extend_from_slice(format!("\\x{b:02x}").as_bytes()),
        }
    }
    out.push(b'"');
}

#[cfg(test)]
mod tests {
    use super::*;

    fn quoted(arg: &[u8]) -> String {
        let mut out = Vec::new();
        quote(&mut out, arg);
        String::from_utf8(out).expect("quoting gives ASCII")
    }

    #[test]
    fn quoting_as_redis() {
        assert_eq!(quoted(b"plain text"), r#""plain text""#);
        assert_eq!(quoted(b"x\"y\\z"), r#""x\"y\\z""#);
        assert_eq!(quoted(b"\n\r\t\x07\x08"), r#""\n\r\t\a\b""#);
        assert_eq!(quoted(b"\x00\x01\x7f"), r#""\x00\x01\x7f""#);
        assert_eq!(quoted("é".as_bytes()), r#""\xc3\xa9""#);
        assert_eq!(quoted(b""), r#""""#);
    }

    #[test]
    fn lines_have_time_db_address_and_redacted_passwords() {
        let args: Vec<Bytes> = ["SET", "k", "a b"].map(Bytes::from).to_vec();
        assert_eq!(line(1_700_000_000, 42, 3, "127.0.0.1:5000", &args), b"+1700000000.000042 [3 127.0.0.1:5000] \"SET\" \"k\" \"a b\"\r\n");
        let auth: Vec<Bytes> = ["AUTH", "user", "secret"].map(Bytes::from).to_vec();
        let l = String::from_utf8(line(1, 999_999, 0, "[::1]:7", &auth)).expect("ascii");
        assert_eq!(l, "+1.999999 [0 [::1]:7] \"AUTH\" \"(redacted)\" \"(redacted)\"\r\n");
    }

    #[test]
    fn monitors_are_counted() {
        let m = Monitors::default();
        assert!(!m.active());
        m.remove(1);
        assert!(!m.active());
    }
}
