//! The full encoding of a sorted set (Redis's `skiplist`): a skip list
//! with spans for order and rank, plus a chained hash index from member
//! to node, both over one arena of nodes.
//!
//! Why a skip list with spans (and not an order-statistic tree): rank,
//! select-by-rank and range starts are all O(log n) by summing spans on
//! the way down; walking a range is following level-0 links both ways;
//! and an insert or delete touches O(log n) links with no rebalancing.
//! Nodes live in a `Vec` arena addressed by `u32` (no `unsafe`, no
//! pointer per link), with a free list; node 0 is the header.
//!
//! Why a hand-made chained hash index (and not `HashMap`): ZSCAN must
//! return every member present throughout an iteration even when the
//! table grows or shrinks between calls. With power-of-two buckets
//! indexed by the hash's low bits, a reverse-binary cursor (the order
//! Redis's `dictScan` uses) has exactly that property, and it needs to
//! visit buckets by index, which std's tables do not offer. The chain
//! link lives in the node, so the index costs one `u32` per bucket.
//!
//! Memory: `heap_bytes` is O(1): arena, free list and bucket vectors are
//! sized from their capacities, and the per-node allocations (member and
//! links) are a running sum.

use std::hash::BuildHasher;

use rand::RngExt;

use crate::db::alloc_size;

const NIL: u32 = u32::MAX;
const HEAD: u32 = 0;
const MAX_LEVEL: usize = 32;
/// Smallest bucket count.
const MIN_BUCKETS: usize = 4;

#[derive(Debug, Clone, Copy)]
struct Link {
    next: u32,
    /// Elements this link jumps over (the rank difference).
    span: u32,
}

const UNLINKED: Link = Link { next: NIL, span: 0 };

/// `link1` of a node that is on level 0 only (no real span is this large).
const NO_LINK: Link = Link { next: NIL, span: u32::MAX };

/// One element, 64 bytes and aligned to a cache line, so that a step of
/// a search on levels 0 and 1 (three links in four are there) loads one
/// line per node, as Redis's nodes with their links inside do.
#[derive(Debug, Clone)]
#[repr(align(64))]
struct Node {
    member: Box<[u8]>,
    score: f64,
    /// Previous node at level 0 (NIL for the first).
    back: u32,
    /// Next node in the same hash bucket.
    chain: u32,
    /// The level-0 link.
    link0: Link,
    /// The level-1 link, or [`NO_LINK`].
    link1: Link,
    /// Links of levels 2 and up (one node in sixteen has any).
    upper: Box<[Link]>,
}

const _: () = assert!(size_of::<Node>() == 64);

impl Node {
    /// A node for `levels` levels, not linked yet.
    fn new(member: Box<[u8]>, score: f64, levels: usize) -> Node {
        let link1 = if levels > 1 { UNLINKED } else { NO_LINK };
        let upper = vec![UNLINKED; levels.saturating_sub(2)].into_boxed_slice();
        Node { member, score, back: NIL, chain: NIL, link0: UNLINKED, link1, upper }
    }

    fn vacant() -> Node {
        Node::new(Box::default(), 0.0, 1)
    }

    fn heap_bytes(&self) -> usize {
        alloc_size(self.member.len()) + alloc_size(self.upper.len() * size_of::<Link>())
    }

    /// Number of levels the node is linked on.
    fn levels(&self) -> usize {
        if self.link1.span == NO_LINK.span { 1 } else { 2 + self.upper.len() }
    }
}

/// A skip list and hash index over one arena.
#[derive(Debug, Clone)]
pub struct Skiplist {
    nodes: Vec<Node>,
    free: Vec<u32>,
    buckets: Vec<u32>,
    hasher: foldhash::fast::RandomState,
    level: usize,
    tail: u32,
    len: usize,
    /// Running sum of the nodes' own allocations.
    node_heap: usize,
}

impl Default for Skiplist {
    fn default() -> Self {
        let head = Node::new(Box::default(), 0.0, MAX_LEVEL);
        let node_heap = head.heap_bytes();
        Skiplist {
            nodes: vec![head],
            free: Vec::new(),
            buckets: vec![NIL; MIN_BUCKETS],
            hasher: foldhash::fast::RandomState::default(),
            level: 1,
            tail: NIL,
            len: 0,
            node_heap,
        }
    }
}

