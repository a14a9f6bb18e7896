//! The hash type, in Redis 7.0's two encodings:
//!
//! - `listpack`: one exact-size buffer, `[count: u32][entries]`, each entry
//!   `[varint len][field][varint len][value]`, in insertion order (as
//!   Redis's listpack, so small hashes list their fields in the same order).
//!   No allocation per field; lookups are linear, which is what keeps it
//!   small and is cheap below `hash-max-listpack-entries`.
//! - `hashtable`: a [`Table`] of records `[varint len][field][value]`.
//!
//! A hash starts as a listpack and becomes a hashtable for good when a
//! field or value is longer than `hash-max-listpack-value` or it holds
//! more than `hash-max-listpack-entries` fields.

use crate::db::alloc_size;
use crate::encoding::{HASH_MAX_ENTRIES, HASH_MAX_VALUE};
use crate::hashtable::{Layout, Table};
use crate::packed::{all_distinct, read_str, splice, varint, Buf};

/// A hash value.
#[derive(Debug, Clone, Default)]
pub struct Hash {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    /// Empty, or `[count: u32 LE][entries]` (see the module doc).
    Packed(Buf),
    Table(Box<Table<Pairs>>),
}

impl Default for Repr {
    fn default() -> Self {
        Repr::Packed(Buf::default())
    }
}

/// Hashtable records: `[varint len][field][value]`, keyed by the field.
#[derive(Debug, Clone)]
pub struct Pairs;

impl Layout for Pairs {
    fn key(record: &[u8]) -> &[u8] {
        read_str(record).0
    }
}

fn split_record(record: &[u8]) -> (&[u8], &[u8]) {
    let (field, used) = read_str(record);
    (field, &record[used..])
}

fn make_record(field: &[u8], value: &[u8]) -> Vec<u8> {
    let (len, n) = varint(field.len());
    [&len[..n], field, value].concat()
}

const HEADER: usize = 4;

/// One listpack entry: where it starts and ends, its field and value.
struct Slot<'a> {
    start: usize,
    value_at: usize,
    end: usize,
    field: &'a [u8],
    value: &'a [u8],
}

fn slots(buf: &[u8]) -> impl Iterator<Item = Slot<'_>> {
    let mut at = HEADER.min(buf.len());
    std::iter::from_fn(move || {
        if at >= buf.len() {
            return None;
        }
        let start = at;
        let (field, used) = read_str(&buf[at..]);
        let value_at = at + used;
        let (value, used) = read_str(&buf[value_at..]);
        at = value_at + used;
        Some(Slot { start, value_at, end: at, field, value })
    })
}

fn packed_count(buf: &[u8]) -> usize {
    buf.get(..HEADER).map_or(0, |h| u32::from_le_bytes([h[0], h[1], h[2], h[3]]) as usize)
}

/// Sets `field` in a listpack; true if it was added.
fn packed_set(buf: &mut Buf, field: &[u8], value: &[u8]) -> bool {
    let (vlen, vn) = varint(value.len());
    let found = slots(buf).find(|s| s.field == field).map(|s| s.value_at..s.end);
    if let Some(range) = found {
        splice(buf, range, &[&vlen[..vn], value]);
        return false;
    }
    let count = (packed_count(buf) + 1) as u32;
    let (flen, fn_) = varint(field.len());
    let end = buf.len();
    if end == 0 {
        splice(buf, 0..0, &[&count.to_le_bytes(), &flen[..fn_], field, &vlen[..vn], value]);
    } else {
        splice(buf, end..end, &[&flen[..fn_], field, &vlen[..vn], value]);
        buf[..HEADER].copy_from_slice(&count.to_le_bytes());
    }
    true
}

/// Removes `field` from a listpack; true if it was there.
fn packed_remove(buf: &mut Buf, field: &[u8]) -> bool {
    let Some(range) = slots(buf).find(|s| s.field == field).map(|s| s.start..s.end) else { return false };
    let count = packed_count(buf) - 1;
    if count == 0 {
        *buf = Buf::default();
    } else {
        splice(buf, range, &[]);
        buf[..HEADER].copy_from_slice(&(count as u32).to_le_bytes());
    }
    true
}

fn over(len: usize, limit: i64) -> bool {
    i64::try_from(len).map_or(true, |n| n > limit)
}

/// A (field, value) pair.
pub type Pair<'a> = (&'a [u8], &'a [u8]);

