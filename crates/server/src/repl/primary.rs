//! The primary's side of PSYNC: a connection that asked to replicate becomes a feeder of the
//! stream to that replica.
//!
//! A replica that names this stream's id and an offset the backlog still holds gets
//! `+CONTINUE` and the stream from there (a partial resync). Any other gets `+FULLRESYNC id
//! offset`, a copy of every key, and the stream from that offset on.
//!
//! The copy is every key as RESP `RESTORE key <abs-ms> payload REPLACE ABSTTL` commands (with
//! a SELECT before each batch), sent as it is taken in Redis's diskless form: `$EOF:<40
//! random bytes>\r\n`, the commands, the same 40 bytes. Its length is not known up front
//! because it is never whole in memory.
//!
//! Why the copy is exact and the primary does not stop: the copy is a point-in-time snapshot
//! of the keyspace (`ferrocache_store::db::snapshot`). Under the exclusive gate (no command
//! running) the stream's offset is read and every database's snapshot begins, which only
//! marks every slot table pending: the pause is a lock hand-over, whatever the number of keys.
//! Then commands run again. A background pass serialises pending tables a batch per shard
//! lock into a queue the feeder drains to the replica; a command about to change a table
//! still pending first serialises that table as it was (copy-on-write), so every key is
//! copied as it stood at the offset and every later change reaches the replica once, through
//! the stream. Expiry, eviction, FLUSHALL and SWAPDB capture the same way before they
//! change anything.
//!
//! Memory: the pass waits while more than [`QUEUE_MAX`] bytes of copy wait for the replica;
//! tables captured by writers are queued whatever the size (they must not wait), so a replica
//! that reads slowly under heavy writes can still make the queue hold most of the copy, as the
//! old whole-copy buffer did. Those bytes are not charged to `used_memory` (nor would they be
//! to eviction in Redis, which leaves replication buffers out).
//!
//! One copy is taken at a time: a second replica asking for one meanwhile waits for the first
//! to be taken (not sent) and gets its own.

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use ferrocache_resp::{Frame, Limits, RequestParser};
use ferrocache_store::db::{SnapshotId, SnapshotSink};
use parking_lot::{Condvar, Mutex};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::client::ClientHandle;
use crate::shared::Shared;

/// What a replica asked for with PSYNC.
#[derive(Debug, Clone, PartialEq)]
pub struct SyncRequest {
    /// The stream id it has, or "?" for none.
    pub replid: String,
    /// The first byte it wants (its offset + 1).
    pub from: i64,
    /// The port it serves clients on (REPLCONF listening-port), for INFO.
    pub port: u16,
}

/// A replica being fed (INFO `slaveN`).
pub struct Attached {
    pub ip: String,
    pub port: u16,
    /// Offset the replica acknowledged (REPLCONF ACK).
    pub acked: AtomicU64,
    /// Unix ms of its last ACK.
    pub acked_at: AtomicU64,
}

/// Bytes sent to a replica per write.
const CHUNK: usize = 64 * 1024;

/// Serves `stream`, whose client sent PSYNC, as a replica until it goes away.
pub async fn feed(shared: Arc<Shared>, mut stream: TcpStream, req: SyncRequest, handle: Arc<ClientHandle>) {
    let peer = handle.addr;
    super::activate(&shared);
    let repl = &shared.repl;
    let replid = repl.replid();
    let resumable = req.replid == replid && req.from >= 1 && repl.backlog.lock().read(req.from as u64 - 1, 0).is_some();
    let mut offset;
    if resumable {
        offset = req.from as u64 - 1;
        repl.sync_partial_ok.fetch_add(1, Ordering::Relaxed);
        info!(%peer, offset, "replica resumes the stream (partial resync)");
        if stream.write_all(format!("+CONTINUE {replid}\r\n").as_bytes()).await.is_err() {
            return;
        }
    } else {
        if req.replid != "?" {
            repl.sync_partial_err.fetch_add(1, Ordering::Relaxed);
        }
        repl.sync_full.fetch_add(1, Ordering::Relaxed);
        let Some((at, copy)) = snapshot(&shared).await else { return };
        offset = at;
        info!(%peer, offset, "replica takes a full copy");
        // Dropped with this task too (shutdown): the pass must not wait for room forever.
        let copy = Abandon(copy);
        let sent = tokio::select! {
            sent = send_copy(&shared, &mut stream, &replid, offset, &copy.0) => sent,
            () = handle.kill_notify.wait() => Err("killed"),
        };
        let (keys, bytes) = copy.0.abandon();
        match sent {
            Ok(at) => offset = at,
            Err(why) => return warn!(%peer, offset, "full copy not sent: {why}"),
        }
        info!(%peer, offset, keys, bytes, "full copy sent");
    }
    let attached = Arc::new(Attached { ip: peer.ip().to_string(), port: req.port, acked: AtomicU64::new(offset), acked_at: AtomicU64::new(ferrocache_store::clock::now_ms()) });
    repl.replicas.lock().push(attached.clone());
    repl.note_ack();
    tokio::select! {
        () = stream_to(&shared, &mut stream, &mut offset, &attached) => {}
        () = handle.kill_notify.wait() => {}
    }
    repl.replicas.lock().retain(|a| !Arc::ptr_eq(a, &attached));
    repl.note_ack();
    info!(%peer, offset, "replica gone");
}

