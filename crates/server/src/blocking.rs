//! Blocking commands (BLPOP, BLMOVE, BLMPOP, ... and later BZPOPMIN):
//! clients that wait for a key to get data, and the writes that serve them.
//!
//! A blocking command hands [`block`] the keys it waits on and a *serve*
//! function: "try to answer from this key, with its shard locked". `block`
//! tries every key at once; if none can serve, the client is registered as
//! a [`Waiter`] in FIFO queues per (db, key) and its connection parks in
//! [`wait`] (still reading, to notice a disconnect) until it is served,
//! times out, is unblocked (CLIENT UNBLOCK) or killed.
//!
//! Writers lock through [`lock`] and call [`wake`] after making a key
//! non-empty. `wake` runs the waiters' serve functions *inside the
//! writer's critical section*, oldest waiter first, so no other client can
//! take the element between the push and the hand-off (Redis serves
//! blocked clients before any other command runs). [`lock`] therefore also
//! locks the keys those serves write (BLMOVE's destination). When a
//! waiter needs a key the writer did not lock (it registered meanwhile, or
//! a BLMOVE chain moves on to another list), or when the write runs inside
//! EXEC (Redis serves after the transaction), the key is queued as *ready*
//! and [`serve_ready`] serves it as soon as the command ends, with fresh
//! locks. Any other write command (RENAME, COPY, RESTORE, ...) marks its
//! keys ready the same way ([`after_write`]), so whatever makes a key
//! servable wakes its waiters.
//!
//! Lock order: key shards, then a waiter's state, then the registry. A
//! waiter's outcome is decided exactly once, under its state lock: served
//! (reply bytes), timed out, unblocked, or gone.

use std::collections::{HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};

use bytes::{Bytes, BytesMut};
use ferrocache_resp::ReplyBuf;
use ferrocache_store::DbGuard;
use parking_lot::Mutex;
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tokio::sync::Notify;
use tokio::time::Instant;

use crate::client::Client;
use crate::command::{CmdError, CmdResult, Ctx, Spec, flags};
use crate::shared::Shared;

/// Tries to serve a blocked command from `key` (locked in the guard):
/// `Ok(true)` when it wrote its reply, `Ok(false)` when the key has
/// nothing for it (keep waiting), `Err` to end the wait with that error.
pub type Serve = dyn Fn(&mut Serving<'_, '_>, &[u8]) -> Result<bool, CmdError> + Send + Sync;

/// What a serve function works with.
pub struct Serving<'g, 'a> {
    pub guard: &'g mut DbGuard<'a>,
    pub out: &'g mut ReplyBuf,
    /// Keys the serve pushed to: their own waiters get a turn next.
    pub pushed: Vec<Bytes>,
    /// The client has been waiting (false on the command's first try). A
    /// waited-on key now holding another type is then skipped, not an
    /// error, as Redis 7.0 does.
    pub waited: bool,
    /// The database served, and whether the replication stream is kept.
    pub db: usize,
    pub replicated: bool,
}

impl Serving<'_, '_> {
    /// What the serve did, as the stream should have it (LPOP for BLPOP, ...): in place of
    /// the blocking command on its first try, after the command that woke the client otherwise.
    pub fn replicate(&self, args: &[&[u8]]) {
        if !self.replicated {
            return;
        }
        let args = crate::repl::propagate::command(args);
        if self.waited {
            crate::repl::propagate::also(self.db, args);
        } else {
            crate::repl::propagate::replicate_as(args);
        }
    }
}

/// One blocked client.
pub struct Waiter {
    client: u64,
    db: usize,
    keys: Vec<Bytes>,
    /// Keys besides the served one that serving writes (BLMOVE's destination).
    also: Vec<Bytes>,
    resp3: bool,
    deadline: Option<Instant>,
    serve: Box<Serve>,
    state: Mutex<Option<Vec<u8>>>,
    done: Notify,
}

impl std::fmt::Debug for Waiter {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("Waiter").field("client", &self.client).field("db", &self.db).field("keys", &self.keys).finish()
    }
}

/// Why a wait ended without a reply to send.
#[derive(Debug, PartialEq, Eq)]
pub enum Gone {
    Closed,
    Killed,
}

/// The registry of blocked clients, in [`Shared`].
#[derive(Default)]
pub struct Blocking {
    inner: Mutex<Registry>,
    /// Blocked clients (INFO `blocked_clients`); zero lets writers skip
    /// all of this with one load.
    count: AtomicUsize,
    ready: Mutex<Vec<(usize, Bytes)>>,
    has_ready: AtomicBool,
}

#[derive(Default)]
struct Registry {
    queues: HashMap<(usize, Bytes), VecDeque<Arc<Waiter>>>,
    by_client: HashMap<u64, Arc<Waiter>>,
}

