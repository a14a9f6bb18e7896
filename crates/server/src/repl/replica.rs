//! The replica's side: REPLICAOF starts a link that connects to the primary, asks for the
//! stream (PSYNC with the id and offset it has, so that a short disconnect costs no full
//! copy), applies what arrives as a client of its own that may write, and acknowledges its
//! offset every second. A lost connection is retried every second until REPLICAOF NO ONE.

use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;
use std::time::Duration;

use bytes::{Buf, BytesMut};
use ferrocache_resp::{Frame, Limits, ReplyBuf, RequestParser};
use tokio::io::{AsyncReadExt, AsyncWriteExt};
use tokio::net::TcpStream;
use tracing::{info, warn};

use crate::client::Client;
use crate::shared::Shared;

/// A replica's link to its primary (INFO `master_*`).
pub struct Link {
    pub host: String,
    pub port: u16,
    /// Whether the stream is flowing (`master_link_status:up`).
    pub up: AtomicBool,
    /// Offset of the last byte of the stream applied.
    pub offset: AtomicU64,
    /// Unix ms of the last byte received.
    pub last_io: AtomicU64,
    /// Set by REPLICAOF NO ONE or another REPLICAOF: the link task stops.
    pub stopped: AtomicBool,
    /// The database the stream's commands run in (kept across reconnects, as the stream is).
    db: AtomicUsize,
}

impl Link {
    pub fn new(host: String, port: u16) -> Self {
        Link { host, port, up: AtomicBool::new(false), offset: AtomicU64::new(0), last_io: AtomicU64::new(0), stopped: AtomicBool::new(false), db: AtomicUsize::new(0) }
    }
}

/// How often the replica acknowledges its offset, and retries a lost primary.
const TICK: Duration = Duration::from_secs(1);

/// Follows the primary of `link` until the link is stopped.
pub async fn run(shared: Arc<Shared>, link: Arc<Link>) {
    while !link.stopped.load(Ordering::Relaxed) && !shared.shutdown.is_requested() {
        match follow(&shared, &link).await {
            Ok(()) => {}
            Err(e) => warn!(primary = %format!("{}:{}", link.host, link.port), "replication link: {e}"),
        }
        link.up.store(false, Ordering::Relaxed);
        if !link.stopped.load(Ordering::Relaxed) {
            tokio::time::sleep(TICK).await;
        }
    }
}

async fn follow(shared: &Arc<Shared>, link: &Link) -> Result<(), String> {
    let addr = format!("{}:{}", link.host, link.port);
    let mut stream = tokio::time::timeout(TICK * 2, TcpStream::connect(&addr)).await.map_err(|_| format!("{addr}: no connection"))?.map_err(|e| format!("{addr}: {e}"))?;
    let _ = stream.set_nodelay(true);
    let mut input = BytesMut::with_capacity(64 * 1024);
    let port = shared.port.load(Ordering::Relaxed).to_string();
    let (replid, offset) = (shared.repl.replid(), link.offset.load(Ordering::Relaxed));
    let from = (offset + 1).to_string();
    let psync: [&[u8]; 3] = if offset == 0 { [b"PSYNC", b"?", b"-1"] } else { [b"PSYNC", replid.as_bytes(), from.as_bytes()] };
    let handshake: [&[&[u8]]; 4] = [&[b"PING"], &[b"REPLCONF", b"listening-port", port.as_bytes()], &[b"REPLCONF", b"capa", b"psync2"], &psync];
    let mut master = MasterClient::new(shared, link);
    for command in handshake {
        stream.write_all(&Frame::command(command)).await.map_err(|e| e.to_string())?;
        let line = read_line(&mut stream, &mut input).await?;
        if line.starts_with('-') {
            return Err(format!("the primary answered {} to {}", line, String::from_utf8_lossy(command[0])));
        }
        if command[0] != b"PSYNC" {
            continue;
        }
        let mut words = line.split(' ');
        match (words.next(), words.next(), words.next()) {
            (Some("+CONTINUE"), id, _) => {
                if let Some(id) = id.filter(|id| !id.is_empty()) {
                    shared.repl.set_replid(id.to_string());
                }
                info!(primary = %addr, offset, "resumed the stream (partial resync)");
            }
            (Some("+FULLRESYNC"), Some(id), Some(at)) => {
                let at: u64 = at.parse().map_err(|_| format!("bad FULLRESYNC offset in {line:?}"))?;
                take_copy(&mut master, &mut stream, &mut input).await?;
                shared.repl.set_replid(id.to_string());
                link.offset.store(at, Ordering::Relaxed);
                info!(primary = %addr, offset = at, "took a full copy");
            }
            _ => return Err(format!("unexpected PSYNC reply {line:?}")),
        }
    }
    link.up.store(true, Ordering::Relaxed);
    apply_stream(&mut master, &mut stream, &mut input).await
}

