//! The latency monitor (`LATENCY LATEST/HISTORY/RESET`, and the text of
//! DOCTOR and GRAPH in [`crate::latency_report`]): per event, the
//! last [`HISTORY_LEN`] seconds in which the event took at least
//! `latency-monitor-threshold` milliseconds, with the worst time seen.
//!
//! Events are what Redis calls them: `command` for a command slower than
//! the threshold, `fast-command` for one flagged `fast`. Only events this
//! server really measures are recorded (nothing about forks or AOF, which
//! it does not have).
//!
//! Why this shape: the check runs after every command on the duration
//! [`crate::dispatch::run`] already measured for [`crate::cmdstats`], so it
//! is one relaxed atomic load and a compare (0, the default, turns it off).
//! Only a command over the threshold reads the clock and takes the mutex;
//! such commands are rare by definition. Samples within one second merge,
//! keeping the worst, as in Redis, so a storm of slow commands costs at
//! most one ring slot a second.

use std::collections::BTreeMap;
use std::sync::atomic::{AtomicU64, Ordering};

use parking_lot::Mutex;

/// Samples kept per event (Redis's `LATENCY_TS_LEN`).
pub const HISTORY_LEN: usize = 160;

/// One sample: Unix seconds, milliseconds.
pub type Sample = (u64, u64);

/// One event's samples, a ring of [`HISTORY_LEN`] (unused slots have time 0).
#[derive(Debug, Clone)]
struct Series {
    samples: [Sample; HISTORY_LEN],
    /// The slot the next sample goes in.
    next: usize,
    /// The worst latency ever recorded (until a reset).
    max: u64,
}

impl Series {
    fn new() -> Series {
        Series { samples: [(0, 0); HISTORY_LEN], next: 0, max: 0 }
    }

    fn add(&mut self, time: u64, ms: u64) {
        self.max = self.max.max(ms);
        let last = &mut self.samples[(self.next + HISTORY_LEN - 1) % HISTORY_LEN];
        if last.0 == time {
            last.1 = last.1.max(ms);
            return;
        }
        self.samples[self.next] = (time, ms);
        self.next = (self.next + 1) % HISTORY_LEN;
    }

    fn latest(&self) -> Sample {
        self.samples[(self.next + HISTORY_LEN - 1) % HISTORY_LEN]
    }

    /// Samples oldest first.
    fn history(&self) -> Vec<Sample> {
        (0..HISTORY_LEN).map(|i| self.samples[(self.next + i) % HISTORY_LEN]).filter(|s| s.0 != 0).collect()
    }
}

/// One line of `LATENCY LATEST`.
#[derive(Debug, Clone, PartialEq)]
pub struct Latest {
    pub event: String,
    /// Unix seconds of the newest sample.
    pub time: u64,
    pub latest_ms: u64,
    pub max_ms: u64,
}

/// The server's latency monitor (see the module docs).
pub struct LatencyMonitor {
    /// Milliseconds; 0: off.
    threshold: AtomicU64,
    events: Mutex<BTreeMap<String, Series>>,
}

impl LatencyMonitor {
    pub fn new(threshold_ms: u64) -> LatencyMonitor {
        LatencyMonitor { threshold: AtomicU64::new(threshold_ms), events: Mutex::default() }
    }

    pub fn configure(&self, threshold_ms: u64) {
        self.threshold.store(threshold_ms, Ordering::Relaxed);
    }

    /// Milliseconds; 0: off.
    pub fn threshold_ms(&self) -> u64 {
        self.threshold.load(Ordering::Relaxed)
    }

    /// The whole milliseconds of `nanos` if that reaches the threshold
    /// (Redis compares whole milliseconds too).
    pub fn spike(&self, nanos: u64) -> Option<u64> {
        let t = self.threshold.load(Ordering::Relaxed);
        if t == 0 {
            return None;
        }
        let ms = nanos / 1_000_000;
        (ms >= t).then_some(ms)
    }

    /// Records that `event` took `ms` at Unix second `time`.
    pub fn add(&self, event: &str, ms: u64, time: u64) {
        let mut events = self.events.lock();
        match events.get_mut(event) {
            Some(series) => series.add(time, ms),
            None => {
                let mut series = Series::new();
                series.add(time, ms);
                events.insert(event.to_string(), series);
            }
        }
    }

    /// Every event's newest sample and maximum, by event name.
    pub fn latest(&self) -> Vec<Latest> {
        let events = self.events.lock();
        events
            .iter()
            .map(|(event, s)| {
                let (time, latest_ms) = s.latest();
                Latest { event: event.clone(), time, latest_ms, max_ms: s.max }
            })
            .collect()
    }

