//! DUMP payloads: one value of any type as a self-checking byte string,
//! for DUMP / RESTORE and for moving a slot's keys between nodes.
//!
//! Clients treat a payload as opaque bytes, so ours is not Redis's RDB
//! encoding: a payload from `redis-server` is refused here, and ours there,
//! with "DUMP payload version or checksum are wrong" (see [`VERSION`]).
//! Only the footer follows Redis: a 2-byte format version and a CRC-64
//! ([`crate::crc64`], Redis's own) of everything before it, both
//! little-endian.
//!
//! ```text
//! payload = tag body version:u16 crc:u64
//! STR     len bytes                        a string
//! INT     zigzag                           a string holding a canonical i64
//! LIST    count (len bytes)*               head to tail
//! SET     count (len bytes)*               a hashtable set's members
//! INTSET  width (int:width)*               an intset's buffer as stored
//! HASH    count (len field len value)*     a listpack's entries as stored
//! ZSET    count (len member score:f64)*    ascending
//! ```
//!
//! Lengths and counts are LEB128 varints. Why this shape: the compact
//! encodings are written as they sit in memory where our layout already is
//! the payload's (a listpack hash's entries, an intset), so DUMP of a small
//! value is a copy; everything else is one walk of the value.
//!
//! Decoding trusts nothing, checksum or not (a payload comes from a client):
//! every length is checked against the bytes left before anything is read
//! or allocated, a count is capped by the bytes left (each element takes at
//! least one), trailing bytes, empty collections, repeated fields or
//! members and NaN scores are refused. The value is then rebuilt through
//! the types' own constructors, which pick its encoding by the same
//! `*-max-*` limits writes apply (as Redis's RDB loading does), so its
//! memory is counted by the same running totals as any other value.

use crate::crc64::crc64;
use crate::hash::Hash;
use crate::list::{End, List};
use crate::packed::varint;
use crate::set::Set;
use crate::value::{StrValue, Value};
use crate::zset::ZSet;

/// The payload format's version. Redis refuses a payload whose version is
/// above its own RDB version (10 for 7.0, 12 for 7.4), so ours starts far
/// above any of them: RESTORE of our payload into Redis fails cleanly
/// instead of misreading it, and a Redis payload fails here the same way.
pub const VERSION: u16 = 0xFC01;

/// Footer bytes: version and checksum.
const FOOTER: usize = 2 + 8;

const TAG_STR: u8 = 0;
const TAG_INT: u8 = 1;
const TAG_LIST: u8 = 2;
const TAG_SET: u8 = 3;
const TAG_INTSET: u8 = 4;
const TAG_HASH: u8 = 5;
const TAG_ZSET: u8 = 6;

/// Why a payload was refused (RESTORE's two error replies).
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum DumpError {
    /// Too short for a footer, another format version, or a checksum that
    /// does not match: "DUMP payload version or checksum are wrong".
    VersionOrChecksum,
    /// The footer is right but the body is not a value: "Bad data format".
    BadData,
}

/// The payload of `value`.
pub fn encode(value: &Value) -> Vec<u8> {
    let mut out = Vec::with_capacity(size_hint(value));
    encode_into(value, &mut out);
    out
}

