//! The large encoding of hashes and sets (`hashtable` in OBJECT ENCODING):
//! a chained hash table of byte records that HSCAN/SSCAN can walk while it
//! grows and shrinks between calls.
//!
//! Why not `hashbrown`: a SCAN cursor must survive resizing. Here a
//! record's bucket is the top bits of its hash, so bucket `i` of a table
//! of `2^b` buckets holds exactly the hashes in `[i << (64-b), (i+1) <<
//! (64-b))`, and the buckets in index order walk the hash space in
//! increasing order at every size. The cursor is the first hash not yet
//! visited: after growth its bucket starts exactly there, after shrinking
//! its bucket starts a little earlier (some records come again, which SCAN
//! allows). So a record present for a whole iteration is always returned.
//!
//! Memory: one 8-byte bucket per record at most (the table doubles when it
//! holds more records than buckets), and one 32-byte node per record that
//! holds records of up to [`INLINE`] bytes inline (a hash field and value,
//! or a set member), so small records cost 40 bytes where Redis spends a
//! bucket, a 24-byte dict entry and one or two SDS strings.
//! [`Table::heap_bytes`] is a running count, O(1).

use std::hash::BuildHasher;
use std::marker::PhantomData;

use foldhash::fast::FixedState;

use crate::db::alloc_size;
use crate::packed::{Buf, INLINE};


/// Fewest buckets of a non-empty table.
const MIN_BUCKETS: usize = 4;

/// Where a record's key is: the whole record (set members) or a prefix
/// (hash fields, see [`crate::hash`]).
pub trait Layout {
    fn key(record: &[u8]) -> &[u8];
}

#[derive(Debug, Clone)]
struct Node {
    next: Option<Box<Node>>,
    record: Buf,
}

/// Heap bytes one record costs: its node, and its bytes if not inline.
fn node_bytes(record: &[u8]) -> usize {
    alloc_size(std::mem::size_of::<Node>()) + if record.len() > INLINE { alloc_size(record.len()) } else { 0 }
}

/// The table. `L` says which part of a record is its key.
#[derive(Debug, Clone)]
pub struct Table<L> {
    /// Empty, or a power of two of at least [`MIN_BUCKETS`] chains.
    buckets: Vec<Option<Box<Node>>>,
    len: usize,
    /// Heap bytes of the nodes and their records (the bucket array is
    /// counted from its capacity).
    node_bytes: usize,
    hasher: FixedState,
    layout: PhantomData<L>,
}

impl<L: Layout> Default for Table<L> {
    fn default() -> Self {
        Table { buckets: Vec::new(), len: 0, node_bytes: 0, hasher: FixedState::with_seed(rand::random()), layout: PhantomData }
    }
}

impl<L: Layout> Table<L> {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes of the buckets, nodes and records (O(1)).
    pub fn heap_bytes(&self) -> usize {
        alloc_size(self.buckets.capacity() * std::mem::size_of::<Option<Box<Node>>>()) + self.node_bytes
    }

    /// Bits of hash that pick a bucket: `64 - shift` with this shift.
    fn shift(&self) -> u32 {
        64 - self.buckets.len().trailing_zeros()
    }

    fn bucket_of(&self, key: &[u8]) -> usize {
        (self.hasher.hash_one(key) >> self.shift()) as usize
    }

    fn chain(&self, bucket: usize) -> impl Iterator<Item = &[u8]> {
        std::iter::successors(self.buckets[bucket].as_deref(), |n| n.next.as_deref()).map(|n| &n.record[..])
    }

    /// The record whose key is `key`.
    pub fn get(&self, key: &[u8]) -> Option<&[u8]> {
        if self.len == 0 {
            return None;
        }
        self.chain(self.bucket_of(key)).find(|r| L::key(r) == key)
    }

    /// The link that holds `key`'s node, or the empty link at its chain's end.
    fn link(&mut self, key: &[u8]) -> &mut Option<Box<Node>> {
        let bucket = self.bucket_of(key);
        let mut link = &mut self.buckets[bucket];
        while link.as_ref().is_some_and(|n| L::key(&n.record[..]) != key) {
            link = match link {
                Some(n) => &mut n.next,
                None => unreachable!("checked above"),
            };
        }
        link
    }

    /// Stores `record` (replacing the one with the same key); true if it is new.
    pub fn insert(&mut self, record: &[u8]) -> bool {
        if self.buckets.is_empty() {
            self.resize(MIN_BUCKETS);
        }
        let link = self.link(L::key(record));
        let (added, freed) = match link {
            Some(node) => {
                let old = node_bytes(&node.record[..]);
                node.record = Buf::new(record);
                (false, old)
            }
            None => {
                *link = Some(Box::new(Node { next: None, record: Buf::new(record) }));
                (true, 0)
            }
        };
        self.node_bytes = self.node_bytes + node_bytes(record) - freed;
        if added {
            self.len += 1;
            if self.len > self.buckets.len() {
                self.resize(self.buckets.len() * 2);
            }
        }
        added
    }

    /// Removes the record with key `key`; returns its bytes.
    pub fn remove(&mut self, key: &[u8]) -> Option<Vec<u8>> {
        if self.len == 0 {
            return None;
        }
        let link = self.link(key);
        let mut node = link.take()?;
        *link = node.next.take();
        let record = node.record.to_vec();
        self.node_bytes -= node_bytes(&record);
        self.len -= 1;
        self.shrink_if_sparse();
        Some(record)
    }

