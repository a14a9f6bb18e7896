//! Per-command statistics: calls, failed and rejected calls, time spent
//! and a latency histogram per command, and error replies per error code.
//! INFO `commandstats`, `errorstats` and `latencystats` and the `/metrics`
//! exposition read them.
//!
//! Why this shape: every command updates them, so the update must not
//! serialise the event loops nor allocate. Each event loop has its own
//! block of counters (threads that are not loops share block 0); an update
//! is a few relaxed atomic adds on memory no other loop writes, and a reader
//! sums the blocks. Commands are numbered densely ([`crate::table::Table::id`]),
//! so a block is a plain array. Error codes Redis and Ferrocache use are a
//! fixed list with a counter each; any other code goes to a small locked
//! map, a path error replies with such codes only take.
//!
//! Latency buckets are powers of two of nanoseconds: bucket `b` holds
//! durations below `2^(b + 10)` ns (bucket 0: up to 1.024 µs), the last one
//! everything longer. Percentiles are reported as the upper bound of the
//! bucket they fall in, so they are exact to within a factor of two.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Latency buckets per command.
pub const BUCKETS: usize = 31;
/// Bucket 0's upper bound is `2^FIRST_BITS` ns.
const FIRST_BITS: u32 = 10;
/// Distinct codes outside [`CODES`] that are counted (Redis stops at 128 too).
const MAX_OTHER_CODES: usize = 128;

/// Error codes counted without a lock: those Ferrocache replies with.
const CODES: &[&str] = &[
    "ERR", "WRONGTYPE", "MOVED", "ASK", "NOAUTH", "READONLY", "NOREPLICAS", "OOM", "EXECABORT", "CROSSSLOT", "TRYAGAIN",
    "CLUSTERDOWN", "BUSYKEY", "NOPERM", "NOPROTO", "WRONGPASS", "LOADING", "MASTERDOWN", "UNBLOCKED", "NOTBUSY", "BUSY",
    "NOSCRIPT",
];

/// The upper bound of latency bucket `b`, in nanoseconds (the last bucket has none).
pub fn bucket_bound_ns(b: usize) -> Option<u64> {
    (b + 1 < BUCKETS).then(|| 1u64 << (b as u32 + FIRST_BITS))
}

/// The bucket a duration of `ns` falls in.
fn bucket(ns: u64) -> usize {
    let bits = u64::BITS - ns.saturating_sub(1).leading_zeros();
    (bits.saturating_sub(FIRST_BITS) as usize).min(BUCKETS - 1)
}

/// One command's counters in one block.
#[derive(Default)]
struct Counters {
    calls: AtomicU64,
    failed: AtomicU64,
    rejected: AtomicU64,
    nanos: AtomicU64,
    latency: [AtomicU64; BUCKETS],
}

/// One event loop's counters, on cache lines of their own (the error
/// counters sit inline, beside the next loop's block otherwise).
#[repr(align(128))]
struct Block {
    commands: Box<[Counters]>,
    errors: [AtomicU64; CODES.len()],
}

/// The server's per-command statistics (see the module docs).
pub struct CommandStats {
    blocks: Box<[Block]>,
    other_errors: Mutex<BTreeMap<String, u64>>,
}

/// One command's counters summed over the blocks.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct CommandTotals {
    pub calls: u64,
    pub failed: u64,
    pub rejected: u64,
    pub nanos: u64,
    /// Calls per latency bucket (not cumulative).
    pub latency: [u64; BUCKETS],
}

impl CommandTotals {
    /// The `p`th percentile (0-100] of the latency, in microseconds: the
    /// upper bound of its bucket (the last bucket's lower bound).
    pub fn percentile_usec(&self, p: f64) -> f64 {
        let total: u64 = self.latency.iter().sum();
        let rank = ((p * total as f64 / 100.0).ceil() as u64).max(1);
        let mut seen = 0;
        for (b, &n) in self.latency.iter().enumerate() {
            seen += n;
            if seen >= rank {
                let ns = bucket_bound_ns(b).unwrap_or(1 << (b as u32 + FIRST_BITS - 1));
                return ns as f64 / 1000.0;
            }
        }
        0.0
    }
}

impl CommandStats {
    /// Counters for `commands` ids and `loops` event loops.
    pub fn new(commands: usize, loops: usize) -> CommandStats {
        let block = || Block { commands: (0..commands).map(|_| Counters::default()).collect(), errors: Default::default() };
        CommandStats { blocks: (0..loops.max(1)).map(|_| block()).collect(), other_errors: Mutex::default() }
    }

    /// The calling thread's block.
    fn block(&self) -> &Block {
        &self.blocks[crate::affinity::current_loop() % self.blocks.len()]
    }