/// Appends the payload of `value` to `out` (a caller dumping many keys
/// reuses one buffer).
pub fn encode_into(value: &Value, out: &mut Vec<u8>) {
    let start = out.len();
    match value {
        Value::Str(s) => match s.as_int() {
            Some(n) => {
                out.push(TAG_INT);
                put_varint(out, ((n << 1) ^ (n >> 63)) as u64);
            }
            None => {
                out.push(TAG_STR);
                let (head, tail) = s.parts();
                put_varint(out, (head.len() + tail.len()) as u64);
                out.extend_from_slice(head);
                out.extend_from_slice(tail);
            }
        },
        Value::List(l) => {
            out.push(TAG_LIST);
            put_varint(out, l.len() as u64);
            l.iter().for_each(|e| put_str(out, e));
        }
        Value::Set(s) => match s.intset_bytes() {
            Some(ints) => {
                out.push(TAG_INTSET);
                out.extend_from_slice(ints);
            }
            None => {
                out.push(TAG_SET);
                put_varint(out, s.len() as u64);
                let mut text = itoa::Buffer::new();
                s.iter().for_each(|m| put_str(out, m.bytes(&mut text)));
            }
        },
        Value::Hash(h) => {
            out.push(TAG_HASH);
            put_varint(out, h.len() as u64);
            match h.packed_entries() {
                Some(entries) => out.extend_from_slice(entries),
                None => h.iter().for_each(|(f, v)| {
                    put_str(out, f);
                    put_str(out, v);
                }),
            }
        }
        Value::ZSet(z) => {
            out.push(TAG_ZSET);
            put_varint(out, z.len() as u64);
            for (m, score) in z.iter() {
                put_str(out, m);
                out.extend_from_slice(&score.to_le_bytes());
            }
        }
    }
    seal(out, start);
}

/// Appends the footer (version and checksum) to the payload body that
/// starts at `out[start]`. Public for tests and tools that build payloads
/// by hand.
pub fn seal(out: &mut Vec<u8>, start: usize) {
    out.extend_from_slice(&VERSION.to_le_bytes());
    let crc = crc64(0, &out[start..]);
    out.extend_from_slice(&crc.to_le_bytes());
}

/// A first guess at a payload's size, so that small ones are written
/// without growing the buffer.
fn size_hint(value: &Value) -> usize {
    let body = match value {
        Value::Str(s) => s.len(),
        other => other.heap_bytes(),
    };
    1 + 10 + body + FOOTER
}

fn put_varint(out: &mut Vec<u8>, n: u64) {
    let (bytes, len) = varint(n as usize);
    out.extend_from_slice(&bytes[..len]);
}

fn put_str(out: &mut Vec<u8>, s: &[u8]) {
    put_varint(out, s.len() as u64);
    out.extend_from_slice(s);
}

/// Checks a payload's footer; returns the tag and body it protects.
pub fn verify(payload: &[u8]) -> Result<&[u8], DumpError> {
    let body_len = payload.len().checked_sub(FOOTER).ok_or(DumpError::VersionOrChecksum)?;
    let (signed, crc) = payload.split_at(payload.len() - 8);
    let version = u16::from_le_bytes([payload[body_len], payload[body_len + 1]]);
    let crc = u64::from_le_bytes(crc.try_into().map_err(|_| DumpError::VersionOrChecksum)?);
    if version != VERSION || crc64(0, signed) != crc {
        return Err(DumpError::VersionOrChecksum);
    }
    Ok(&payload[..body_len])
}

/// The value a payload holds, in the encoding writes would give it.
pub fn decode(payload: &[u8]) -> Result<Value, DumpError> {
    let body = verify(payload)?;
    let (&tag, body) = body.split_first().ok_or(DumpError::BadData)?;
    let mut r = Reader { buf: body };
    let value = match tag {
        TAG_STR => {
            let s = r.str()?;
            Value::Str(StrValue::new(s))
        }
        TAG_INT => {
            let z = r.varint()?;
            Value::Str(StrValue::from_int((z >> 1) as i64 ^ -((z & 1) as i64)))
        }
        TAG_LIST => {
            let mut list = List::new();
            for _ in 0..r.count(1)? {
                list.push(End::Tail, r.str()?);
            }
            Value::List(Box::new(list))
        }
        TAG_SET => {
            let n = r.count(1)?;
            let members = (0..n).map(|_| r.str()).collect::<Result<Vec<_>, _>>()?;
            Value::Set(Set::from_members(&members).ok_or(DumpError::BadData)?)
        }
        TAG_INTSET => {
            let set = Set::from_intset(r.rest()).filter(|s| !s.is_empty()).ok_or(DumpError::BadData)?;
            Value::Set(set)
        }
        TAG_HASH => {
            let n = r.count(2)?;
            let pairs = (0..n).map(|_| Ok((r.str()?, r.str()?))).collect::<Result<Vec<_>, _>>()?;
            Value::Hash(Hash::from_pairs(&pairs).ok_or(DumpError::BadData)?)
        }
        TAG_ZSET => {
            let n = r.count(9)?;
            let mut entries = Vec::with_capacity(n);
            for _ in 0..n {
                let member = r.str()?.to_vec();
                let score = f64::from_le_bytes(r.bytes(8)?.try_into().map_err(|_| DumpError::BadData)?);
                if score.is_nan() {
                    return Err(DumpError::BadData);
                }
                entries.push((member, score));
            }
            Value::ZSet(ZSet::from_distinct(entries).ok_or(DumpError::BadData)?)
        }
        _ => return Err(DumpError::BadData),
    };
    if !r.buf.is_empty() {
        return Err(DumpError::BadData);
    }
    Ok(value)
}

