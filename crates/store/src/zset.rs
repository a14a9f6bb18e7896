//! The sorted set type: members ordered by (score, member), with rank
//! queries.
//!
//! Two encodings, as in Redis: a small set is one compact buffer
//! ([`pack`], reported as `listpack`) walked linearly; past
//! `zset-max-listpack-entries` members or a member longer than
//! `zset-max-listpack-value` it becomes a skip list with spans plus a hash
//! index ([`skiplist`], reported as `skiplist`), where rank, select by
//! rank and range starts are O(log n). A set never converts back (as in
//! Redis), except that stores (ZUNIONSTORE...) pick the encoding of the
//! result by its final size, as Redis does.
//!
//! Positions are 0-based indexes in ascending order; callers turn
//! reverse ranks into these. Ranges (by score or by member) are walked
//! the way Redis walks them, including on the lexicographic queries of a
//! set whose scores differ (which Redis leaves unspecified but answers
//! deterministically for a compact set): find the first element, skip an
//! offset unconditionally, then take while the far bound holds.
//!
//! Scores are never NaN; the compact encoding stores -0 as 0, the skip
//! list keeps -0 (both as Redis does).

mod pack;
mod skiplist;

use pack::Pack;
use skiplist::{NodeId, Skiplist};

use crate::encoding::{ZSET_MAX_ENTRIES, ZSET_MAX_VALUE};

/// Whether (s1, m1) sorts before (s2, m2).
fn before(s1: f64, m1: &[u8], s2: f64, m2: &[u8]) -> bool {
    s1 < s2 || (s1 == s2 && m1 < m2)
}

/// A sorted set value.
#[derive(Debug, Clone)]
pub struct ZSet {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    Pack(Pack),
    Skip(Box<Skiplist>),
}

impl Default for ZSet {
    fn default() -> Self {
        ZSet::new()
    }
}

impl PartialEq for ZSet {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().eq(other.iter())
    }
}

/// A score interval: `min`/`max` with their exclusive flags (`(`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct ScoreRange {
    pub min: f64,
    pub min_ex: bool,
    pub max: f64,
    pub max_ex: bool,
}

impl ScoreRange {
    pub fn gte_min(&self, s: f64) -> bool {
        if self.min_ex { s > self.min } else { s >= self.min }
    }

    pub fn lte_max(&self, s: f64) -> bool {
        if self.max_ex { s < self.max } else { s <= self.max }
    }

    pub fn is_empty(&self) -> bool {
        self.min > self.max || (self.min == self.max && (self.min_ex || self.max_ex))
    }
}

/// One end of a lexicographic interval: `-`, `+`, `[member`, `(member`.
#[derive(Debug, Clone, PartialEq)]
pub enum Lex {
    Min,
    Max,
    Incl(Vec<u8>),
    Excl(Vec<u8>),
}

impl Lex {
    /// Order of bounds: `-` < every string < `+`; inclusive vs exclusive
    /// of the same string compare equal.
    fn cmp_bound(&self, other: &Lex) -> std::cmp::Ordering {
        use std::cmp::Ordering::*;
        match (self, other) {
            (Lex::Min, Lex::Min) | (Lex::Max, Lex::Max) => Equal,
            (Lex::Min, _) | (_, Lex::Max) => Less,
            (_, Lex::Min) | (Lex::Max, _) => Greater,
            (Lex::Incl(a) | Lex::Excl(a), Lex::Incl(b) | Lex::Excl(b)) => a.cmp(b),
        }
    }

    /// `-`, `+` and `(x` exclude their own value.
    fn exclusive(&self) -> bool {
        !matches!(self, Lex::Incl(_))
    }
}

/// A lexicographic interval.
#[derive(Debug, Clone, PartialEq)]
pub struct LexRange {
    pub min: Lex,
    pub max: Lex,
}

impl LexRange {
    pub fn gte_min(&self, m: &[u8]) -> bool {
        match &self.min {
            Lex::Min => true,
            Lex::Max => false,
            Lex::Incl(x) => m >= &x[..],
            Lex::Excl(x) => m > &x[..],
        }
    }

    pub fn lte_max(&self, m: &[u8]) -> bool {
        match &self.max {
            Lex::Max => true,
            Lex::Min => false,
            Lex::Incl(x) => m <= &x[..],
            Lex::Excl(x) => m < &x[..],
        }
    }

