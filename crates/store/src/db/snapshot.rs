//! Point-in-time copies of a database taken while writes go on (a replica's full sync).
//!
//! Why copy-on-write at slot-table granularity: the copy must be the data exactly as it was
//! at one stream offset, but serialising millions of keys with every command stopped pauses
//! the server for seconds. So [`Db::begin_snapshot`] only marks every slot table of every
//! shard "pending for snapshot G" (one atomic store of a new generation G); a background pass
//! ([`Db::copy_snapshot`]) then serialises pending tables a batch at a time, each batch under
//! its shard's lock for a moment. A change about to touch a key of a table still pending
//! (insert, overwrite, in-place change, expiry change, deletion, expiry, eviction) first hands
//! that table's current content to the snapshot's sink and marks it captured: the table is
//! copied as it was before any change made after the snapshot began. A table is about a
//! sixteen-thousandth of a database (one hash slot's keys), so the write that captures it
//! waits for a few hundred keys at most, not for a shard or the whole keyspace.
//!
//! Whole-shard changes (FLUSHDB/FLUSHALL, SWAPDB) capture every pending table of the shards
//! they touch first, so they pay for the shards the background pass has not reached yet.
//! Keys a read finds expired are reclaimed without a capture: they were already expired when
//! read, and the replication stream carries their DEL, so a copy without them ends the same.
//!
//! Cost when no snapshot runs: one atomic load per change (the database's generation,
//! compared with the shard's, which is already in cache under the lock).
//!
//! Generations come from one process-wide counter, so a table moved between databases by
//! SWAPDB never carries a generation equal to a later snapshot's and is never skipped.

use std::sync::atomic::{AtomicU32, Ordering};
use std::sync::Arc;

use parking_lot::Mutex;

use super::{Db, Entry, Shard, SlotTable, TABLES_PER_SHARD};

/// Receives captured keys, a batch per call, with their shard locked: keep it quick (format
/// and queue; never wait).
pub type Sink = Box<dyn Fn(&mut dyn Iterator<Item = (&[u8], &Entry)>) + Send + Sync>;

/// A snapshot in progress, as its database knows it.
struct Snapshot {
    generation: u32,
    /// Keys expired at this time (Unix ms) are left out.
    at: u64,
    sink: Sink,
}

/// A database's snapshot state (shared by its shards, with the memory counters).
#[derive(Default)]
pub(super) struct State {
    /// The latest snapshot's generation; a shard whose own generation differs may hold
    /// tables still to capture.
    generation: AtomicU32,
    /// The running snapshot, None once it is copied or abandoned.
    current: Mutex<Option<Arc<Snapshot>>>,
}

/// Generations handed out so far (see the module docs for why it is process-wide).
static GENERATIONS: AtomicU32 = AtomicU32::new(0);

/// A running snapshot of one database, as [`Db::begin_snapshot`] returns it.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct SnapshotId(u32);

impl std::fmt::Debug for State {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.debug_struct("State").field("generation", &self.generation).finish_non_exhaustive()
    }
}

impl State {
    /// The running snapshot, if it is generation `generation`.
    fn current(&self, generation: u32) -> Option<Arc<Snapshot>> {
        self.current.lock().clone().filter(|s| s.generation == generation)
    }
}

impl SlotTable {
    /// Hands this table's live keys to `snap` (if any) and marks it captured.
    fn capture(&mut self, generation: u32, snap: Option<&Snapshot>) {
        self.snap_gen = generation;
        if let Some(snap) = snap.filter(|_| !self.map.is_empty()) {
            (snap.sink)(&mut self.map.iter().filter(|(_, e)| !e.is_expired(snap.at)));
        }
    }
}

impl Shard {
    /// Called before table `t` changes: captures it first if a snapshot still wants it.
    #[inline]
    pub(super) fn before_change(&mut self, t: usize) {
        let generation = self.usage.snap.generation.load(Ordering::Acquire);
        if generation != self.snap_gen {
            self.capture_table(t, generation);
        }
    }