/// Reads a body front to back; every read checks the bytes left.
struct Reader<'a> {
    buf: &'a [u8],
}

impl<'a> Reader<'a> {
    fn bytes(&mut self, n: usize) -> Result<&'a [u8], DumpError> {
        if n > self.buf.len() {
            return Err(DumpError::BadData);
        }
        let (head, rest) = self.buf.split_at(n);
        self.buf = rest;
        Ok(head)
    }

    fn rest(&mut self) -> &'a [u8] {
        std::mem::take(&mut self.buf)
    }

    /// A LEB128 varint of at most 64 bits.
    fn varint(&mut self) -> Result<u64, DumpError> {
        let mut n = 0u64;
        for i in 0..10 {
            let &[b, ..] = self.buf else { return Err(DumpError::BadData) };
            self.buf = &self.buf[1..];
            let bits = u64::from(b & 0x7f);
            if i == 9 && bits > 1 {
                return Err(DumpError::BadData);
            }
            n |= bits << (7 * i);
            if b & 0x80 == 0 {
                return Ok(n);
            }
        }
        Err(DumpError::BadData)
    }

    /// A length or count that must fit in what is left.
    fn len(&mut self, per_unit: usize) -> Result<usize, DumpError> {
        let n = usize::try_from(self.varint()?).map_err(|_| DumpError::BadData)?;
        if n > self.buf.len() / per_unit.max(1) {
            return Err(DumpError::BadData);
        }
        Ok(n)
    }

    /// A collection's element count: at least one (Redis refuses empty
    /// collections), and no more than the bytes left allow at
    /// `min_bytes` per element, so nothing is allocated for elements that
    /// are not there.
    fn count(&mut self, min_bytes: usize) -> Result<usize, DumpError> {
        match self.len(min_bytes)? {
            0 => Err(DumpError::BadData),
            n => Ok(n),
        }
    }

    fn str(&mut self) -> Result<&'a [u8], DumpError> {
        let n = self.len(1)?;
        self.bytes(n)
    }
}

#[cfg(test)]
pub(crate) mod tests {
    use super::*;
    use crate::zset::AddFlags;
    use proptest::prelude::*;

    fn bytes(max: usize) -> impl Strategy<Value = Vec<u8>> {
        prop::collection::vec(any::<u8>(), 0..max)
    }

    fn string() -> impl Strategy<Value = Value> {
        prop_oneof![
            any::<i64>().prop_map(StrValue::from_int),
            bytes(40).prop_map(|b| StrValue::new(&b)),
            bytes(600).prop_map(StrValue::from_vec),
            (0..2000usize).prop_map(|n| StrValue::from_vec(vec![b'x'; n])),
        ]
        .prop_map(Value::Str)
    }

