//! Value types stored under keys.
//!
//! Strings live in the entry itself when short; hashes, sets and sorted
//! sets are small handles stored in the entry too (saving a 16-byte box per
//! key), the list (48 bytes) is boxed. The types live in their own modules
//! ([`crate::hash`], [`crate::list`], [`crate::set`], [`crate::zset`]).
//! Each variant owns its bytes (never a slice of a network buffer, which
//! would keep the whole buffer alive).
//!
//! Every type reports its heap bytes in O(1) (collections keep a running
//! count as they change): [`crate::db::DbGuard::modified`] charges the
//! difference after every in-place change, so the count must be cheap.

use crate::hash::Hash;
use crate::list::List;
use crate::set::Set;
use crate::zset::ZSet;

/// A value of any Redis type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
    Hash(Hash),
    List(Box<List>),
    Set(Set),
    ZSet(ZSet),
}

/// Bytes of the box that holds a collection.
fn boxed<T>(inner: usize) -> usize {
    crate::db::alloc_size(std::mem::size_of::<T>()) + inner
}

impl Value {
    /// Redis's name for the type, as `TYPE` answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
            Value::Hash(_) => "hash",
            Value::List(_) => "list",
            Value::Set(_) => "set",
            Value::ZSet(_) => "zset",
        }
    }

    /// Heap bytes the value allocates, rounded to allocator size classes.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => s.heap_bytes(),
            Value::Hash(h) => h.heap_bytes(),
            Value::List(l) => boxed::<List>(l.heap_bytes()),
            Value::Set(s) => s.heap_bytes(),
            Value::ZSet(z) => z.heap_bytes(),
        }
    }

    /// `OBJECT ENCODING`'s answer.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
            Value::Hash(h) => h.encoding(),
            Value::List(l) => l.encoding(),
            Value::Set(s) => s.encoding(),
            Value::ZSet(z) => z.encoding(),
        }
    }

    /// A collection with no elements left: Redis deletes such keys, and
    /// so does [`crate::db::DbGuard::modified`].
    pub fn is_empty_collection(&self) -> bool {
        match self {
            Value::Str(_) => false,
            Value::Hash(h) => h.is_empty(),
            Value::List(l) => l.is_empty(),
            Value::Set(s) => s.is_empty(),
            Value::ZSet(z) => z.is_empty(),
        }
    }
}

/// Longest string Redis stores as `embstr`.
const EMBSTR_MAX: usize = 44;

/// Longest string kept inside the entry itself, with no allocation of its
/// own (sized so that an entry node fills jemalloc's 80-byte class).
pub const INLINE_VALUE: usize = 32;

/// Of a longer string as set, the bytes kept in the entry itself; the rest
/// has its own allocation.
pub const SPILL_HEAD: usize = 22;

/// Longest string stored split: past it the bytes saved are a small share
/// of the value, and a `Vec` handed over is kept without a copy.
pub const SPILL_MAX: usize = 512;

/// A string value: short ones inline; longer ones up to [`SPILL_MAX`] as
/// set split between the entry (the first [`SPILL_HEAD`] bytes) and one
/// allocation for the rest; longer strings, and strings edited in place
/// (APPEND, SETRANGE, SETBIT, which Redis reports as the `raw` encoding),
/// in a `Vec`.
///
/// Why the split: a string's own allocation is rounded up to a size class,
/// and the entry has room that a heap string leaves unused. A 64-byte
/// value takes 48 bytes of heap this way instead of 64; for a cache of
/// such values that is a tenth of the bytes per key, so more keys fit in
/// `maxmemory`. Readers that need one slice get a copy
/// ([`StrValue::as_bytes`]); replies write the two parts
/// ([`StrValue::parts`]).
#[derive(Debug, Clone)]
pub struct StrValue {
    repr: Repr,
}

#[derive(Debug, Clone)]
enum Repr {
    Inline { len: u8, plain: bool, bytes: [u8; INLINE_VALUE] },
    Spill { plain: bool, head: [u8; SPILL_HEAD], tail: Box<[u8]> },
    Heap { bytes: Vec<u8>, raw: bool, plain: bool },
}

impl PartialEq for StrValue {
    fn eq(&self, other: &Self) -> bool {
        self.as_bytes() == other.as_bytes() && self.is_raw() == other.is_raw()
    }
}

