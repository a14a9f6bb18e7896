//! Incremental parser for client requests (TO BE IMPLEMENTED by the resp helper).
use bytes::{Bytes, BytesMut};

/// Protocol limits enforced while parsing, as Redis does.
#[derive(Debug, Clone, Copy)]
pub struct Limits {
    /// Largest bulk string accepted (`proto-max-bulk-len`, default 512 MB).
    pub max_bulk_len: u64,
    /// Largest multibulk element count (default 1,048,576).
    pub max_multibulk_len: u64,
    /// Largest inline request line (default 64 KiB).
    pub max_inline_len: usize,
    /// Before authentication Redis allows only small requests (multibulk
    /// count <= 10, bulk <= 16384); `true` enables those stricter limits.
    pub unauthenticated: bool,
}

impl Default for Limits {
    fn default() -> Self {
        Limits {
            max_bulk_len: 512 * 1024 * 1024,
            max_multibulk_len: 1024 * 1024,
            max_inline_len: 64 * 1024,
            unauthenticated: false,
        }
    }
}

/// A protocol violation. `Display` gives the text after `-ERR `, e.g.
/// `Protocol error: invalid bulk length`. After one, the connection is closed.
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct ProtocolError(pub String);

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Incremental request parser; keeps its state across partial reads.
#[derive(Debug, Default)]
pub struct RequestParser {}

impl RequestParser {
    pub fn new() -> Self {
        RequestParser::default()
    }

    /// Parses the next complete request from the front of `buf`, consuming
    /// the bytes it used. `Ok(None)`: more bytes are needed (any partial
    /// state is kept in `self`). Empty requests (blank inline line, `*0`,
    /// `*-1`) are skipped, never returned as an empty Vec.
    pub fn parse(&mut self, buf: &mut BytesMut, limits: &Limits) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let _ = (buf, limits);
        todo!()
    }
}
