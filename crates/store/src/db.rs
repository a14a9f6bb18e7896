//! One numbered database: shards of per-slot hash tables.
//!
//! A key's hash slot picks its shard (`slot % SHARDS`) and, inside the shard,
//! its table (`slot / SHARDS`). Commands lock only the shards of the keys they
//! name, in ascending shard order, so multi-key commands cannot deadlock.
//! Whole-database operations (DBSIZE, KEYS, SCAN, FLUSHDB) lock one shard at
//! a time. When a command locks two databases (MOVE, COPY ... DB), it locks
//! the lower-numbered database first.

use std::collections::HashMap;
use std::sync::atomic::{AtomicUsize, Ordering};

use ferrocache_topology::{key_slot, SLOT_COUNT};
use parking_lot::{Mutex, MutexGuard};

use crate::value::Value;
use crate::watch::{WatchFlag, Watcher};

/// Shards per database; a power of two dividing 16384.
pub const SHARDS: usize = 64;
const TABLES_PER_SHARD: usize = SLOT_COUNT as usize / SHARDS;

type Map = hashbrown::HashMap<Box<[u8]>, Entry, foldhash::fast::RandomState>;

/// A value with its expiry time and access time.
#[derive(Debug, Clone, PartialEq)]
pub struct Entry {
    pub value: Value,
    /// Absolute expiry in Unix milliseconds; 0 means none.
    expire_at: u64,
    /// Last access, in seconds of [`crate::clock::now_ms`] / 1000 (truncated).
    pub access: u32,
}

impl Entry {
    pub fn new(value: Value) -> Self {
        Entry { value, expire_at: 0, access: 0 }
    }

    /// Absolute expiry in Unix milliseconds, if the key is volatile.
    pub fn expire_at(&self) -> Option<u64> {
        (self.expire_at != 0).then_some(self.expire_at)
    }

    fn is_expired(&self, now: u64) -> bool {
        self.expire_at != 0 && self.expire_at <= now
    }
}

#[derive(Default)]
struct SlotTable {
    map: Map,
    volatile: u32,
}

/// Counters kept under the shard lock, so they cost no atomic operation.
#[derive(Debug, Default, Clone, Copy)]
pub struct Stats {
    pub hits: u64,
    pub misses: u64,
    pub expired: u64,
}

impl std::ops::AddAssign for Stats {
    fn add_assign(&mut self, o: Stats) {
        self.hits += o.hits;
        self.misses += o.misses;
        self.expired += o.expired;
    }
}

#[derive(Default)]
struct Shard {
    /// Empty until the first insert, then one table per slot of the shard.
    tables: Vec<SlotTable>,
    keys: usize,
    volatile: usize,
    watched: HashMap<Box<[u8]>, Vec<Watcher>>,
    stats: Stats,
    expire_cursor: usize,
}

impl Shard {
    fn table(&mut self, idx: usize) -> &mut SlotTable {
        if self.tables.is_empty() {
            self.tables.resize_with(TABLES_PER_SHARD, SlotTable::default);
        }
        &mut self.tables[idx]
    }

    fn signal(&mut self, key: &[u8], by_expiry: bool) {
        signal_watchers(&self.watched, key, by_expiry);
    }

    /// Removes `key` from table `t`, keeping the counters right.
    fn take(&mut self, t: usize, key: &[u8]) -> Option<Entry> {
        let table = self.tables.get_mut(t)?;
        let e = table.map.remove(key)?;
        self.keys -= 1;
        if e.expire_at != 0 {
            table.volatile -= 1;
            self.volatile -= 1;
        }
        Some(e)
    }

    /// The live entry of `key` in table `t`, found with one hash lookup;
    /// an expired entry is reclaimed on the way. A command's read
    /// (`access`) also counts a hit or miss and refreshes the access time.
    fn live(&mut self, t: usize, key: &[u8], now: u64, access: bool) -> Option<&mut Entry> {
        use hashbrown::hash_map::EntryRef;
        let Some(table) = self.tables.get_mut(t) else {
            self.stats.misses += access as u64;
            return None;
        };
        match table.map.entry_ref(key) {
            EntryRef::Vacant(_) => {
                self.stats.misses += access as u64;
                None
            }
            EntryRef::Occupied(o) if !o.get().is_expired(now) => {
                let e = o.into_mut();
                if access {
                    self.stats.hits += 1;
                    e.access = (now / 1000) as u32;
                }
                Some(e)
            }
            EntryRef::Occupied(o) => {
                o.remove();
                self.stats.misses += access as u64;
                table.volatile -= 1;
                self.volatile -= 1;
                self.keys -= 1;
                self.stats.expired += 1;
                signal_watchers(&self.watched, key, true);
                None
            }
        }
    }