    pub fn is_empty(&self) -> bool {
        let ord = self.min.cmp_bound(&self.max);
        ord.is_gt() || (ord.is_eq() && (self.min.exclusive() || self.max.exclusive()))
    }
}

/// ZADD's options.
#[derive(Debug, Clone, Copy, Default, PartialEq)]
pub struct AddFlags {
    pub nx: bool,
    pub xx: bool,
    pub gt: bool,
    pub lt: bool,
    pub incr: bool,
}

/// What [`ZSet::add`] did.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Added {
    /// A new member, with its score.
    New(f64),
    /// An existing member's score changed to this.
    Changed(f64),
    /// The member already had this score (equal to the one computed,
    /// which is given).
    Same(f64),
    /// NX, XX, GT or LT said no.
    Skipped,
}

/// An increment produced NaN (`inf + -inf`).
#[derive(Debug, Clone, Copy, PartialEq)]
pub struct NotANumber;

impl ZSet {
    /// An empty set in the compact encoding.
    pub fn new() -> Self {
        ZSet { repr: Repr::Pack(Pack::default()) }
    }

    /// An empty set in the encoding Redis picks for `size` members of up
    /// to `max_len` bytes.
    pub fn with_hint(size: usize, max_len: usize) -> Self {
        if fits_compact(size, max_len) {
            ZSet::new()
        } else {
            ZSet { repr: Repr::Skip(Box::default()) }
        }
    }

    /// A set of distinct members, in the encoding its final size calls for.
    pub fn from_entries(entries: Vec<(Vec<u8>, f64)>) -> Self {
        let max_len = entries.iter().map(|(m, _)| m.len()).max().unwrap_or(0);
        let mut z = ZSet::with_hint(entries.len(), max_len);
        for (m, s) in entries {
            z.insert_new(m.into_boxed_slice(), s);
        }
        z
    }