/// A node handle: an element of the list.
pub type NodeId = u32;

impl Skiplist {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn heap_bytes(&self) -> usize {
        alloc_size(self.nodes.capacity() * size_of::<Node>())
            + alloc_size(self.free.capacity() * 4)
            + alloc_size(self.buckets.capacity() * 4)
            + self.node_heap
    }

    pub fn member(&self, id: NodeId) -> &[u8] {
        &self.nodes[id as usize].member
    }

    pub fn score(&self, id: NodeId) -> f64 {
        self.nodes[id as usize].score
    }

    fn link(&self, id: u32, level: usize) -> Link {
        let n = &self.nodes[id as usize];
        match level {
            0 => n.link0,
            1 => n.link1,
            _ => n.upper[level - 2],
        }
    }

    fn link_mut(&mut self, id: u32, level: usize) -> &mut Link {
        let n = &mut self.nodes[id as usize];
        match level {
            0 => &mut n.link0,
            1 => &mut n.link1,
            _ => &mut n.upper[level - 2],
        }
    }

    /// The node after `id` in order (None at the end).
    pub fn next(&self, id: NodeId) -> Option<NodeId> {
        Some(self.link(id, 0).next).filter(|&n| n != NIL)
    }

    /// The node before `id` in order (None at the start).
    pub fn prev(&self, id: NodeId) -> Option<NodeId> {
        Some(self.nodes[id as usize].back).filter(|&n| n != NIL)
    }

    fn bucket_of(&self, member: &[u8]) -> usize {
        (self.hasher.hash_one(member) as usize) & (self.buckets.len() - 1)
    }

    /// The node holding `member`.
    pub fn find(&self, member: &[u8]) -> Option<NodeId> {
        let mut id = self.buckets[self.bucket_of(member)];
        while id != NIL {
            let n = &self.nodes[id as usize];
            if &*n.member == member {
                return Some(id);
            }
            id = n.chain;
        }
        None
    }

    fn random_level() -> usize {
        let mut rng = rand::rng();
        let mut level = 1;
        while level < MAX_LEVEL && rng.random_range(0..4u32) == 0 {
            level += 1;
        }
        level
    }

    fn alloc(&mut self, node: Node) -> u32 {
        self.node_heap += node.heap_bytes();
        match self.free.pop() {
            Some(id) => {
                self.nodes[id as usize] = node;
                id
            }
            None => {
                self.nodes.push(node);
                (self.nodes.len() - 1) as u32
            }
        }
    }

    /// For each level, the last node ordered before (score, member), and
    /// that node's rank (1-based; 0 for the header).
    fn path(&self, score: f64, member: &[u8]) -> ([u32; MAX_LEVEL], [u32; MAX_LEVEL]) {
        let mut update = [HEAD; MAX_LEVEL];
        let mut rank = [0u32; MAX_LEVEL];
        let mut x = HEAD;
        for i in (0..self.level).rev() {
            rank[i] = if i + 1 == self.level { 0 } else { rank[i + 1] };
            loop {
                let l = self.link(x, i);
                if l.next == NIL || !super::before(self.score(l.next), self.member(l.next), score, member) {
                    break;
                }
                rank[i] += l.span;
                x = l.next;
            }
            update[i] = x;
        }
        (update, rank)
    }

    /// Inserts a member that is not present.
    pub fn insert(&mut self, member: Box<[u8]>, score: f64) -> NodeId {
        let id = self.alloc(Node::new(member, score, Self::random_level()));
        self.link_in(id);
        self.index_insert(id);
        id
    }

    /// Removes the node `id`; returns its member and score.
    pub fn remove(&mut self, id: NodeId) -> (Box<[u8]>, f64) {
        self.index_remove(id);
        self.unlink(id);
        let node = std::mem::replace(&mut self.nodes[id as usize], Node::vacant());
        self.node_heap -= node.heap_bytes();
        self.free.push(id);
        self.maybe_shrink();
        (node.member, node.score)
    }