    /// Drops `key` if it exists but is expired; true if it is now absent.
    fn expire_if_needed(&mut self, t: usize, key: &[u8], now: u64) -> bool {
        let expired = match self.tables.get(t).and_then(|tb| tb.map.get(key)) {
            None => return true,
            Some(e) => e.is_expired(now),
        };
        if expired {
            self.take(t, key);
            self.stats.expired += 1;
            self.signal(key, true);
        }
        expired
    }
}

fn locate(key: &[u8]) -> (usize, usize) {
    let slot = key_slot(key) as usize;
    (slot % SHARDS, slot / SHARDS)
}

fn locate_slot(slot: u16) -> (usize, usize) {
    (slot as usize % SHARDS, slot as usize / SHARDS)
}

/// A database: `SELECT`-able, swappable, flushable.
pub struct Db {
    shards: Box<[Mutex<Shard>]>,
    expire_cursor: AtomicUsize,
}

impl Default for Db {
    fn default() -> Self {
        Db::new()
    }
}

impl Db {
    pub fn new() -> Self {
        Db { shards: (0..SHARDS).map(|_| Mutex::new(Shard::default())).collect(), expire_cursor: AtomicUsize::new(0) }
    }

    /// Locks the shard of `key`.
    pub fn lock(&self, key: &[u8], now: u64) -> DbGuard<'_> {
        let s = locate(key).0;
        DbGuard { now, guards: Guards::One(s, self.shards[s].lock()) }
    }

    /// Locks the shards of all `keys`, in ascending order.
    pub fn lock_many<'k>(&self, keys: impl IntoIterator<Item = &'k [u8]>, now: u64) -> DbGuard<'_> {
        let mut idx: Vec<usize> = keys.into_iter().map(|k| locate(k).0).collect();
        idx.sort_unstable();
        idx.dedup();
        if idx.len() == 1 {
            return DbGuard { now, guards: Guards::One(idx[0], self.shards[idx[0]].lock()) };
        }
        DbGuard { now, guards: Guards::Many(idx.into_iter().map(|s| (s, self.shards[s].lock())).collect()) }
    }

    /// Locks every shard (for commands that must see the database still).
    pub fn lock_all(&self, now: u64) -> DbGuard<'_> {
        DbGuard { now, guards: Guards::Many(self.shards.iter().enumerate().map(|(i, s)| (i, s.lock())).collect()) }
    }

    /// Number of keys, including expired ones not yet reclaimed (as Redis).
    pub fn len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().keys).sum()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Number of keys with an expiry.
    pub fn volatile_len(&self) -> usize {
        self.shards.iter().map(|s| s.lock().volatile).sum()
    }

    pub fn stats(&self) -> Stats {
        let mut total = Stats::default();
        for s in self.shards.iter() {
            total += s.lock().stats;
        }
        total
    }

    pub fn reset_stats(&self) {
        for s in self.shards.iter() {
            s.lock().stats = Stats::default();
        }
    }

    /// Removes every key; watchers of keys that existed are told. Returns
    /// the old tables so a caller can free them off the hot path (ASYNC).
    pub fn flush(&self) -> Vec<Box<dyn Send>> {
        let mut old: Vec<Box<dyn Send>> = Vec::new();
        for s in self.shards.iter() {
            let mut s = s.lock();
            signal_existing(&mut s);
            let tables = std::mem::take(&mut s.tables);
            s.keys = 0;
            s.volatile = 0;
            old.push(Box::new(tables.into_iter().map(|t| t.map).collect::<Vec<_>>()));
        }
        old
    }

    /// Exchanges the contents of two databases (SWAPDB). Watchers stay with
    /// their database number; those of keys existing in either are told.
    pub fn swap_with(&self, other: &Db) {
        if std::ptr::eq(self, other) {
            return;
        }
        for (a, b) in self.shards.iter().zip(other.shards.iter()) {
            let (mut a, mut b) = (a.lock(), b.lock());
            // A watched key changes if it exists on either side.
            signal_present(&mut a, &b);
            signal_present(&mut b, &a);
            std::mem::swap(&mut a.tables, &mut b.tables);
            std::mem::swap(&mut a.keys, &mut b.keys);
            std::mem::swap(&mut a.volatile, &mut b.volatile);
        }
    }

    /// Calls `f` on every live key, one shard locked at a time.
    pub fn for_each_key(&self, now: u64, mut f: impl FnMut(&[u8], &Entry)) {
        for s in self.shards.iter() {
            let s = s.lock();
            for t in &s.tables {
                for (k, e) in t.map.iter().filter(|(_, e)| !e.is_expired(now)) {
                    f(k, e);
                }
            }
        }
    }

    /// One SCAN step. The cursor is the next slot to visit; every slot's
    /// table is returned whole, so a key present for the whole iteration is
    /// returned at least once however the tables grow. Visits slots until
    /// `count` keys were collected; empty slots cost one lock each, so a
    /// sparse database is swept in one call, as Redis answers small ones.
    /// Returns the next cursor (0 when done).
    pub fn scan(&self, cursor: u64, count: usize, now: u64, mut f: impl FnMut(&[u8], &Entry)) -> u64 {
        let mut slot = cursor.min(SLOT_COUNT as u64) as usize;
        let mut seen = 0usize;
        let count = count.max(1);
        while slot < SLOT_COUNT as usize && seen < count {
            let (s, t) = locate_slot(slot as u16);
            let shard = self.shards[s].lock();
            match shard.tables.get(t) {
                Some(table) => {
                    for (k, e) in table.map.iter().filter(|(_, e)| !e.is_expired(now)) {
                        seen += 1;
                        f(k, e);
                    }
                }
                None => {}
            }
            slot += 1;
        }
        if slot >= SLOT_COUNT as usize { 0 } else { slot as u64 }
    }

    /// A uniformly chosen slot's random live key, or None if the database is empty.
    pub fn random_key(&self, now: u64) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        for _ in 0..(4 * SLOT_COUNT as usize) {
            let slot = rand::random_range(0..SLOT_COUNT);
            let (s, t) = locate_slot(slot);
            let shard = self.shards[s].lock();
            let Some(table) = shard.tables.get(t) else { continue };
            let live: Vec<&[u8]> = table.map.iter().filter(|(_, e)| !e.is_expired(now)).map(|(k, _)| &**k).collect();
            if !live.is_empty() {
                return Some(live[rand::random_range(0..live.len())].to_vec());
            }
        }
        // Sparse database: fall back to a walk.
        let mut found = None;
        self.for_each_key(now, |k, _| {
            if found.is_none() {
                found = Some(k.to_vec())
            }
        });
        found
    }

    /// Keys stored in `slot` (expired ones included until reclaimed).
    pub fn count_keys_in_slot(&self, slot: u16) -> usize {
        let (s, t) = locate_slot(slot);
        self.shards[s].lock().tables.get(t).map_or(0, |tb| tb.map.len())
    }

    /// One active-expiry step: examines up to `budget` volatile-table keys,
    /// starting where the previous step stopped, and removes expired ones.
    /// Returns (examined, expired).
    pub fn active_expire(&self, budget: usize, now: u64) -> (usize, usize) {
        let (mut examined, mut expired) = (0, 0);
        for _ in 0..SHARDS {
            if examined >= budget {
                break;
            }
            let s = self.expire_cursor.fetch_add(1, Ordering::Relaxed) % SHARDS;
            let mut shard = self.shards[s].lock();
            if shard.volatile == 0 {
                continue;
            }
            for _ in 0..TABLES_PER_SHARD {
                if examined >= budget {
                    break;
                }
                let t = shard.expire_cursor;
                shard.expire_cursor = (t + 1) % TABLES_PER_SHARD;
                if shard.tables[t].volatile == 0 {
                    continue;
                }
                let dead: Vec<Box<[u8]>> = shard.tables[t]
                    .map
                    .iter()
                    .inspect(|_| examined += 1)
                    .filter(|(_, e)| e.is_expired(now))
                    .map(|(k, _)| k.clone())
                    .collect();
                for k in dead {
                    shard.take(t, &k);
                    shard.stats.expired += 1;
                    shard.signal(&k, true);
                    expired += 1;
                }
            }
        }
        (examined, expired)
    }

    /// Registers a watch on `key`. Returns whether the key existed (live).
    pub fn watch(&self, key: &[u8], flag: &WatchFlag, now: u64) -> bool {
        let (s, t) = locate(key);
        let mut shard = self.shards[s].lock();
        let live = shard.tables.get(t).and_then(|tb| tb.map.get(key)).is_some_and(|e| !e.is_expired(now));
        let w = Watcher { flag: flag.clone(), absent_at_watch: !live };
        shard.watched.entry(key.into()).or_default().push(w);
        live
    }

    /// Removes `flag`'s watch on `key`.
    pub fn unwatch(&self, key: &[u8], flag: &WatchFlag) {
        let mut shard = self.shards[locate(key).0].lock();
        if let Some(ws) = shard.watched.get_mut(key) {
            ws.retain(|w| !w.flag.same(flag));
            if ws.is_empty() {
                shard.watched.remove(key);
            }
        }
    }

    /// Whether a key that was live when watched has expired since (EXEC
    /// aborts then even if nothing touched the key yet).
    pub fn watched_key_expired(&self, key: &[u8], flag: &WatchFlag, now: u64) -> bool {
        let (s, t) = locate(key);
        let shard = self.shards[s].lock();
        let was_live = shard
            .watched
            .get(key)
            .and_then(|ws| ws.iter().find(|w| w.flag.same(flag)))
            .is_some_and(|w| !w.absent_at_watch);
        was_live && shard.tables.get(t).and_then(|tb| tb.map.get(key)).is_some_and(|e| e.is_expired(now))
    }
}

