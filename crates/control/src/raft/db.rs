//! The node's redb file: Raft log, vote/commit pointers and the state-machine snapshot.
//!
//! One database file (`control.redb` in the data dir) holds three tables so that a log purge and
//! its `purged` pointer, or a snapshot's data and metadata, commit in one ACID transaction.
//! Every write transaction uses redb's default `Immediate` durability: it is on disk (fsync)
//! when `commit` returns, which is what Raft requires of votes and appended entries.

use std::path::Path;

use openraft::{AnyError, StorageIOError};
use redb::{Database, ReadableDatabase, TableDefinition};
use serde::Serialize;
use serde::de::DeserializeOwned;
use tokio::sync::oneshot;

use super::{StorageError, decode, encode};

/// Log entries by index.
pub const LOG: TableDefinition<u64, &[u8]> = TableDefinition::new("raft_log");
/// Small named values: `vote`, `committed`, `purged`.
pub const META: TableDefinition<&str, &[u8]> = TableDefinition::new("raft_meta");
/// The current snapshot: `meta` and `data`.
pub const SNAPSHOT: TableDefinition<&str, &[u8]> = TableDefinition::new("snapshot");

pub const FILE_NAME: &str = "control.redb";

/// The open database. Dropping it closes the file (redb finishes its clean-shutdown write
/// inside the drop) and then fires the signal from [`Db::on_close`], so a node can wait until
/// its data dir may be opened again.
pub struct Db {
    database: Option<Database>,
    closed: Option<oneshot::Sender<()>>,
}

impl Db {
    /// Opens (or creates) the database in `dir` and makes sure every table exists, so that read
    /// transactions never meet a missing table.
    pub fn open(dir: &Path) -> Result<Db, redb::Error> {
        std::fs::create_dir_all(dir)?;
        let db = Database::create(dir.join(FILE_NAME))?;
        let txn = db.begin_write()?;
        txn.open_table(LOG)?;
        txn.open_table(META)?;
        txn.open_table(SNAPSHOT)?;
        txn.commit()?;
        Ok(Db { database: Some(db), closed: None })
    }

    /// A receiver that completes once the file is closed.
    pub fn on_close(&mut self) -> oneshot::Receiver<()> {
        let (tx, rx) = oneshot::channel();
        self.closed = Some(tx);
        rx
    }
}

impl std::ops::Deref for Db {
    type Target = Database;

    fn deref(&self) -> &Database {
        // Only `drop` takes the database out.
        self.database.as_ref().expect("database is open until drop")
    }
}

impl Drop for Db {
    fn drop(&mut self) {
        drop(self.database.take());
        if let Some(tx) = self.closed.take() {
            let _ = tx.send(());
        }
    }
}

pub fn read_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::read(AnyError::new(&e)).into()
}

pub fn write_err(e: impl std::error::Error + 'static) -> StorageError {
    StorageIOError::write(AnyError::new(&e)).into()
}

/// Reads and decodes one value of a `&str`-keyed table.
pub fn get<T: DeserializeOwned>(db: &Db, table: TableDefinition<&str, &[u8]>, key: &str) -> Result<Option<T>, StorageError> {
    let txn = db.begin_read().map_err(read_err)?;
    let table = txn.open_table(table).map_err(read_err)?;
    let Some(raw) = table.get(key).map_err(read_err)? else { return Ok(None) };
    decode(raw.value()).map(Some).map_err(read_err)
}

/// Encodes and stores one value of a `&str`-keyed table, durably.
pub fn put<T: Serialize>(db: &Db, table: TableDefinition<&str, &[u8]>, key: &str, value: &T) -> Result<(), StorageError> {
    let bytes = encode(value).map_err(write_err)?;
    let txn = db.begin_write().map_err(write_err)?;
    txn.open_table(table).map_err(write_err)?.insert(key, bytes.as_slice()).map_err(write_err)?;
    txn.commit().map_err(write_err)
}