    /// Gives node `id` a new score: in place when its neighbours still
    /// bracket it, else by moving the same node (no allocation, the member
    /// index untouched), as Redis's `zslUpdateScore` does.
    pub fn update_score(&mut self, id: NodeId, score: f64) {
        let member = self.member(id);
        let after_prev = self.prev(id).is_none_or(|p| super::before(self.score(p), self.member(p), score, member));
        let before_next = self.next(id).is_none_or(|n| super::before(score, member, self.score(n), self.member(n)));
        if after_prev && before_next {
            self.nodes[id as usize].score = score;
            return;
        }
        self.unlink(id);
        self.nodes[id as usize].score = score;
        self.link_in(id);
    }

    /// Links the allocated node `id` (its score, member and level set) into
    /// the levels at its place in order.
    fn link_in(&mut self, id: NodeId) {
        let node = &self.nodes[id as usize];
        let level = node.levels();
        let (mut update, mut rank) = self.path(node.score, &node.member);
        if level > self.level {
            for i in self.level..level {
                rank[i] = 0;
                update[i] = HEAD;
                self.link_mut(HEAD, i).span = self.len as u32;
            }
            self.level = level;
        }
        for i in 0..level {
            let before = self.link(update[i], i);
            let gap = rank[0] - rank[i];
            *self.link_mut(id, i) = Link { next: before.next, span: before.span.saturating_sub(gap) };
            *self.link_mut(update[i], i) = Link { next: id, span: gap + 1 };
        }
        for (i, &u) in update.iter().enumerate().take(self.level).skip(level) {
            self.link_mut(u, i).span += 1;
        }
        self.nodes[id as usize].back = if update[0] == HEAD { NIL } else { update[0] };
        match self.next(id) {
            Some(n) => self.nodes[n as usize].back = id,
            None => self.tail = id,
        }
        self.len += 1;
    }

    /// Takes node `id` out of the levels (it stays allocated and indexed).
    fn unlink(&mut self, id: NodeId) {
        let node = &self.nodes[id as usize];
        let (update, _) = self.path(node.score, &node.member);
        for (i, &u) in update.iter().enumerate().take(self.level) {
            let ul = self.link(u, i);
            if ul.next == id {
                let x = self.link(id, i);
                *self.link_mut(u, i) = Link { next: x.next, span: (ul.span + x.span).saturating_sub(1) };
            } else {
                self.link_mut(u, i).span = ul.span.saturating_sub(1);
            }
        }
        let back = self.nodes[id as usize].back;
        match self.next(id) {
            Some(n) => self.nodes[n as usize].back = back,
            None => self.tail = back,
        }
        while self.level > 1 && self.link(HEAD, self.level - 1).next == NIL {
            self.level -= 1;
        }
        self.len -= 1;
    }