impl Blocking {
    /// Number of blocked clients.
    pub fn blocked_clients(&self) -> usize {
        self.count.load(Ordering::SeqCst)
    }

    fn any(&self) -> bool {
        self.blocked_clients() > 0
    }

    fn register(&self, w: &Arc<Waiter>) {
        let mut r = self.inner.lock();
        for k in &w.keys {
            let q = r.queues.entry((w.db, k.clone())).or_default();
            if !q.iter().any(|o| Arc::ptr_eq(o, w)) {
                q.push_back(w.clone());
            }
        }
        r.by_client.insert(w.client, w.clone());
        self.count.fetch_add(1, Ordering::SeqCst);
    }

    /// Takes `w` out of every queue (its state lock is held by the caller).
    fn unregister(&self, w: &Arc<Waiter>) {
        let mut r = self.inner.lock();
        if r.by_client.get(&w.client).is_none_or(|o| !Arc::ptr_eq(o, w)) {
            return;
        }
        r.by_client.remove(&w.client);
        for k in &w.keys {
            let id = (w.db, k.clone());
            if let Some(q) = r.queues.get_mut(&id) {
                q.retain(|o| !Arc::ptr_eq(o, w));
                if q.is_empty() {
                    r.queues.remove(&id);
                }
            }
        }
        self.count.fetch_sub(1, Ordering::SeqCst);
    }

    fn front(&self, db: usize, key: &[u8]) -> Option<Arc<Waiter>> {
        let r = self.inner.lock();
        r.queues.get(&(db, Bytes::copy_from_slice(key))).and_then(|q| q.front().cloned())
    }

    /// The extra keys serving the waiters on `keys` would write.
    fn also_for(&self, db: usize, keys: &[Bytes]) -> Vec<Bytes> {
        let r = self.inner.lock();
        let mut also = Vec::new();
        for k in keys {
            for w in r.queues.get(&(db, k.clone())).into_iter().flatten() {
                for a in &w.also {
                    if !keys.contains(a) && !also.contains(a) {
                        also.push(a.clone());
                    }
                }
            }
        }
        also
    }

    /// Ends `w`'s wait with `reply` unless it already ended; true if this
    /// call ended it.
    fn finish(&self, w: &Arc<Waiter>, reply: impl FnOnce(&mut ReplyBuf)) -> bool {
        let mut state = w.state.lock();
        if state.is_some() {
            return false;
        }
        let mut out = ReplyBuf::new();
        out.resp3 = w.resp3;
        reply(&mut out);
        *state = Some(out.buf);
        self.unregister(w);
        w.done.notify_one();
        true
    }

    /// CLIENT UNBLOCK: ends client `id`'s wait as a timeout, or with an
    /// UNBLOCKED error. False if it is not blocked.
    pub fn unblock(&self, id: u64, error: bool) -> bool {
        let Some(w) = self.waiter_of(id) else { return false };
        self.finish(&w, |out| {
            if error {
                out.error("UNBLOCKED client unblocked via CLIENT UNBLOCK");
            } else {
                out.null_array();
            }
        })
    }

    /// Drops client `id`'s wait (disconnect, CLIENT KILL): nothing will be
    /// served to it any more.
    pub fn cancel(&self, id: u64) {
        if !self.any() {
            return;
        }
        if let Some(w) = self.waiter_of(id) {
            self.finish(&w, |_| {});
        }
    }

    /// Ends, with the error `redirect` gives, the wait of every client whose keys it names
    /// (a cluster node no longer serving their slot); returns how many.
    pub fn redirect(&self, redirect: impl Fn(&[Bytes]) -> Option<String>) -> usize {
        if !self.any() {
            return 0;
        }
        let waiters: Vec<Arc<Waiter>> = self.inner.lock().by_client.values().cloned().collect();
        waiters
            .iter()
            .filter_map(|w| Some((w, redirect(&w.keys)?)))
            .filter(|(w, error)| self.finish(w, |out| out.error(error)))
            .count()
    }

    fn waiter_of(&self, id: u64) -> Option<Arc<Waiter>> {
        self.inner.lock().by_client.get(&id).cloned()
    }

    fn defer(&self, db: usize, key: &[u8]) {
        self.ready.lock().push((db, Bytes::copy_from_slice(key)));
        self.has_ready.store(true, Ordering::SeqCst);
    }

    fn has_queue(&self, db: usize, key: &[u8]) -> bool {
        self.inner.lock().queues.contains_key(&(db, Bytes::copy_from_slice(key)))
    }

    /// A key of database `db` may now serve its waiters (MOVE into `db`):
    /// they are served when the command ends.
    pub fn key_arrived(&self, db: usize, key: &[u8]) {
        if self.any() && self.has_queue(db, key) {
            self.defer(db, key);
        }
    }

