//! openraft's storage conformance suite run against the redb log store and state machine.

// The suite's signatures return openraft's (large) `StorageError`.
#![allow(clippy::result_large_err)]

use std::sync::Arc;

use ferrocache_control::raft::log_store::LogStore;
use ferrocache_control::raft::state_machine::StateMachineStore;
use ferrocache_control::raft::{StorageError, TypeConfig, db};
use openraft::testing::{StoreBuilder, Suite};
use tempfile::TempDir;

struct RedbBuilder;

impl StoreBuilder<TypeConfig, LogStore, StateMachineStore, TempDir> for RedbBuilder {
    async fn build(&self) -> Result<(TempDir, LogStore, StateMachineStore), StorageError> {
        let dir = TempDir::new().expect("temp dir");
        let db = Arc::new(db::Db::open(dir.path()).expect("open redb"));
        let sm = StateMachineStore::open(db.clone())?;
        Ok((dir, LogStore::new(db), sm))
    }
}

#[test]
fn redb_store_passes_openraft_suite() -> Result<(), StorageError> {
    Suite::test_all(RedbBuilder)
}