/// Sets the flags of `key`'s watchers (not of those who watched it while
/// it was absent, when the change is its expiry).
fn signal_watchers(watched: &HashMap<Box<[u8]>, Vec<Watcher>>, key: &[u8], by_expiry: bool) {
    if let Some(ws) = watched.get(key) {
        for w in ws.iter().filter(|w| !(by_expiry && w.absent_at_watch)) {
            w.flag.set();
        }
    }
}

fn signal_existing(shard: &mut Shard) {
    for (k, ws) in &shard.watched {
        if holds(shard, k) {
            ws.iter().for_each(|w| w.flag.set());
        }
    }
}

/// Signals `watching`'s watchers of keys present in `watching` or `other`.
fn signal_present(watching: &mut Shard, other: &Shard) {
    for (k, ws) in &watching.watched {
        if holds(watching, k) || holds(other, k) {
            ws.iter().for_each(|w| w.flag.set());
        }
    }
}

fn holds(shard: &Shard, key: &[u8]) -> bool {
    shard.tables.get(locate(key).1).is_some_and(|tb| tb.map.contains_key(key))
}

enum Guards<'a> {
    One(usize, MutexGuard<'a, Shard>),
    Many(Vec<(usize, MutexGuard<'a, Shard>)>),
}

/// The locked shards of one database, for the keys a command named.
/// Every method takes a key; using a key whose shard is not locked panics
/// (a bug in the command, never the client's input).
pub struct DbGuard<'a> {
    now: u64,
    guards: Guards<'a>,
}

impl DbGuard<'_> {
    /// The time this command runs at (ms); expiry is judged against it.
    pub fn now(&self) -> u64 {
        self.now
    }

    fn shard(&mut self, key: &[u8]) -> (&mut Shard, usize) {
        let (s, t) = locate(key);
        let shard = match &mut self.guards {
            Guards::One(i, g) if *i == s => &mut **g,
            Guards::Many(v) => v.iter_mut().find(|(i, _)| *i == s).map(|(_, g)| &mut **g).expect("key's shard not locked"),
            Guards::One(..) => panic!("key's shard not locked"),
        };
        (shard, t)
    }

    /// The live entry of `key`, if any (expired entries are reclaimed here).
    pub fn get(&mut self, key: &[u8]) -> Option<&Entry> {
        self.get_mut(key).map(|e| &*e)
    }

    /// Like [`get`](Self::get), mutable. After changing the entry call
    /// [`modified`](Self::modified) so that watchers learn of it.
    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let now = self.now;
        let (shard, t) = self.shard(key);
        shard.live(t, key, now, false)
    }

    /// A read by a command: counts a keyspace hit or miss and refreshes the
    /// key's access time.
    pub fn read(&mut self, key: &[u8]) -> Option<&Entry> {
        let now = self.now;
        let (shard, t) = self.shard(key);
        shard.live(t, key, now, true).map(|e| &*e)
    }

    pub fn contains(&mut self, key: &[u8]) -> bool {
        self.get_mut(key).is_some()
    }

    /// Tells watchers that `key` changed in place.
    pub fn modified(&mut self, key: &[u8]) {
        let (shard, _) = self.shard(key);
        if !shard.watched.is_empty() {
            shard.signal(key, false);
        }
    }

    /// Stores `value` under `key` with no expiry, replacing any old value
    /// (and its expiry). Returns the old live entry.
    pub fn set(&mut self, key: &[u8], value: Value) -> Option<Entry> {
        self.insert(key, Entry::new(value))
    }

    /// Stores `entry` (its expiry included) under `key`. Returns the old live entry.
    /// One hash lookup; an existing key keeps its allocation.
    pub fn insert(&mut self, key: &[u8], mut entry: Entry) -> Option<Entry> {
        use hashbrown::hash_map::EntryRef;
        let now = self.now;
        entry.access = (now / 1000) as u32;
        let new_volatile = entry.expire_at != 0;
        let (shard, t) = self.shard(key);
        shard.table(t);
        let table = &mut shard.tables[t];
        let old = match table.map.entry_ref(key) {
            EntryRef::Occupied(mut o) => Some(std::mem::replace(o.get_mut(), entry)),
            EntryRef::Vacant(v) => {
                v.insert_with_key(key.into(), entry);
                None
            }
        };
        let old_volatile = old.as_ref().is_some_and(|o| o.expire_at != 0);
        if old_volatile != new_volatile {
            if new_volatile {
                table.volatile += 1;
                shard.volatile += 1;
            } else {
                table.volatile -= 1;
                shard.volatile -= 1;
            }
        }
        if old.is_none() {
            shard.keys += 1;
        }
        // An expired old value counts as reclaimed, and was no live entry.
        let old = match old {
            Some(o) if o.is_expired(now) => {
                shard.stats.expired += 1;
                None
            }
            other => other,
        };
        if !shard.watched.is_empty() {
            shard.signal(key, false);
        }
        old
    }

    /// Deletes `key`; returns its live entry if it had one.
    pub fn remove(&mut self, key: &[u8]) -> Option<Entry> {
        let now = self.now;
        let (shard, t) = self.shard(key);
        if shard.expire_if_needed(t, key, now) {
            return None;
        }
        let e = shard.take(t, key);
        if e.is_some() && !shard.watched.is_empty() {
            shard.signal(key, false);
        }
        e
    }

    /// Sets (`Some(ms)`) or clears (`None`) the expiry of a live key.
    /// Returns false if the key does not exist. An expiry in the past
    /// deletes the key, as Redis does.
    pub fn set_expire(&mut self, key: &[u8], at: Option<u64>) -> bool {
        let now = self.now;
        if matches!(at, Some(ms) if ms <= now) {
            return self.remove(key).is_some();
        }
        let (shard, t) = self.shard(key);
        if shard.expire_if_needed(t, key, now) {
            return false;
        }
        let table = &mut shard.tables[t];
        let Some(e) = table.map.get_mut(key) else { return false };
        let new = at.unwrap_or(0);
        match (e.expire_at != 0, new != 0) {
            (false, true) => {
                table.volatile += 1;
                shard.volatile += 1;
            }
            (true, false) => {
                table.volatile -= 1;
                shard.volatile -= 1;
            }
            _ => {}
        }
        e.expire_at = new;
        if !shard.watched.is_empty() {
            shard.signal(key, false);
        }
        true
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::StrValue;

    fn s(v: &str) -> Value {
        Value::Str(StrValue::new(v.as_bytes()))
    }

    #[test]
    fn set_get_remove_counts() {
        let db = Db::new();
        let mut g = db.lock(b"a", 1000);
        assert!(g.set(b"a", s("1")).is_none());
        assert!(g.set(b"a", s("2")).is_some());
        assert_eq!(g.get(b"a").unwrap().value, s("2"));
        drop(g);
        assert_eq!(db.len(), 1);
        let mut g = db.lock(b"a", 1000);
        assert!(g.remove(b"a").is_some());
        assert!(g.remove(b"a").is_none());
        drop(g);
        assert_eq!(db.len(), 0);
    }

    #[test]
    fn lazy_expiry() {
        let db = Db::new();
        let mut g = db.lock(b"k", 1000);
        g.set(b"k", s("v"));
        assert!(g.set_expire(b"k", Some(2000)));
        drop(g);
        assert_eq!(db.volatile_len(), 1);
        assert!(db.lock(b"k", 1999).get(b"k").is_some());
        assert!(db.lock(b"k", 2000).get(b"k").is_none());
        assert_eq!(db.len(), 0);
        assert_eq!(db.volatile_len(), 0);
        assert_eq!(db.stats().expired, 1);
    }

    #[test]
    fn active_expiry_reclaims_untouched_keys() {
        let db = Db::new();
        for i in 0..1000 {
            let k = format!("key:{i}");
            let mut g = db.lock(k.as_bytes(), 0);
            g.set(k.as_bytes(), s("v"));
            if i % 2 == 0 {
                g.set_expire(k.as_bytes(), Some(10));
            }
        }
        let mut total = 0;
        for _ in 0..100 {
            total += db.active_expire(100, 20).1;
        }
        assert_eq!(total, 500);
        assert_eq!(db.len(), 500);
        assert_eq!(db.volatile_len(), 0);
    }

    #[test]
    fn scan_visits_every_key_while_growing() {
        let db = Db::new();
        for i in 0..500 {
            let k = format!("a{i}");
            db.lock(k.as_bytes(), 0).set(k.as_bytes(), s("v"));
        }
        let mut seen = std::collections::HashSet::new();
        let mut cursor = 0;
        let mut extra = 0;
        loop {
            cursor = db.scan(cursor, 10, 0, |k, _| {
                seen.insert(k.to_vec());
            });
            for _ in 0..20 {
                let k = format!("b{extra}");
                extra += 1;
                db.lock(k.as_bytes(), 0).set(k.as_bytes(), s("v"));
            }
            if cursor == 0 {
                break;
            }
        }
        for i in 0..500 {
            assert!(seen.contains(format!("a{i}").as_bytes()));
        }
    }

    #[test]
    fn watch_is_signalled_by_writes_and_expiry() {
        let db = Db::new();
        let flag = WatchFlag::new();
        db.lock(b"w", 0).set(b"w", s("1"));
        assert!(db.watch(b"w", &flag, 0));
        db.lock(b"other", 0).set(b"other", s("1"));
        assert!(!flag.is_set());
        db.lock(b"w", 0).set_expire(b"w", Some(100));
        assert!(flag.is_set());
        flag.reset();
        assert!(db.watched_key_expired(b"w", &flag, 100));
        db.unwatch(b"w", &flag);
        db.lock(b"w", 0).set(b"w", s("2"));
        assert!(!flag.is_set());
    }

    #[test]
    fn multi_lock_and_swap() {
        let a = Db::new();
        let b = Db::new();
        let keys: Vec<&[u8]> = vec![b"x", b"y", b"z", b"x"];
        let mut g = a.lock_many(keys.iter().copied(), 0);
        for k in &keys {
            g.set(k, s("1"));
        }
        drop(g);
        assert_eq!(a.len(), 3);
        let flag = WatchFlag::new();
        a.watch(b"x", &flag, 0);
        b.watch(b"x", &flag, 0);
        a.swap_with(&b);
        assert!(flag.is_set(), "a key present in one of the swapped databases is a change");
        assert_eq!(a.len(), 0);
        assert_eq!(b.len(), 3);
        b.flush();
        assert!(b.is_empty());
    }
}
