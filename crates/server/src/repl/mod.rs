//! Replication: a primary streams every change to its replicas as Redis commands, addressed
//! by byte offset, as Redis does.
//!
//! Why changes are captured where they are: a command's stream entry is appended while the
//! shards it changed are still locked (the keyspace calls [`Replication::on_change`] as the
//! command's lock guard is released). Two commands on one key therefore reach the stream in the
//! order they ran; appending after the handler returned would let a later SET overtake an
//! earlier one and leave the replica with another value. Keys reclaimed by expiry or eviction
//! are appended as DEL at the same moment, so replicas never expire or evict on their own
//! account and never diverge.
//!
//! - [`acks`]: what replicas acknowledged: WAIT, `min-replicas-to-write`, the loss window.
//! - [`backlog`]: the offset-addressed stream and the bytes kept for partial resyncs.
//! - [`propagate`]: what a command is replicated as (relative expiries become absolute, ...).
//! - [`primary`]: PSYNC on the primary: a full copy, then the stream, to one replica.
//! - [`replica`]: the link to a primary, applying what it sends.
//! - [`roles`]: whom a node follows (REPLICAOF, or the cluster map).

pub mod acks;
pub mod backlog;
pub mod primary;
pub mod propagate;
pub mod replica;
pub mod roles;

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use crate::shared::Shared;
use backlog::Backlog;

/// This node's place in replication, and the stream it keeps.
pub struct Replication {
    /// The stream's id (40 hex): a replica resumes only a stream of this id.
    replid: Mutex<String>,
    pub backlog: Mutex<Backlog>,
    /// The stream's end offset, for feeders waiting for more.
    pub grew: tokio::sync::watch::Sender<u64>,
    /// Replicas attached to this node.
    pub replicas: Mutex<Vec<Arc<primary::Attached>>>,
    /// The primary this node follows, if it is a replica.
    pub link: Mutex<Option<Arc<replica::Link>>>,
    pub sync_full: AtomicU64,
    pub sync_partial_ok: AtomicU64,
    pub sync_partial_err: AtomicU64,
    /// Bumped when a replica acknowledges, attaches or leaves (see [`acks`]).
    pub acks: tokio::sync::watch::Sender<u64>,
    /// `min-replicas-to-write` and `min-replicas-max-lag`, mirrored from the config.
    min_replicas: AtomicU64,
    min_replicas_lag: AtomicU64,
    /// Held while a full copy is being taken (one at a time: see [`primary`]).
    pub copying: Arc<tokio::sync::Mutex<()>>,
    /// Whether the stream is kept (from the first replica on).
    active: AtomicBool,
    /// The server this belongs to (for the tasks REPLICAOF starts).
    server: std::sync::OnceLock<std::sync::Weak<Shared>>,
}

impl Replication {
    pub fn new(backlog_size: u64) -> Self {
        Replication {
            replid: Mutex::new(new_replid()),
            backlog: Mutex::new(Backlog::new(backlog_size as usize)),
            grew: tokio::sync::watch::channel(0).0,
            replicas: Mutex::default(),
            link: Mutex::default(),
            sync_full: AtomicU64::new(0),
            sync_partial_ok: AtomicU64::new(0),
            sync_partial_err: AtomicU64::new(0),
            acks: tokio::sync::watch::channel(0).0,
            min_replicas: AtomicU64::new(0),
            min_replicas_lag: AtomicU64::new(10),
            copying: Arc::default(),
            active: AtomicBool::new(false),
            server: std::sync::OnceLock::new(),
        }
    }

    pub fn replid(&self) -> String {
        self.replid.lock().clone()
    }

    /// Takes a new stream id (a replica that becomes a primary, or one that took a full copy
    /// of another stream).
    pub fn set_replid(&self, id: String) {
        *self.replid.lock() = id;
    }

    /// The offset of the stream's last byte (INFO `master_repl_offset`).
    pub fn offset(&self) -> u64 {
        self.backlog.lock().end()
    }

    /// This node's offset in its stream: what a replica has taken from its primary, the
    /// stream's end on a primary (INFO `master_repl_offset`).
    pub fn own_offset(&self) -> u64 {
        match self.link.lock().as_ref() {
            Some(link) => link.offset.load(Ordering::Relaxed),
            None => self.offset(),
        }
    }

