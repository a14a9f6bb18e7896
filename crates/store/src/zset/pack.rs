//! The compact encoding of a small sorted set (Redis's `listpack`): every
//! element in one contiguous buffer, in (score, member) order.
//!
//! Why a byte buffer rather than a `Vec` of pairs: a small set then costs
//! one allocation and a few bytes of overhead per element, like Redis's
//! listpack (a pair with a boxed member would cost ~40 bytes each). Every
//! operation is a linear walk, which is what Redis does too and is cheap
//! below the `zset-max-listpack-entries` threshold.
//!
//! Element layout: `varint(member len) member score backlen`, where the
//! score is one byte for a small integral score (0 to [`SMALL_MAX`]: the
//! byte is the score plus [`TAG_SMALL`]), else a tag byte then either a
//! zigzag varint (integral scores up to 2^53, the common case in
//! leaderboards) or the 8 bytes of the f64, and
//! `backlen` is the element's length before it, as a varint written
//! backwards, so the buffer can be walked from the end too.

use crate::db::alloc_size;

const TAG_F64: u8 = 0;
const TAG_INT: u8 = 1;
/// First tag of the one-byte scores.
const TAG_SMALL: u8 = 2;
/// Largest score stored in one byte.
const SMALL_MAX: u64 = (u8::MAX - TAG_SMALL) as u64;
/// Largest integer every f64 up to which is exact.
const EXACT_INT: f64 = 9_007_199_254_740_992.0;

/// A small sorted set in one buffer.
#[derive(Debug, Clone, Default)]
pub struct Pack {
    buf: Vec<u8>,
    len: usize,
}

/// One decoded element and where it lies in the buffer.
#[derive(Debug, Clone, Copy)]
pub struct Slot<'a> {
    pub member: &'a [u8],
    pub score: f64,
    pub start: usize,
    pub end: usize,
}

fn varint_len(mut v: u64) -> usize {
    let mut n = 1;
    while v >= 0x80 {
        v >>= 7;
        n += 1;
    }
    n
}

fn put_varint(out: &mut [u8], mut v: u64) -> usize {
    let mut i = 0;
    while v >= 0x80 {
        out[i] = (v as u8) | 0x80;
        v >>= 7;
        i += 1;
    }
    out[i] = v as u8;
    i + 1
}

fn get_varint(buf: &[u8], mut at: usize) -> (u64, usize) {
    let (mut v, mut shift) = (0u64, 0);
    loop {
        let b = buf[at];
        v |= u64::from(b & 0x7f) << shift;
        at += 1;
        if b & 0x80 == 0 {
            return (v, at);
        }
        shift += 7;
    }
}

/// Reads the backwards varint that ends at `end`: (value, its start).
fn get_back_varint(buf: &[u8], end: usize) -> (u64, usize) {
    let (mut v, mut shift, mut at) = (0u64, 0, end);
    loop {
        at -= 1;
        let b = buf[at];
        v |= u64::from(b & 0x7f) << shift;
        if b & 0x80 == 0 {
            return (v, at);
        }
        shift += 7;
    }
}

/// The score as a zigzag integer when that is exact.
fn as_int(score: f64) -> Option<u64> {
    let exact = score.fract() == 0.0 && score.abs() <= EXACT_INT && !(score == 0.0 && score.is_sign_negative());
    exact.then(|| {
        let i = score as i64;
        ((i << 1) ^ (i >> 63)) as u64
    })
}

/// The one-byte form of `score`, if it has one.
fn as_small(score: f64) -> Option<u8> {
    let exact = score.fract() == 0.0 && (0.0..=SMALL_MAX as f64).contains(&score) && score.is_sign_positive();
    exact.then(|| score as u8 + TAG_SMALL)
}

fn score_len(score: f64) -> usize {
    if as_small(score).is_some() {
        return 1;
    }
    1 + as_int(score).map_or(8, varint_len)
}

fn body_len(member: &[u8], score: f64) -> usize {
    varint_len(member.len() as u64) + member.len() + score_len(score)
}

fn encoded_len(member: &[u8], score: f64) -> usize {
    let body = body_len(member, score);
    body + varint_len(body as u64)
}

/// Writes one element into `out` (exactly [`encoded_len`] bytes).
fn encode(out: &mut [u8], member: &[u8], score: f64) {
    let mut at = put_varint(out, member.len() as u64);
    out[at..at + member.len()].copy_from_slice(member);
    at += member.len();
    match (as_small(score), as_int(score)) {
        (Some(b), _) => {
            out[at] = b;
            at += 1;
        }
        (None, Some(z)) => {
            out[at] = TAG_INT;
            at += 1 + put_varint(&mut out[at + 1..], z);
        }
        (None, None) => {
            out[at] = TAG_F64;
            out[at + 1..at + 9].copy_from_slice(&score.to_le_bytes());
            at += 9;
        }
    }
    let mut back = [0u8; 10];
    let n = put_varint(&mut back, at as u64);
    for (i, b) in back[..n].iter().rev().enumerate() {
        out[at + i] = *b;
    }
}