impl Hash {
    /// Number of fields.
    pub fn len(&self) -> usize {
        match &self.repr {
            Repr::Packed(buf) => packed_count(buf),
            Repr::Table(t) => t.len(),
        }
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// Heap bytes owned, kept as a running count (O(1)).
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Packed(buf) => buf.heap_bytes(),
            Repr::Table(t) => alloc_size(std::mem::size_of::<Table<Pairs>>()) + t.heap_bytes(),
        }
    }

    /// `OBJECT ENCODING`'s answer.
    pub fn encoding(&self) -> &'static str {
        match &self.repr {
            Repr::Packed(_) => "listpack",
            Repr::Table(_) => "hashtable",
        }
    }

    pub fn get(&self, field: &[u8]) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed(buf) => slots(buf).find(|s| s.field == field).map(|s| s.value),
            Repr::Table(t) => t.get(field).map(|r| split_record(r).1),
        }
    }

    pub fn contains(&self, field: &[u8]) -> bool {
        self.get(field).is_some()
    }

    /// Sets `field` to `value`; true if the field is new. Converts to a
    /// hashtable past the `hash-max-listpack-*` limits.
    pub fn set(&mut self, field: &[u8], value: &[u8]) -> bool {
        let max_value = HASH_MAX_VALUE.get();
        if over(field.len(), max_value) || over(value.len(), max_value) {
            self.convert();
        }
        let added = match &mut self.repr {
            Repr::Packed(buf) => packed_set(buf, field, value),
            Repr::Table(t) => t.insert(&make_record(field, value)),
        };
        if over(self.len(), HASH_MAX_ENTRIES.get()) {
            self.convert();
        }
        added
    }

    /// Removes `field`; true if it was there.
    pub fn remove(&mut self, field: &[u8]) -> bool {
        match &mut self.repr {
            Repr::Packed(buf) => packed_remove(buf, field),
            Repr::Table(t) => t.remove(field).is_some(),
        }
    }

    /// A listpack's entries as stored, `[varint len][field][varint len][value]`
    /// each (after the count), so DUMP can copy them as they are; None for
    /// a hashtable.
    pub fn packed_entries(&self) -> Option<&[u8]> {
        match &self.repr {
            Repr::Packed(buf) => Some(buf.get(HEADER..).unwrap_or_default()),
            Repr::Table(_) => None,
        }
    }

    /// A hash of `pairs` (kept in their order), in the encoding that their
    /// number and sizes call for under the `hash-max-listpack-*` limits, as
    /// RESTORE builds it; None if a field repeats.
    pub fn from_pairs(pairs: &[Pair]) -> Option<Hash> {
        let max_value = HASH_MAX_VALUE.get();
        let compact = !over(pairs.len(), HASH_MAX_ENTRIES.get()) && pairs.iter().all(|(f, v)| !over(f.len(), max_value) && !over(v.len(), max_value));
        if !compact {
            let mut table = Box::<Table<Pairs>>::default();
            let distinct = pairs.iter().all(|(f, v)| table.insert(&make_record(f, v)));
            return distinct.then_some(Hash { repr: Repr::Table(table) });
        }
        if pairs.is_empty() {
            return Some(Hash::default());
        }
        if !all_distinct(pairs.iter().map(|p| p.0).collect()) {
            return None;
        }
        let body: usize = pairs.iter().map(|(f, v)| f.len() + v.len() + varint(f.len()).1 + varint(v.len()).1).sum();
        let mut buf = Vec::with_capacity(HEADER + body);
        buf.extend_from_slice(&(pairs.len() as u32).to_le_bytes());
        for (f, v) in pairs {
            for s in [f, v] {
                let (len, n) = varint(s.len());
                buf.extend_from_slice(&len[..n]);
                buf.extend_from_slice(s);
            }
        }
        Some(Hash { repr: Repr::Packed(Buf::from_vec(buf)) })
    }

    /// Turns a listpack into a hashtable (no-op for a hashtable).
    fn convert(&mut self) {
        if let Repr::Packed(buf) = &self.repr {
            let mut table = Box::<Table<Pairs>>::default();
            for s in slots(buf) {
                table.insert(&make_record(s.field, s.value));
            }
            self.repr = Repr::Table(table);
        }
    }

    /// Every (field, value), in the encoding's order.
    pub fn iter(&self) -> Box<dyn Iterator<Item = Pair<'_>> + '_> {
        match &self.repr {
            Repr::Packed(buf) => Box::new(slots(buf).map(|s| (s.field, s.value))),
            Repr::Table(t) => Box::new(t.iter().map(split_record)),
        }
    }

    /// One HSCAN step (see [`Table::scan`]); a listpack is returned whole
    /// with cursor 0, as Redis does.
    pub fn scan(&self, cursor: u64, count: usize, mut f: impl FnMut(&[u8], &[u8])) -> u64 {
        match &self.repr {
            Repr::Packed(buf) => {
                slots(buf).for_each(|s| f(s.field, s.value));
                0
            }
            Repr::Table(t) => t.scan(cursor, count, |r| {
                let (field, value) = split_record(r);
                f(field, value)
            }),
        }
    }

    /// A source of random pairs (for HRANDFIELD); the hash must not be empty.
    pub fn picker<'a>(&'a self) -> Box<dyn FnMut() -> Pair<'a> + 'a> {
        match &self.repr {
            Repr::Packed(_) => {
                let all: Vec<Pair> = self.iter().collect();
                Box::new(move || all[crate::sample::below(all.len())])
            }
            Repr::Table(t) => Box::new(move || t.random().map_or((&[][..], &[][..]), split_record)),
        }
    }

    /// Heap bytes counted from scratch (for tests of the running count).
    #[cfg(test)]
    fn recount(&self) -> usize {
        match &self.repr {
            Repr::Packed(buf) => buf.heap_bytes(),
            Repr::Table(t) => alloc_size(std::mem::size_of::<Table<Pairs>>()) + t.recount(),
        }
    }
}