    /// The server, once [`install`]ed.
    pub fn shared(&self) -> Option<Arc<Shared>> {
        self.server.get()?.upgrade()
    }

    /// Whether changes are appended to the stream.
    pub fn active(&self) -> bool {
        self.active.load(Ordering::Relaxed)
    }

    /// Whether this node follows a primary (and so refuses writes from clients).
    pub fn is_replica(&self) -> bool {
        self.link.lock().is_some()
    }

    /// Appends what a keyspace change means to the stream: a DEL per reclaimed key of database
    /// `db`, then the running command (see [`propagate`]) if it changed something. Called with
    /// the changed shards locked.
    pub fn on_change(&self, db: usize, change: ferrocache_store::db::Change<'_>) {
        let commands = if change.by_command { propagate::take_current() } else { Vec::new() };
        if change.reclaimed.is_empty() && commands.is_empty() {
            return;
        }
        self.append_after(db, change.reclaimed, commands);
    }

    /// Appends commands that changed the data without a keyspace guard (FLUSHALL, SWAPDB).
    pub fn append(&self, commands: Vec<propagate::Entry>) {
        self.append_after(0, &[], commands);
    }

    /// Appends a DEL for each of `deleted` (keys of database `db`), then `commands`, and wakes
    /// the feeders; inside EXEC they join the transaction's block instead.
    fn append_after(&self, db: usize, deleted: &[Box<[u8]>], commands: Vec<propagate::Entry>) {
        let dels = deleted.iter().map(|key| (db, vec![bytes::Bytes::from_static(b"DEL"), bytes::Bytes::copy_from_slice(key)]));
        let Some(entries) = propagate::collect(dels.chain(commands).collect()) else { return };
        self.append_entries(None, entries);
    }

    /// Appends a transaction's entries as one block: `MULTI`, the entries, `EXEC` (a single
    /// entry goes in alone, as Redis 7 propagates it).
    pub(crate) fn append_transaction(&self, entries: Vec<propagate::Entry>) {
        let wrap = (entries.len() > 1).then(|| (entries[0].0, entries[entries.len() - 1].0));
        self.append_entries(wrap, entries);
    }

    /// Appends `entries` under one backlog lock, between MULTI (in the first entry's database)
    /// and EXEC (in the last's) when `wrap` names them.
    fn append_entries(&self, wrap: Option<(usize, usize)>, entries: Vec<propagate::Entry>) {
        let end = {
            let mut backlog = self.backlog.lock();
            if let Some((first, _)) = wrap {
                backlog.append_command(first, &[b"MULTI"]);
            }
            for (db, args) in entries {
                backlog.append_command(db, &args.iter().map(|a| &a[..]).collect::<Vec<_>>());
            }
            if let Some((_, last)) = wrap {
                backlog.append_command(last, &[b"EXEC"]);
            }
            backlog.end()
        };
        propagate::note_appended(end);
        self.grew.send_replace(end);
    }
}

/// Starts keeping the stream (when the first replica attaches): from now on every change is
/// appended. Idempotent.
pub fn activate(shared: &Shared) {
    for db in shared.dbs.iter() {
        db.set_observed(true);
    }
    shared.repl.active.store(true, Ordering::Relaxed);
}

/// Installs the keyspace observers that feed the stream (once, at start).
pub fn install(shared: &Arc<Shared>) {
    let _ = shared.repl.server.set(Arc::downgrade(shared));
    for (i, db) in shared.dbs.iter().enumerate() {
        let weak = Arc::downgrade(shared);
        db.observe(Box::new(move |change| {
            if let Some(shared) = weak.upgrade() {
                shared.repl.on_change(i, change);
            }
        }));
    }
}

/// Whether `args` is `REPLCONF <sub> ...` (`sub` in lower case).
fn is_replconf(args: &[bytes::Bytes], sub: &[u8]) -> bool {
    args.len() >= 2 && args[0].eq_ignore_ascii_case(b"replconf") && args[1].eq_ignore_ascii_case(sub)
}

/// 40 random hex digits.
pub fn new_replid() -> String {
    (0..40).map(|_| char::from_digit(rand::random_range(0..16u32), 16).expect("a hex digit")).collect()
}
