//! Value types stored under keys.
//!
//! Only strings exist so far; the other Redis types join this enum as their
//! commands land. Each variant owns its bytes (never a slice of a network
//! buffer, which would keep the whole buffer alive).

/// A value of any Redis type.
#[derive(Debug, Clone, PartialEq)]
pub enum Value {
    Str(StrValue),
}

impl Value {
    /// Redis's name for the type, as `TYPE` answers.
    pub fn type_name(&self) -> &'static str {
        match self {
            Value::Str(_) => "string",
        }
    }

    /// Heap bytes the value allocates, rounded to allocator size classes.
    pub fn heap_bytes(&self) -> usize {
        match self {
            Value::Str(s) => crate::db::alloc_size(s.bytes.capacity()),
        }
    }

    /// `OBJECT ENCODING`'s answer.
    pub fn encoding(&self) -> &'static str {
        match self {
            Value::Str(s) => s.encoding(),
        }
    }
}

/// Longest string Redis stores as `embstr`.
const EMBSTR_MAX: usize = 44;

/// A string value. `raw` records that it was modified in place (APPEND,
/// SETRANGE, SETBIT), which Redis reports as the `raw` encoding.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct StrValue {
    bytes: Vec<u8>,
    raw: bool,
}

impl StrValue {
    pub fn new(bytes: &[u8]) -> Self {
        StrValue { bytes: bytes.to_vec(), raw: false }
    }

    pub fn from_vec(bytes: Vec<u8>) -> Self {
        StrValue { bytes, raw: false }
    }

    pub fn from_int(n: i64) -> Self {
        StrValue { bytes: n.to_string().into_bytes(), raw: false }
    }

    pub fn as_bytes(&self) -> &[u8] {
        &self.bytes
    }

    pub fn len(&self) -> usize {
        self.bytes.len()
    }

    pub fn is_empty(&self) -> bool {
        self.bytes.is_empty()
    }

    /// Mutable access for in-place edits; marks the value `raw`.
    pub fn bytes_mut(&mut self) -> &mut Vec<u8> {
        self.raw = true;
        &mut self.bytes
    }

    /// The value as an integer if it is one in Redis's strict sense
    /// (canonical decimal, fits in i64).
    pub fn as_int(&self) -> Option<i64> {
        parse_strict_i64(&self.bytes)
    }

    pub fn encoding(&self) -> &'static str {
        if !self.raw && self.bytes.len() <= 20 && self.as_int().is_some() {
            "int"
        } else if !self.raw && self.bytes.len() <= EMBSTR_MAX {
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
    fn encodings() {
        assert_eq!(StrValue::new(b"12345").encoding(), "int");
        assert_eq!(StrValue::new(b"hello").encoding(), "embstr");
        assert_eq!(StrValue::new(&[b'a'; 45]).encoding(), "raw");
        let mut s = StrValue::new(b"1");
        s.bytes_mut().push(b'2');
        assert_eq!(s.encoding(), "raw");
    }
}
