//! The set type, in Redis 7.0's two encodings:
//!
//! - `intset`: one exact-size buffer `[width][sorted integers]`, each
//!   integer little-endian in the width (2, 4 or 8 bytes) that fits the
//!   widest member (as Redis's intset: widening rewrites the buffer, it
//!   never narrows). Members are listed in ascending order.
//! - `hashtable`: a [`Table`] whose records are the members.
//!
//! A set is created as an intset when its first member is an integer
//! (Redis's strict `string2ll` form), and becomes a hashtable for good when
//! a non-integer is added or it holds more than `set-max-intset-entries`.

use crate::db::alloc_size;
use crate::encoding::SET_MAX_INTSET_ENTRIES;
use crate::hashtable::{Layout, Table};
use crate::packed::{splice, Buf};
use crate::value::parse_strict_i64;

/// A set value.
#[derive(Debug, Clone, Default)]
pub struct Set {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Empty, or `[width][integers]`.
    Ints(Buf),
    Table(Box<Table<Members>>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Ints(Buf::default())
    }
}

/// Hashtable records are the members themselves.
#[derive(Debug, Clone)]
pub struct Members;

impl Layout for Members {
    fn key(record: &[u8]) -> &[u8] {
        record
    }
}

/// A member as stored: an intset's integer or a hashtable's bytes.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
pub enum Member<'a> {
    Int(i64),
    Bytes(&'a [u8]),
}

impl<'a> Member<'a> {
    /// The member's bytes (an integer is written into `buf`).
    pub fn bytes<'b>(&'b self, buf: &'b mut itoa::Buffer) -> &'b [u8]
    where
        'a: 'b,
    {
        match self {
            Member::Int(n) => buf.format(*n).as_bytes(),
            Member::Bytes(b) => b,
        }
    }

    pub fn to_vec(&self) -> Vec<u8> {
        self.bytes(&mut itoa::Buffer::new()).to_vec()
    }
}

/// The intset view of a buffer.
#[derive(Clone, Copy)]
struct Ints<'a>(&'a [u8]);

fn width_for(v: i64) -> usize {
    if i16::try_from(v).is_ok() {
        2
    } else if i32::try_from(v).is_ok() {
        4
    } else {
        8
    }
}

fn encode_int(v: i64, width: usize) -> [u8; 8] {
    let mut out = [0; 8];
    out[..width].copy_from_slice(&v.to_le_bytes()[..width]);
    out
}

impl<'a> Ints<'a> {
    fn width(&self) -> usize {
        self.0.first().map_or(2, |&w| w as usize)
    }

    fn len(&self) -> usize {
        self.0.len().saturating_sub(1) / self.width()
    }

    fn at(&self, i: usize) -> i64 {
        let w = self.width();
        let mut bytes = [0; 8];
        bytes[..w].copy_from_slice(&self.0[1 + i * w..1 + (i + 1) * w]);
        // Sign-extend from the stored width.
        let shift = 64 - 8 * w as u32;
        (i64::from_le_bytes(bytes) << shift) >> shift
    }

    fn search(&self, v: i64) -> Result<usize, usize> {
        let (mut lo, mut hi) = (0, self.len());
        while lo < hi {
            let mid = (lo + hi) / 2;
            match self.at(mid).cmp(&v) {
                std::cmp::Ordering::Equal => return Ok(mid),
                std::cmp::Ordering::Less => lo = mid + 1,
                std::cmp::Ordering::Greater => hi = mid,
            }
        }
        Err(lo)
    }

    fn iter(self) -> impl Iterator<Item = i64> + 'a {
        (0..self.len()).map(move |i| self.at(i))
    }
}

/// A hashtable of integers, written in decimal.
fn int_table(ints: impl Iterator<Item = i64>) -> Box<Table<Members>> {
    let mut table = Box::<Table<Members>>::default();
    let mut text = itoa::Buffer::new();
    for v in ints {
        table.insert(text.format(v).as_bytes());
    }
    table
}