    /// Every awaited key of databases `dbs` may have changed (SWAPDB).
    pub fn dbs_changed(&self, dbs: &[usize]) {
        if !self.any() {
            return;
        }
        let keys: Vec<(usize, Bytes)> = self.inner.lock().queues.keys().filter(|(db, _)| dbs.contains(db)).cloned().collect();
        for (db, key) in keys {
            self.defer(db, &key);
        }
    }
}

/// Write locks on some keys of the client's database, also covering the
/// keys that serving their waiters writes.
pub struct Locked<'a> {
    pub guard: DbGuard<'a>,
    db: usize,
    covered: Vec<Bytes>,
}

/// Locks `keys` for a write that may wake blocked clients (see [`wake`]).
pub fn lock<'a>(ctx: &Ctx<'a>, keys: &[Bytes]) -> Locked<'a> {
    let (db, blocking) = (ctx.client.db, &ctx.shared.blocking);
    if !blocking.any() && keys.len() == 1 {
        return Locked { guard: ctx.db().lock(&keys[0], ctx.now), db, covered: Vec::new() };
    }
    let mut covered = keys.to_vec();
    covered.extend(blocking.also_for(db, keys));
    let guard = ctx.db().lock_many(covered.iter().map(|k| &k[..]), ctx.now);
    Locked { guard, db, covered }
}

/// Serves the clients blocked on `key`, which the caller just made
/// servable, while its locks are held (inside EXEC: after the EXEC).
pub fn wake(shared: &Shared, locked: &mut Locked, key: &[u8]) {
    let blocking = &shared.blocking;
    if !blocking.any() {
        return;
    }
    if shared.gate.is_locked_exclusive() {
        return blocking.defer(locked.db, key);
    }
    let mut work = vec![Bytes::copy_from_slice(key)];
    while let Some(k) = work.pop() {
        if !serve_queue(shared, &mut locked.guard, &locked.covered, locked.db, &k, &mut work) {
            blocking.defer(locked.db, &k);
        }
    }
}

/// Serves `key`'s waiters in order while they can be served. Returns
/// false if the next waiter needs a key outside `covered`. Keys served
/// serves pushed to are added to `work`.
fn serve_queue(shared: &Shared, guard: &mut DbGuard, covered: &[Bytes], db: usize, key: &[u8], work: &mut Vec<Bytes>) -> bool {
    let blocking = &shared.blocking;
    let replicated = shared.repl.active();
    while let Some(w) = blocking.front(db, key) {
        if !w.also.iter().all(|k| &k[..] == key || covered.contains(k)) {
            return false;
        }
        let mut state = w.state.lock();
        if state.is_some() {
            drop(state);
            blocking.unregister(&w);
            continue;
        }
        let mut out = ReplyBuf::new();
        out.resp3 = w.resp3;
        let mut sv = Serving { guard, out: &mut out, pushed: Vec::new(), waited: true, db, replicated };
        match (w.serve)(&mut sv, key) {
            Ok(false) => return true,
            Ok(true) => {}
            Err(e) => sv.out.error_bytes(&e.bytes()),
        }
        work.append(&mut sv.pushed);
        *state = Some(out.buf);
        blocking.unregister(&w);
        w.done.notify_one();
    }
    true
}

/// After any write command: its keys may now serve someone (a RENAME onto
/// an awaited key, ...); they are served when the command ends.
pub fn after_write(ctx: &Ctx, spec: &Spec, args: &[Bytes]) {
    let blocking = &ctx.shared.blocking;
    if !spec.has(flags::WRITE) || !blocking.any() {
        return;
    }
    for i in spec.key_indexes(args).unwrap_or_default() {
        if blocking.has_queue(ctx.client.db, &args[i]) {
            blocking.defer(ctx.client.db, &args[i]);
        }
    }
}

/// Serves the keys queued as ready (see the module docs). Called when a
/// command ends, with the server gate still held.
pub fn serve_ready(shared: &Shared) {
    let blocking = &shared.blocking;
    while blocking.has_ready.load(Ordering::Relaxed) && blocking.has_ready.swap(false, Ordering::SeqCst) {
        let ready = std::mem::take(&mut *blocking.ready.lock());
        for (db, key) in ready {
            serve_with_fresh_locks(shared, db, key);
        }
    }
}

fn serve_with_fresh_locks(shared: &Shared, db: usize, key: Bytes) {
    let mut work = vec![key];
    while let Some(k) = work.pop() {
        let Some(w) = shared.blocking.front(db, &k) else { continue };
        let mut covered = vec![k.clone()];
        covered.extend(w.also.iter().cloned());
        let now = ferrocache_store::clock::now_ms();
        let mut guard = shared.dbs[db].lock_many(covered.iter().map(|c| &c[..]), now);
        if !serve_queue(shared, &mut guard, &covered, db, &k, &mut work) {
            work.push(k);
        }
    }
}

