//! The sorted set type. (Placeholder: the data-types work replaces it.)

/// A sorted set value.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct ZSet {
    len: usize,
}

impl ZSet {
    /// Number of elements.
    pub fn len(&self) -> usize {
        self.len
    }

    pub fn is_empty(&self) -> bool {
        self.len == 0
    }

    /// Heap bytes owned, kept as a running count (O(1)).
    pub fn heap_bytes(&self) -> usize {
        0
    }

    /// `OBJECT ENCODING`'s answer.
    pub fn encoding(&self) -> &'static str {
        "listpack"
    }
}