impl PartialEq for Hash {
    fn eq(&self, other: &Self) -> bool {
        self.len() == other.len() && self.iter().all(|(f, v)| other.get(f) == Some(v))
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::collections::HashMap;

    use proptest::prelude::*;

    #[test]
    fn small_hashes_are_compact() {
        assert_eq!(std::mem::size_of::<Hash>(), 24, "fits in a Value beside the entry");
        let mut h = Hash::default();
        assert_eq!(h.heap_bytes(), 0);
        for i in 0..10 {
            assert!(h.set(format!("field:{i}").as_bytes(), b"v"));
        }
        // 4-byte header, 10 × (1 + 7 + 1 + 1) bytes.
        assert_eq!((h.encoding(), h.heap_bytes()), ("listpack", alloc_size(104)));
        assert!(!h.set(b"field:3", b"longer value"));
        assert_eq!(h.get(b"field:3"), Some(&b"longer value"[..]));
        let order: Vec<&[u8]> = h.iter().map(|p| p.0).collect();
        assert_eq!(order[3], b"field:3", "listpack keeps insertion order");
        assert!(h.remove(b"field:0") && !h.remove(b"field:0"));
        assert_eq!(h.len(), 9);
    }

    #[test]
    fn converts_past_the_limits_and_stays_converted() {
        let mut h = Hash::default();
        for i in 0..=HASH_MAX_ENTRIES.get() {
            h.set(i.to_string().as_bytes(), b"x");
        }
        assert_eq!((h.encoding(), h.len() as i64), ("hashtable", HASH_MAX_ENTRIES.get() + 1));
        for i in 0..HASH_MAX_ENTRIES.get() {
            h.remove(i.to_string().as_bytes());
        }
        assert_eq!((h.encoding(), h.len()), ("hashtable", 1));
        let mut long = Hash::default();
        long.set(b"f", &[b'v'; 64]);
        assert_eq!(long.encoding(), "listpack");
        long.set(b"g", &[b'v'; 65]);
        assert_eq!(long.encoding(), "hashtable");
        assert_eq!(long.get(b"f"), Some(&[b'v'; 64][..]));
    }

    #[derive(Debug, Clone)]
    enum Op {
        Set(u8, Vec<u8>),
        Remove(u8),
    }

    fn op() -> impl Strategy<Value = Op> {
        prop_oneof![
            3 => (0u8..200, prop::collection::vec(any::<u8>(), 0..80)).prop_map(|(f, v)| Op::Set(f, v)),
            1 => (0u8..200).prop_map(Op::Remove),
        ]
    }

    fn field(f: u8) -> Vec<u8> {
        if f.is_multiple_of(7) { vec![b'f'; 30 + f as usize] } else { format!("f{f}").into_bytes() }
    }

    proptest! {
        /// The hash behaves as a map in both encodings, and its running
        /// byte count always equals a count from scratch.
        #[test]
        fn behaves_like_a_map(ops in prop::collection::vec(op(), 1..400)) {
            let mut h = Hash::default();
            let mut model: HashMap<Vec<u8>, Vec<u8>> = HashMap::new();
            for op in ops {
                match op {
                    Op::Set(f, v) => prop_assert_eq!(h.set(&field(f), &v), model.insert(field(f), v).is_none()),
                    Op::Remove(f) => prop_assert_eq!(h.remove(&field(f)), model.remove(&field(f)).is_some()),
                }
                prop_assert_eq!(h.heap_bytes(), h.recount());
                prop_assert_eq!(h.len(), model.len());
            }
            for (f, v) in &model {
                prop_assert_eq!(h.get(f), Some(&v[..]));
            }
            let mut seen = Vec::new();
            let mut cursor = 0;
            loop {
                cursor = h.scan(cursor, 3, |f, _| seen.push(f.to_vec()));
                if cursor == 0 { break; }
            }
            prop_assert_eq!(seen.len(), model.len());
        }
    }
}