/// Sends the stream from `offset` on, and reads the replica's ACKs, until either side fails.
async fn stream_to(shared: &Shared, stream: &mut TcpStream, offset: &mut u64, attached: &Attached) {
    let mut grew = shared.repl.grew.subscribe();
    let (mut rd, mut wr) = stream.split();
    let mut input = BytesMut::with_capacity(1024);
    let mut parser = RequestParser::new();
    loop {
        let chunk = shared.repl.backlog.lock().read(*offset, CHUNK);
        let Some(chunk) = chunk else {
            warn!(ip = attached.ip, port = attached.port, offset, "replica fell behind the backlog; it must take a full copy");
            return;
        };
        if !chunk.is_empty() {
            if wr.write_all(&chunk).await.is_err() {
                return;
            }
            *offset += chunk.len() as u64;
            continue;
        }
        tokio::select! {
            changed = grew.changed() => if changed.is_err() { return },
            r = rd.read_buf(&mut input) => match r {
                Ok(0) | Err(_) => return,
                Ok(_) => {
                    while let Ok(Some(args)) = parser.parse(&mut input, &Limits::default()) {
                        let ack = args.len() == 3 && super::is_replconf(&args, b"ack");
                        if let Some(n) = ack.then(|| std::str::from_utf8(&args[2]).ok()?.parse().ok()).flatten() {
                            attached.acked.store(n, Ordering::Relaxed);
                            attached.acked_at.store(ferrocache_store::clock::now_ms(), Ordering::Relaxed);
                            shared.repl.note_ack();
                        }
                    }
                }
            },
        }
    }
}

/// Bytes of copy the background pass lets wait for the replica before it waits itself.
pub const QUEUE_MAX: usize = 8 << 20;
/// Keys the background pass serialises per shard lock (a writer of that shard waits so long).
const BATCH_KEYS: usize = 512;

/// A copy on its way from the keyspace (the background pass, and writers capturing a table
/// before they change it) to one replica's connection.
struct Copy {
    queue: Mutex<Queue>,
    /// Signalled when the feeder took chunks (the pass waits for room), or gave up.
    room: Condvar,
    /// Signalled when a chunk was queued or the pass ended (the feeder waits).
    ready: crate::signal::Signal,
}

#[derive(Default)]
struct Queue {
    chunks: Vec<Vec<u8>>,
    bytes: usize,
    /// The pass ended: nothing comes after `chunks`.
    done: bool,
    /// The feeder stopped (sent it all, or the replica went away): chunks are dropped.
    abandoned: bool,
    /// Keys and bytes queued so far.
    keys: usize,
    total: usize,
}

impl Copy {
    fn new() -> Arc<Copy> {
        Arc::new(Copy { queue: Mutex::default(), room: Condvar::new(), ready: Default::default() })
    }