    #[cold]
    fn capture_table(&mut self, t: usize, generation: u32) {
        match self.tables.get(t) {
            None if self.tables.is_empty() => self.snap_gen = generation,
            Some(table) if table.snap_gen != generation => {
                let snap = self.usage.snap.current(generation);
                self.tables[t].capture(generation, snap.as_deref());
            }
            _ => {}
        }
    }

    /// Called before a change to every table (flush, swap): captures all still pending.
    pub(super) fn before_change_all(&mut self) {
        let generation = self.usage.snap.generation.load(Ordering::Acquire);
        if generation != self.snap_gen {
            self.capture_from(0, usize::MAX, generation);
        }
    }

    /// Captures pending tables from `first` on, until at least `batch_keys` keys were looked
    /// at or the shard's end; returns where it stopped (the shard is marked captured there).
    fn capture_from(&mut self, first: usize, batch_keys: usize, generation: u32) -> usize {
        if self.tables.is_empty() {
            self.snap_gen = generation;
            return TABLES_PER_SHARD;
        }
        let snap = self.usage.snap.current(generation);
        let (mut t, mut keys) = (first, 0);
        while t < TABLES_PER_SHARD && keys < batch_keys {
            let table = &mut self.tables[t];
            if table.snap_gen != generation {
                keys += table.map.len();
                table.capture(generation, snap.as_deref());
            }
            t += 1;
        }
        if t == TABLES_PER_SHARD {
            self.snap_gen = generation;
        }
        t
    }
}

impl Db {
    /// Starts a point-in-time copy of this database: from now on every key is handed to
    /// `sink` as it is at this moment, either by [`copy_snapshot`](Self::copy_snapshot) or,
    /// for a table about to change, by the change itself. Keys expired at `at` (Unix ms) are
    /// left out. None if a snapshot of this database is still running.
    ///
    /// The caller makes this moment mean something: the server calls it with no command
    /// running and the replication stream's offset read at the same time.
    pub fn begin_snapshot(&self, at: u64, sink: Sink) -> Option<SnapshotId> {
        let state = &self.usage.snap;
        let mut current = state.current.lock();
        if current.is_some() {
            return None;
        }
        let generation = GENERATIONS.fetch_add(1, Ordering::Relaxed).wrapping_add(1);
        *current = Some(Arc::new(Snapshot { generation, at, sink }));
        // Stored with the snapshot installed: a change that sees `generation` finds the sink.
        state.generation.store(generation, Ordering::Release);
        Some(SnapshotId(generation))
    }

    /// Copies every table the snapshot still wants, `batch_keys` keys or so per shard lock,
    /// then ends it. `pace` runs between batches with no lock held (to wait for the sink to
    /// drain); when it returns false the snapshot is abandoned: the rest is only marked, not
    /// copied, and changes stop copying too.
    pub fn copy_snapshot(&self, id: SnapshotId, batch_keys: usize, mut pace: impl FnMut() -> bool) {
        let state = &self.usage.snap;
        let SnapshotId(generation) = id;
        let mut wanted = true;
        'shards: for shard in self.shards.iter() {
            let mut t = 0;
            loop {
                if wanted && !pace() {
                    wanted = false;
                    self.end_snapshot(id);
                }
                let mut shard = shard.lock();
                if state.generation.load(Ordering::Acquire) != generation {
                    break 'shards; // another snapshot took over (this one was ended)
                }
                if shard.snap_gen == generation {
                    break;
                }
                t = shard.capture_from(t, batch_keys.max(1), generation);
                if t == TABLES_PER_SHARD {
                    break;
                }
            }
        }
        self.end_snapshot(id);
    }

    /// Ends snapshot `id` if it is running: changes stop copying (what is left pending is
    /// only marked as it is reached).
    pub fn end_snapshot(&self, id: SnapshotId) {
        let mut current = self.usage.snap.current.lock();
        if current.as_ref().is_some_and(|s| s.generation == id.0) {
            *current = None;
        }
    }

    /// Whether a snapshot of this database is running.
    pub fn snapshot_running(&self) -> bool {
        self.usage.snap.current.lock().is_some()
    }
}

