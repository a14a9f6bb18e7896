//! What a write command is replicated as.
//!
//! Dispatch names the running command ([`begin`]) before its handler runs; the keyspace
//! takes it ([`take_current`]) when the command's lock guard is released having changed
//! something, so a command that changed nothing (SET NX on an existing key, DEL of a missing
//! one) is not replicated, as in Redis. Commands whose effect depends on the moment they run
//! are replicated in a form that does not: relative expiries become absolute ones (EXPIRE ->
//! PEXPIREAT, SETEX -> SET ... PXAT), so that a replica applying them later, or a replica
//! resynchronising, sets the same expiry.
//!
//! A transaction is replicated in one piece: while EXEC runs ([`Transaction`]) what its
//! commands would append is collected on this thread instead, and appended at the end as
//! `MULTI ... EXEC` under one backlog lock, so a replica applies it as a transaction and its
//! readers never see half of it. EXEC holds the server's gate exclusively, and expiry and
//! eviction take the gate too, so nothing else changes the data between its commands and the
//! moment their entries are appended.

use std::cell::RefCell;

use bytes::Bytes;

/// A command as it goes into the stream: (database, arguments).
pub type Entry = (usize, Vec<Bytes>);

thread_local! {
    /// What the lock guard being released on this thread will append: the running write
    /// command, and the pops served to blocked clients under that guard.
    static CURRENT: RefCell<Vec<Entry>> = const { RefCell::new(Vec::new()) };
    /// While EXEC runs on this thread: what its commands appended, to go in as one piece.
    static TRANSACTION: RefCell<Option<Vec<Entry>>> = const { RefCell::new(None) };
    /// The stream's end offset after the last append made on this thread (0: none since
    /// [`take_appended`]); dispatch keeps it as the client's last write offset for WAIT.
    static APPENDED: std::cell::Cell<u64> = const { std::cell::Cell::new(0) };
}

/// Collects this thread's stream entries while EXEC runs; dropping it appends them (wrapped in
/// MULTI/EXEC when there is more than one, as Redis 7 does) through `repl`.
pub struct Transaction<'a> {
    repl: &'a super::Replication,
}

impl<'a> Transaction<'a> {
    pub fn begin(repl: &'a super::Replication) -> Self {
        TRANSACTION.with(|t| *t.borrow_mut() = Some(Vec::new()));
        Transaction { repl }
    }
}

impl Drop for Transaction<'_> {
    fn drop(&mut self) {
        let entries = TRANSACTION.with(|t| t.borrow_mut().take()).unwrap_or_default();
        if !entries.is_empty() {
            self.repl.append_transaction(entries);
        }
    }
}

/// Whether EXEC is running on this thread (WAIT then answers at once, as Redis's does).
pub fn in_transaction() -> bool {
    TRANSACTION.with(|t| t.borrow().is_some())
}

/// Keeps `entries` for the running transaction's block; gives them back if none runs.
pub(super) fn collect(entries: Vec<Entry>) -> Option<Vec<Entry>> {
    TRANSACTION.with(|t| match t.borrow_mut().as_mut() {
        Some(collected) => {
            collected.extend(entries);
            None
        }
        None => Some(entries),
    })
}

/// Notes that this thread's last append left the stream ending at `end`.
pub(super) fn note_appended(end: u64) {
    APPENDED.with(|a| a.set(end));
}

/// The stream's end after this thread's last append since the previous call, if any.
pub fn take_appended() -> Option<u64> {
    Some(APPENDED.with(|a| a.replace(0))).filter(|&end| end > 0)
}

/// Names the write command about to run in database `db` (at `now`, Unix ms).
pub fn begin(db: usize, args: &[Bytes], now: u64) {
    let args = rewrite(args, now).unwrap_or_else(|| args.to_vec());
    CURRENT.with(|c| *c.borrow_mut() = vec![(db, args)]);
}

/// Replaces what the running command is replicated as, when its effect cannot be repeated
/// from its arguments (SPOP's random members, INCRBYFLOAT's rounding, BLPOP's served key).
/// Called before the command releases its keys; does nothing if no write command is named.
pub fn replicate_as(args: Vec<Bytes>) {
    CURRENT.with(|c| {
        if let Some(last) = c.borrow_mut().last_mut() {
            last.1 = args;
        }
    });
}

/// Adds a command to what the guard being released appends (a pop served to a client that
/// was blocked, under another command's guard). Only while the stream is kept.
pub fn also(db: usize, args: Vec<Bytes>) {
    CURRENT.with(|c| c.borrow_mut().push((db, args)));
}

/// What the guard being released appends, once.
pub fn take_current() -> Vec<Entry> {
    CURRENT.with(|c| std::mem::take(&mut *c.borrow_mut()))
}

/// Builds an argument list from anything byte-like.
pub fn command(args: &[&[u8]]) -> Vec<Bytes> {
    args.iter().map(|a| Bytes::copy_from_slice(a)).collect()
}

fn is(arg: &[u8], name: &str) -> bool {
    arg.eq_ignore_ascii_case(name.as_bytes())
}

fn int(arg: &[u8]) -> Option<i64> {
    std::str::from_utf8(arg).ok()?.parse().ok()
}

fn b(s: impl ToString) -> Bytes {
    Bytes::from(s.to_string())
}