    /// Where database `db`'s snapshot puts its keys: a SELECT, then a RESTORE per key.
    fn sink(self: &Arc<Self>, db: usize) -> SnapshotSink {
        let copy = self.clone();
        let select = Frame::command(&[b"SELECT", db.to_string().as_bytes()]);
        Box::new(move |entries| {
            let mut out = select.clone();
            let mut payload = Vec::new();
            let mut keys = 0;
            for (key, entry) in entries {
                payload.clear();
                ferrocache_store::dump::encode_into(&entry.value, &mut payload);
                let ttl = entry.expire_at().unwrap_or(0).to_string();
                out.extend_from_slice(&Frame::command(&[b"RESTORE", key, ttl.as_bytes(), &payload, b"REPLACE", b"ABSTTL"]));
                keys += 1;
            }
            if keys > 0 {
                copy.push(out, keys);
            }
        })
    }

    fn push(&self, chunk: Vec<u8>, keys: usize) {
        let mut q = self.queue.lock();
        if q.abandoned {
            return;
        }
        q.keys += keys;
        q.total += chunk.len();
        q.bytes += chunk.len();
        q.chunks.push(chunk);
        drop(q);
        self.ready.notify();
    }

    /// On the pass's thread, between batches: waits while the queue is full. False once the
    /// feeder gave up (the pass then stops copying).
    fn wait_for_room(&self) -> bool {
        let mut q = self.queue.lock();
        while q.bytes > QUEUE_MAX && !q.abandoned {
            self.room.wait(&mut q);
        }
        !q.abandoned
    }

    /// The pass ended.
    fn finish(&self) {
        self.queue.lock().done = true;
        self.ready.notify();
    }

    /// What is queued, waiting for some; None once the pass ended and all was taken.
    async fn next(&self) -> Option<Vec<Vec<u8>>> {
        loop {
            {
                let mut q = self.queue.lock();
                if !q.chunks.is_empty() {
                    q.bytes = 0;
                    let chunks = std::mem::take(&mut q.chunks);
                    drop(q);
                    self.room.notify_all();
                    return Some(chunks);
                }
                if q.done {
                    return None;
                }
            }
            self.ready.wait().await;
        }
    }

    /// The feeder is done with the copy (whether it was all sent or not): later chunks are
    /// dropped and the pass stops copying. Returns the keys and bytes queued.
    fn abandon(&self) -> (usize, usize) {
        let mut q = self.queue.lock();
        q.abandoned = true;
        q.chunks = Vec::new();
        q.bytes = 0;
        let totals = (q.keys, q.total);
        drop(q);
        self.room.notify_all();
        totals
    }
}

/// Abandons its copy when dropped, however the feeder ends.
struct Abandon(Arc<Copy>);

impl Drop for Abandon {
    fn drop(&mut self) {
        self.0.abandon();
    }
}

/// Starts a point-in-time copy of every database at the stream's current offset and a
/// background pass that takes it; returns the offset and the copy to send. Waits for a copy
/// another replica is taking to be taken first.
async fn snapshot(shared: &Arc<Shared>) -> Option<(u64, Arc<Copy>)> {
    let one_at_a_time = shared.repl.copying.clone().lock_owned().await;
    let copy = Copy::new();
    let (starter, sinks) = (shared.clone(), copy.clone());
    let (offset, started) = tokio::task::spawn_blocking(move || begin(&starter, &sinks)).await.ok()??;
    let (copier, pass) = (shared.clone(), copy.clone());
    tokio::task::spawn_blocking(move || {
        let _one_at_a_time = one_at_a_time;
        for (db, id) in started {
            copier.dbs[db].copy_snapshot(id, BATCH_KEYS, || pass.wait_for_room());
        }
        pass.finish();
    });
    Some((offset, copy))
}

/// Reads the stream's offset and begins every database's snapshot, alone (no command in
/// flight, so no change is half made: in the keyspace but not yet in the stream). Runs on a
/// blocking thread; takes a moment whatever the number of keys.
fn begin(shared: &Shared, copy: &Arc<Copy>) -> Option<(u64, Vec<(usize, SnapshotId)>)> {
    let _alone = shared.gate.write();
    let mut backlog = shared.repl.backlog.lock();
    backlog.forget_db();
    // Expired keys not yet reclaimed are copied too (time 0): the replica holds them, reading
    // as absent, until the primary's DEL, exactly as the primary does.
    let started: Vec<_> = shared.dbs.iter().enumerate().filter_map(|(i, db)| Some((i, db.begin_snapshot(0, copy.sink(i))?))).collect();
    if started.len() < shared.dbs.len() {
        // Cannot happen while copies are taken one at a time; if it did, no partial copy.
        warn!("a database is already being copied; the replica will retry");
        started.iter().for_each(|&(i, id)| shared.dbs[i].end_snapshot(id));
        return None;
    }
    Some((backlog.end(), started))
}