    /// Short fields and values (listpack), or some long ones (hashtable).
    fn hash() -> impl Strategy<Value = Value> {
        // Distinct fields: a long value overwritten by a short one would
        // leave a hashtable that a restore rightly rebuilds as a listpack.
        let small = prop::collection::hash_map(bytes(12), bytes(20), 1..20);
        let big = prop::collection::hash_map(bytes(90), bytes(90), 1..80);
        prop_oneof![small, big].prop_map(|pairs| {
            let mut h = Hash::default();
            pairs.iter().for_each(|(f, v)| {
                h.set(f, v);
            });
            Value::Hash(h)
        })
    }

    fn list() -> impl Strategy<Value = Value> {
        prop::collection::vec(bytes(300), 1..200).prop_map(|elems| {
            let mut l = List::new();
            elems.iter().for_each(|e| l.push(End::Tail, e));
            Value::List(Box::new(l))
        })
    }

    /// Intsets of every width, sets of text, sets of more integers than
    /// an intset holds.
    fn set() -> impl Strategy<Value = Value> {
        let ints = prop::collection::vec(prop_oneof![-300i64..300, any::<i32>().prop_map(i64::from), any::<i64>()], 1..50);
        let many = (513usize..700).prop_map(|n| (0..n as i64).collect::<Vec<_>>());
        let text = prop::collection::vec(bytes(20), 1..40);
        prop_oneof![
            prop_oneof![ints, many].prop_map(|v| v.iter().map(|n| n.to_string().into_bytes()).collect::<Vec<_>>()),
            text,
        ]
        .prop_map(|members| {
            let mut s = Set::for_member(&members[0]);
            members.iter().for_each(|m| {
                s.add(m);
            });
            Value::Set(s)
        })
    }

    fn score() -> impl Strategy<Value = f64> {
        prop_oneof![
            (-1000i64..1000).prop_map(|n| n as f64),
            Just(f64::INFINITY),
            Just(f64::NEG_INFINITY),
            Just(-0.0),
            any::<f64>().prop_filter("NaN", |f| !f.is_nan()),
        ]
    }

    /// Listpack (small) and skiplist (many members or a long one).
    fn zset() -> impl Strategy<Value = Value> {
        let small = prop::collection::vec((bytes(16), score()), 1..30);
        let big = prop::collection::vec((bytes(80), score()), 1..200);
        prop_oneof![small, big].prop_map(|entries| {
            let mut z = ZSet::new();
            entries.iter().for_each(|(m, s)| {
                z.add(m, *s, AddFlags::default()).expect("no NaN");
            });
            Value::ZSet(z)
        })
    }

    /// A value of any type and encoding, built by the types' write paths.
    pub(crate) fn value() -> impl Strategy<Value = Value> {
        prop_oneof![string(), hash(), list(), set(), zset()]
    }

    /// `payload` with its footer recomputed, so the decoder proper sees it.
    fn resign(body: &[u8]) -> Vec<u8> {
        let mut out = body.to_vec();
        seal(&mut out, 0);
        out
    }

    fn body(payload: &[u8]) -> &[u8] {
        &payload[..payload.len() - FOOTER]
    }

