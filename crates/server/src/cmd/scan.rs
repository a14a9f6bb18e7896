//! What SCAN, HSCAN, SSCAN and ZSCAN share: the cursor, the MATCH and
//! COUNT options (and SCAN's TYPE), and the `[cursor, [items...]]` reply.

use bytes::Bytes;
use ferrocache_store::glob;

use crate::args::{int, is};
use crate::command::{CmdError, Ctx};

/// COUNT's cap: more than any database or collection holds, small enough
/// that the store's arithmetic on it cannot overflow.
const MAX_COUNT: usize = 1 << 32;

/// A parsed `<cursor> [MATCH pattern] [COUNT count] [TYPE type]`.
pub struct ScanArgs<'a> {
    pub cursor: u64,
    /// None when absent or `*` (everything matches).
    pub pattern: Option<&'a [u8]>,
    pub count: usize,
    /// Only SCAN accepts TYPE.
    pub type_name: Option<&'a [u8]>,
}

impl<'a> ScanArgs<'a> {
    /// Parses `args` from the cursor on; `with_type` allows TYPE (SCAN only).
    pub fn parse(args: &'a [Bytes], with_type: bool) -> Result<Self, CmdError> {
        let cursor = parse_cursor(&args[0]).ok_or_else(|| CmdError::err("invalid cursor"))?;
        let mut parsed = ScanArgs { cursor, pattern: None, count: 10, type_name: None };
        for opt in args[1..].chunks(2) {
            let [name, value] = opt else { return Err(CmdError::Syntax) };
            if is(name, "count") {
                let n = usize::try_from(int(value)?).ok().filter(|&n| n >= 1).ok_or(CmdError::Syntax)?;
                parsed.count = n.min(MAX_COUNT);
            } else if is(name, "match") {
                parsed.pattern = Some(&value[..]).filter(|p| *p != b"*".as_slice());
            } else if with_type && is(name, "type") {
                parsed.type_name = Some(&value[..]);
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(parsed)
    }

    /// Whether `item` passes MATCH.
    pub fn matches(&self, item: &[u8]) -> bool {
        self.pattern.is_none_or(|p| glob::matches(p, item))
    }
}

/// A SCAN cursor as C's `strtoul` reads it, which is what Redis accepts:
/// optional sign (a minus wraps around), decimal digits, nothing after,
/// no leading space, no overflow. The empty string is cursor 0.
fn parse_cursor(arg: &[u8]) -> Option<u64> {
    let (neg, digits) = match arg.first() {
        None => return Some(0),
        Some(b'-') => (true, &arg[1..]),
        Some(b'+') => (false, &arg[1..]),
        Some(_) => (false, arg),
    };
    if digits.is_empty() || !digits.iter().all(u8::is_ascii_digit) {
        return None;
    }
    let n = digits.iter().try_fold(0u64, |n, &d| n.checked_mul(10)?.checked_add(u64::from(d - b'0')))?;
    Some(if neg { n.wrapping_neg() } else { n })
}

/// Writes `[next cursor, [items...]]`.
pub fn reply<T: AsRef<[u8]>>(ctx: &mut Ctx, next: u64, items: &[T]) {
    ctx.out.array(2);
    ctx.out.bulk(itoa::Buffer::new().format(next).as_bytes());
    ctx.out.array(items.len());
    for item in items {
        ctx.out.bulk(item.as_ref());
    }
}