/// Whether `len` members are too many for an intset.
fn over_intset_limit(len: usize) -> bool {
    i64::try_from(len).map_or(true, |n| n > SET_MAX_INTSET_ENTRIES.get())
}

/// Adds `v` to an intset buffer; true if it was new.
fn ints_insert(buf: &mut Buf, v: i64) -> bool {
    let ints = Ints(buf);
    let w = ints.width();
    if width_for(v) > w || buf.is_empty() {
        let width = width_for(v).max(if buf.is_empty() { 2 } else { w });
        let mut all: Vec<i64> = ints.iter().collect();
        let pos = all.partition_point(|&x| x < v);
        all.insert(pos, v);
        let mut out = Vec::with_capacity(1 + all.len() * width);
        out.push(width as u8);
        all.iter().for_each(|&x| out.extend_from_slice(&encode_int(x, width)[..width]));
        *buf = Buf::from_vec(out);
        return true;
    }
    match ints.search(v) {
        Ok(_) => false,
        Err(i) => {
            let at = 1 + i * w;
            splice(buf, at..at, &[&encode_int(v, w)[..w]]);
            true
        }
    }
}

/// Removes `v` from an intset buffer; true if it was there.
fn ints_remove(buf: &mut Buf, v: i64) -> bool {
    let ints = Ints(buf);
    let Ok(i) = ints.search(v) else { return false };
    if ints.len() == 1 {
        *buf = Buf::default();
    } else {
        let w = ints.width();
        splice(buf, 1 + i * w..1 + (i + 1) * w, &[]);
    }
    true
}

impl Set {
    /// An empty set in the encoding Redis gives a set created for `first`:
    /// intset for an integer, else hashtable.
    pub fn for_member(first: &[u8]) -> Set {
        let mut s = Set::default();
        if parse_strict_i64(first).is_none() {
            s.convert();
        }
        s
    }

