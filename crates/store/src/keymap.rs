//! One slot's key table, laid out for memory: the hash table holds only a
//! pointer per bucket (8 bytes), and each key lives in one allocation, a
//! [`Node`], with its entry and, up to [`INLINE_KEY`] bytes, the key itself.
//!
//! Why: with a table per hash slot, tables are small and all grow at the
//! same time, so their load factor is often near its low point (~0.45),
//! and a power-of-two array of 64-byte buckets plus control bytes lands
//! just above a jemalloc size class. A 65-byte bucket cost ~170 bytes per
//! key at 250k keys; an 8-byte one costs ~21, and the node (exactly the
//! 80-byte class) replaces the separate key allocation. A lookup still
//! touches as many cache lines: control bytes, bucket, node (key, entry).

use std::hash::BuildHasher;

use hashbrown::hash_table::{self, HashTable};

use crate::db::Entry;

/// Longest key stored inside its node (longer keys get their own allocation).
pub const INLINE_KEY: usize = 22;

/// A key: inline when short, else on the heap.
#[derive(Debug, Clone)]
enum Key {
    Inline { len: u8, bytes: [u8; INLINE_KEY] },
    Heap(Box<[u8]>),
}

impl Key {
    fn new(key: &[u8]) -> Key {
        if key.len() <= INLINE_KEY {
            let mut bytes = [0; INLINE_KEY];
            bytes[..key.len()].copy_from_slice(key);
            Key::Inline { len: key.len() as u8, bytes }
        } else {
            Key::Heap(key.into())
        }
    }

    fn as_bytes(&self) -> &[u8] {
        match self {
            Key::Inline { len, bytes } => &bytes[..*len as usize],
            Key::Heap(b) => b,
        }
    }
}

/// A key and its entry, in one allocation.
#[derive(Debug)]
pub struct Node {
    key: Key,
    pub entry: Entry,
}

impl Node {
    pub fn key(&self) -> &[u8] {
        self.key.as_bytes()
    }

    /// Heap bytes of the node and of a key too long to be inline.
    pub fn key_bytes(key: &[u8]) -> usize {
        crate::db::alloc_size(std::mem::size_of::<Node>()) + if key.len() > INLINE_KEY { crate::db::alloc_size(key.len()) } else { 0 }
    }
}

/// The table of one hash slot.
#[derive(Default)]
pub struct KeyMap {
    table: HashTable<Box<Node>>,
    hasher: foldhash::fast::RandomState,
}

/// Lookup result for [`KeyMap::find`].
pub type Found<'a> = Result<hash_table::OccupiedEntry<'a, Box<Node>>, hash_table::AbsentEntry<'a, Box<Node>>>;

impl KeyMap {
    /// The hash this table files `key` under (also S3-FIFO's ghost hash).
    pub fn hash(&self, key: &[u8]) -> u64 {
        self.hasher.hash_one(key)
    }

    pub fn len(&self) -> usize {
        self.table.len()
    }

    pub fn is_empty(&self) -> bool {
        self.table.is_empty()
    }

    pub fn capacity(&self) -> usize {
        self.table.capacity()
    }

    /// Bytes of the bucket array (requested, before size-class rounding).
    pub fn allocation_size(&self) -> usize {
        self.table.allocation_size()
    }

    pub fn get(&self, key: &[u8]) -> Option<&Entry> {
        self.table.find(self.hash(key), |n| n.key() == key).map(|n| &n.entry)
    }

    pub fn get_mut(&mut self, key: &[u8]) -> Option<&mut Entry> {
        let hash = self.hash(key);
        self.table.find_mut(hash, |n| n.key() == key).map(|n| &mut n.entry)
    }

    pub fn contains_key(&self, key: &[u8]) -> bool {
        self.get(key).is_some()
    }

    /// The occupied or absent entry of `key`, for one-lookup read-or-remove.
    pub fn find(&mut self, key: &[u8]) -> Found<'_> {
        let hash = self.hash(key);
        self.table.find_entry(hash, |n| n.key() == key)
    }

    /// Stores `entry` under `key`: returns the old entry (replaced in its
    /// node) or None (a new node). `meta(old)` gives the new entry's
    /// eviction word from the old one's.
    pub fn upsert(&mut self, key: &[u8], mut entry: Entry, meta: impl FnOnce(Option<&Entry>) -> u32) -> Option<Entry> {
        let hash = self.hash(key);
        let hasher = &self.hasher;
        match self.table.entry(hash, |n| n.key() == key, |n| hasher.hash_one(n.key())) {
            hash_table::Entry::Occupied(mut o) => {
                entry.set_meta(meta(Some(&o.get().entry)));
                Some(std::mem::replace(&mut o.get_mut().entry, entry))
            }
            hash_table::Entry::Vacant(v) => {
                entry.set_meta(meta(None));
                v.insert(Box::new(Node { key: Key::new(key), entry }));
                None
            }
        }
    }

    /// Removes `key`'s node.
    pub fn remove(&mut self, key: &[u8]) -> Option<Box<Node>> {
        self.find(key).ok().map(|o| o.remove().0)
    }

    pub fn iter(&self) -> impl Iterator<Item = (&[u8], &Entry)> {
        self.table.iter().map(|n| (n.key(), &n.entry))
    }

    pub fn iter_mut(&mut self) -> impl Iterator<Item = (&[u8], &mut Entry)> {
        self.table.iter_mut().map(|n| {
            let Node { key, entry } = &mut **n;
            (key.as_bytes(), entry)
        })
    }

    pub fn shrink_to(&mut self, min_capacity: usize) {
        let hasher = &self.hasher;
        self.table.shrink_to(min_capacity, |n| hasher.hash_one(n.key()));
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::value::{StrValue, Value};

    fn e(v: &str) -> Entry {
        Entry::new(Value::Str(StrValue::new(v.as_bytes())))
    }

    #[test]
    fn short_and_long_keys() {
        let mut m = KeyMap::default();
        let long = "k".repeat(100);
        for k in ["a", "key:00000001", "exactly-22-bytes-key!!", long.as_str()] {
            assert!(m.upsert(k.as_bytes(), e(k), |_| 7).is_none());
        }
        assert_eq!(m.len(), 4);
        for k in ["a", "key:00000001", "exactly-22-bytes-key!!", long.as_str()] {
            assert_eq!(m.get(k.as_bytes()).map(|e| e.value.clone()), Some(e(k).value), "{k}");
        }
        assert_eq!(m.upsert(b"a", e("b"), |old| old.map_or(0, |o| o.meta() + 1)).map(|o| o.meta()), Some(7));
        assert_eq!(m.get(b"a").map(|e| e.meta()), Some(8));
        let node = m.remove(long.as_bytes()).expect("present");
        assert_eq!(node.key(), long.as_bytes());
        assert!(m.get(long.as_bytes()).is_none());
        assert_eq!(m.iter().count(), 3);
    }

    #[test]
    fn node_fills_the_80_byte_class() {
        assert_eq!(std::mem::size_of::<Node>(), 80);
        assert_eq!(Node::key_bytes(b"key:00000001"), 80);
    }
}