/// A long string as set: split, or in a `Vec` as given.
fn long(bytes: &[u8], plain: bool) -> Repr {
    let mut head = [0; SPILL_HEAD];
    head.copy_from_slice(&bytes[..SPILL_HEAD]);
    Repr::Spill { plain, head, tail: bytes[SPILL_HEAD..].into() }
}

impl Eq for StrValue {}

impl StrValue {
    pub fn new(bytes: &[u8]) -> Self {
        if bytes.len() <= INLINE_VALUE {
            let mut inline = [0; INLINE_VALUE];
            inline[..bytes.len()].copy_from_slice(bytes);
            StrValue { repr: Repr::Inline { len: bytes.len() as u8, plain: false, bytes: inline } }
        } else if bytes.len() <= SPILL_MAX {
            StrValue { repr: long(bytes, false) }
        } else {
            StrValue { repr: Repr::Heap { bytes: bytes.to_vec(), raw: false, plain: false } }
        }
    }

    pub fn from_vec(bytes: Vec<u8>) -> Self {
        if bytes.len() <= SPILL_MAX {
            StrValue::new(&bytes)
        } else {
            StrValue { repr: Repr::Heap { bytes, raw: false, plain: false } }
        }
    }

    pub fn from_int(n: i64) -> Self {
        StrValue::new(itoa::Buffer::new().format(n).as_bytes())
    }

    /// A string created as Redis's `createStringObject` does (INCRBYFLOAT
    /// results): `embstr` or `raw` by length, never `int`.
    pub fn plain(bytes: &[u8]) -> Self {
        let mut v = StrValue::new(bytes);
        match &mut v.repr {
            Repr::Inline { plain, .. } | Repr::Spill { plain, .. } | Repr::Heap { plain, .. } => *plain = true,
        }
        v
    }

    fn is_plain(&self) -> bool {
        matches!(self.repr, Repr::Inline { plain: true, .. } | Repr::Spill { plain: true, .. } | Repr::Heap { plain: true, .. })
    }

    /// The string in two parts, to be read one after the other (the second
    /// is empty unless the string is stored split).
    pub fn parts(&self) -> (&[u8], &[u8]) {
        match &self.repr {
            Repr::Inline { len, bytes, .. } => (&bytes[..*len as usize], &[]),
            Repr::Spill { head, tail, .. } => (head, tail),
            Repr::Heap { bytes, .. } => (bytes, &[]),
        }
    }

    /// The string as one slice (a copy when it is stored split).
    pub fn as_bytes(&self) -> std::borrow::Cow<'_, [u8]> {
        match self.parts() {
            (whole, []) => std::borrow::Cow::Borrowed(whole),
            (head, tail) => std::borrow::Cow::Owned([head, tail].concat()),
        }
    }

    pub fn len(&self) -> usize {
        let (head, tail) = self.parts();
        head.len() + tail.len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    fn is_raw(&self) -> bool {
        matches!(self.repr, Repr::Heap { raw: true, .. })
    }

    /// Mutable access for in-place edits; moves an inline value to the
    /// heap and marks the value `raw`.
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        if !matches!(self.repr, Repr::Heap { .. }) {
            self.repr = Repr::Heap { bytes: self.as_bytes().into_owned(), raw: true, plain: false };
        }
        match &mut self.repr {
            Repr::Heap { bytes, raw, .. } => {
                *raw = true;
                bytes
            }
            Repr::Inline { .. } | Repr::Spill { .. } => unreachable!("moved to the heap above"),
        }
    }

    /// Heap bytes the value allocates, rounded to allocator size classes.
    pub fn heap_bytes(&self) -> usize {
        match &self.repr {
            Repr::Inline { .. } => 0,
            Repr::Spill { tail, .. } => crate::db::alloc_size(tail.len()),
            Repr::Heap { bytes, .. } => crate::db::alloc_size(bytes.capacity()),
        }
    }

    /// The value as an integer if it is one in Redis's strict sense
    /// (canonical decimal, fits in i64).
    pub fn as_int(&self) -> Option<i64> {
        match self.parts() {
            (whole, []) => parse_strict_i64(whole),
            _ => None, // longer than any i64
        }
    }

    pub fn encoding(&self) -> &'static str {
        let len = self.len();
        if !self.is_raw() && !self.is_plain() && len <= 20 && self.as_int().is_some() {
            "int"
        } else if !self.is_raw() && len <= EMBSTR_MAX {
            "embstr"
        } else {
            "raw"
        }
    }
}