    proptest! {
        #![proptest_config(ProptestConfig::with_cases(400))]

        /// Every type and encoding comes back equal, in the same
        /// encoding, with the same byte count.
        #[test]
        fn round_trips(v in value()) {
            let payload = encode(&v);
            let back = decode(&payload).expect("own payload decodes");
            prop_assert_eq!(back.encoding(), v.encoding());
            prop_assert_eq!(&back, &v);
            // No more bytes (a string handed over in a Vec may have had
            // spare capacity), but for a skip list's random node levels.
            if v.encoding() != "skiplist" {
                prop_assert!(back.heap_bytes() <= v.heap_bytes());
            }
        }

        /// A flipped byte or a cut payload fails the footer check.
        #[test]
        fn damage_is_caught_by_the_footer(v in value(), at in any::<prop::sample::Index>(), flip in 1u8..=255, cut in any::<prop::sample::Index>()) {
            let payload = encode(&v);
            let mut flipped = payload.clone();
            flipped[at.index(payload.len())] ^= flip;
            prop_assert_eq!(decode(&flipped), Err(DumpError::VersionOrChecksum));
            let cut = cut.index(payload.len());
            prop_assert_eq!(decode(&payload[..cut]), Err(DumpError::VersionOrChecksum));
        }

        /// Damage behind a valid footer (a hostile client signs its own
        /// payload) never panics: it decodes to some well-formed value, or
        /// is refused as bad data.
        #[test]
        fn damage_behind_a_good_footer_is_refused_or_harmless(
            v in value(),
            flips in prop::collection::vec((any::<prop::sample::Index>(), any::<u8>()), 1..4),
            cut in any::<prop::sample::Index>(),
        ) {
            let payload = encode(&v);
            let mut damaged = body(&payload).to_vec();
            for (at, b) in flips {
                let i = at.index(damaged.len());
                damaged[i] = b;
            }
            for candidate in [resign(&damaged), resign(&body(&payload)[..cut.index(payload.len() - FOOTER)])] {
                match decode(&candidate) {
                    Ok(back) => {
                        prop_assert!(!back.is_empty_collection());
                        prop_assert_eq!(decode(&encode(&back)), Ok(back));
                    }
                    Err(e) => prop_assert_eq!(e, DumpError::BadData),
                }
            }
        }
    }

    #[test]
    fn hostile_lengths_are_refused_before_allocating() {
        let huge = |tag: u8| {
            let mut b = vec![tag];
            put_varint(&mut b, u64::MAX >> 1);
            b.extend_from_slice(b"abc");
            resign(&b)
        };
        for tag in [TAG_STR, TAG_LIST, TAG_SET, TAG_HASH, TAG_ZSET] {
            assert_eq!(decode(&huge(tag)), Err(DumpError::BadData), "tag {tag}");
        }
        let overlong = resign(&[TAG_INT, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0xff, 0x7f]);
        assert_eq!(decode(&overlong), Err(DumpError::BadData));
    }

    #[test]
    fn malformed_bodies_are_bad_data() {
        let cases: &[&[u8]] = &[
            &[9],                             // unknown tag
            &[TAG_STR, 3, b'a', b'b'],        // short string
            &[TAG_STR, 1, b'a', b'b'],        // trailing byte
            &[TAG_LIST, 0],                   // empty list
            &[TAG_SET, 2, 1, b'a', 1, b'a'],  // repeated member
            &[TAG_INTSET, 3, 1, 0, 0],        // bad width
            &[TAG_INTSET, 2, 1, 0, 1, 0],     // not ascending
            &[TAG_INTSET, 2, 1, 0, 2],        // half an integer
            &[TAG_INTSET, 2],                 // empty
            &[TAG_HASH, 2, 1, b'f', 0, 1, b'f', 0], // repeated field
            &[TAG_ZSET, 1, 1, b'm', 0, 0, 0, 0, 0, 0, 0xf8, 0x7f], // NaN
        ];
        for body in cases {
            assert_eq!(decode(&resign(body)), Err(DumpError::BadData), "{body:?}");
        }
        assert_eq!(decode(&[]), Err(DumpError::VersionOrChecksum));
        let mut other_version = encode(&Value::Str(StrValue::new(b"v")));
        other_version[2] ^= 1;
        assert_eq!(decode(&other_version), Err(DumpError::VersionOrChecksum));
    }

    #[test]
    fn small_values_are_small() {
        assert_eq!(encode(&Value::Str(StrValue::from_int(-1))).len(), 1 + 1 + FOOTER);
        assert_eq!(encode(&Value::Str(StrValue::new(b"hello"))).len(), 1 + 1 + 5 + FOOTER);
        let mut h = Hash::default();
        h.set(b"f", b"v");
        assert_eq!(encode(&Value::Hash(h)), resign(&[TAG_HASH, 1, 1, b'f', 1, b'v']));
        let mut s = Set::default();
        s.add(b"7");
        assert_eq!(encode(&Value::Set(s)), resign(&[TAG_INTSET, 2, 7, 0]));
    }
}