#[cfg(test)]
mod tests {
    use std::collections::BTreeMap;
    use std::sync::atomic::AtomicUsize;

    use super::*;
    use crate::value::{StrValue, Value};

    fn s(v: &str) -> Value {
        Value::Str(StrValue::new(v.as_bytes()))
    }

    type Copied = Arc<Mutex<BTreeMap<Vec<u8>, (Value, Option<u64>)>>>;

    /// A sink collecting (key -> value, expiry); panics on a key captured twice.
    fn collector() -> (Copied, Sink) {
        let copied: Copied = Arc::default();
        let into = copied.clone();
        let sink: Sink = Box::new(move |entries| {
            let mut c = into.lock();
            for (k, e) in entries {
                assert!(c.insert(k.to_vec(), (e.value.clone(), e.expire_at())).is_none(), "{k:?} captured twice");
            }
        });
        (copied, sink)
    }

    fn set(db: &Db, key: &str, value: &str) {
        db.lock(key.as_bytes(), 1000).set(key.as_bytes(), s(value));
    }

    fn filled(n: usize) -> Db {
        let db = Db::new();
        for i in 0..n {
            set(&db, &format!("k{i}"), &format!("v{i}"));
        }
        db
    }

    fn value(copied: &Copied, key: &str) -> Option<Value> {
        copied.lock().get(key.as_bytes()).map(|(v, _)| v.clone())
    }

    #[test]
    fn a_snapshot_holds_the_data_as_it_began_whatever_changes_after() {
        let db = filled(2000);
        db.lock(b"k7", 1000).set_expire(b"k7", Some(5000));
        db.lock(b"gone", 1000).set(b"gone", s("x"));
        db.lock(b"gone", 1000).set_expire(b"gone", Some(1500));
        let (copied, sink) = collector();
        let id = db.begin_snapshot(2000, sink).expect("none running");
        assert!(db.begin_snapshot(2000, Box::new(|_| {})).is_none(), "one at a time");
        // Changes made while the snapshot is pending.
        set(&db, "k1", "changed");
        set(&db, "new", "added after");
        assert!(db.lock(b"k2", 1000).remove(b"k2").is_some());
        db.lock(b"k3", 1000).set_expire(b"k3", Some(9000));
        let mut g = db.lock(b"k4", 1000);
        if let Some(Entry { value: Value::Str(v), .. }) = g.get_mut(b"k4") {
            v.bytes_mut().extend_from_slice(b"+appended");
        }
        g.modified(b"k4");
        drop(g);
        db.lock(b"k7", 6000).set(b"k7", s("over an expired key"));
        for k in ["k1", "k2", "k3", "k4", "k7"] {
            assert!(copied.lock().contains_key(k.as_bytes()), "the change to {k} captured its table first");
        }
        assert!(copied.lock().len() < 100, "only the changed keys' tables were captured");
        db.copy_snapshot(id, 100, || true);
        assert!(!db.snapshot_running());
        // Changes after the copy are not captured.
        set(&db, "k5", "after the end");
        let c = copied.lock().clone();
        assert_eq!(c.len(), 2000, "every key live at the start, 'gone' (expired then) left out");
        assert_eq!(value(&copied, "k1"), Some(s("v1")), "the old value of an overwritten key");
        assert_eq!(value(&copied, "k2"), Some(s("v2")), "a key deleted after is present");
        assert_eq!(value(&copied, "k4"), Some(s("v4")), "an in-place change is not seen");
        assert_eq!(value(&copied, "k5"), Some(s("v5")));
        assert_eq!(value(&copied, "new"), None, "a key added after is absent");
        assert_eq!(c[b"k3".as_slice()].1, None, "the expiry as it was");
        assert_eq!(c[b"k7".as_slice()].1, Some(5000));
        assert_eq!(db.lock(b"k1", 1000).get(b"k1").map(|e| e.value.clone()), Some(s("changed")), "the writes went through");
        assert_eq!(db.used_bytes(), super::super::tests::recount(&db), "accounting untouched");
    }