/// Reads one `+...`/`-...` line of the handshake.
async fn read_line(stream: &mut TcpStream, input: &mut BytesMut) -> Result<String, String> {
    loop {
        if let Some(end) = input.windows(2).position(|w| w == b"\r\n") {
            let line = String::from_utf8_lossy(&input[..end]).into_owned();
            input.advance(end + 2);
            return Ok(line);
        }
        read_more(stream, input).await?;
    }
}

async fn read_more(stream: &mut TcpStream, input: &mut BytesMut) -> Result<usize, String> {
    match tokio::time::timeout(TICK * 10, stream.read_buf(input)).await {
        Err(_) => Err("the primary sent nothing for 10 s".into()),
        Ok(Ok(0)) => Err("the primary closed the connection".into()),
        Ok(Ok(n)) => Ok(n),
        Ok(Err(e)) => Err(e.to_string()),
    }
}

/// The master's client on this node: it may write, its replies go nowhere, and it leaves the
/// client list (keeping its database for the next connection) when the connection ends.
struct MasterClient<'a> {
    shared: &'a Shared,
    link: &'a Link,
    client: Client,
    out: ReplyBuf,
}

impl<'a> MasterClient<'a> {
    fn new(shared: &'a Shared, link: &'a Link) -> Self {
        let addr = std::net::SocketAddr::from(([127, 0, 0, 1], link.port));
        let handle = shared.clients.register(addr, addr, ferrocache_store::clock::now_ms(), usize::MAX).expect("no client limit");
        handle.meta.lock().link = crate::client::LinkKind::Master;
        let mut client = Client::new(handle, true);
        client.master = true;
        client.db = link.db.load(Ordering::Relaxed);
        MasterClient { shared, link, client, out: ReplyBuf::new() }
    }

    /// Runs one command of the primary's, at time 0: no key is expired for it, since only the
    /// primary's DEL ends a key here (see `Db::set_passive_expiry`).
    fn apply(&mut self, args: Vec<bytes::Bytes>) {
        crate::dispatch::execute(self.shared, &mut self.client, &mut self.out, args, 0);
        self.out.clear();
    }
}

impl Drop for MasterClient<'_> {
    fn drop(&mut self) {
        self.link.db.store(self.client.db, Ordering::Relaxed);
        self.shared.clients.unregister(self.client.id);
    }
}

/// The primary's commands may carry values of any size.
fn limits() -> Limits {
    Limits { max_bulk_len: u64::MAX, ..Limits::default() }
}

