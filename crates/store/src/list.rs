//! The list type: a quicklist-like deque of packed nodes.
//!
//! Why this shape: a `VecDeque<Vec<u8>>` costs a 24-byte header plus an
//! allocation per element, several times the payload for the short strings
//! queues usually hold. Here elements are packed back to back inside nodes
//! (one allocation per node, like Redis's listpacks inside a quicklist),
//! and the nodes sit in a `VecDeque`, so pushes and pops at either end stay
//! O(1) (a node is bounded by `list-max-listpack-size`, so moving bytes
//! inside one is bounded too).
//!
//! Element encoding inside a node: `varint(len) bytes rev_varint(len)`.
//! The trailing length (written so it reads backwards from its last byte,
//! like a listpack's back-length) lets iteration and pops work from the
//! tail as well as the head.
//!
//! Memory is a running count (`heap_bytes` is O(1)): every node change goes
//! through [`List::edit`], which charges the difference of the node's
//! allocation.

use std::collections::VecDeque;

use crate::db::alloc_size;
use crate::encoding::LIST_MAX_SIZE;

/// Node byte bound used with a positive (count) `list-max-listpack-size`,
/// as Redis's safety limit.
const SAFETY_BYTES: usize = 8192;

/// One packed node: `count` encoded elements in `data`.
#[derive(Debug, Clone, Default, PartialEq)]
struct Node {
    data: Vec<u8>,
    count: u32,
}

/// A list value.
#[derive(Debug, Clone, Default)]
pub struct List {
    nodes: VecDeque<Node>,
    len: usize,
    /// Sum of the nodes' data allocations (rounded to size classes).
    node_bytes: usize,
}

impl PartialEq for List {
    fn eq(&self, other: &Self) -> bool {
        self.len == other.len && self.iter().eq(other.iter())
    }
}

/// The node bound in force: (most bytes, most elements).
fn node_limits() -> (usize, usize) {
    match LIST_MAX_SIZE.get() {
        n if n > 0 => (SAFETY_BYTES, n as usize),
        n => (4096usize << ((-n).clamp(1, 5) - 1), usize::MAX),
    }
}

fn varint_len(mut n: usize) -> usize {
    let mut len = 1;
    while n >= 0x80 {
        n >>= 7;
        len += 1;
    }
    len
}

/// Bytes one element takes in a node.
fn encoded_len(elem: &[u8]) -> usize {
    elem.len() + 2 * varint_len(elem.len())
}

fn encode(out: &mut Vec<u8>, elem: &[u8]) {
    let start = out.len();
    let mut n = elem.len();
    loop {
        let more = n >= 0x80;
        out.push((n as u8 & 0x7f) | if more { 0x80 } else { 0 });
        n >>= 7;
        if !more {
            break;
        }
    }
    let header = out.len() - start;
    out.extend_from_slice(elem);
    // The trailer is the header reversed: read backwards, the last byte
    // holds the lowest bits and a set high bit means "more before me".
    for i in (start..start + header).rev() {
        out.push(out[i]);
    }
}

/// The element starting at `off`: (element, offset after it).
fn decode_at(data: &[u8], off: usize) -> (&[u8], usize) {
    let (mut n, mut shift, mut i) = (0usize, 0, off);
    loop {
        let b = data[i];
        n |= ((b & 0x7f) as usize) << shift;
        shift += 7;
        i += 1;
        if b & 0x80 == 0 {
            break;
        }
    }
    let header = i - off;
    (&data[i..i + n], i + n + header)
}

/// The element ending at `end`: (element, offset where it starts).
fn decode_before(data: &[u8], end: usize) -> (&[u8], usize) {
    let (mut n, mut shift, mut i) = (0usize, 0, end);
    loop {
        i -= 1;
        let b = data[i];
        n |= ((b & 0x7f) as usize) << shift;
        shift += 7;
        if b & 0x80 == 0 {
            break;
        }
    }
    let header = end - i;
    let start = i - n;
    (&data[start..i], start - header)
}

impl Node {
    fn elements(&self) -> impl Iterator<Item = &[u8]> {
        let mut off = 0;
        std::iter::from_fn(move || {
            (off < self.data.len()).then(|| {
                let (e, next) = decode_at(&self.data, off);
                off = next;
                e
            })
        })
    }

