//! openraft's `RaftStateMachine`: the pure [`ConfigState`] in memory, snapshots in redb.
//!
//! Applying only touches memory; durability comes from the Raft log (entries are on disk before
//! they commit) plus snapshots: on restart the last snapshot is loaded and openraft re-applies
//! the committed entries after it. A snapshot is written to redb (data and metadata in one
//! transaction) whenever openraft builds or installs one, and openraft then purges the log up
//! to it, which keeps the log bounded.
//!
//! Every apply publishes its events on a broadcast channel for watchers; an installed snapshot
//! publishes `Resync` instead, telling watchers to catch up from the state's history.

use std::io::Cursor;
use std::sync::Arc;

use openraft::storage::RaftStateMachine;
use openraft::{EntryPayload, OptionalSend, RaftSnapshotBuilder, Snapshot, SnapshotMeta, StoredMembership};
use parking_lot::RwLock;
use serde::{Deserialize, Serialize};
use tokio::sync::{broadcast, watch};

use super::db::{self, Db, SNAPSHOT, read_err, write_err};
use super::{LogId, Node, NodeId, StorageError, TypeConfig, decode, encode};
use crate::command::{Outcome, Response};
use crate::state::{ConfigState, Event};

type Entry = openraft::Entry<TypeConfig>;
type Meta = SnapshotMeta<NodeId, Node>;

/// Everything a snapshot holds.
#[derive(Debug, Clone, Default, Serialize, Deserialize)]
pub struct SmData {
    pub last_applied: Option<LogId>,
    pub membership: StoredMembership<NodeId, Node>,
    pub kv: ConfigState,
}

/// What watchers receive from the apply path.
#[derive(Debug, Clone)]
pub enum WatchSignal {
    /// The events of one applied batch, in revision order.
    Events(Arc<Vec<Event>>),
    /// The state was replaced (snapshot installed): re-read history from the last seen revision.
    Resync,
}

/// The state shared between the Raft state machine and the node's readers.
pub struct SmShared {
    pub data: RwLock<SmData>,
    pub events: broadcast::Sender<WatchSignal>,
    /// The state's revision after each apply (wakes lock waiters and read-your-write waits).
    pub revision: watch::Sender<u64>,
    /// Writes and their key/value bytes applied since the last snapshot was built or installed
    /// (log entries batch many writes, so the entry count alone says little).
    pub since_snapshot: parking_lot::Mutex<Applied>,
}

/// Work applied since the last snapshot.
#[derive(Debug, Default, Clone, Copy)]
pub struct Applied {
    pub writes: u64,
    pub bytes: u64,
}

impl SmShared {
    fn new(data: SmData) -> SmShared {
        let revision = watch::Sender::new(data.kv.revision());
        SmShared { data: RwLock::new(data), events: broadcast::channel(1024).0, revision, since_snapshot: Default::default() }
    }

    fn publish(&self, signal: WatchSignal, revision: u64) {
        // No receivers is fine: nobody is watching.
        let _ = self.events.send(signal);
        self.revision.send_replace(revision);
    }
}

/// Cheap to clone; clones share the state and the database (openraft uses a clone as the
/// snapshot builder).
#[derive(Clone)]
pub struct StateMachineStore {
    db: Arc<Db>,
    shared: Arc<SmShared>,
}

impl StateMachineStore {
    /// Loads the last snapshot from the database, if there is one.
    pub fn open(db: Arc<Db>) -> Result<StateMachineStore, StorageError> {
        let data = match db::get::<serde_bytes::ByteBuf>(&db, SNAPSHOT, "data")? {
            Some(raw) => decode(&raw).map_err(read_err)?,
            None => SmData::default(),
        };
        Ok(StateMachineStore { db, shared: Arc::new(SmShared::new(data)) })
    }

    pub fn shared(&self) -> Arc<SmShared> {
        self.shared.clone()
    }

    fn save_snapshot(&self, meta: &Meta, data: &[u8]) -> Result<(), StorageError> {
        let meta = encode(meta).map_err(write_err)?;
        let data = encode(&serde_bytes::Bytes::new(data)).map_err(write_err)?;
        let txn = self.db.begin_write().map_err(write_err)?;
        {
            let mut table = txn.open_table(SNAPSHOT).map_err(write_err)?;
            table.insert("meta", meta.as_slice()).map_err(write_err)?;
            table.insert("data", data.as_slice()).map_err(write_err)?;
        }
        txn.commit().map_err(write_err)
    }
}