    /// A command that ran for `nanos`; `failed` when it replied with an error.
    pub fn record(&self, id: usize, nanos: u64, failed: bool) {
        let Some(c) = self.block().commands.get(id) else { return };
        c.calls.fetch_add(1, Ordering::Relaxed);
        c.nanos.fetch_add(nanos, Ordering::Relaxed);
        c.latency[bucket(nanos)].fetch_add(1, Ordering::Relaxed);
        if failed {
            c.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A command that ran (and was counted) earlier, whose reply came later
    /// and was an error (a blocked command's).
    pub fn failed(&self, id: usize) {
        if let Some(c) = self.block().commands.get(id) {
            c.failed.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// A command refused before it ran (arity, authentication, routing, ...).
    pub fn rejected(&self, id: usize) {
        if let Some(c) = self.block().commands.get(id) {
            c.rejected.fetch_add(1, Ordering::Relaxed);
        }
    }

    /// An error reply; `message` is its text (without the leading `-`),
    /// whose first word is the code.
    pub fn error(&self, message: &[u8]) {
        let end = message.iter().position(|&b| b == b' ' || b == b'\r').unwrap_or(message.len());
        let code = &message[..end];
        if let Some(i) = CODES.iter().position(|c| c.as_bytes() == code) {
            self.block().errors[i].fetch_add(1, Ordering::Relaxed);
            return;
        }
        let code = String::from_utf8_lossy(code);
        let mut other = self.other_errors.lock();
        if let Some(n) = other.get_mut(&*code) {
            *n += 1;
        } else if other.len() < MAX_OTHER_CODES {
            other.insert(code.into_owned(), 1);
        }
    }

    /// Zeroes everything (CONFIG RESETSTAT).
    pub fn reset(&self) {
        for block in self.blocks.iter() {
            for c in block.commands.iter() {
                for a in [&c.calls, &c.failed, &c.rejected, &c.nanos].into_iter().chain(&c.latency) {
                    a.store(0, Ordering::Relaxed);
                }
            }
            for e in &block.errors {
                e.store(0, Ordering::Relaxed);
            }
        }
        self.other_errors.lock().clear();
    }

    /// Totals of every command that was called or rejected, by id.
    pub fn commands(&self) -> Vec<(usize, CommandTotals)> {
        let ids = self.blocks[0].commands.len();
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        (0..ids)
            .filter_map(|id| {
                let mut t = CommandTotals::default();
                for block in self.blocks.iter() {
                    let c = &block.commands[id];
                    t.calls += load(&c.calls);
                    t.failed += load(&c.failed);
                    t.rejected += load(&c.rejected);
                    t.nanos += load(&c.nanos);
                    for (sum, n) in t.latency.iter_mut().zip(&c.latency) {
                        *sum += load(n);
                    }
                }
                (t.calls > 0 || t.rejected > 0).then_some((id, t))
            })
            .collect()
    }

    /// Error replies by code, sorted by code; codes never replied are left out.
    pub fn errors(&self) -> Vec<(String, u64)> {
        let mut all = self.other_errors.lock().clone();
        for (i, code) in CODES.iter().enumerate() {
            let n: u64 = self.blocks.iter().map(|b| b.errors[i].load(Ordering::Relaxed)).sum();
            if n > 0 {
                *all.entry(code.to_string()).or_default() += n;
            }
        }
        all.into_iter().collect()
    }

    /// Error replies in all (INFO `total_error_replies`).
    pub fn total_errors(&self) -> u64 {
        self.errors().iter().map(|(_, n)| n).sum()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn buckets_are_powers_of_two_of_nanoseconds() {
        assert_eq!(bucket(0), 0);
        assert_eq!(bucket(1024), 0);
        assert_eq!(bucket(1025), 1);
        assert_eq!(bucket(2048), 1);
        assert_eq!(bucket(2049), 2);
        assert_eq!(bucket(u64::MAX), BUCKETS - 1);
        for b in 0..BUCKETS - 1 {
            let bound = bucket_bound_ns(b).expect("finite");
            assert_eq!(bucket(bound), b, "a bound belongs to its bucket");
            assert_eq!(bucket(bound + 1), b + 1);
        }
        assert_eq!(bucket_bound_ns(BUCKETS - 1), None);
    }

    #[test]
    fn counts_sum_over_blocks_and_reset() {
        let stats = CommandStats::new(4, 2);
        stats.record(1, 500, false);
        stats.record(1, 3000, true);
        stats.rejected(1);
        stats.rejected(3);
        stats.record(99, 1, false); // an id beyond the table is ignored
        let all = stats.commands();
        assert_eq!(all.iter().map(|(id, _)| *id).collect::<Vec<_>>(), [1, 3]);
        let get = &all[0].1;
        assert_eq!((get.calls, get.failed, get.rejected, get.nanos), (2, 1, 1, 3500));
        assert_eq!(get.latency[0] + get.latency[2], 2);
        assert_eq!(all[1].1.calls, 0);
        stats.reset();
        assert!(stats.commands().is_empty());
    }

    #[test]
    fn percentiles_are_bucket_bounds() {
        let stats = CommandStats::new(1, 1);
        for _ in 0..98 {
            stats.record(0, 900, false);
        }
        stats.record(0, 3_000, false);
        stats.record(0, 10_000_000, false);
        let t = &stats.commands()[0].1;
        assert_eq!(t.percentile_usec(50.0), 1.024);
        assert_eq!(t.percentile_usec(99.0), 4.096);
        assert_eq!(t.percentile_usec(99.9), 16777.216);
        assert_eq!(CommandTotals::default().percentile_usec(50.0), 0.0);
    }

    #[test]
    fn errors_by_code() {
        let stats = CommandStats::new(1, 1);
        stats.error(b"ERR syntax error");
        stats.error(b"WRONGTYPE Operation against a key holding the wrong kind of value");
        stats.error(b"ERR no such key");
        stats.error(b"CUSTOM thing");
        stats.error(b"MOVED 12182 127.0.0.1:7002");
        let want = [("CUSTOM", 1), ("ERR", 2), ("MOVED", 1), ("WRONGTYPE", 1)].map(|(c, n)| (c.to_string(), n));
        assert_eq!(stats.errors(), want);
        assert_eq!(stats.total_errors(), 5);
        stats.reset();
        assert!(stats.errors().is_empty());
    }
}