impl Pack {
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn heap_bytes(&self) -> usize {
        alloc_size(self.buf.capacity())
    }

    /// The element that starts at `start`.
    pub fn slot(&self, start: usize) -> Slot<'_> {
        let (mlen, at) = get_varint(&self.buf, start);
        let member = &self.buf[at..at + mlen as usize];
        let at = at + mlen as usize;
        let tag = self.buf[at];
        let (score, at) = if tag >= TAG_SMALL {
            (f64::from(tag - TAG_SMALL), at + 1)
        } else if tag == TAG_INT {
            let (z, next) = get_varint(&self.buf, at + 1);
            (((z >> 1) as i64 ^ -((z & 1) as i64)) as f64, next)
        } else {
            let bytes: [u8; 8] = self.buf[at + 1..at + 9].try_into().expect("8 score bytes");
            (f64::from_le_bytes(bytes), at + 9)
        };
        let end = at + varint_len((at - start) as u64);
        Slot { member, score, start, end }
    }

    /// The element that ends at `end` (> 0).
    pub fn slot_before(&self, end: usize) -> Slot<'_> {
        let (body, body_end) = get_back_varint(&self.buf, end);
        self.slot(body_end - body as usize)
    }

    /// Elements in order, from the one starting at `start`.
    pub fn slots_from(&self, start: usize) -> impl Iterator<Item = Slot<'_>> {
        let mut at = start;
        std::iter::from_fn(move || {
            (at < self.buf.len()).then(|| {
                let s = self.slot(at);
                at = s.end;
                s
            })
        })
    }

    pub fn slots(&self) -> impl Iterator<Item = Slot<'_>> {
        self.slots_from(0)
    }

    /// Byte offset of the element at `index` (the buffer's end at `len`).
    pub fn offset_of(&self, index: usize) -> usize {
        self.slots().nth(index).map_or(self.buf.len(), |s| s.start)
    }

    pub fn buf_len(&self) -> usize {
        self.buf.len()
    }

    /// The element named `member`, with its index.
    pub fn find(&self, member: &[u8]) -> Option<(usize, Slot<'_>)> {
        self.slots().enumerate().find(|(_, s)| s.member == member)
    }

    /// How many leading elements satisfy `pred` (monotone: true, then false).
    pub fn partition_point(&self, mut pred: impl FnMut(f64, &[u8]) -> bool) -> usize {
        self.slots().take_while(|s| pred(s.score, s.member)).count()
    }

    /// Inserts a member that is not present, in order.
    pub fn insert(&mut self, member: &[u8], score: f64) {
        let at = self
            .slots()
            .find(|s| !super::before(s.score, s.member, score, member))
            .map_or(self.buf.len(), |s| s.start);
        let n = encoded_len(member, score);
        let old = self.buf.len();
        self.buf.reserve_exact(n);
        self.buf.resize(old + n, 0);
        self.buf.copy_within(at..old, at + n);
        encode(&mut self.buf[at..at + n], member, score);
        self.len += 1;
    }

    /// Removes the bytes `start..end`, which hold `count` whole elements.
    pub fn remove_bytes(&mut self, start: usize, end: usize, count: usize) {
        self.buf.drain(start..end);
        self.buf.shrink_to_fit();
        self.len -= count;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn small_integral_scores_take_one_byte() {
        // member length, member, score, back length
        assert_eq!(encoded_len(b"m", 0.0), 4);
        assert_eq!(encoded_len(b"m", 253.0), 4);
        assert_eq!(encoded_len(b"m", 254.0), 6, "tag + 2-byte zigzag varint");
        assert_eq!(encoded_len(b"m", -1.0), 5);
        assert_eq!(encoded_len(b"m", 0.5), 12);
    }

    #[test]
    fn round_trips_scores_and_walks_both_ways() {
        let mut p = Pack::default();
        let scores = [0.0, -1.0, 1.5, f64::INFINITY, f64::NEG_INFINITY, 1e300, -7.0, EXACT_INT, 2.0 * EXACT_INT, 123456.0, 253.0, 254.0];
        let long = vec![b'x'; 300];
        for (i, s) in scores.iter().enumerate() {
            let member = if i == 3 { long.clone() } else { vec![b'a' + i as u8] };
            p.insert(&member, *s);
        }
        let fwd: Vec<f64> = p.slots().map(|s| s.score).collect();
        let mut sorted = scores.to_vec();
        sorted.sort_by(f64::total_cmp);
        assert_eq!(fwd, sorted);
        let mut back = Vec::new();
        let mut end = p.buf_len();
        while end > 0 {
            let s = p.slot_before(end);
            back.push(s.score);
            end = s.start;
        }
        back.reverse();
        assert_eq!(back, sorted);
        assert!(p.find(&long).is_some());
    }
}
