//! The slow log (`SLOWLOG GET/LEN/RESET`): the last `slowlog-max-len`
//! commands that ran for at least `slowlog-log-slower-than` microseconds,
//! newest first, in Redis's entry shape.
//!
//! Why this shape: every command passes the check, so the check is two
//! relaxed atomic loads on the duration [`crate::dispatch::run`] already
//! measured for [`crate::cmdstats`] (no clock read, no allocation, no lock).
//! Only a slow command builds an entry (arguments trimmed as Redis trims
//! them, so an entry stays small) and takes the mutex around the bounded
//! ring; slow commands are rare by definition, so the lock is not contended
//! on the hot path. The thresholds are mirrored from the config by
//! [`crate::evict::sync_tuning`], like `maxmemory`.

use std::collections::VecDeque;
use std::sync::atomic::{AtomicI64, AtomicUsize, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

/// Arguments kept per entry (Redis's `SLOWLOG_ENTRY_MAX_ARGC`).
pub const MAX_ARGS: usize = 32;
/// Bytes kept per argument (Redis's `SLOWLOG_ENTRY_MAX_STRING`).
pub const MAX_ARG_BYTES: usize = 128;

/// One logged command.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub id: u64,
    /// Unix seconds when it ran.
    pub time: u64,
    pub micros: u64,
    /// Trimmed as [`trim_args`] does.
    pub args: Vec<Bytes>,
    /// The client's "ip:port".
    pub addr: String,
    /// The client's name ("" if none).
    pub name: String,
}

#[derive(Default)]
struct Ring {
    next_id: u64,
    /// Newest first.
    entries: VecDeque<Entry>,
}

/// The server's slow log (see the module docs).
pub struct SlowLog {
    /// Microseconds; negative: log nothing.
    slower_than: AtomicI64,
    max_len: AtomicUsize,
    ring: Mutex<Ring>,
}

impl SlowLog {
    pub fn new(slower_than: i64, max_len: usize) -> SlowLog {
        SlowLog { slower_than: AtomicI64::new(slower_than), max_len: AtomicUsize::new(max_len), ring: Mutex::default() }
    }

    /// New thresholds (a shorter ring is cut at the next entry, as in Redis).
    pub fn configure(&self, slower_than: i64, max_len: usize) {
        self.slower_than.store(slower_than, Ordering::Relaxed);
        self.max_len.store(max_len, Ordering::Relaxed);
    }

    /// Whether a command that ran `nanos` goes in the log.
    pub fn is_slow(&self, nanos: u64) -> bool {
        let t = self.slower_than.load(Ordering::Relaxed);
        t >= 0 && nanos / 1000 >= t as u64
    }

    /// Logs a command that [`Self::is_slow`] judged slow; `entry` gets its id.
    pub fn push(&self, mut entry: Entry) {
        let max = self.max_len.load(Ordering::Relaxed);
        let mut ring = self.ring.lock();
        entry.id = ring.next_id;
        ring.next_id += 1;
        ring.entries.push_front(entry);
        ring.entries.truncate(max);
    }

    /// The newest `count` entries (all with `None`), newest first.
    pub fn newest(&self, count: Option<usize>) -> Vec<Entry> {
        let ring = self.ring.lock();
        ring.entries.iter().take(count.unwrap_or(usize::MAX)).cloned().collect()
    }