    /// Byte offset of the element at `idx` (which may be `count`).
    fn offset_of(&self, idx: usize) -> usize {
        (0..idx).fold(0, |off, _| decode_at(&self.data, off).1)
    }

    fn has_room(&self, elem: &[u8]) -> bool {
        let (bytes, count) = node_limits();
        self.count == 0 || (self.data.len() + encoded_len(elem) <= bytes && (self.count as usize) < count)
    }
}

/// Which end of a list.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum End {
    Head,
    Tail,
}

impl List {
    pub fn new() -> Self {
        List::default()
    }

    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes owned, kept as a running count (O(1)).
    pub fn heap_bytes(&self) -> usize {
        self.node_bytes + alloc_size(self.nodes.capacity() * std::mem::size_of::<Node>())
    }

    /// `OBJECT ENCODING`'s answer (Redis 7.0 lists are always quicklists).
    pub fn encoding(&self) -> &'static str {
        "quicklist"
    }

    /// Changes node `i` through `f`, keeping the byte count and length
    /// right; drops the node if it ends up empty.
    fn edit<R>(&mut self, i: usize, f: impl FnOnce(&mut Node) -> R) -> R {
        let node = &mut self.nodes[i];
        let (before, count) = (alloc_size(node.data.capacity()), node.count);
        let r = f(node);
        let (after, new_count) = (alloc_size(node.data.capacity()), node.count);
        self.node_bytes = self.node_bytes - before + after;
        self.len = self.len - count as usize + new_count as usize;
        if new_count == 0 {
            self.node_bytes -= after;
            self.nodes.remove(i);
        }
        r
    }

    /// Adds an empty node at `end` (after trimming the old end node's
    /// spare capacity: it will not grow again soon).
    fn open_node(&mut self, end: End) -> usize {
        let old = match end {
            End::Head => 0,
            End::Tail => self.nodes.len().wrapping_sub(1),
        };
        if old < self.nodes.len() {
            self.edit(old, |n| n.data.shrink_to_fit());
        }
        match end {
            End::Head => {
                self.nodes.push_front(Node::default());
                0
            }
            End::Tail => {
                self.nodes.push_back(Node::default());
                self.nodes.len() - 1
            }
        }
    }

    /// Adds an element at one end.
    pub fn push(&mut self, end: End, elem: &[u8]) {
        let i = match end {
            End::Head => 0,
            End::Tail => self.nodes.len().wrapping_sub(1),
        };
        let i = if self.nodes.get(i).is_some_and(|n| n.has_room(elem)) { i } else { self.open_node(end) };
        self.edit(i, |n| {
            match end {
                End::Tail => encode(&mut n.data, elem),
                End::Head => {
                    let mut buf = Vec::with_capacity(encoded_len(elem));
                    encode(&mut buf, elem);
                    n.data.splice(0..0, buf);
                }
            }
            n.count += 1;
        });
    }

    /// Removes and returns the element at one end.
    pub fn pop(&mut self, end: End) -> Option<Vec<u8>> {
        let i = match end {
            End::Head => 0,
            End::Tail => self.nodes.len().checked_sub(1)?,
        };
        self.nodes.get(i)?;
        Some(self.edit(i, |n| {
            n.count -= 1;
            match end {
                End::Head => {
                    let (e, next) = decode_at(&n.data, 0);
                    let e = e.to_vec();
                    n.data.drain(..next);
                    e
                }
                End::Tail => {
                    let (e, start) = decode_before(&n.data, n.data.len());
                    let e = e.to_vec();
                    n.data.truncate(start);
                    e
                }
            }
        }))
    }

    /// Removes `n` elements from one end (LTRIM), whole nodes at a time
    /// where possible.
    pub fn remove_end(&mut self, end: End, mut n: usize) {
        n = n.min(self.len);
        while n > 0 {
            let i = if end == End::Head { 0 } else { self.nodes.len() - 1 };
            let count = self.nodes[i].count as usize;
            let k = n.min(count);
            self.edit(i, |node| {
                if k == count {
                    node.data = Vec::new();
                } else if end == End::Head {
                    let off = node.offset_of(k);
                    node.data.drain(..off);
                } else {
                    let off = node.offset_of(count - k);
                    node.data.truncate(off);
                }
                node.count -= k as u32;
            });
            n -= k;
        }
    }

    /// The node holding element `index` and the index inside it.
    fn locate(&self, index: usize) -> (usize, usize) {
        if index < self.len / 2 {
            let mut rest = index;
            for (i, n) in self.nodes.iter().enumerate() {
                if rest < n.count as usize {
                    return (i, rest);
                }
                rest -= n.count as usize;
            }
        } else {
            let mut from_end = self.len - index;
            for (i, n) in self.nodes.iter().enumerate().rev() {
                if from_end <= n.count as usize {
                    return (i, n.count as usize - from_end);
                }
                from_end -= n.count as usize;
            }
        }
        (self.nodes.len(), 0)
    }

    /// Element at `index` (0-based from the head).
    pub fn get(&self, index: usize) -> Option<&[u8]> {
        self.iter_from(index).next()
    }

    /// All elements, head to tail (double-ended).
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0)
    }

    /// Elements from `start` to the tail (`next_back` starts at the tail).
    pub fn iter_from(&self, start: usize) -> Iter<'_> {
        let back_node = self.nodes.len().wrapping_sub(1);
        let back = (back_node, self.nodes.back().map_or(0, |n| n.data.len()));
        if start >= self.len {
            return Iter { nodes: &self.nodes, front: (0, 0), back, remaining: 0 };
        }
        let (i, k) = self.locate(start);
        let front = (i, self.nodes[i].offset_of(k));
        Iter { nodes: &self.nodes, front, back, remaining: self.len - start }
    }

    /// Rewrites node `i` through `f` on its decoded elements, splitting
    /// the result into as many nodes as the size bound needs.
    fn rewrite(&mut self, i: usize, f: impl FnOnce(&mut Vec<Vec<u8>>)) {
        let mut elems: Vec<Vec<u8>> = self.nodes[i].elements().map(<[u8]>::to_vec).collect();
        f(&mut elems);
        let mut built = vec![Node::default()];
        for e in &elems {
            if !built.last().is_some_and(|n| n.has_room(e)) {
                built.push(Node::default());
            }
            let n = built.last_mut().expect("pushed above");
            encode(&mut n.data, e);
            n.count += 1;
        }
        let first = built.remove(0);
        for (k, node) in built.into_iter().enumerate() {
            self.node_bytes += alloc_size(node.data.capacity());
            self.len += node.count as usize;
            self.nodes.insert(i + 1 + k, node);
        }
        self.edit(i, |n| *n = first);
    }

    /// Replaces the element at `index`; false if out of range.
    pub fn set(&mut self, index: usize, elem: &[u8]) -> bool {
        if index >= self.len {
            return false;
        }
        let (i, k) = self.locate(index);
        self.rewrite(i, |v| v[k] = elem.to_vec());
        true
    }

    /// Inserts `elem` before position `index` (`index == len` appends).
    pub fn insert(&mut self, index: usize, elem: &[u8]) {
        match index {
            0 => self.push(End::Head, elem),
            i if i >= self.len => self.push(End::Tail, elem),
            _ => {
                let (i, k) = self.locate(index);
                self.rewrite(i, |v| v.insert(k, elem.to_vec()));
            }
        }
    }

    /// Position of the first element equal to `elem` (LINSERT's pivot).
    pub fn position(&self, elem: &[u8]) -> Option<usize> {
        self.iter().position(|e| e == elem)
    }

    /// Removes elements equal to `elem` (LREM): up to `count` from the
    /// head if positive, from the tail if negative, all if zero. Returns
    /// how many were removed.
    pub fn remove_matching(&mut self, elem: &[u8], count: i64) -> usize {
        let limit = if count == 0 { usize::MAX } else { count.unsigned_abs().try_into().unwrap_or(usize::MAX) };
        let from_tail = count < 0;
        let mut removed = 0;
        // Head first: a node that disappears shifts the next one to the
        // same index. Tail first: lower indexes never move.
        let mut i = if from_tail { self.nodes.len() } else { 0 };
        while removed < limit {
            if from_tail {
                if i == 0 {
                    break;
                }
                i -= 1;
            } else if i >= self.nodes.len() {
                break;
            }
            let before = self.nodes.len();
            if self.nodes[i].elements().any(|e| e == elem) {
                let budget = limit - removed;
                self.rewrite(i, |v| removed += remove_in(v, elem, budget, from_tail));
            }
            if !from_tail && self.nodes.len() == before {
                i += 1;
            }
        }
        removed
    }

    /// Recomputes the heap bytes from scratch (tests check the running count).
    #[cfg(test)]
    fn recount(&self) -> usize {
        self.nodes.iter().map(|n| alloc_size(n.data.capacity())).sum::<usize>()
            + alloc_size(self.nodes.capacity() * std::mem::size_of::<Node>())
    }
}

