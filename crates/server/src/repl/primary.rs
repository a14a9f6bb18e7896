//! The primary's side of PSYNC: a connection that asked to replicate becomes a feeder of the
//! stream to that replica.
//!
//! A replica that names this stream's id and an offset the backlog still holds gets
//! `+CONTINUE` and the stream from there (a partial resync). Any other gets `+FULLRESYNC id
//! offset`, a copy of every key as `$<length>\r\n` followed by RESP `RESTORE ... REPLACE
//! ABSTTL` commands (with SELECTs), and the stream from that offset on. The copy is taken
//! while no command runs (the exclusive gate), so it is exactly the data at that offset; the
//! serialisation itself is what pauses the primary, about a second per few million small keys
//! (a copy taken while writes go on is to come).

use std::sync::atomic::{AtomicU64, Ordering};
use std::sync::Arc;

use bytes::BytesMut;
use ferrocache_resp::{Frame, Limits, RequestParser};
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
        let copier = shared.clone();
        let Ok((at, copy)) = tokio::task::spawn_blocking(move || snapshot(&copier)).await else { return };
        offset = at;
        info!(%peer, offset, bytes = copy.len(), "replica takes a full copy");
        let mut head = format!("+FULLRESYNC {replid} {offset}\r\n${}\r\n", copy.len()).into_bytes();
        head.extend_from_slice(&copy);
        if stream.write_all(&head).await.is_err() {
            return;
        }
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

/// Every key of every database as RESTORE commands, with the stream offset they stand at.
/// Runs alone (no command in flight), on a blocking thread.
fn snapshot(shared: &Shared) -> (u64, Vec<u8>) {
    let _alone = shared.gate.write();
    let offset = {
        let mut backlog = shared.repl.backlog.lock();
        backlog.forget_db();
        backlog.end()
    };
    let now = ferrocache_store::clock::now_ms();
    let mut out = Vec::new();
    let mut payload = Vec::new();
    for (i, db) in shared.dbs.iter().enumerate() {
        if db.is_empty() {
            continue;
        }
        out.extend_from_slice(&Frame::command(&[b"SELECT", i.to_string().as_bytes()]));
        db.for_each_key(now, |key, entry| {
            payload.clear();
            ferrocache_store::dump::encode_into(&entry.value, &mut payload);
            let ttl = entry.expire_at().unwrap_or(0).to_string();
            out.extend_from_slice(&Frame::command(&[b"RESTORE", key, ttl.as_bytes(), &payload, b"REPLACE", b"ABSTTL"]));
        });
    }
    (offset, out)
}