    pub fn len(&self) -> usize {
        self.ring.lock().entries.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Empties the log; ids keep counting up.
    pub fn reset(&self) {
        self.ring.lock().entries.clear();
    }
}

/// The arguments an entry keeps, as Redis keeps them: at most
/// [`MAX_ARGS`] (the last of them then says how many more there were) and
/// at most [`MAX_ARG_BYTES`] of each (followed by how many more bytes).
pub fn trim_args(args: &[Bytes]) -> Vec<Bytes> {
    let kept = args.len().min(MAX_ARGS);
    let mut out = Vec::with_capacity(kept);
    for (i, a) in args[..kept].iter().enumerate() {
        if kept < args.len() && i == kept - 1 {
            out.push(Bytes::from(format!("... ({} more arguments)", args.len() - kept + 1)));
        } else if a.len() > MAX_ARG_BYTES {
            let mut cut = a[..MAX_ARG_BYTES].to_vec();
            cut.extend_from_slice(format!("... ({} more bytes)", a.len() - MAX_ARG_BYTES).as_bytes());
            out.push(Bytes::from(cut));
        } else {
            out.push(Bytes::copy_from_slice(a));
        }
    }
    out
}

/// Whether [`redact`] would change anything: the command is AUTH or HELLO.
pub fn needs_redaction(args: &[Bytes]) -> bool {
    args.first().is_some_and(|n| n.eq_ignore_ascii_case(b"auth") || n.eq_ignore_ascii_case(b"hello"))
}

/// Hides passwords as Redis does: every argument of AUTH, and the
/// username and password after HELLO's AUTH.
pub fn redact(args: &mut [Bytes]) {
    const REDACTED: Bytes = Bytes::from_static(b"(redacted)");
    let Some(name) = args.first() else { return };
    if name.eq_ignore_ascii_case(b"auth") {
        args[1..].iter_mut().for_each(|a| *a = REDACTED);
    } else if name.eq_ignore_ascii_case(b"hello") {
        let mut i = 2;
        while i < args.len() {
            if args[i].eq_ignore_ascii_case(b"auth") {
                let end = args.len().min(i + 3);
                args[i + 1..end].iter_mut().for_each(|a| *a = REDACTED);
                i += 3;
            } else {
                i += 1;
            }
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn entry(micros: u64) -> Entry {
        Entry { id: 0, time: 1, micros, args: vec![Bytes::from_static(b"get")], addr: "1.2.3.4:5".into(), name: String::new() }
    }

    #[test]
    fn thresholds() {
        let log = SlowLog::new(10_000, 128);
        assert!(!log.is_slow(9_999_999));
        assert!(log.is_slow(10_000_000));
        log.configure(0, 128);
        assert!(log.is_slow(0));
        log.configure(-1, 128);
        assert!(!log.is_slow(u64::MAX));
    }

    #[test]
    fn ring_is_bounded_newest_first_and_ids_survive_reset() {
        let log = SlowLog::new(0, 3);
        for m in 0..5 {
            log.push(entry(m));
        }
        let got: Vec<_> = log.newest(None).iter().map(|e| (e.id, e.micros)).collect();
        assert_eq!(got, [(4, 4), (3, 3), (2, 2)]);
        assert_eq!(log.newest(Some(1)).len(), 1);
        assert_eq!(log.newest(Some(0)).len(), 0);
        assert_eq!(log.len(), 3);
        log.reset();
        assert!(log.is_empty());
        log.push(entry(9));
        assert_eq!(log.newest(None)[0].id, 5);
        // A shorter ring takes effect at the next entry.
        log.push(entry(10));
        log.configure(0, 1);
        assert_eq!(log.len(), 2);
        log.push(entry(11));
        assert_eq!(log.newest(None).iter().map(|e| e.id).collect::<Vec<_>>(), [7]);
        log.configure(0, 0);
        log.push(entry(12));
        assert!(log.is_empty());
    }

    #[test]
    fn argument_trimming() {
        let args: Vec<Bytes> = (0..40).map(|i| Bytes::from(i.to_string())).collect();
        let t = trim_args(&args);
        assert_eq!(t.len(), 32);
        assert_eq!(t[30], "30");
        assert_eq!(t[31], "... (9 more arguments)");
        let exactly: Vec<Bytes> = (0..32).map(|i| Bytes::from(i.to_string())).collect();
        assert_eq!(trim_args(&exactly), exactly);
        let long = Bytes::from(vec![b'x'; 200]);
        let edge = Bytes::from(vec![b'y'; 128]);
        let t = trim_args(&[Bytes::from_static(b"set"), long, edge.clone()]);
        assert_eq!(t[1], [vec![b'x'; 128], b"... (72 more bytes)".to_vec()].concat());
        assert_eq!(t[2], edge);
    }

    #[test]
    fn redaction() {
        let mut a: Vec<Bytes> = ["AUTH", "user", "pw"].map(Bytes::from).to_vec();
        redact(&mut a);
        assert_eq!(a, ["AUTH", "(redacted)", "(redacted)"]);
        let mut h: Vec<Bytes> = ["hello", "3", "auth", "u", "p", "setname", "n"].map(Bytes::from).to_vec();
        redact(&mut h);
        assert_eq!(h, ["hello", "3", "auth", "(redacted)", "(redacted)", "setname", "n"]);
        let mut g: Vec<Bytes> = ["get", "auth"].map(Bytes::from).to_vec();
        redact(&mut g);
        assert_eq!(g, ["get", "auth"]);
    }
}
