//! Random picks shared by HRANDFIELD, SRANDMEMBER and SPOP: one random
//! index, and a sample of distinct elements chosen the cheap way for its
//! size (as Redis does, by how `count` compares with the collection).

use std::collections::HashSet;
use std::hash::Hash;

use rand::RngExt;

/// A random index in `0..n` (`n > 0`).
pub fn below(n: usize) -> usize {
    rand::rng().random_range(0..n)
}

/// `count` distinct elements of a collection of `len` (`count < len`):
/// when `count` is a large share of it, all elements are listed and a
/// random subset kept; otherwise random picks are drawn until `count`
/// distinct ones came up.
pub fn distinct<T: Hash + Eq + Copy>(len: usize, count: usize, all: impl FnOnce() -> Vec<T>, mut pick: impl FnMut() -> T) -> Vec<T> {
    if count * 3 > len {
        let mut items = all();
        for i in 0..count {
            let j = i + below(items.len() - i);
            items.swap(i, j);
        }
        items.truncate(count);
        return items;
    }
    let mut seen = HashSet::with_capacity(count);
    let mut out = Vec::with_capacity(count);
    while out.len() < count {
        let item = pick();
        if seen.insert(item) {
            out.push(item);
        }
    }
    out
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn distinct_samples() {
        for (len, count) in [(10, 9), (100, 5), (3, 1)] {
            let items: Vec<usize> = (0..len).collect();
            let got = distinct(len, count, || items.clone(), || below(len));
            let unique: HashSet<_> = got.iter().collect();
            assert_eq!((got.len(), unique.len()), (count, count));
            assert!(got.iter().all(|&i| i < len));
        }
    }
}