/// Parses a canonical decimal i64 like Redis's `string2ll`: optional `-`,
/// no leading zeros (except "0"), no `+`, no spaces, no overflow.
pub fn parse_strict_i64(b: &[u8]) -> Option<i64> {
    if b.is_empty() || b.len() > 20 {
        return None;
    }
    if b == b"0" {
        return Some(0);
    }
    let (neg, digits) = match b[0] {
        b'-' => (true, &b[1..]),
        _ => (false, b),
    };
    if digits.is_empty() || digits[0] == b'0' {
        return None;
    }
    let mut v: u64 = 0;
    for &c in digits {
        if !c.is_ascii_digit() {
            return None;
        }
        v = v.checked_mul(10)?.checked_add((c - b'0') as u64)?;
    }
    if neg {
        if v > i64::MAX as u64 + 1 {
            None
        } else {
            Some((v as i64).wrapping_neg())
        }
    } else {
        i64::try_from(v).ok()
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strict_int_parsing() {
        assert_eq!(parse_strict_i64(b"0"), Some(0));
        assert_eq!(parse_strict_i64(b"-1"), Some(-1));
        assert_eq!(parse_strict_i64(b"9223372036854775807"), Some(i64::MAX));
        assert_eq!(parse_strict_i64(b"-9223372036854775808"), Some(i64::MIN));
        for bad in [&b""[..], b"01", b"-0", b"+1", b" 1", b"1 ", b"9223372036854775808", b"-", b"1a"] {
            assert_eq!(parse_strict_i64(bad), None, "{:?}", String::from_utf8_lossy(bad));
        }
    }

    #[test]
    fn short_values_are_inline_until_edited() {
        let short = StrValue::new(&[b'v'; INLINE_VALUE]);
        assert_eq!((short.heap_bytes(), short.len()), (0, INLINE_VALUE));
        let long = StrValue::from_vec(vec![b'v'; INLINE_VALUE + 1]);
        assert_eq!(long.heap_bytes(), 16, "all but the 22 bytes kept in the entry");
        let mut edited = StrValue::from_int(42);
        assert_eq!(edited.as_int(), Some(42));
        edited.bytes_mut().push(b'0');
        assert_eq!((&*edited.as_bytes(), edited.encoding()), (&b"420"[..], "raw"));
        assert_ne!(edited, StrValue::new(b"420"));
        assert_eq!(StrValue::from_vec(b"420".to_vec()), StrValue::new(b"420"));
        assert_eq!(std::mem::size_of::<Value>(), 40);
    }

    #[test]
    fn long_values_are_split_between_entry_and_heap() {
        let bytes: Vec<u8> = (0..64u8).collect();
        let v = StrValue::new(&bytes);
        assert_eq!(v.parts(), (&bytes[..SPILL_HEAD], &bytes[SPILL_HEAD..]));
        assert_eq!((&*v.as_bytes(), v.len(), v.heap_bytes()), (&bytes[..], 64, 48), "64 bytes of heap unsplit");
        assert_eq!((v.as_int(), v.encoding()), (None, "raw"));
        assert_eq!(StrValue::new(&bytes[..40]).encoding(), "embstr", "Redis's embstr goes to 44 bytes");
        assert_eq!(v, StrValue::from_vec(bytes.clone()));
        let mut edited = v.clone();
        edited.bytes_mut().push(b'!');
        assert_eq!(&edited.as_bytes()[..64], &bytes[..]);
        assert_eq!((edited.len(), edited.encoding()), (65, "raw"));
        assert_eq!(std::mem::size_of::<Value>(), 40);
        let big = StrValue::from_vec(vec![b'b'; SPILL_MAX + 1]);
        assert_eq!((big.parts().1.len(), big.heap_bytes(), big.encoding()), (0, 640, "raw"), "one Vec past SPILL_MAX");
    }

    #[test]
    fn encodings() {
        assert_eq!(StrValue::new(b"12345").encoding(), "int");
        assert_eq!(StrValue::new(b"hello").encoding(), "embstr");
        assert_eq!(StrValue::new(&[b'a'; 45]).encoding(), "raw");
        let mut s = StrValue::new(b"1");
        s.bytes_mut().push(b'2');
        assert_eq!(s.encoding(), "raw");
    }
}