    /// Like [`ZSet::from_entries`] for members that may repeat (a DUMP
    /// payload's): None if one does. Scores must not be NaN.
    pub fn from_distinct(entries: Vec<(Vec<u8>, f64)>) -> Option<Self> {
        let compact = fits_compact(entries.len(), entries.iter().map(|(m, _)| m.len()).max().unwrap_or(0));
        if compact && !crate::packed::all_distinct(entries.iter().map(|(m, _)| &m[..]).collect()) {
            return None;
        }
        if !compact {
            let mut list = Box::<Skiplist>::default();
            for (m, s) in entries {
                if list.find(&m).is_some() {
                    return None;
                }
                list.insert(m.into_boxed_slice(), s);
            }
            return Some(ZSet { repr: Repr::Skip(list) });
        }
        Some(ZSet::from_entries(entries))
    }

    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.len(),
            Repr::Skip(l) => l.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned (O(1)).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.heap_bytes(),
            Repr::Skip(l) => crate::db::alloc_size(size_of::<Skiplist>()) + l.heap_bytes(),
        }
    }

    /// `OBJECT ENCODING`'s answer.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Pack(_) => "listpack",
            Repr::Skip(_) => "skiplist",
        }
    }

    pub fn score(&self, member: &[u8]) -> Option<f64> {
        match &self.repr {
            Repr::Pack(p) => p.find(member).map(|(_, s)| s.score),
            Repr::Skip(l) => l.find(member).map(|id| l.score(id)),
        }
    }

    /// ZADD of one member with `flags` (ZINCRBY is `incr`).
    pub fn add(&mut self, member: &[u8], score: f64, flags: AddFlags) -> Result<Added, NotANumber> {
        let Some(current) = self.score(member) else {
            if flags.xx {
                return Ok(Added::Skipped);
            }
            self.insert_new(member.into(), score);
            return Ok(Added::New(score));
        };
        if flags.nx {
            return Ok(Added::Skipped);
        }
        let new = if flags.incr { current + score } else { score };
        if new.is_nan() {
            return Err(NotANumber);
        }
        if (flags.lt && new >= current) || (flags.gt && new <= current) {
            return Ok(Added::Skipped);
        }
        if new == current {
            // The score computed (0 for -0 + 0), though -0 stays stored.
            return Ok(Added::Same(new));
        }
        match &mut self.repr {
            Repr::Skip(l) => {
                let id = l.find(member).expect("the member was found above");
                l.update_score(id, new);
            }
            Repr::Pack(_) => {
                self.remove(member);
                self.insert_new(member.into(), new);
            }
        }
        Ok(Added::Changed(new))
    }

    /// Inserts a member known to be absent, converting to the skip list
    /// when the compact encoding's limits would be passed.
    fn insert_new(&mut self, member: Box<[u8]>, score: f64) {
        if let Repr::Pack(p) = &self.repr
            && !fits_compact(p.len() + 1, member.len())
        {
            self.convert();
        }
        match &mut self.repr {
            // The compact form keeps -0 as the integer 0 (as a listpack
            // does); the skip list keeps the double.
            Repr::Pack(p) => p.insert(&member, score + 0.0),
            Repr::Skip(l) => {
                l.insert(member, score);
            }
        }
    }

    fn convert(&mut self) {
        let Repr::Pack(p) = &self.repr else { return };
        let mut list = Box::<Skiplist>::default();
        for s in p.slots() {
            list.insert(s.member.into(), s.score);
        }
        self.repr = Repr::Skip(list);
    }

    /// Removes `member`; whether it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Pack(p) => match p.find(member).map(|(_, s)| (s.start, s.end)) {
                Some((start, end)) => {
                    p.remove_bytes(start, end, 1);
                    true
                }
                None => false,
            },
            Repr::Skip(l) => match l.find(member) {
                Some(id) => {
                    l.remove(id);
                    true
                }
                None => false,
            },
        }
    }

    /// The 0-based ascending rank of `member`.
    pub fn rank(&self, member: &[u8]) -> Option<usize> {
        match &self.repr {
            Repr::Pack(p) => p.find(member).map(|(i, _)| i),
            Repr::Skip(l) => l.find(member).map(|id| l.rank(id)),
        }
    }

    /// Number of leading elements satisfying `pred` (monotone along the order).
    fn partition_point(&self, pred: impl FnMut(f64, &[u8]) -> bool) -> usize {
        match &self.repr {
            Repr::Pack(p) => p.partition_point(pred),
            Repr::Skip(l) => l.partition_point(pred),
        }
    }

    /// Elements in ascending order.
    pub fn iter(&self) -> Iter<'_> {
        self.iter_from(0, false)
    }

    /// Elements from ascending index `index`, going up (or down when `rev`).
    pub fn iter_from(&self, index: usize, rev: bool) -> Iter<'_> {
        let at = match &self.repr {
            Repr::Pack(p) => At::Pack((index < p.len()).then(|| p.offset_of(index))),
            Repr::Skip(l) => At::Skip(l.at(index)),
        };
        Iter { set: self, at, rev }
    }

    /// The first element of a score walk (the lowest in range, or the
    /// highest when `rev`), by ascending index.
    pub fn score_start(&self, r: &ScoreRange, rev: bool) -> Option<usize> {
        if r.is_empty() {
            return None;
        }
        let i = if rev {
            self.partition_point(|s, _| r.lte_max(s)).checked_sub(1)?
        } else {
            self.partition_point(|s, _| !r.gte_min(s))
        };
        let (_, s) = self.iter_from(i, false).next()?;
        (r.gte_min(s) && r.lte_max(s)).then_some(i)
    }

    /// Members with scores in `r`.
    pub fn count_score(&self, r: &ScoreRange) -> usize {
        match self.score_start(r, false) {
            Some(start) => self.partition_point(|s, _| r.lte_max(s)) - start,
            None => 0,
        }
    }

    /// The first element of a lexicographic walk (from the low end, or the
    /// high end when `rev`). Like Redis: None unless the range overlaps
    /// the set's ends, and the element found must be in range.
    pub fn lex_start(&self, r: &LexRange, rev: bool) -> Option<usize> {
        let (first, _) = self.iter().next()?;
        let (last, _) = self.iter_from(self.len() - 1, true).next()?;
        if r.is_empty() || !r.gte_min(last) || !r.lte_max(first) {
            return None;
        }
        let i = match (&self.repr, rev) {
            (Repr::Pack(_), true) => self.len() - 1 - self.iter_from(self.len() - 1, true).take_while(|(m, _)| !r.lte_max(m)).count(),
            (Repr::Pack(_), false) => self.iter().take_while(|(m, _)| !r.gte_min(m)).count(),
            (Repr::Skip(_), true) => self.partition_point(|_, m| r.lte_max(m)).checked_sub(1)?,
            (Repr::Skip(_), false) => self.partition_point(|_, m| !r.gte_min(m)),
        };
        let (m, _) = self.iter_from(i, false).next()?;
        (r.gte_min(m) && r.lte_max(m)).then_some(i)
    }

    /// Members in the lexicographic range `r` (ZLEXCOUNT).
    pub fn count_lex(&self, r: &LexRange) -> usize {
        let Some(start) = self.lex_start(r, false) else { return 0 };
        match &self.repr {
            Repr::Pack(_) => self.iter_from(start, false).take_while(|(m, _)| r.lte_max(m)).count(),
            Repr::Skip(_) => self.partition_point(|_, m| r.lte_max(m)).saturating_sub(start),
        }
    }

    /// Removes the elements at ascending indexes `start..end`; how many.
    pub fn remove_range(&mut self, start: usize, end: usize) -> usize {
        let end = end.min(self.len());
        if start >= end {
            return 0;
        }
        match &mut self.repr {
            Repr::Pack(p) => {
                let (from, to) = (p.offset_of(start), p.offset_of(end));
                p.remove_bytes(from, to, end - start);
            }
            Repr::Skip(l) => {
                // By index each time: a removal may compact the arena.
                for _ in start..end {
                    if let Some(id) = l.at(start) {
                        l.remove(id);
                    }
                }
            }
        }
        end - start
    }

    /// Removes and returns up to `count` lowest (or highest, `max`)
    /// elements, in pop order (ZPOPMIN, ZPOPMAX, ZMPOP).
    pub fn pop(&mut self, count: usize, max: bool) -> Vec<(Vec<u8>, f64)> {
        let n = count.min(self.len());
        let start = if max { self.len() - n } else { 0 };
        let from = if max { self.len().saturating_sub(1) } else { 0 };
        let popped: Vec<(Vec<u8>, f64)> = self.iter_from(from, max).take(n).map(|(m, s)| (m.to_vec(), s)).collect();
        self.remove_range(start, start + n);
        popped
    }

    /// One ZSCAN step: calls `f` for some elements and returns the next
    /// cursor (0 when done). A compact set is returned whole, cursor 0.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], f64)) -> u64 {
        match &self.repr {
            Repr::Pack(_) => {
                self.iter().for_each(|(m, s)| f(m, s));
                0
            }
            Repr::Skip(l) => l.scan(cursor, count, f),
        }
    }
}