impl RaftSnapshotBuilder<TypeConfig> for StateMachineStore {
    async fn build_snapshot(&mut self) -> Result<Snapshot<TypeConfig>, StorageError> {
        let (bytes, last_log_id, last_membership) = {
            let data = self.shared.data.read();
            *self.shared.since_snapshot.lock() = Applied::default();
            (encode(&*data).map_err(read_err)?, data.last_applied, data.membership.clone())
        };
        let snapshot_id = match last_log_id {
            Some(id) => format!("{}-{}-{}", id.leader_id, id.index, bytes.len()),
            None => format!("empty-{}", bytes.len()),
        };
        let meta = Meta { last_log_id, last_membership, snapshot_id };
        self.save_snapshot(&meta, &bytes)?;
        Ok(Snapshot { meta, snapshot: Box::new(Cursor::new(bytes)) })
    }
}

impl RaftStateMachine<TypeConfig> for StateMachineStore {
    type SnapshotBuilder = StateMachineStore;

    async fn applied_state(&mut self) -> Result<(Option<LogId>, StoredMembership<NodeId, Node>), StorageError> {
        let data = self.shared.data.read();
        Ok((data.last_applied, data.membership.clone()))
    }

    async fn apply<I>(&mut self, entries: I) -> Result<Vec<Response>, StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let mut replies = Vec::new();
        let mut applied = Applied::default();
        let mut data = self.shared.data.write();
        let before = data.kv.revision();
        for entry in entries {
            data.last_applied = Some(entry.log_id);
            let reply = match entry.payload {
                EntryPayload::Blank => Ok(Outcome::None),
                EntryPayload::Normal(req) => {
                    applied.writes += match &req.op {
                        crate::command::Op::Batch(reqs) => reqs.len() as u64,
                        _ => 1,
                    };
                    applied.bytes += crate::proposer::request_bytes(&req) as u64;
                    data.kv.apply(&req)
                }
                EntryPayload::Membership(membership) => {
                    data.kv.record_membership(&format!("membership {membership}"));
                    data.membership = StoredMembership::new(Some(entry.log_id), membership);
                    Ok(Outcome::None)
                }
            };
            replies.push(reply);
        }
        {
            let mut since = self.shared.since_snapshot.lock();
            since.writes += applied.writes;
            since.bytes += applied.bytes;
        }
        let after = data.kv.revision();
        if after > before {
            // A compaction inside the batch can hide its start: watchers then resync.
            let signal = match data.kv.events_from(before + 1, "") {
                Ok(events) => WatchSignal::Events(Arc::new(events)),
                Err(_) => WatchSignal::Resync,
            };
            drop(data);
            self.shared.publish(signal, after);
        }
        Ok(replies)
    }

    async fn get_snapshot_builder(&mut self) -> Self::SnapshotBuilder {
        self.clone()
    }

    async fn begin_receiving_snapshot(&mut self) -> Result<Box<Cursor<Vec<u8>>>, StorageError> {
        Ok(Box::new(Cursor::new(Vec::new())))
    }

    async fn install_snapshot(&mut self, meta: &Meta, snapshot: Box<Cursor<Vec<u8>>>) -> Result<(), StorageError> {
        let bytes = snapshot.into_inner();
        let new_data: SmData = decode(&bytes).map_err(read_err)?;
        self.save_snapshot(meta, &bytes)?;
        let revision = new_data.kv.revision();
        *self.shared.data.write() = new_data;
        *self.shared.since_snapshot.lock() = Applied::default();
        self.shared.publish(WatchSignal::Resync, revision);
        Ok(())
    }

    async fn get_current_snapshot(&mut self) -> Result<Option<Snapshot<TypeConfig>>, StorageError> {
        let Some(meta) = db::get::<Meta>(&self.db, SNAPSHOT, "meta")? else { return Ok(None) };
        let data: serde_bytes::ByteBuf = db::get(&self.db, SNAPSHOT, "data")?.unwrap_or_default();
        Ok(Some(Snapshot { meta, snapshot: Box::new(Cursor::new(data.into_vec())) }))
    }
}