    /// `event`'s samples, oldest first (none for an event never seen).
    pub fn history(&self, event: &str) -> Vec<Sample> {
        self.events.lock().get(event).map(Series::history).unwrap_or_default()
    }

    /// Forgets `events` (all when None); returns how many existed.
    pub fn reset<'a>(&self, events: Option<impl IntoIterator<Item = &'a [u8]>>) -> usize {
        let mut all = self.events.lock();
        let Some(events) = events else {
            return std::mem::take(&mut *all).len();
        };
        let mut removed = 0;
        for e in events {
            if let Ok(name) = std::str::from_utf8(e) {
                removed += all.remove(name).is_some() as usize;
            }
        }
        removed
    }
}

/// The key Redis gives latency histogram level `2^k` ns in LATENCY
/// HISTOGRAM: microseconds of the highest value its HDR histogram (two
/// significant digits) counts in the same sub-bucket as `2^k`, that is
/// `(2^k + 2^(k-7) - 1) / 1000`.
fn level_usec(k: u32) -> u64 {
    ((1u64 << k) + (1u64 << (k - 7)) - 1) / 1000
}

/// Redis records at most one second (2^30 ns is the level that holds it).
const TOP_LEVEL: u32 = 30;

/// A command's latency histogram as LATENCY HISTOGRAM lists it, from the
/// per-bucket counts of [`crate::cmdstats`] (bucket `b` holds durations up
/// to `2^(b+10)` ns): (microseconds, cumulative count) for every level
/// where the count grows. Durations over a second go to the last level.
pub fn cumulative_usec(latency: &[u64]) -> Vec<(u64, u64)> {
    let mut out: Vec<(u64, u64)> = Vec::new();
    let mut total = 0;
    for (b, &n) in latency.iter().enumerate() {
        if n == 0 {
            continue;
        }
        total += n;
        let usec = level_usec((b as u32 + 10).min(TOP_LEVEL));
        match out.last_mut() {
            Some(last) if last.0 == usec => last.1 = total,
            _ => out.push((usec, total)),
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn threshold_in_whole_milliseconds() {
        let m = LatencyMonitor::new(0);
        assert_eq!(m.spike(u64::MAX), None, "0 is off");
        m.configure(5);
        assert_eq!(m.spike(4_999_999), None);
        assert_eq!(m.spike(5_000_000), Some(5));
        assert_eq!(m.spike(12_345_678), Some(12));
    }

    #[test]
    fn same_second_merges_and_ring_is_bounded() {
        let m = LatencyMonitor::new(1);
        m.add("command", 10, 100);
        m.add("command", 3, 100);
        m.add("command", 7, 101);
        assert_eq!(m.history("command"), [(100, 10), (101, 7)]);
        assert_eq!(m.latest(), [Latest { event: "command".into(), time: 101, latest_ms: 7, max_ms: 10 }]);
        m.add("command", 20, 101);
        assert_eq!(m.history("command"), [(100, 10), (101, 20)]);
        for t in 0..200 {
            m.add("command", t, 1000 + t);
        }
        let h = m.history("command");
        assert_eq!(h.len(), HISTORY_LEN);
        assert_eq!(h[0], (1040, 40), "oldest kept");
        assert_eq!(h[HISTORY_LEN - 1], (1199, 199), "newest last");
        assert_eq!(m.latest()[0].max_ms, 199);
        assert!(m.history("nosuch").is_empty());
    }

    #[test]
    fn reset_counts_what_existed() {
        let m = LatencyMonitor::new(1);
        m.add("command", 1, 1);
        m.add("fast-command", 1, 1);
        let some: [&[u8]; 3] = [b"command", b"command", b"nosuch"];
        assert_eq!(m.reset(Some(some)), 1);
        assert_eq!(m.latest().len(), 1);
        m.add("command", 1, 1);
        assert_eq!(m.reset(None::<[&[u8]; 0]>), 2);
        assert!(m.latest().is_empty());
    }

    #[test]
    fn histogram_levels_are_redis_keys() {
        let keys: Vec<u64> = (10..=TOP_LEVEL).map(level_usec).collect();
        assert_eq!(&keys[..8], [1, 2, 4, 8, 16, 33, 66, 132]);
        assert_eq!(*keys.last().expect("levels"), 1_082_130);
        let mut latency = [0u64; crate::cmdstats::BUCKETS];
        latency[0] = 2;
        latency[6] = 1;
        latency[20] = 1;
        latency[30] = 3;
        assert_eq!(cumulative_usec(&latency), [(1, 2), (66, 3), (1_082_130, 7)]);
        assert!(cumulative_usec(&[0; 4]).is_empty());
    }
}