    /// Number of members.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Ints(buf) => Ints(buf).len(),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned, kept as a running count (O(1)).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Ints(buf) => buf.heap_bytes(),
            Repr::Table(t) => alloc_size(std::mem::size_of::<Table<Members>>()) + t.heap_bytes(),
        }
    }

    /// `OBJECT ENCODING`'s answer.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Ints(_) => "intset",
            Repr::Table(_) => "hashtable",
        }
    }

    pub fn contains(&self, member: &[u8]) -> bool {
        match &self.repr {
            Repr::Ints(buf) => parse_strict_i64(member).is_some_and(|v| Ints(buf).search(v).is_ok()),
            Repr::Table(t) => t.get(member).is_some(),
        }
    }

    /// Adds `member`; true if it is new. Converts to a hashtable for a
    /// non-integer or past `set-max-intset-entries`.
    pub fn add(&mut self, member: &[u8]) -> bool {
        let int = match &self.repr {
            Repr::Ints(_) => parse_strict_i64(member),
            Repr::Table(_) => None,
        };
        let added = match (&mut self.repr, int) {
            (Repr::Ints(buf), Some(v)) => ints_insert(buf, v),
            _ => {
                self.convert();
                match &mut self.repr {
                    Repr::Table(t) => t.insert(member),
                    Repr::Ints(_) => unreachable!("converted above"),
                }
            }
        };
        if matches!(self.repr, Repr::Ints(_)) && over_intset_limit(self.len()) {
            self.convert();
        }
        added
    }

    /// Removes `member`; true if it was there.
    pub fn remove(&mut self, member: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Ints(buf) => parse_strict_i64(member).is_some_and(|v| ints_remove(buf, v)),
            Repr::Table(t) => t.remove(member).is_some(),
        }
    }

    /// An intset's buffer as stored, `[width][integers]` (ascending), so
    /// DUMP can copy it as it is; None for a hashtable.
    pub fn intset_bytes(&self) -> Option<&[u8]> {
        match &self.repr {
            Repr::Ints(buf) => Some(buf),
            Repr::Table(_) => None,
        }
    }

    /// The set an intset buffer (as [`Set::intset_bytes`] gives it) holds,
    /// rebuilt by [`Set::from_sorted_ints`]; None unless the buffer is
    /// well formed: width 2, 4 or 8, whole integers, strictly ascending.
    pub fn from_intset(bytes: &[u8]) -> Option<Set> {
        let width = *bytes.first()? as usize;
        if !matches!(width, 2 | 4 | 8) || !(bytes.len() - 1).is_multiple_of(width) {
            return None;
        }
        Set::from_sorted_ints(&Ints(bytes).iter().collect::<Vec<_>>())
    }

    /// A set of `ints`, which must be strictly ascending (else None), in
    /// the encoding writes would give it: an intset of the narrowest width
    /// up to `set-max-intset-entries` members, else a hashtable.
    pub fn from_sorted_ints(ints: &[i64]) -> Option<Set> {
        if !ints.windows(2).all(|w| w[0] < w[1]) {
            return None;
        }
        if over_intset_limit(ints.len()) {
            return Some(Set { repr: Repr::Table(int_table(ints.iter().copied())) });
        }
        let (Some(&lo), Some(&hi)) = (ints.first(), ints.last()) else { return Some(Set::default()) };
        let width = width_for(lo).max(width_for(hi));
        let mut out = Vec::with_capacity(1 + ints.len() * width);
        out.push(width as u8);
        ints.iter().for_each(|&x| out.extend_from_slice(&encode_int(x, width)[..width]));
        Some(Set { repr: Repr::Ints(Buf::from_vec(out)) })
    }

    /// A set of `members`, in the encoding Redis gives a set loaded with
    /// them (an intset when all are integers and few enough, else a
    /// hashtable); None if a member repeats.
    pub fn from_members(members: &[&[u8]]) -> Option<Set> {
        if !over_intset_limit(members.len()) {
            let ints: Option<Vec<i64>> = members.iter().map(|m| parse_strict_i64(m)).collect();
            if let Some(mut ints) = ints {
                ints.sort_unstable();
                return Set::from_sorted_ints(&ints);
            }
        }
        let mut table = Box::<Table<Members>>::default();
        let distinct = members.iter().all(|m| table.insert(m));
        distinct.then_some(Set { repr: Repr::Table(table) })
    }

    /// Turns an intset into a hashtable (no-op for a hashtable).
    fn convert(&mut self) {
        if let Repr::Ints(buf) = &self.repr {
            self.repr = Repr::Table(int_table(Ints(buf).iter()));
        }
    }

    /// Every member, in the encoding's order (ascending for an intset).
    pub fn iter(&self) -> Box<dyn Iterator<Item = Member<'_>> + '_> {
        match &self.repr {
            Repr::Ints(buf) => Box::new(Ints(buf).iter().map(Member::Int)),
            Repr::Table(t) => Box::new(t.iter().map(Member::Bytes)),
        }
    }

    /// One SSCAN step (see [`Table::scan`]); an intset is returned whole
    /// with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(Member<'_>)) -> u64 {
        match &self.repr {
            Repr::Ints(buf) => {
                Ints(buf).iter().for_each(|v| f(Member::Int(v)));
                0
            }
            Repr::Table(t) => t.scan(cursor, count, |m| f(Member::Bytes(m))),
        }
    }

    /// A member picked at random; the set must not be empty.
    pub fn random(&self) -> Member<'_> {
        match &self.repr {
            Repr::Ints(buf) => {
                let ints = Ints(buf);
                Member::Int(ints.at(crate::sample::below(ints.len().max(1))))
            }
            Repr::Table(t) => Member::Bytes(t.random().unwrap_or_default()),
        }
    }

    /// Removes and returns a random member.
    pub fn pop(&mut self) -> Option<Vec<u8>> {
        if self.is_empty() {
            return None;
        }
        let member = self.random().to_vec();
        self.remove(&member);
        Some(member)
    }

    /// Heap bytes counted from scratch (for tests of the running count).
    #[cfg(test)]
    fn recount(&self) -> usize {
        match &self.repr {
            Repr::Ints(buf) => match 1 + Ints(buf).len() * Ints(buf).width() {
                n if n <= crate::packed::INLINE => 0,
                n => alloc_size(n),
            },
            Repr::Table(t) => alloc_size(std::mem::size_of::<Table<Members>>()) + t.recount(),
        }
    }
}

