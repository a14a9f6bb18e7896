//! openraft's `RaftLogStorage` over redb: entries, vote, committed pointer and purge point.
//!
//! Writes are synchronous redb transactions, committed (fsync'd) before the flush callback is
//! called, so "acknowledged" always means "on disk". The committed log id is saved too, so a
//! restarted node re-applies its committed entries on startup instead of waiting for a leader.
//!
//! The committed log id is the one write that is not fsync'd on its own (redb's
//! `Durability::None`): it reaches the disk with the next durable commit (the next append, vote
//! or purge). Raft does not need it on disk — it is a hint that lets a restarted node apply
//! early — and a stale one is safe because it can only lag the true commit index, never pass
//! it (redb commits in order, so it never lands without the entries it points at). Saving it
//! durably cost a second fsync per commit on every node.

use std::fmt::Debug;
use std::ops::{Bound, RangeBounds};
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use openraft::storage::{LogFlushed, LogState, RaftLogStorage};
use openraft::{OptionalSend, RaftLogReader, Vote};
use redb::{Durability, ReadableDatabase, ReadableTable};

use super::db::{self, Db, LOG, META, read_err, write_err};
use super::{LogId, NodeId, StorageError, TypeConfig, decode, encode};

type Entry = openraft::Entry<TypeConfig>;

/// Cheap to clone: clones share the database and the commit-index cell.
#[derive(Clone)]
pub struct LogStore {
    db: Arc<Db>,
    /// `committed index + 1` (0 = nothing committed), for status reports.
    committed: Arc<AtomicU64>,
}

impl LogStore {
    pub fn new(db: Arc<Db>) -> LogStore {
        LogStore { db, committed: Arc::new(AtomicU64::new(0)) }
    }

    /// The last committed index this node has saved, if any.
    pub fn committed_index(&self) -> Option<u64> {
        self.committed.load(Ordering::Relaxed).checked_sub(1)
    }

    /// Shares the commit-index cell (the node's status endpoint reads it).
    pub fn committed_cell(&self) -> Arc<AtomicU64> {
        self.committed.clone()
    }

    fn last_entry_id(&self) -> Result<Option<LogId>, StorageError> {
        let txn = self.db.begin_read().map_err(read_err)?;
        let table = txn.open_table(LOG).map_err(read_err)?;
        let Some((_, raw)) = table.last().map_err(read_err)? else { return Ok(None) };
        let entry: Entry = decode(raw.value()).map_err(read_err)?;
        Ok(Some(entry.log_id))
    }

    /// Removes entries in `range` and optionally stores a meta value, in one transaction.
    fn remove_range(&self, range: (Bound<u64>, Bound<u64>), meta: Option<(&str, Vec<u8>)>) -> Result<(), StorageError> {
        let txn = self.db.begin_write().map_err(write_err)?;
        {
            let mut table = txn.open_table(LOG).map_err(write_err)?;
            table.retain_in::<u64, _>(range, |_, _| false).map_err(write_err)?;
            if let Some((key, value)) = meta {
                txn.open_table(META).map_err(write_err)?.insert(key, value.as_slice()).map_err(write_err)?;
            }
        }
        txn.commit().map_err(write_err)
    }
}

impl RaftLogReader<TypeConfig> for LogStore {
    async fn try_get_log_entries<RB: RangeBounds<u64> + Clone + Debug + OptionalSend>(
        &mut self,
        range: RB,
    ) -> Result<Vec<Entry>, StorageError> {
        let bounds = (range.start_bound().cloned(), range.end_bound().cloned());
        let txn = self.db.begin_read().map_err(read_err)?;
        let table = txn.open_table(LOG).map_err(read_err)?;
        let mut out = Vec::new();
        for item in table.range::<u64>(bounds).map_err(read_err)? {
            let (_, raw) = item.map_err(read_err)?;
            out.push(decode(raw.value()).map_err(read_err)?);
        }
        Ok(out)
    }
}

impl RaftLogStorage<TypeConfig> for LogStore {
    type LogReader = LogStore;

    async fn get_log_state(&mut self) -> Result<LogState<TypeConfig>, StorageError> {
        let last_purged_log_id: Option<LogId> = db::get(&self.db, META, "purged")?;
        let last_log_id = self.last_entry_id()?.or(last_purged_log_id);
        Ok(LogState { last_purged_log_id, last_log_id })
    }

    async fn get_log_reader(&mut self) -> Self::LogReader {
        self.clone()
    }

    async fn save_vote(&mut self, vote: &Vote<NodeId>) -> Result<(), StorageError> {
        db::put(&self.db, META, "vote", vote)
    }

    async fn read_vote(&mut self) -> Result<Option<Vote<NodeId>>, StorageError> {
        db::get(&self.db, META, "vote")
    }

    async fn save_committed(&mut self, committed: Option<LogId>) -> Result<(), StorageError> {
        let bytes = encode(&committed).map_err(write_err)?;
        let mut txn = self.db.begin_write().map_err(write_err)?;
        txn.set_durability(Durability::None).map_err(write_err)?;
        txn.open_table(META).map_err(write_err)?.insert("committed", bytes.as_slice()).map_err(write_err)?;
        txn.commit().map_err(write_err)?;
        self.committed.store(committed.map_or(0, |id| id.index + 1), Ordering::Relaxed);
        Ok(())
    }

    async fn read_committed(&mut self) -> Result<Option<LogId>, StorageError> {
        let committed: Option<LogId> = db::get::<Option<LogId>>(&self.db, META, "committed")?.flatten();
        self.committed.store(committed.map_or(0, |id| id.index + 1), Ordering::Relaxed);
        Ok(committed)
    }

    async fn append<I>(&mut self, entries: I, callback: LogFlushed<TypeConfig>) -> Result<(), StorageError>
    where
        I: IntoIterator<Item = Entry> + OptionalSend,
        I::IntoIter: OptionalSend,
    {
        let txn = self.db.begin_write().map_err(write_err)?;
        {
            let mut table = txn.open_table(LOG).map_err(write_err)?;
            for entry in entries {
                let bytes = encode(&entry).map_err(write_err)?;
                table.insert(entry.log_id.index, bytes.as_slice()).map_err(write_err)?;
            }
        }
        txn.commit().map_err(write_err)?;
        callback.log_io_completed(Ok(()));
        Ok(())
    }

    async fn truncate(&mut self, log_id: LogId) -> Result<(), StorageError> {
        self.remove_range((Bound::Included(log_id.index), Bound::Unbounded), None)
    }

    async fn purge(&mut self, log_id: LogId) -> Result<(), StorageError> {
        let pointer = encode(&log_id).map_err(write_err)?;
        self.remove_range((Bound::Unbounded, Bound::Included(log_id.index)), Some(("purged", pointer)))
    }
}
