//! `WATCH` bookkeeping: which clients watch which keys.
//!
//! Each shard keeps a map from watched key to the watchers' flags. A write
//! to the key sets every flag; `EXEC` aborts when its client's flag is set.
//! Lookups happen only when the shard's map is non-empty, so keys nobody
//! watches pay one branch.

use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::Arc;

/// A client's "a watched key changed" flag, shared with the shards.
#[derive(Debug, Clone, Default)]
pub struct WatchFlag(Arc<AtomicBool>);

impl WatchFlag {
    pub fn new() -> Self {
        WatchFlag::default()
    }

    pub fn set(&self) {
        self.0.store(true, Ordering::Relaxed);
    }

    pub fn is_set(&self) -> bool {
        self.0.load(Ordering::Relaxed)
    }

    pub fn reset(&self) {
        self.0.store(false, Ordering::Relaxed);
    }

    pub fn same(&self, other: &WatchFlag) -> bool {
        Arc::ptr_eq(&self.0, &other.0)
    }
}

/// One client's watch on one key.
#[derive(Debug, Clone)]
pub struct Watcher {
    pub flag: WatchFlag,
    /// The key was already logically expired (absent) when watched, so its
    /// later removal by expiry is no change.
    pub absent_at_watch: bool,
}