impl PartialEq for Set {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|m| other.contains(&m.to_vec()))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::BTreeSet;

    use proptest::prelude::*;

    fn members(s: &Set) -> Vec<Vec<u8>> {
        s.iter().map(|m| m.to_vec()).collect()
    }

    #[test]
    fn intsets_widen_and_stay_sorted() {
        assert_eq!(std::mem::size_of::<Set>(), 24, "fits in a Value beside the entry");
        let mut s = Set::for_member(b"5");
        for m in ["5", "-3", "100", "5"] {
            s.add(m.as_bytes());
        }
        assert_eq!((s.encoding(), s.heap_bytes()), ("intset", 0), "a few small integers stay inline");
        assert_eq!(members(&s), [&b"-3"[..], b"5", b"100"]);
        s.add(b"-9223372036854775808");
        assert_eq!(s.heap_bytes(), alloc_size(1 + 4 * 8));
        assert_eq!(members(&s)[0], b"-9223372036854775808");
        assert!(s.contains(b"100") && !s.contains(b"0100") && !s.contains(b"x"));
        assert!(s.remove(b"100") && !s.remove(b"100"));
        s.add(b"x");
        assert_eq!((s.encoding(), s.len()), ("hashtable", 4));
        assert_eq!(Set::for_member(b"a").encoding(), "hashtable");
        assert_eq!(Set::for_member(b"007").encoding(), "hashtable");
    }

    #[test]
    fn intset_converts_past_the_limit() {
        let mut s = Set::default();
        for i in 0..=SET_MAX_INTSET_ENTRIES.get() {
            s.add(i.to_string().as_bytes());
        }
        assert_eq!(s.encoding(), "hashtable");
        let mut popped = BTreeSet::new();
        while let Some(m) = s.pop() {
            popped.insert(m);
        }
        assert_eq!(popped.len() as i64, SET_MAX_INTSET_ENTRIES.get() + 1);
    }

    #[derive(Debug, Clone)]
    enum Op {
        Add(i64, bool),
        Remove(i64, bool),
        Pop,
    }

    fn member(n: i64, text: bool) -> Vec<u8> {
        if text { format!("m{n}").into_bytes() } else { (n * 1_000_003).to_string().into_bytes() }
    }

    proptest! {
        /// The set behaves as a set in both encodings, and its running byte
        /// count always equals a count from scratch.
        #[test]
        fn behaves_like_a_set(ops in prop::collection::vec(prop_oneof![
            6 => (-300i64..300, prop::bool::weighted(0.05)).prop_map(|(n, t)| Op::Add(n, t)),
            3 => (-300i64..300, prop::bool::weighted(0.05)).prop_map(|(n, t)| Op::Remove(n, t)),
            1 => Just(Op::Pop),
        ], 1..600)) {
            let mut s = Set::default();
            let mut model = BTreeSet::new();
            for op in ops {
                match op {
                    Op::Add(n, t) => prop_assert_eq!(s.add(&member(n, t)), model.insert(member(n, t))),
                    Op::Remove(n, t) => prop_assert_eq!(s.remove(&member(n, t)), model.remove(&member(n, t))),
                    Op::Pop => {
                        let expect = (!model.is_empty()).then_some(true);
                        prop_assert_eq!(s.pop().map(|m| model.remove(&m)), expect);
                    }
                }
                prop_assert_eq!(s.heap_bytes(), s.recount());
                prop_assert_eq!(s.len(), model.len());
            }
            prop_assert_eq!(members(&s).into_iter().collect::<BTreeSet<_>>(), model);
        }
    }
}