    #[test]
    fn expiry_eviction_flush_and_swap_capture_first() {
        let db = Db::new();
        db.set_tuning(crate::evict::Tuning { policy: crate::evict::Policy::AllkeysRandom, ..Default::default() });
        for i in 0..500 {
            let k = format!("k{i}");
            db.lock(k.as_bytes(), 0).set(k.as_bytes(), s("v"));
            db.lock(k.as_bytes(), 0).set_expire(k.as_bytes(), Some(if i % 2 == 0 { 10_000 } else { 1_000_000 }));
        }
        let (copied, sink) = collector();
        let id = db.begin_snapshot(5_000, sink).unwrap();
        db.active_expire(10_000, 20_000);
        while db.evict_direct(20_000).is_some() && db.key_count() > 100 {}
        assert!(db.key_count() <= 100);
        db.copy_snapshot(id, 64, || true);
        assert_eq!(copied.lock().len(), 500, "expired and evicted keys are in the copy");

        let (a, b) = (filled(300), Db::new());
        set(&b, "only-in-b", "b");
        let (in_a, sink_a) = collector();
        let (in_b, sink_b) = collector();
        let (ida, idb) = (a.begin_snapshot(0, sink_a).unwrap(), b.begin_snapshot(0, sink_b).unwrap());
        a.swap_with(&b);
        drop(b.flush());
        a.copy_snapshot(ida, 64, || true);
        b.copy_snapshot(idb, 64, || true);
        assert_eq!((in_a.lock().len(), in_b.lock().len()), (300, 1));
        assert_eq!(value(&in_b, "only-in-b"), Some(s("b")));
        assert_eq!((a.key_count(), b.key_count()), (1, 0));
    }

    #[test]
    fn pacing_runs_between_batches_and_can_abandon() {
        let db = filled(5000);
        let (copied, sink) = collector();
        let id = db.begin_snapshot(0, sink).unwrap();
        let calls = AtomicUsize::new(0);
        db.copy_snapshot(id, 500, || calls.fetch_add(1, Ordering::Relaxed) < 3);
        let got = copied.lock().len();
        assert!((1..1000).contains(&got), "three batches (a shard's pending tables each, at most), then nothing: {got}");
        assert!(!db.snapshot_running());
        set(&db, "k1", "x");
        assert_eq!(copied.lock().len(), got, "no capture after the end");
        // The next snapshot starts from scratch and gets everything.
        let (again, sink) = collector();
        let id = db.begin_snapshot(0, sink).unwrap();
        db.copy_snapshot(id, 500, || true);
        assert_eq!(again.lock().len(), 5000);
        assert_eq!(value(&again, "k1"), Some(s("x")));
    }

    #[test]
    fn concurrent_writers_never_leak_into_the_copy() {
        let db = Arc::new(filled(20_000));
        let (copied, sink) = collector();
        let id = db.begin_snapshot(0, sink).unwrap();
        let writers: Vec<_> = (0..2)
            .map(|w| {
                let db = db.clone();
                std::thread::spawn(move || {
                    for i in (w..20_000).step_by(2) {
                        set(&db, &format!("k{i}"), "new");
                        set(&db, &format!("added{i}"), "new");
                    }
                })
            })
            .collect();
        db.copy_snapshot(id, 256, || true);
        writers.into_iter().for_each(|w| w.join().unwrap());
        let c = copied.lock();
        assert_eq!(c.len(), 20_000);
        assert!(c.iter().all(|(k, (v, _))| *v == s(&format!("v{}", std::str::from_utf8(&k[1..]).unwrap()))));
    }

    #[test]
    fn snapshot_state_costs_no_table_space() {
        assert_eq!(std::mem::size_of::<SlotTable>(), std::mem::size_of::<crate::keymap::KeyMap>() + 8);
    }
}