/// Stream bytes a replica's feeder keeps for it while its copy is sent, at most (as Redis's
/// `client-output-buffer-limit replica` hard limit).
const HELD_MAX: usize = 256 << 20;

/// Sends `+FULLRESYNC`, then the copy as it is taken, between `$EOF:<mark>` and the mark, then
/// the stream written meanwhile; returns the offset the replica is at once all is sent.
///
/// Why the stream is held here rather than read from the backlog afterwards: the copy takes as
/// long as the replica needs to apply it, and writes go on meanwhile; a backlog smaller than
/// what they append would lose the replica's place, and it would copy again, forever under a
/// steady write load. So the stream is taken from the backlog as it grows, also while a write
/// to the replica waits, until the replica has been sent all of it.
async fn send_copy(shared: &Shared, stream: &mut TcpStream, replid: &str, offset: u64, copy: &Copy) -> Result<u64, &'static str> {
    let mut held = Held { shared, grew: shared.repl.grew.subscribe(), next: offset, buf: Vec::new(), sent: 0 };
    let mark = super::new_replid();
    held.write(stream, format!("+FULLRESYNC {replid} {offset}\r\n$EOF:{mark}\r\n").as_bytes()).await?;
    loop {
        held.hold()?;
        let chunks = tokio::select! {
            chunks = copy.next() => chunks,
            changed = held.grew.changed() => { changed.map_err(|_| SHUTDOWN)?; continue }
        };
        let Some(chunks) = chunks else { break };
        for chunk in chunks {
            held.write(stream, &chunk).await?;
        }
    }
    held.write(stream, mark.as_bytes()).await?;
    // The stream written during the copy, holding what more comes until the replica has it all.
    loop {
        held.hold()?;
        if held.sent == held.buf.len() {
            return Ok(held.next);
        }
        let wrote = tokio::select! {
            n = stream.write(&held.buf[held.sent..]) => n,
            changed = held.grew.changed() => { changed.map_err(|_| SHUTDOWN)?; continue }
        };
        match wrote {
            Ok(0) | Err(_) => return Err(LOST),
            Ok(n) => held.sent += n,
        }
        if held.sent > CHUNK && held.sent * 2 > held.buf.len() {
            held.buf.drain(..held.sent);
            held.sent = 0;
        }
    }
}

const LOST: &str = "the replica went away";
const SHUTDOWN: &str = "shutting down";

/// The stream appended since a copy's offset, taken from the backlog before it can drop it,
/// for the replica that takes the copy.
struct Held<'a> {
    shared: &'a Shared,
    grew: tokio::sync::watch::Receiver<u64>,
    /// The offset of the next byte to hold.
    next: u64,
    buf: Vec<u8>,
    /// Bytes of `buf` sent to the replica.
    sent: usize,
}

impl Held<'_> {
    /// Takes what the backlog gained.
    fn hold(&mut self) -> Result<(), &'static str> {
        let more = self.shared.repl.backlog.lock().read(self.next, usize::MAX).ok_or("the backlog lost the copy's offset")?;
        self.next += more.len() as u64;
        self.buf.extend_from_slice(&more);
        if self.buf.len() - self.sent > HELD_MAX { Err("more stream than the replica's buffer holds was written during the copy") } else { Ok(()) }
    }

    /// Writes `bytes` to the replica, holding the stream while the write waits.
    async fn write(&mut self, stream: &mut TcpStream, bytes: &[u8]) -> Result<(), &'static str> {
        let mut pos = 0;
        while pos < bytes.len() {
            self.hold()?;
            tokio::select! {
                n = stream.write(&bytes[pos..]) => match n {
                    Ok(0) | Err(_) => return Err(LOST),
                    Ok(n) => pos += n,
                },
                changed = self.grew.changed() => changed.map_err(|_| SHUTDOWN)?,
            }
        }
        Ok(())
    }
}