/// Receives the full copy into emptied databases, applying its RESTORE commands as they
/// arrive: either `$<length>\r\n` and that many bytes, or a copy streamed while it is taken,
/// `$EOF:<40-byte mark>\r\n`, the commands, and the mark (Redis's diskless form; a mark
/// cannot be taken for a command, which starts with `*`).
async fn take_copy(master: &mut MasterClient<'_>, stream: &mut TcpStream, input: &mut BytesMut) -> Result<(), String> {
    let header = read_line(stream, input).await?;
    let mut end = match header.strip_prefix("$EOF:") {
        Some(mark) if mark.len() == 40 && !mark.starts_with('*') => CopyEnd::Mark(mark.as_bytes().to_vec()),
        Some(_) => return Err(format!("bad copy header {header:?}")),
        None => CopyEnd::Length(header.strip_prefix('$').and_then(|n| n.parse().ok()).ok_or_else(|| format!("bad copy header {header:?}"))?),
    };
    // A copy half applied is no base for resuming the old stream: from here until the copy
    // is complete, a reconnection asks for a new one.
    master.link.offset.store(0, Ordering::Relaxed);
    for db in master.shared.dbs.iter() {
        drop(db.flush());
    }
    let mut parser = RequestParser::new();
    let limits = limits();
    // The copy's bytes received and not yet parsed (a length-prefixed copy: the stream may
    // follow it in `input`).
    let mut copy = BytesMut::new();
    // Whether the parser holds part of a command.
    let mut within = false;
    loop {
        let buf = match &mut end {
            CopyEnd::Length(left) => {
                let take = (*left).min(input.len());
                copy.unsplit(input.split_to(take));
                *left -= take;
                &mut copy
            }
            CopyEnd::Mark(_) => &mut *input,
        };
        loop {
            if let CopyEnd::Mark(mark) = &end
                && !within
                && buf.first().is_some_and(|&b| b != b'*')
            {
                if buf.len() < mark.len() {
                    break;
                }
                if buf[..mark.len()] != mark[..] {
                    return Err("bad copy: neither a command nor its end mark".into());
                }
                buf.advance(mark.len());
                return Ok(());
            }
            let before = buf.len();
            match parser.parse(buf, &limits).map_err(|e| format!("bad copy: {e}"))? {
                Some(args) => {
                    within = false;
                    master.apply(args);
                }
                None => {
                    within |= buf.len() < before;
                    break;
                }
            }
        }
        if let CopyEnd::Length(0) = end {
            return if within || !copy.is_empty() { Err("bad copy: it ends within a command".into()) } else { Ok(()) };
        }
        read_more(stream, input).await?;
    }
}

/// How the end of a full copy is known.
enum CopyEnd {
    /// Bytes of it still to come.
    Length(usize),
    /// It ends with this mark.
    Mark(Vec<u8>),
}

/// Applies the stream as it comes, counting its bytes, and acknowledges every second.
async fn apply_stream(master: &mut MasterClient<'_>, stream: &mut TcpStream, input: &mut BytesMut) -> Result<(), String> {
    let link = master.link;
    let mut parser = RequestParser::new();
    let limits = limits();
    let mut tick = tokio::time::interval(TICK);
    // Bytes of a command the parser has taken in but not completed: they count once it is.
    let mut partial = 0u64;
    loop {
        if link.stopped.load(Ordering::Relaxed) {
            return Ok(());
        }
        loop {
            let before = input.len();
            let parsed = parser.parse(input, &limits).map_err(|e| format!("bad stream: {e}"))?;
            partial += (before - input.len()) as u64;
            let Some(args) = parsed else { break };
            let consumed = std::mem::take(&mut partial);
            let ack = super::is_replconf(&args, b"getack");
            if !ack {
                master.apply(args);
            }
            let offset = link.offset.fetch_add(consumed, Ordering::Relaxed) + consumed;
            if ack {
                send_ack(stream, offset).await?;
            }
        }
        tokio::select! {
            r = stream.read_buf(input) => match r {
                Ok(0) => return Err("the primary closed the connection".into()),
                Ok(_) => link.last_io.store(ferrocache_store::clock::now_ms(), Ordering::Relaxed),
                Err(e) => return Err(e.to_string()),
            },
            _ = tick.tick() => send_ack(stream, link.offset.load(Ordering::Relaxed)).await?,
        }
    }
}

async fn send_ack(stream: &mut TcpStream, offset: u64) -> Result<(), String> {
    let offset = offset.to_string();
    stream.write_all(&Frame::command(&[b"REPLCONF", b"ACK", offset.as_bytes()])).await.map_err(|e| e.to_string())
}