/// Parses a blocking command's timeout (seconds, fractions allowed) as
/// Redis does: ms rounded up, 0 = forever. Returns the deadline.
pub fn parse_timeout(arg: &[u8]) -> Result<Option<Instant>, CmdError> {
    // C's strtold, as Redis reads it: hex floats (`0x1p-4`) too.
    let secs = crate::args::parse_float(arg)
        .or_else(|| crate::args::strtod(arg, false))
        .ok_or_else(|| CmdError::err("timeout is not a float or out of range"))?;
    let ms = (secs * 1000.0).ceil();
    // Redis converts to a C long long: out of range reads as negative.
    if !(0.0..9.223_372_036_854_775e18).contains(&ms) {
        return Err(CmdError::err("timeout is negative"));
    }
    let ms = if secs > 0.0 { (ms as u64).max(1) } else { 0 };
    Ok((ms > 0).then(|| Instant::now().checked_add(std::time::Duration::from_millis(ms))).flatten())
}

/// Runs a blocking command: serves it now from the first key that can,
/// or (outside MULTI) blocks the client until `deadline`. `also` are the
/// keys serving writes besides the awaited one; inside MULTI the command
/// answers `nil_in_multi` instead of blocking.
pub fn block(
    ctx: &mut Ctx,
    keys: &[Bytes],
    also: &[Bytes],
    deadline: Option<Instant>,
    nil_in_multi: fn(&mut ReplyBuf),
    serve: Box<Serve>,
) -> CmdResult {
    let mut all = keys.to_vec();
    all.extend(also.iter().filter(|a| !keys.contains(a)).cloned());
    let mut locked = lock(ctx, &all);
    for key in keys {
        let replicated = ctx.shared.repl.active();
        let mut sv = Serving { guard: &mut locked.guard, out: &mut *ctx.out, pushed: Vec::new(), waited: false, db: ctx.client.db, replicated };
        if serve(&mut sv, key)? {
            for p in std::mem::take(&mut sv.pushed) {
                wake(ctx.shared, &mut locked, &p);
            }
            return Ok(());
        }
    }
    if ctx.shared.gate.is_locked_exclusive() {
        nil_in_multi(ctx.out);
        return Ok(());
    }
    let waiter = Arc::new(Waiter {
        client: ctx.client.id,
        db: ctx.client.db,
        keys: keys.iter().map(|k| Bytes::copy_from_slice(k)).collect(),
        also: also.iter().map(|k| Bytes::copy_from_slice(k)).collect(),
        resp3: ctx.client.resp3,
        deadline,
        serve,
        state: Mutex::new(None),
        done: Notify::new(),
    });
    ctx.shared.blocking.register(&waiter);
    drop(locked);
    ctx.client.blocked = Some(waiter);
    Ok(())
}

/// Parks a blocked client's connection until its wait ends, then writes
/// the reply into `out`. Keeps reading (requests after the blocking one
/// wait in `input`) so that a disconnect ends the wait.
pub async fn wait(shared: &Shared, client: &mut Client, out: &mut ReplyBuf, stream: &mut TcpStream, input: &mut BytesMut) -> Result<(), Gone> {
    let Some(w) = client.blocked.take() else { return Ok(()) };
    let blocking = &shared.blocking;
    loop {
        if client.handle.is_killed() {
            blocking.finish(&w, |_| {});
            return Err(Gone::Killed);
        }
        if let Some(reply) = w.state.lock().as_ref() {
            out.raw(reply);
            return Ok(());
        }
        let timeout = async {
            match w.deadline {
                Some(d) => tokio::time::sleep_until(d).await,
                None => std::future::pending().await,
            }
        };
        if input.capacity() - input.len() < 4096 {
            input.reserve(16 * 1024);
        }
        tokio::select! {
            _ = w.done.notified() => {}
            _ = timeout => { blocking.finish(&w, ReplyBuf::null_array); }
            _ = client.handle.kill_notify.wait() => {}
            // A RESP3 subscriber gets its messages while it waits, as in Redis.
            _ = client.handle.inbox.ready.wait() => {
                let mut pushes = ReplyBuf::new();
                client.handle.inbox.drain_into(&mut pushes);
                if !pushes.is_empty() && stream.write_all(&pushes.buf).await.is_err() {
                    blocking.finish(&w, |_| {});
                    return Err(Gone::Closed);
                }
                client.handle.inbox.written();
                shared.stats.net_output_bytes.fetch_add(pushes.len() as u64, Ordering::Relaxed);
            }
            r = stream.read_buf(input) => match r {
                Ok(0) | Err(_) => {
                    blocking.finish(&w, |_| {});
                    return Err(Gone::Closed);
                }
                Ok(n) => { shared.stats.net_input_bytes.fetch_add(n as u64, Ordering::Relaxed); }
            },
        }
    }
}