/// Removes up to `budget` elements equal to `elem` from `v`, scanning from
/// the tail if `from_tail`. Returns how many went.
fn remove_in(v: &mut Vec<Vec<u8>>, elem: &[u8], budget: usize, from_tail: bool) -> usize {
    let mut idx: Vec<usize> = (0..v.len()).filter(|&k| v[k] == elem).collect();
    if from_tail {
        idx.reverse();
    }
    idx.truncate(budget);
    idx.sort_unstable();
    for &k in idx.iter().rev() {
        v.remove(k);
    }
    idx.len()
}

/// Iterator over a list's elements (see [`List::iter_from`]).
pub struct Iter<'a> {
    nodes: &'a VecDeque<Node>,
    /// (node, byte offset) of the next element from the front.
    front: (usize, usize),
    /// (node, byte offset just past) the next element from the back.
    back: (usize, usize),
    remaining: usize,
}

impl<'a> Iterator for Iter<'a> {
    type Item = &'a [u8];

    fn next(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        while self.front.1 >= self.nodes[self.front.0].data.len() {
            self.front = (self.front.0 + 1, 0);
        }
        let (e, next) = decode_at(&self.nodes[self.front.0].data, self.front.1);
        self.front.1 = next;
        self.remaining -= 1;
        Some(e)
    }

