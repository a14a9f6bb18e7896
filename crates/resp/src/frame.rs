//! General RESP2/RESP3 frames (TO BE IMPLEMENTED by the resp helper).
use bytes::Bytes;

/// One RESP value of any type.
#[derive(Debug, Clone, PartialEq)]
pub enum Frame {
    Simple(Bytes),
    Error(Bytes),
    Integer(i64),
    Bulk(Bytes),
    /// RESP2 `$-1`.
    NullBulk,
    /// RESP2 `*-1`.
    NullArray,
    Array(Vec<Frame>),
    /// RESP3 `_`.
    Null,
    Double(f64),
    Boolean(bool),
    BigNumber(Bytes),
    /// RESP3 `=`: format (3 bytes) and text.
    Verbatim(Bytes, Bytes),
    Map(Vec<(Frame, Frame)>),
    Set(Vec<Frame>),
    Push(Vec<Frame>),
    /// RESP3 `|`: attributes, then the frame they annotate.
    Attribute(Vec<(Frame, Frame)>, Box<Frame>),
}