/// Whether `size` members of up to `max_len` bytes stay compact.
fn fits_compact(size: usize, max_len: usize) -> bool {
    let entries = usize::try_from(ZSET_MAX_ENTRIES.get()).unwrap_or(0);
    let value = usize::try_from(ZSET_MAX_VALUE.get()).unwrap_or(0);
    size <= entries && max_len <= value
}

/// An iterator over (member, score) from some position, either way.
pub struct Iter<'a> {
    set: &'a ZSet,
    at: At,
    rev: bool,
}

enum At {
    /// Byte offset of the next element.
    Pack(Option<usize>),
    Skip(Option<NodeId>),
}

impl<'a> Iterator for Iter<'a> {
    type Item = (&'a [u8], f64);

    fn next(&mut self) -> Option<Self::Item> {
        let set: &'a ZSet = self.set;
        match (&set.repr, &mut self.at) {
            (Repr::Pack(p), At::Pack(at)) => {
                let s = p.slot((*at)?);
                *at = if self.rev {
                    (s.start > 0).then(|| p.slot_before(s.start).start)
                } else {
                    (s.end < p.buf_len()).then_some(s.end)
                };
                Some((s.member, s.score))
            }
            (Repr::Skip(l), At::Skip(at)) => {
                let id = (*at)?;
                *at = if self.rev { l.prev(id) } else { l.next(id) };
                Some((l.member(id), l.score(id)))
            }
            _ => None,
        }
    }
}

#[cfg(test)]
mod tests;
