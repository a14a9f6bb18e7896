//! Reply comparison without I/O: exact, unordered, within a tolerance,
//! and the shapes of SCAN and RANDOMKEY replies (whose contents the runner
//! checks with further commands).

use crate::Frame;

use super::generate::Check;

/// Whether two replies agree under `check`. For [`Check::Scan`] and
/// [`Check::RandomKey`] this compares shapes only (both pages, both keys,
/// or exactly the same non-page reply such as an error or QUEUED).
pub fn agree(check: Check, a: &Frame, b: &Frame) -> bool {
    match check {
        Check::Exact => a == b,
        Check::Unordered => match (items(a), items(b)) {
            (Some(x), Some(y)) => sorted(x) == sorted(y),
            _ => a == b,
        },
        Check::Near(tolerance) => match (a, b) {
            (Frame::Integer(x), Frame::Integer(y)) if *x >= 0 && *y >= 0 => x.abs_diff(*y) <= tolerance.unsigned_abs(),
            _ => a == b,
        },
        Check::Scan => match (scan_page(a), scan_page(b)) {
            (Some(_), Some(_)) => true,
            _ => a == b,
        },
        Check::RandomKey => match (a, b) {
            (Frame::Bulk(_), Frame::Bulk(_)) => true,
            _ => a == b,
        },
        Check::Pairs => match (pairs(a), pairs(b)) {
            (Some(x), Some(y)) => std::mem::discriminant(a) == std::mem::discriminant(b) && x == y,
            _ => a == b,
        },
        Check::Random => match (a, b) {
            (Frame::Bulk(_), Frame::Bulk(_)) => true,
            _ => match (items(a), items(b)) {
                (Some(x), Some(y)) => std::mem::discriminant(a) == std::mem::discriminant(b) && x.len() == y.len(),
                _ => a == b,
            },
        },
        Check::CollectionScan => match (scan_page(a), scan_page(b)) {
            (Some((c1, x)), Some((c2, y))) if c1 == b"0" && c2 == b"0" => {
                let (mut x, mut y) = (x, y);
                x.sort();
                y.sort();
                x == y
            }
            (Some(_), Some(_)) => true,
            _ => a == b,
        },
    }
}

/// A map, or an array of even length, as sorted (key, value) encodings.
fn pairs(f: &Frame) -> Option<Vec<(Vec<u8>, Vec<u8>)>> {
    let enc = |f: &Frame| {
        let mut buf = Vec::new();
        f.encode(&mut buf);
        buf
    };
    let mut out: Vec<(Vec<u8>, Vec<u8>)> = match f {
        Frame::Map(m) => m.iter().map(|(k, v)| (enc(k), enc(v))).collect(),
        Frame::Array(v) if v.len() % 2 == 0 => v.chunks(2).map(|p| (enc(&p[0]), enc(&p[1]))).collect(),
        _ => return None,
    };
    out.sort();
    Some(out)
}

/// Whether two EXEC replies agree, each queued command's reply under its
/// own check (`checks` in queue order).
pub fn exec_agree(checks: &[Check], a: &Frame, b: &Frame) -> bool {
    match (a, b) {
        (Frame::Array(x), Frame::Array(y)) if x.len() == checks.len() && y.len() == checks.len() => {
            checks.iter().zip(x.iter().zip(y)).all(|(c, (p, q))| agree(*c, p, q))
        }
        _ => a == b,
    }
}

/// The elements of an array or set reply.
fn items(f: &Frame) -> Option<&[Frame]> {
    match f {
        Frame::Array(v) | Frame::Set(v) => Some(v),
        _ => None,
    }
}

/// Elements in a canonical order (by their encoding).
fn sorted(items: &[Frame]) -> Vec<Vec<u8>> {
    let mut out: Vec<Vec<u8>> = items
        .iter()
        .map(|f| {
            let mut buf = Vec::new();
            f.encode(&mut buf);
            buf
        })
        .collect();
    out.sort();
    out
}

/// A SCAN reply: `[cursor, [key...]]` → (cursor, keys).
pub fn scan_page(f: &Frame) -> Option<(&[u8], Vec<&[u8]>)> {
    let [Frame::Bulk(cursor), list] = items(f)? else { return None };
    let keys = items(list)?.iter().map(|k| if let Frame::Bulk(k) = k { Some(&k[..]) } else { None }).collect::<Option<Vec<_>>>()?;
    Some((&cursor[..], keys))
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::reply::*;

    #[test]
    fn checks() {
        assert!(agree(Check::Unordered, &bulks(&["a", "b"]), &bulks(&["b", "a"])));
        assert!(!agree(Check::Unordered, &bulks(&["a", "b"]), &bulks(&["a", "a"])));
        assert!(agree(Check::Near(1), &int(100), &int(99)));
        assert!(!agree(Check::Near(1), &int(100), &int(98)));
        assert!(!agree(Check::Near(1), &int(-1), &int(0)));
        assert!(agree(Check::Near(1), &int(-2), &int(-2)));
        let page = |c: &str, k: &[&str]| arr(vec![bulk(c), bulks(k)]);
        assert!(agree(Check::Scan, &page("3", &["a"]), &page("17", &[])));
        assert!(!agree(Check::Scan, &page("0", &[]), &err("ERR invalid cursor")));
        assert!(agree(Check::RandomKey, &bulk("a"), &bulk("b")));
        assert!(!agree(Check::RandomKey, &bulk("a"), &nil()));
        let map = |p: &[(&str, &str)]| Frame::Map(p.iter().map(|(k, v)| (bulk(k), bulk(v))).collect());
        assert!(agree(Check::Pairs, &bulks(&["a", "1", "b", "2"]), &bulks(&["b", "2", "a", "1"])));
        assert!(!agree(Check::Pairs, &bulks(&["a", "1", "b", "2"]), &bulks(&["a", "2", "b", "1"])));
        assert!(agree(Check::Pairs, &map(&[("a", "1"), ("b", "2")]), &map(&[("b", "2"), ("a", "1")])));
        assert!(!agree(Check::Pairs, &map(&[("a", "1"), ("b", "2")]), &bulks(&["a", "1", "b", "2"])));
        assert!(agree(Check::Random, &bulks(&["a", "b"]), &bulks(&["c", "c"])));
        assert!(!agree(Check::Random, &bulks(&["a", "b"]), &bulks(&["c"])));
        assert!(!agree(Check::Random, &Frame::Set(vec![bulk("a")]), &bulks(&["a"])));
        assert!(agree(Check::Random, &bulk("a"), &bulk("b")));
        assert!(!agree(Check::Random, &bulk("a"), &nil()));
        assert!(agree(Check::CollectionScan, &page("0", &["a", "1", "b", "2"]), &page("0", &["b", "2", "a", "1"])));
        assert!(!agree(Check::CollectionScan, &page("0", &["a", "1"]), &page("0", &["a", "2"])));
        assert!(agree(Check::CollectionScan, &page("12", &["a", "1"]), &page("0", &[])));
        let checks = [Check::Exact, Check::Unordered];
        assert!(exec_agree(&checks, &arr(vec![ok(), bulks(&["x", "y"])]), &arr(vec![ok(), bulks(&["y", "x"])])));
        assert!(exec_agree(&checks, &Frame::NullArray, &Frame::NullArray));
        assert!(!exec_agree(&checks, &Frame::NullArray, &arr(vec![ok(), bulks(&[])])));
        assert!(!exec_agree(&checks, &arr(vec![ok(), bulks(&["x"])]), &arr(vec![ok(), bulks(&["y"])])));
    }
}