/// The time-independent form of `args`, if it differs. Arguments that do not parse are left
/// alone: the command fails the same way on the replica, or did not change anything.
fn rewrite(args: &[Bytes], now: u64) -> Option<Vec<Bytes>> {
    let name = &args[0];
    let now = now as i64;
    let abs = |amount: i64, ms: bool| -> Option<i64> { if ms { now.checked_add(amount) } else { amount.checked_mul(1000)?.checked_add(now) } };
    if is(name, "expire") || is(name, "pexpire") || is(name, "expireat") {
        let n = int(args.get(2)?)?;
        let at = if is(name, "expireat") { n.checked_mul(1000)? } else { abs(n, is(name, "pexpire"))? };
        let mut out = vec![Bytes::from_static(b"PEXPIREAT"), args[1].clone(), b(at)];
        out.extend_from_slice(&args[3..]);
        return Some(out);
    }
    if is(name, "setex") || is(name, "psetex") {
        let at = abs(int(args.get(2)?)?, is(name, "psetex"))?;
        return Some(vec![Bytes::from_static(b"SET"), args[1].clone(), args.get(3)?.clone(), Bytes::from_static(b"PXAT"), b(at)]);
    }
    if is(name, "set") || is(name, "getex") {
        let first = if is(name, "set") { 3 } else { 2 };
        let mut out = args.to_vec();
        let mut changed = false;
        let mut i = first;
        while i < out.len() {
            let opt = out[i].clone();
            let at = if is(&opt, "ex") || is(&opt, "px") {
                abs(int(out.get(i + 1)?)?, is(&opt, "px"))
            } else if is(&opt, "exat") {
                int(out.get(i + 1)?)?.checked_mul(1000)
            } else {
                i += 1;
                continue;
            };
            out[i] = Bytes::from_static(b"PXAT");
            out[i + 1] = b(at?);
            changed = true;
            i += 2;
        }
        if is(name, "getex") {
            // GETEX with an expiry is PEXPIREAT; with PERSIST, PERSIST.
            if changed {
                let at = out.iter().position(|a| is(a, "pxat")).and_then(|p| out.get(p + 1))?.clone();
                return Some(vec![Bytes::from_static(b"PEXPIREAT"), args[1].clone(), at]);
            }
            if args[2..].iter().any(|a| is(a, "persist")) {
                return Some(vec![Bytes::from_static(b"PERSIST"), args[1].clone()]);
            }
            if let Some(p) = args.iter().position(|a| is(a, "pxat")) {
                return Some(vec![Bytes::from_static(b"PEXPIREAT"), args[1].clone(), args.get(p + 1)?.clone()]);
            }
            return None;
        }
        return changed.then_some(out);
    }
    if is(name, "restore") && !args.iter().skip(4).any(|a| is(a, "absttl")) {
        let ttl = int(args.get(2)?)?;
        if ttl == 0 {
            return None;
        }
        let mut out = args.to_vec();
        out[2] = b(now.checked_add(ttl)?);
        out.push(Bytes::from_static(b"ABSTTL"));
        return Some(out);
    }
    if is(name, "restore-asking") {
        let mut out = args.to_vec();
        out[0] = Bytes::from_static(b"RESTORE");
        return Some(rewrite(&out, now as u64).unwrap_or(out));
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn args(text: &str) -> Vec<Bytes> {
        text.split(' ').map(|s| Bytes::from(s.to_string())).collect()
    }

    fn rewritten(text: &str) -> String {
        let out = rewrite(&args(text), 1_000_000).unwrap_or_else(|| args(text));
        out.iter().map(|a| String::from_utf8_lossy(a).into_owned()).collect::<Vec<_>>().join(" ")
    }

    #[test]
    fn relative_expiries_become_absolute() {
        assert_eq!(rewritten("EXPIRE k 10"), "PEXPIREAT k 1010000");
        assert_eq!(rewritten("pexpire k 10 NX"), "PEXPIREAT k 1000010 NX");
        assert_eq!(rewritten("EXPIREAT k 5"), "PEXPIREAT k 5000");
        assert_eq!(rewritten("PEXPIREAT k 5"), "PEXPIREAT k 5");
        assert_eq!(rewritten("SETEX k 10 v"), "SET k v PXAT 1010000");
        assert_eq!(rewritten("PSETEX k 10 v"), "SET k v PXAT 1000010");
        assert_eq!(rewritten("SET k v EX 10 NX"), "SET k v PXAT 1010000 NX");
        assert_eq!(rewritten("SET k v px 10 GET"), "SET k v PXAT 1000010 GET");
        assert_eq!(rewritten("SET k v EXAT 7"), "SET k v PXAT 7000");
        assert_eq!(rewritten("SET k ex"), "SET k ex", "the value 'ex' is not an option");
        assert_eq!(rewritten("SET k v KEEPTTL"), "SET k v KEEPTTL");
        assert_eq!(rewritten("GETEX k EX 1"), "PEXPIREAT k 1001000");
        assert_eq!(rewritten("GETEX k PERSIST"), "PERSIST k");
        assert_eq!(rewritten("GETEX k PXAT 9"), "PEXPIREAT k 9");
        assert_eq!(rewritten("RESTORE k 10 payload"), "RESTORE k 1000010 payload ABSTTL");
        assert_eq!(rewritten("RESTORE k 0 payload REPLACE"), "RESTORE k 0 payload REPLACE");
        assert_eq!(rewritten("RESTORE k 10 payload ABSTTL"), "RESTORE k 10 payload ABSTTL");
        assert_eq!(rewritten("RESTORE-ASKING k 7 p REPLACE ABSTTL"), "RESTORE k 7 p REPLACE ABSTTL");
        assert_eq!(rewritten("EXPIRE k notanumber"), "EXPIRE k notanumber");
        assert_eq!(rewritten("SET k v EX 99999999999999999"), "SET k v EX 99999999999999999", "overflow: left to fail");
    }
}
