//! Size thresholds that pick a collection's compact or full encoding
//! (`hash-max-listpack-entries` and friends), shared by every database.
//!
//! They are process-wide settings read on every collection write, so they
//! live in relaxed atomics that the server copies its configuration into
//! (at start and on CONFIG SET) rather than behind the config lock.

use std::sync::atomic::{AtomicI64, Ordering};

/// One threshold.
pub struct Limit(AtomicI64);

impl Limit {
    const fn new(v: i64) -> Limit {
        Limit(AtomicI64::new(v))
    }

    pub fn get(&self) -> i64 {
        self.0.load(Ordering::Relaxed)
    }

    pub fn set(&self, v: i64) {
        self.0.store(v, Ordering::Relaxed)
    }
}

/// `hash-max-listpack-entries`: most fields of a compact hash.
pub static HASH_MAX_ENTRIES: Limit = Limit::new(512);
/// `hash-max-listpack-value`: longest field or value of a compact hash.
pub static HASH_MAX_VALUE: Limit = Limit::new(64);
/// `set-max-intset-entries`: most members of an all-integer compact set.
pub static SET_MAX_INTSET_ENTRIES: Limit = Limit::new(512);
/// `zset-max-listpack-entries`: most members of a compact sorted set.
pub static ZSET_MAX_ENTRIES: Limit = Limit::new(128);
/// `zset-max-listpack-value`: longest member of a compact sorted set.
pub static ZSET_MAX_VALUE: Limit = Limit::new(64);
/// `list-max-listpack-size`: entries (positive) or bytes class (-1 = 4 KB
/// ... -5 = 64 KB) of one list node.
pub static LIST_MAX_SIZE: Limit = Limit::new(-2);
/// `list-compress-depth`: nodes at each end left uncompressed (0 = none compressed).
pub static LIST_COMPRESS_DEPTH: Limit = Limit::new(0);
