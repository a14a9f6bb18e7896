//! Byte-buffer helpers for the compact encodings (the listpack-like hash,
//! the intset-like set): exact-size buffers edited by splicing, like
//! Redis's listpack and intset, so a small collection holds no spare
//! capacity; and LEB128 varints for lengths.
//!
//! A buffer of at most [`INLINE`] bytes lives inside its owner ([`Buf`]),
//! so the smallest collections (a set of a few small integers) cost no
//! allocation besides the key's own node.

use std::ops::{Deref, DerefMut};

use crate::db::alloc_size;

/// Longest buffer kept inline.
pub const INLINE: usize = 22;

/// An exact-size byte buffer: inline when short, else one boxed slice.
#[derive(Debug, Clone)]
pub enum Buf {
    Inline { len: u8, bytes: [u8; INLINE] },
    Heap(Box<[u8]>),
}

impl Default for Buf {
    fn default() -> Buf {
        Buf::Inline { len: 0, bytes: [0; INLINE] }
    }
}

impl Buf {
    /// A copy of `data`.
    pub fn new(data: &[u8]) -> Buf {
        if data.len() <= INLINE {
            let mut bytes = [0; INLINE];
            bytes[..data.len()].copy_from_slice(data);
            Buf::Inline { len: data.len() as u8, bytes }
        } else {
            Buf::Heap(data.into())
        }
    }

    pub fn from_vec(v: Vec<u8>) -> Buf {
        if v.len() <= INLINE { Buf::new(&v) } else { Buf::Heap(v.into_boxed_slice()) }
    }

    /// Bytes allocated on the heap (size class), 0 when inline.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Buf::Inline { .. } => 0,
            Buf::Heap(b) => alloc_size(b.len()),
        }
    }
}

impl DerefMut for Buf {
    fn deref_mut(&mut self) -> &mut [u8] {
        match self {
            Buf::Inline { len, bytes } => &mut bytes[..*len as usize],
            Buf::Heap(b) => b,
        }
    }
}

impl Deref for Buf {
    type Target = [u8];

    fn deref(&self) -> &[u8] {
        match self {
            Buf::Inline { len, bytes } => &bytes[..*len as usize],
            Buf::Heap(b) => b,
        }
    }
}

/// Replaces `buf[range]` with the concatenation of `parts`, leaving the
/// buffer exactly as long as its contents (inline, or one allocation with
/// no slack).
pub fn splice(buf: &mut Buf, range: std::ops::Range<usize>, parts: &[&[u8]]) {
    let added: usize = parts.iter().map(|p| p.len()).sum();
    let mut out = Vec::with_capacity(buf.len() - range.len() + added);
    out.extend_from_slice(&buf[..range.start]);
    parts.iter().for_each(|p| out.extend_from_slice(p));
    out.extend_from_slice(&buf[range.end..]);
    *buf = Buf::from_vec(out);
}

/// `n` as a LEB128 varint: (bytes, length).
pub fn varint(mut n: usize) -> ([u8; 10], usize) {
    let mut out = [0; 10];
    let mut i = 0;
    loop {
        let low = (n & 0x7f) as u8;
        n >>= 7;
        if n == 0 {
            out[i] = low;
            return (out, i + 1);
        }
        out[i] = low | 0x80;
        i += 1;
    }
}

/// Reads a varint at the start of `b`: (value, bytes used). The buffers
/// are our own, so a malformed varint is a bug.
pub fn read_varint(b: &[u8]) -> (usize, usize) {
    let mut n = 0usize;
    for (i, &byte) in b.iter().enumerate() {
        n |= ((byte & 0x7f) as usize) << (7 * i);
        if byte & 0x80 == 0 {
            return (n, i + 1);
        }
    }
    unreachable!("truncated varint in a packed buffer")
}

/// Reads a length-prefixed string at the start of `b`: (string, bytes used).
pub fn read_str(b: &[u8]) -> (&[u8], usize) {
    let (len, used) = read_varint(b);
    (&b[used..used + len], used + len)
}

/// Whether no two of `keys` are equal (for collections rebuilt from a
/// DUMP payload, which must not hold a field or member twice). Sorting
/// beats hashing at the sizes of the compact encodings.
pub fn all_distinct(mut keys: Vec<&[u8]>) -> bool {
    keys.sort_unstable();
    keys.windows(2).all(|w| w[0] != w[1])
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn varints_round_trip() {
        for n in [0, 1, 127, 128, 300, 16383, 16384, usize::MAX] {
            let (bytes, len) = varint(n);
            assert_eq!(read_varint(&bytes[..len]), (n, len));
        }
        assert_eq!(varint(127).1, 1);
        assert_eq!(varint(128).1, 2);
    }

    #[test]
    fn splice_is_exact() {
        let mut b = Buf::from_vec(b"hello world".to_vec());
        splice(&mut b, 6..11, &[b"there", b"!"]);
        assert_eq!(&b[..], b"hello there!");
        assert_eq!(b.heap_bytes(), 0, "short buffers stay inline");
        splice(&mut b, 12..12, &[&[b'.'; 20]]);
        assert_eq!((b.len(), b.heap_bytes()), (32, 32));
        splice(&mut b, 0..6, &[]);
        assert_eq!(&b[..6], b"there!");
        splice(&mut b, 6..26, &[]);
        assert_eq!((&b[..], b.heap_bytes()), (&b"there!"[..], 0));
    }
}
