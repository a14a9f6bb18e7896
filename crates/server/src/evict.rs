//! `maxmemory` enforcement: before a command that may grow the dataset
//! (DENYOOM in the command table) runs, keys are evicted per
//! `maxmemory-policy` until the dataset fits, with bounded work per command
//! (`maxmemory-eviction-tenacity`, as Redis); if nothing may be evicted
//! (noeviction, or volatile-* without volatile keys) the command gets
//! Redis's OOM error. Reads never evict and always run.
//!
//! "Used memory" here is the keyspace's own accounting (keys, values and
//! table buckets, charged as commands run: see `ferrocache_store::db`), so
//! decisions are exact and deterministic, and work the same in tests that
//! do not install the counting allocator.

use std::sync::atomic::Ordering;
use std::time::{Duration, Instant};

use ferrocache_store::evict::{Kind, Tuning};
use ferrocache_store::Db;

use crate::command::CmdError;
use crate::shared::Shared;

/// What `maxmemory` limits (INFO `used_memory`): the memory the process
/// had allocated at start (0 in tests) plus the bytes charged for every
/// database's keys, values and tables.
pub fn used_memory(shared: &Shared) -> usize {
    ferrocache_store::memory::startup_memory() + shared.dbs.iter().map(Db::used_bytes).sum::<usize>()
}

/// Highest [`used_memory`] seen (INFO `used_memory_peak`): sampled by
/// writes under a `maxmemory` limit, by the `hz` tick and when read, so a
/// peak shorter than a tick may be missed without a limit.
pub fn used_memory_peak(shared: &Shared) -> usize {
    shared.stats.memory_peak.load(Ordering::Relaxed).max(used_memory(shared))
}

/// Records `used` as the peak if it is one (a plain load first: the
/// counter is shared by every event loop).
pub fn note_peak(shared: &Shared, used: usize) {
    let peak = &shared.stats.memory_peak;
    if used > peak.load(Ordering::Relaxed) {
        peak.fetch_max(used, Ordering::Relaxed);
    }
}

/// Keys evicted since start (INFO stats `evicted_keys`).
pub fn evicted_keys(shared: &Shared) -> u64 {
    shared.dbs.iter().map(Db::evicted).sum()
}

/// Keys in all databases (without locking).
pub fn key_count(shared: &Shared) -> usize {
    shared.dbs.iter().map(Db::key_count).sum()
}

/// Pushes the configured eviction settings to the keyspace if they changed
/// (and `min-replicas-*` to the replication state).
pub fn sync_tuning(shared: &Shared) {
    let (tuning, max) = {
        let c = shared.config.read();
        // The replication settings the write path checks are mirrored here too.
        shared.repl.set_min_replicas(c.min_replicas_to_write, c.min_replicas_max_lag);
        shared.slowlog.configure(c.slowlog_log_slower_than, c.slowlog_max_len);
        shared.latency.configure(c.latency_monitor_threshold);
        (c.tuning(), c.maxmemory)
    };
    shared.maxmemory.store(max, Ordering::Relaxed);
    apply_tuning(shared, tuning);
}

fn apply_tuning(shared: &Shared, tuning: Tuning) {
    if shared.dbs.first().is_some_and(|db| db.tuning() != tuning) {
        shared.dbs.iter().for_each(|db| db.set_tuning(tuning));
    }
}

/// Makes room before a DENYOOM command: evicts until the dataset fits in
/// `maxmemory` or the per-command budget is spent. Errors with OOM when
/// over the limit and nothing can be evicted.
pub fn make_room(shared: &Shared, now: u64) -> Result<(), CmdError> {
    let max = shared.maxmemory.load(Ordering::Relaxed) as usize;
    if max == 0 {
        return Ok(());
    }
    let used = used_memory(shared);
    note_peak(shared, used);
    // A write pause stops eviction, as Redis's does (only exempt clients write meanwhile).
    if used <= max || shared.pause.stops_writes(now) {
        return Ok(());
    }
    // Not while EXEC runs (see `repl::propagate`): an evicted key's DEL must not pass the
    // entries of the transaction that wrote it.
    let _running = shared.gate.read();
    let (tuning, tenacity) = {
        let c = shared.config.read();
        (c.tuning(), c.maxmemory_eviction_tenacity)
    };
    let budget = time_budget(tenacity);
    let start = Instant::now();
    let mut evicted = 0u32;
    while used_memory(shared) > max {
        if evict_one(shared, tuning.policy.kind(), now).is_none() {
            return Err(CmdError::msg("OOM command not allowed when used memory > 'maxmemory'."));
        }
        evicted += 1;
        if evicted.is_multiple_of(16) && budget.is_some_and(|b| start.elapsed() > b) {
            break; // the next commands carry on
        }
    }
    Ok(())
}

/// Redis's eviction time limit per command: 50 µs per tenacity point up
/// to 10, then growing 15% per point; 100 means no limit.
fn time_budget(tenacity: u32) -> Option<Duration> {
    match tenacity {
        0..=10 => Some(Duration::from_micros(50 * u64::from(tenacity.max(1)))),
        11..=99 => Some(Duration::from_micros((500.0 * 1.15f64.powi(tenacity as i32 - 10)) as u64)),
        _ => None,
    }
}

/// Evicts one key from some database per the policy. Returns the bytes
/// freed, None when nothing is evictable.
fn evict_one(shared: &Shared, kind: Kind, now: u64) -> Option<usize> {
    let dbs = &shared.dbs;
    match kind {
        Kind::None => None,
        Kind::Random | Kind::S3fifo => {
            let first = rand::random_range(0..dbs.len());
            (0..dbs.len()).map(|i| &dbs[(first + i) % dbs.len()]).filter(|db| db.key_count() > 0).find_map(|db| db.evict_direct(now))
        }
        Kind::Lru | Kind::Lfu | Kind::Ttl => {
            // Like Redis's pool: sample every database, evict the best victim.
            for _ in 0..4 {
                let best = dbs
                    .iter()
                    .filter(|db| db.key_count() > 0)
                    .filter_map(|db| db.sample_pool(now).map(|score| (score, db)))
                    .max_by_key(|(score, _)| *score);
                let (_, db) = best?;
                if let Some(freed) = db.evict_from_pool(now) {
                    return Some(freed);
                }
            }
            None
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn budget_follows_tenacity() {
        assert_eq!(time_budget(10), Some(Duration::from_micros(500)));
        assert_eq!(time_budget(0), Some(Duration::from_micros(50)));
        assert!(time_budget(50).unwrap() > Duration::from_millis(100));
        assert_eq!(time_budget(100), None);
    }
}