    /// Number of leading elements satisfying `pred` (monotone: true, then false).
    pub fn partition_point(&self, mut pred: impl FnMut(f64, &[u8]) -> bool) -> usize {
        let (mut x, mut rank) = (HEAD, 0usize);
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next == NIL || !pred(self.score(l.next), self.member(l.next)) {
                    break;
                }
                rank += l.span as usize;
                x = l.next;
            }
        }
        rank
    }

    /// The 0-based rank of node `id`.
    pub fn rank(&self, id: NodeId) -> usize {
        let (score, member) = (self.score(id), self.member(id));
        self.partition_point(|s, m| super::before(s, m, score, member))
    }

    /// The node at 0-based `index`.
    pub fn at(&self, index: usize) -> Option<NodeId> {
        if index >= self.len {
            return None;
        }
        if index + 1 == self.len {
            return Some(self.tail);
        }
        let target = index + 1;
        let (mut x, mut traversed) = (HEAD, 0usize);
        for i in (0..self.level).rev() {
            loop {
                let l = self.link(x, i);
                if l.next == NIL || traversed + l.span as usize > target {
                    break;
                }
                traversed += l.span as usize;
                x = l.next;
            }
            if traversed == target {
                return Some(x);
            }
        }
        None
    }

    fn index_insert(&mut self, id: u32) {
        let b = self.bucket_of(&self.nodes[id as usize].member);
        self.nodes[id as usize].chain = self.buckets[b];
        self.buckets[b] = id;
        if self.len > self.buckets.len() {
            self.rehash(self.buckets.len() * 2);
        }
    }

    fn index_remove(&mut self, id: u32) {
        let b = self.bucket_of(&self.nodes[id as usize].member);
        let next = self.nodes[id as usize].chain;
        if self.buckets[b] == id {
            self.buckets[b] = next;
            return;
        }
        let mut x = self.buckets[b];
        while x != NIL {
            if self.nodes[x as usize].chain == id {
                self.nodes[x as usize].chain = next;
                return;
            }
            x = self.nodes[x as usize].chain;
        }
    }

    /// Shrinks the bucket table below 1/8 fill, and compacts the arena
    /// when more than half of it is vacant.
    fn maybe_shrink(&mut self) {
        if self.buckets.len() > MIN_BUCKETS && self.len * 8 < self.buckets.len() {
            self.rehash(self.len.next_power_of_two().max(MIN_BUCKETS));
        }
        if self.free.len() > 64 && self.free.len() > self.len {
            self.compact();
        }
    }

    fn rehash(&mut self, size: usize) {
        self.buckets = vec![NIL; size];
        let mut id = self.link(HEAD, 0).next;
        while id != NIL {
            let b = self.bucket_of(&self.nodes[id as usize].member);
            self.nodes[id as usize].chain = self.buckets[b];
            self.buckets[b] = id;
            id = self.link(id, 0).next;
        }
    }

    /// Rebuilds the list in a right-sized arena, keeping the hasher (so a
    /// ZSCAN cursor stays valid).
    fn compact(&mut self) {
        let mut fresh = Skiplist { hasher: self.hasher.clone(), ..Skiplist::default() };
        fresh.nodes.reserve_exact(self.len);
        let mut id = self.link(HEAD, 0).next;
        while id != NIL {
            let next = self.link(id, 0).next;
            let member = std::mem::take(&mut self.nodes[id as usize].member);
            fresh.insert(member, self.score(id));
            id = next;
        }
        *self = fresh;
    }

    /// One ZSCAN step from `cursor`: calls `f` for the elements of the
    /// buckets visited (until about `count` elements were seen) and
    /// returns the next cursor, 0 when done. Buckets are visited in
    /// reverse-binary order of their index, so a resize between calls
    /// neither skips a bucket's former elements nor loops forever.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        let mask = (self.buckets.len() - 1) as u64;
        let (mut v, mut seen, mut steps) = (cursor, 0usize, 0usize);
        loop {
            let mut id = self.buckets[(v & mask) as usize];
            while id != NIL {
                let n = &self.nodes[id as usize];
                f(&n.member, n.score);
                seen += 1;
                id = n.chain;
            }
            v |= !mask;
            v = v.reverse_bits().wrapping_add(1).reverse_bits();
            steps += 1;
            if v == 0 || seen >= count || steps >= count.saturating_mul(10) {
                return v;
            }
        }
    }
}

#[cfg(test)]
impl Skiplist {
    /// The heap bytes counted from scratch, node by node.
    pub fn recount_heap(&self) -> usize {
        alloc_size(self.nodes.capacity() * size_of::<Node>())
            + alloc_size(self.free.capacity() * 4)
            + alloc_size(self.buckets.capacity() * 4)
            + self.nodes.iter().map(Node::heap_bytes).sum::<usize>()
    }

    /// Checks every level's spans against level-0 ranks, the back links
    /// and the hash index.
    pub fn check(&self) {
        let mut rank_of = std::collections::HashMap::new();
        let (mut id, mut r) = (self.link(HEAD, 0).next, 0u32);
        let mut prev = NIL;
        while id != NIL {
            r += 1;
            rank_of.insert(id, r);
            assert_eq!(self.nodes[id as usize].back, prev);
            assert_eq!(self.find(self.member(id)), Some(id));
            prev = id;
            id = self.link(id, 0).next;
        }
        assert_eq!(self.tail, prev);
        assert_eq!(rank_of.len(), self.len);
        for i in 0..self.level {
            let (mut x, mut rank) = (HEAD, 0u32);
            while self.link(x, i).next != NIL {
                let l = self.link(x, i);
                rank += l.span;
                assert_eq!(rank_of[&l.next], rank, "level {i}");
                x = l.next;
            }
        }
    }
}