    fn size_hint(&self) -> (usize, Option<usize>) {
        (self.remaining, Some(self.remaining))
    }
}

impl<'a> DoubleEndedIterator for Iter<'a> {
    fn next_back(&mut self) -> Option<&'a [u8]> {
        if self.remaining == 0 {
            return None;
        }
        while self.back.1 == 0 {
            self.back.0 -= 1;
            self.back.1 = self.nodes[self.back.0].data.len();
        }
        let (e, start) = decode_before(&self.nodes[self.back.0].data, self.back.1);
        self.back.1 = start;
        self.remaining -= 1;
        Some(e)
    }
}

impl ExactSizeIterator for Iter<'_> {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[derive(Debug, Clone)]
    enum Op {
        Push(bool, Vec<u8>),
        Pop(bool),
        Set(usize, Vec<u8>),
        Insert(usize, Vec<u8>),
        Remove(Vec<u8>, i64),
        Trim(usize, usize),
    }

    fn elem() -> impl Strategy<Value = Vec<u8>> {
        prop_oneof![
            4 => proptest::collection::vec(b'a'..b'd', 0..3),
            1 => proptest::collection::vec(any::<u8>(), 100..300),
            1 => proptest::collection::vec(any::<u8>(), 3000..9000),
        ]
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            6 => (any::<bool>(), elem()).prop_map(|(h, e)| Op::Push(h, e)),
            2 => any::<bool>().prop_map(Op::Pop),
            1 => (0..64usize, elem()).prop_map(|(i, e)| Op::Set(i, e)),
            1 => (0..64usize, elem()).prop_map(|(i, e)| Op::Insert(i, e)),
            1 => (proptest::collection::vec(b'a'..b'd', 0..3), -3..3i64).prop_map(|(e, c)| Op::Remove(e, c)),
            1 => (0..4usize, 0..4usize).prop_map(|(a, b)| Op::Trim(a, b)),
        ]
    }

    fn end(head: bool) -> End {
        if head { End::Head } else { End::Tail }
    }

    fn apply(list: &mut List, model: &mut VecDeque<Vec<u8>>, op: Op) {
        match op {
            Op::Push(h, e) => {
                list.push(end(h), &e);
                if h { model.push_front(e) } else { model.push_back(e) }
            }
            Op::Pop(h) => {
                let want = if h { model.pop_front() } else { model.pop_back() };
                assert_eq!(list.pop(end(h)), want);
            }
            Op::Set(i, e) => {
                assert_eq!(list.set(i, &e), i < model.len());
                if let Some(slot) = model.get_mut(i) {
                    *slot = e;
                }
            }
            Op::Insert(i, e) => {
                list.insert(i, &e);
                model.insert(i.min(model.len()), e);
            }
            Op::Remove(e, c) => {
                let mut idx: Vec<usize> = (0..model.len()).filter(|&k| model[k] == e).collect();
                if c < 0 {
                    idx.reverse();
                }
                if c != 0 {
                    idx.truncate(c.unsigned_abs() as usize);
                }
                idx.sort_unstable();
                for &k in idx.iter().rev() {
                    model.remove(k);
                }
                assert_eq!(list.remove_matching(&e, c), idx.len());
            }
            Op::Trim(a, b) => {
                list.remove_end(End::Head, a);
                list.remove_end(End::Tail, b);
                model.drain(..a.min(model.len()));
                model.truncate(model.len().saturating_sub(b));
            }
        }
    }

    fn check(list: &List, model: &VecDeque<Vec<u8>>) {
        assert_eq!(list.len(), model.len());
        assert!(list.iter().eq(model.iter().map(Vec::as_slice)));
        assert!(list.iter().rev().eq(model.iter().rev().map(Vec::as_slice)));
        assert!(list.nodes.iter().all(|n| n.count > 0 && n.elements().count() == n.count as usize));
        assert_eq!(list.heap_bytes(), list.recount());
        for i in [0, model.len() / 2, model.len().saturating_sub(1), model.len()] {
            assert_eq!(list.get(i), model.get(i).map(Vec::as_slice));
            assert!(list.iter_from(i).eq(model.iter().skip(i).map(Vec::as_slice)));
        }
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(200))]
        #[test]
        fn behaves_like_a_deque(ops in proptest::collection::vec(op(), 1..120)) {
            let (mut list, mut model) = (List::new(), VecDeque::new());
            for op in ops {
                apply(&mut list, &mut model, op);
                check(&list, &model);
            }
        }
    }

    #[test]
    fn accounting_matches_a_recount_after_random_ops() {
        let (mut list, mut model) = (List::new(), VecDeque::new());
        for i in 0..20_000u32 {
            let e = i.to_string().repeat((i % 7) as usize).into_bytes();
            let op = match rand::random_range(0..10) {
                0..=4 => Op::Push(i % 2 == 0, e),
                5..=6 => Op::Pop(i % 3 == 0),
                7 => Op::Insert(rand::random_range(0..model.len() + 1), e),
                8 => Op::Set(rand::random_range(0..model.len() + 1), e),
                _ => Op::Trim(rand::random_range(0..3), rand::random_range(0..3)),
            };
            apply(&mut list, &mut model, op);
            assert_eq!(list.heap_bytes(), list.recount());
        }
        check(&list, &model);
    }

    #[test]
    fn small_elements_are_packed() {
        let mut list = List::new();
        for i in 0..10_000 {
            list.push(End::Tail, format!("item:{i}").as_bytes());
        }
        // About 12 bytes per element, not one allocation each.
        assert!(list.heap_bytes() < 10_000 * 16, "{}", list.heap_bytes());
        assert!(list.nodes.len() > 10);
        assert_eq!(list.encoding(), "quicklist");
    }

    #[test]
    fn varints_round_trip_both_ways() {
        for n in [0, 1, 127, 128, 300, 16383, 16384, 70000] {
            let e = vec![7u8; n];
            let mut buf = Vec::new();
            encode(&mut buf, &e);
            assert_eq!(buf.len(), encoded_len(&e));
            assert_eq!(decode_at(&buf, 0), (&e[..], buf.len()));
            assert_eq!(decode_before(&buf, buf.len()), (&e[..], 0));
        }
    }
}