    /// Keeps the table at least 1/8 full (so random picks find a record
    /// in a few tries) and frees it when empty.
    fn shrink_if_sparse(&mut self) {
        if self.len == 0 {
            self.buckets = Vec::new();
        } else if self.buckets.len() > MIN_BUCKETS && self.len * 8 < self.buckets.len() {
            self.resize(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
    }

    /// Moves every node into a new array of `n` buckets.
    fn resize(&mut self, n: usize) {
        let mut buckets = Vec::with_capacity(n);
        buckets.resize_with(n, || None);
        let old = std::mem::replace(&mut self.buckets, buckets);
        let shift = self.shift();
        for mut chain in old {
            while let Some(mut node) = chain {
                chain = node.next.take();
                let b = (self.hasher.hash_one(L::key(&node.record[..])) >> shift) as usize;
                node.next = self.buckets[b].take();
                self.buckets[b] = Some(node);
            }
        }
    }

    pub fn iter(&self) -> impl Iterator<Item = &[u8]> {
        (0..self.buckets.len()).flat_map(|b| self.chain(b))
    }

    /// One SCAN step from `cursor` (see the module doc): whole buckets, until
    /// `count` records were visited or `10 * count` buckets looked at.
    /// Returns the next cursor, 0 when the walk is complete.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8])) -> u64 {
        if self.buckets.is_empty() {
            return 0;
        }
        let shift = self.shift();
        let mut bucket = (cursor >> shift) as usize;
        let (mut seen, mut looked) = (0, 0);
        loop {
            for record in self.chain(bucket) {
                f(record);
                seen += 1;
            }
            bucket += 1;
            looked += 1;
            if bucket == self.buckets.len() {
                return 0;
            }
            if seen >= count || looked >= count.saturating_mul(10) {
                return (bucket as u64) << shift;
            }
        }
    }

    /// A record picked at random (a random non-empty bucket, then a random
    /// node of its chain).
    pub fn random(&self) -> Option<&[u8]> {
        if self.len == 0 {
            return None;
        }
        loop {
            let b = crate::sample::below(self.buckets.len());
            let n = self.chain(b).count();
            if n > 0 {
                return self.chain(b).nth(crate::sample::below(n));
            }
        }
    }

    /// Heap bytes counted from scratch (for tests of the running count).
    #[cfg(test)]
    pub fn recount(&self) -> usize {
        alloc_size(self.buckets.capacity() * 8) + self.iter().map(node_bytes).sum::<usize>()
    }
}

impl<L: Layout> PartialEq for Table<L> {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().all(|r| other.get(L::key(r)) == Some(r))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashSet;

    #[derive(Debug, Clone)]
    struct Whole;
    impl Layout for Whole {
        fn key(record: &[u8]) -> &[u8] {
            record
        }
    }

    fn member(i: usize) -> Vec<u8> {
        if i.is_multiple_of(3) { format!("a-member-long-enough-to-live-on-the-heap-{i}").into_bytes() } else { format!("m{i}").into_bytes() }
    }

    #[test]
    fn insert_get_remove_and_bytes() {
        let mut t = Table::<Whole>::default();
        assert_eq!(std::mem::size_of::<Node>(), 32);
        for i in 0..1000 {
            assert!(t.insert(&member(i)));
            assert!(!t.insert(&member(i)));
        }
        assert_eq!((t.len(), t.heap_bytes()), (1000, t.recount()));
        assert!(t.iter().count() == 1000 && t.get(&member(7)) == Some(&member(7)[..]));
        for i in 0..990 {
            assert_eq!(t.remove(&member(i)), Some(member(i)));
            assert_eq!(t.remove(&member(i)), None);
        }
        assert_eq!((t.len(), t.heap_bytes()), (10, t.recount()));
        assert!(t.buckets.len() <= 16, "{} buckets for 10 records", t.buckets.len());
        for i in 990..1000 {
            t.remove(&member(i));
        }
        assert_eq!(t.heap_bytes(), 0);
    }

    /// Every record present for the whole walk is seen, however the table
    /// grows or shrinks between steps.
    #[test]
    fn scan_survives_resizing() {
        for grow in [true, false] {
            let mut t = Table::<Whole>::default();
            let stable: Vec<Vec<u8>> = (0..200).map(|i| format!("stable{i}").into_bytes()).collect();
            for s in &stable {
                t.insert(s);
            }
            let churn: Vec<Vec<u8>> = (0..5000).map(|i| format!("churn{i}").into_bytes()).collect();
            if !grow {
                for c in &churn {
                    t.insert(c);
                }
            }
            let (mut seen, mut cursor, mut step) = (HashSet::new(), 0, 0);
            loop {
                cursor = t.scan(cursor, 5, |r| {
                    seen.insert(r.to_vec());
                });
                for c in &churn[step * 100..(step + 1) * 100] {
                    if grow {
                        t.insert(c);
                    } else {
                        t.remove(c);
                    }
                }
                step = (step + 1) % 50;
                if cursor == 0 {
                    break;
                }
            }
            assert!(stable.iter().all(|s| seen.contains(s)), "grow={grow}");
        }
    }

    #[test]
    fn random_picks_reach_every_record() {
        let mut t = Table::<Whole>::default();
        for i in 0..20 {
            t.insert(&member(i));
        }
        let seen: HashSet<Vec<u8>> = (0..2000).filter_map(|_| t.random().map(<[u8]>::to_vec)).collect();
        assert_eq!(seen.len(), 20);
    }
}
