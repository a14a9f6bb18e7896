//! General RESP2/RESP3 frames: the protocol as a reader of replies sees it.
//!
//! The server's hot path does not use this module (requests go through
//! [`crate::request`], replies through [`crate::write`]). It is for code that
//! reads what a server sends: the CLI, integration tests, fuzzing, and later
//! replication. So it favours completeness and strictness over speed: every
//! RESP3 type is parsed, malformed input is a [`FrameError`] rather than a
//! guess, and nesting is bounded so that hostile input cannot exhaust the
//! stack. [`parse`] is stateless: on `Ok(None)` call it again on the same
//! bytes plus more.
//!
//! RESP3 streamed strings and aggregates (`$?`, `*?`) are not supported:
//! Redis never sends them.

use bytes::Bytes;
use std::io::Write;

/// Deepest nesting of aggregates (and attributes) [`parse`] accepts.
pub const MAX_DEPTH: usize = 128;
/// Most elements reserved for an aggregate before they are parsed.
const MAX_PREALLOC: usize = 1024;

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

/// Why bytes are not a valid RESP frame.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum FrameError {
    /// A frame starts with a byte that is no RESP type.
    UnknownType(u8),
    /// A length or count is not a number, or is negative where it may not be.
    InvalidLength,
    /// The line of the frame of this type is not a valid value for it.
    InvalidValue(u8),
    /// A bulk payload is not followed by CRLF.
    MissingCrlf,
    /// Aggregates are nested deeper than [`MAX_DEPTH`].
    TooDeep,
}

impl std::fmt::Display for FrameError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            FrameError::UnknownType(b) => write!(f, "unknown RESP type byte {:?}", char::from(*b)),
            FrameError::InvalidLength => f.write_str("invalid length or count"),
            FrameError::InvalidValue(b) => {
                write!(f, "invalid value for RESP type {:?}", char::from(*b))
            }
            FrameError::MissingCrlf => f.write_str("bulk payload not followed by CRLF"),
            FrameError::TooDeep => write!(f, "frames nested deeper than {MAX_DEPTH}"),
        }
    }
}

impl std::error::Error for FrameError {}

/// Parses one complete frame from the front of `buf` and returns it with the
/// number of bytes it took; `Ok(None)` if `buf` holds only part of a frame.
pub fn parse(buf: &[u8]) -> Result<Option<(Frame, usize)>, FrameError> {
    let mut reader = Reader { buf, pos: 0 };
    match reader.frame(0) {
        Ok(frame) => Ok(Some((frame, reader.pos))),
        Err(Stop::Incomplete) => Ok(None),
        Err(Stop::Invalid(e)) => Err(e),
    }
}

impl Frame {
    /// Encodes a request: an array of bulk strings, as clients send commands.
    pub fn command(args: &[&[u8]]) -> Vec<u8> {
        let mut out = Vec::with_capacity(16 + args.iter().map(|a| a.len() + 16).sum::<usize>());
        header(&mut out, b'*', args.len());
        for arg in args {
            blob(&mut out, b'$', arg);
        }
        out
    }

    /// The text of a simple string, bulk string or verbatim string.
    pub fn as_bytes(&self) -> Option<&[u8]> {
        match self {
            Frame::Simple(b) | Frame::Bulk(b) | Frame::Verbatim(_, b) => Some(b),
            _ => None,
        }
    }

    /// Appends the canonical encoding of `self` to `out`.
    ///
    /// A `Simple` or `BigNumber` must not contain CR or LF; an `Error` that
    /// does is written as a RESP3 blob error (`!`), which [`parse`] reads
    /// back as an `Error`. Doubles are written in their shortest form that
    /// reads back exactly (`1`, `0.1`, `1e300`), or `inf`, `-inf`, `nan`.
    pub fn encode(&self, out: &mut Vec<u8>) {
        match self {
            Frame::Simple(s) => line(out, b'+', s),
            Frame::Error(e) if e.iter().any(|&b| b == b'\r' || b == b'\n') => blob(out, b'!', e),
            Frame::Error(e) => line(out, b'-', e),
            Frame::Integer(n) => header(out, b':', n),
            Frame::Bulk(b) => blob(out, b'$', b),
            Frame::NullBulk => out.extend_from_slice(b"$-1\r\n"),
            Frame::NullArray => out.extend_from_slice(b"*-1\r\n"),
            Frame::Null => out.extend_from_slice(b"_\r\n"),
            Frame::Array(items) => aggregate(out, b'*', items),
            Frame::Set(items) => aggregate(out, b'~', items),
            Frame::Push(items) => aggregate(out, b'>', items),
            Frame::Map(pairs) => pairs_of(out, b'%', pairs),
            Frame::Attribute(attrs, inner) => {
                pairs_of(out, b'|', attrs);
                inner.encode(out);
            }
            Frame::Double(d) => line(out, b',', format_double(*d).as_bytes()),
            Frame::Boolean(b) => out.extend_from_slice(if *b { b"#t\r\n" } else { b"#f\r\n" }),
            Frame::BigNumber(n) => line(out, b'(', n),
            Frame::Verbatim(format, text) => {
                header(out, b'=', format.len() + 1 + text.len());
                out.extend_from_slice(format);
                out.push(b':');
                out.extend_from_slice(text);
                out.extend_from_slice(b"\r\n");
            }
        }
    }
}

fn line(out: &mut Vec<u8>, prefix: u8, body: &[u8]) {
    out.push(prefix);
    out.extend_from_slice(body);
    out.extend_from_slice(b"\r\n");
}

fn header(out: &mut Vec<u8>, prefix: u8, n: impl std::fmt::Display) {
    out.push(prefix);
    write!(out, "{n}\r\n").expect("writing to a Vec cannot fail");
}

fn blob(out: &mut Vec<u8>, prefix: u8, payload: &[u8]) {
    header(out, prefix, payload.len());
    out.extend_from_slice(payload);
    out.extend_from_slice(b"\r\n");
}

fn aggregate(out: &mut Vec<u8>, prefix: u8, items: &[Frame]) {
    header(out, prefix, items.len());
    for item in items {
        item.encode(out);
    }
}

fn pairs_of(out: &mut Vec<u8>, prefix: u8, pairs: &[(Frame, Frame)]) {
    header(out, prefix, pairs.len());
    for (key, value) in pairs {
        key.encode(out);
        value.encode(out);
    }
}

/// Shortest text that parses back to `d` exactly, without a useless `.0`.
fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf" } else { "-inf" }.into();
    }
    // `Debug` is the shortest round-trip form, with an exponent when large or small.
    let text = format!("{d:?}");
    match text.strip_suffix(".0") {
        Some(integral) => integral.to_string(),
        None => text,
    }
}

/// Why parsing stopped before a whole frame was read.
enum Stop {
    Incomplete,
    Invalid(FrameError),
}

impl From<FrameError> for Stop {
    fn from(e: FrameError) -> Self {
        Stop::Invalid(e)
    }
}

/// A position in the bytes being parsed.
struct Reader<'a> {
    buf: &'a [u8],
    pos: usize,
}

impl<'a> Reader<'a> {
    /// Reads one frame; `depth` is the number of aggregates around it.
    fn frame(&mut self, depth: usize) -> Result<Frame, Stop> {
        let kind = *self.buf.get(self.pos).ok_or(Stop::Incomplete)?;
        self.pos += 1;
        let frame = match kind {
            b'+' => Frame::Simple(Bytes::copy_from_slice(self.line()?)),
            b'-' => Frame::Error(Bytes::copy_from_slice(self.line()?)),
            b':' => {
                Frame::Integer(parse_number(self.line()?).ok_or(FrameError::InvalidValue(kind))?)
            }
            b'$' => match self.length()? {
                Some(len) => Frame::Bulk(self.payload(len)?),
                None => Frame::NullBulk,
            },
            b'!' => {
                let len = self.count()?;
                Frame::Error(self.payload(len)?)
            }
            b'=' => self.verbatim()?,
            b'*' => match self.length()? {
                Some(n) => Frame::Array(self.frames(n, depth)?),
                None => Frame::NullArray,
            },
            b'~' | b'>' => {
                let n = self.count()?;
                let items = self.frames(n, depth)?;
                if kind == b'~' {
                    Frame::Set(items)
                } else {
                    Frame::Push(items)
                }
            }
            b'%' => {
                let n = self.count()?;
                Frame::Map(self.pairs(n, depth)?)
            }
            b'|' => {
                let n = self.count()?;
                let attrs = self.pairs(n, depth)?;
                Frame::Attribute(attrs, Box::new(self.frame(depth + 1)?))
            }
            b'_' => match self.line()? {
                b"" => Frame::Null,
                _ => return Err(FrameError::InvalidValue(kind).into()),
            },
            b',' => {
                Frame::Double(parse_number(self.line()?).ok_or(FrameError::InvalidValue(kind))?)
            }
            b'#' => match self.line()? {
                b"t" => Frame::Boolean(true),
                b"f" => Frame::Boolean(false),
                _ => return Err(FrameError::InvalidValue(kind).into()),
            },
            b'(' => match self.line()? {
                n if is_big_number(n) => Frame::BigNumber(Bytes::copy_from_slice(n)),
                _ => return Err(FrameError::InvalidValue(kind).into()),
            },
            other => return Err(FrameError::UnknownType(other).into()),
        };
        Ok(frame)
    }

    /// The rest of the current line, up to the first CRLF, which is consumed.
    fn line(&mut self) -> Result<&'a [u8], Stop> {
        let rest = &self.buf[self.pos..];
        let end = memchr::memmem::find(rest, b"\r\n").ok_or(Stop::Incomplete)?;
        self.pos += end + 2;
        Ok(&rest[..end])
    }

    /// A length line where `-1` means null (`$` and `*`).
    fn length(&mut self) -> Result<Option<usize>, Stop> {
        match parse_number::<i64>(self.line()?) {
            Some(-1) => Ok(None),
            Some(n) => Ok(Some(
                usize::try_from(n).map_err(|_| FrameError::InvalidLength)?,
            )),
            None => Err(FrameError::InvalidLength.into()),
        }
    }

    /// A length line that may not be null.
    fn count(&mut self) -> Result<usize, Stop> {
        Ok(self.length()?.ok_or(FrameError::InvalidLength)?)
    }

    /// `len` bytes followed by CRLF.
    fn payload(&mut self, len: usize) -> Result<Bytes, Stop> {
        let rest = &self.buf[self.pos..];
        if rest.len() < len.saturating_add(2) {
            return Err(Stop::Incomplete);
        }
        if &rest[len..len + 2] != b"\r\n" {
            return Err(FrameError::MissingCrlf.into());
        }
        self.pos += len + 2;
        Ok(Bytes::copy_from_slice(&rest[..len]))
    }

    /// The rest of a `=` frame: a payload `fmt:text` with a 3-byte format.
    fn verbatim(&mut self) -> Result<Frame, Stop> {
        let len = self.count()?;
        let payload = self.payload(len)?;
        if payload.len() < 4 || payload[3] != b':' {
            return Err(FrameError::InvalidValue(b'=').into());
        }
        Ok(Frame::Verbatim(payload.slice(..3), payload.slice(4..)))
    }

    /// `n` frames inside an aggregate at `depth`.
    fn frames(&mut self, n: usize, depth: usize) -> Result<Vec<Frame>, Stop> {
        let mut items = Vec::with_capacity(self.prealloc(n, depth)?);
        for _ in 0..n {
            items.push(self.frame(depth + 1)?);
        }
        Ok(items)
    }

    /// `n` key/value pairs inside a map or attribute at `depth`.
    fn pairs(&mut self, n: usize, depth: usize) -> Result<Vec<(Frame, Frame)>, Stop> {
        let mut pairs = Vec::with_capacity(self.prealloc(n, depth)?);
        for _ in 0..n {
            pairs.push((self.frame(depth + 1)?, self.frame(depth + 1)?));
        }
        Ok(pairs)
    }

    /// Checks the depth of a new aggregate and bounds the room reserved for
    /// its `n` claimed elements: by what the input can hold (3 bytes each at
    /// least) and by a constant, since nested aggregates all claim the same
    /// remaining bytes.
    fn prealloc(&self, n: usize, depth: usize) -> Result<usize, Stop> {
        if depth >= MAX_DEPTH {
            return Err(FrameError::TooDeep.into());
        }
        Ok(n.min((self.buf.len() - self.pos) / 3).min(MAX_PREALLOC))
    }
}

/// A number in ASCII, as Rust's `FromStr` reads it (doubles also take
/// `inf`, `-inf` and `nan`).
fn parse_number<T: std::str::FromStr>(s: &[u8]) -> Option<T> {
    std::str::from_utf8(s).ok()?.parse().ok()
}

/// An optional sign then at least one digit.
fn is_big_number(s: &[u8]) -> bool {
    let digits = s
        .strip_prefix(b"-")
        .or_else(|| s.strip_prefix(b"+"))
        .unwrap_or(s);
    !digits.is_empty() && digits.iter().all(u8::is_ascii_digit)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn bulk(s: &str) -> Frame {
        Frame::Bulk(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn simple(s: &str) -> Frame {
        Frame::Simple(Bytes::copy_from_slice(s.as_bytes()))
    }

    fn parse_one(input: &[u8]) -> Frame {
        let (frame, used) = parse(input).expect("valid").expect("complete");
        assert_eq!(used, input.len(), "{input:?}");
        frame
    }

    fn encoded(frame: &Frame) -> Vec<u8> {
        let mut out = Vec::new();
        frame.encode(&mut out);
        out
    }

    #[test]
    fn every_type_parses() {
        let cases: Vec<(&[u8], Frame)> = vec![
            (b"+OK\r\n", simple("OK")),
            (
                b"-ERR bad\r\n",
                Frame::Error(Bytes::from_static(b"ERR bad")),
            ),
            (
                b"!5\r\nE\r\nxy\r\n",
                Frame::Error(Bytes::from_static(b"E\r\nxy")),
            ),
            (b":-42\r\n", Frame::Integer(-42)),
            (b":+7\r\n", Frame::Integer(7)),
            (b"$3\r\na\r\n\r\n", bulk("a\r\n")),
            (b"$-1\r\n", Frame::NullBulk),
            (b"*-1\r\n", Frame::NullArray),
            (
                b"*2\r\n$1\r\na\r\n:1\r\n",
                Frame::Array(vec![bulk("a"), Frame::Integer(1)]),
            ),
            (b"_\r\n", Frame::Null),
            (b",1.5\r\n", Frame::Double(1.5)),
            (b",-inf\r\n", Frame::Double(f64::NEG_INFINITY)),
            (b",1e3\r\n", Frame::Double(1000.0)),
            (b"#t\r\n", Frame::Boolean(true)),
            (b"#f\r\n", Frame::Boolean(false)),
            (
                b"(-123456789012345678901234567890\r\n",
                Frame::BigNumber(Bytes::from_static(b"-123456789012345678901234567890")),
            ),
            (
                b"=8\r\ntxt:a\r\nb\r\n",
                Frame::Verbatim(Bytes::from_static(b"txt"), Bytes::from_static(b"a\r\nb")),
            ),
            (
                b"%1\r\n+k\r\n:1\r\n",
                Frame::Map(vec![(simple("k"), Frame::Integer(1))]),
            ),
            (b"~1\r\n_\r\n", Frame::Set(vec![Frame::Null])),
            (
                b">2\r\n+message\r\n$2\r\nhi\r\n",
                Frame::Push(vec![simple("message"), bulk("hi")]),
            ),
            (
                b"|1\r\n+ttl\r\n:3\r\n+v\r\n",
                Frame::Attribute(
                    vec![(simple("ttl"), Frame::Integer(3))],
                    Box::new(simple("v")),
                ),
            ),
        ];
        for (input, expected) in cases {
            assert_eq!(parse_one(input), expected, "{input:?}");
        }
        assert!(matches!(parse_one(b",nan\r\n"), Frame::Double(d) if d.is_nan()));
    }

    #[test]
    fn incomplete_frames_ask_for_more() {
        let input = b"*2\r\n$5\r\nhello\r\n%1\r\n+a\r\n,2.5\r\n";
        for cut in 0..input.len() {
            assert_eq!(parse(&input[..cut]), Ok(None), "cut at {cut}");
        }
        assert!(parse(input).unwrap().is_some());
    }

    #[test]
    fn parses_only_the_first_frame() {
        assert_eq!(parse(b"+a\r\n+b\r\n"), Ok(Some((simple("a"), 4))));
    }

    #[test]
    fn malformed_frames_are_errors() {
        let cases: Vec<(&[u8], FrameError)> = vec![
            (b"?x\r\n", FrameError::UnknownType(b'?')),
            (b"$-2\r\n", FrameError::InvalidLength),
            (b"$x\r\n", FrameError::InvalidLength),
            (b"*-2\r\n", FrameError::InvalidLength),
            (b"%-1\r\n", FrameError::InvalidLength),
            (b"$?\r\n", FrameError::InvalidLength),
            (b"$2\r\nabc\r\n", FrameError::MissingCrlf),
            (b":1.5\r\n", FrameError::InvalidValue(b':')),
            (b":\r\n", FrameError::InvalidValue(b':')),
            (b",x\r\n", FrameError::InvalidValue(b',')),
            (b"#x\r\n", FrameError::InvalidValue(b'#')),
            (b"_x\r\n", FrameError::InvalidValue(b'_')),
            (b"(12a\r\n", FrameError::InvalidValue(b'(')),
            (b"(\r\n", FrameError::InvalidValue(b'(')),
            (b"=3\r\ntxt\r\n", FrameError::InvalidValue(b'=')),
            (b"=4\r\ntxt;\r\n", FrameError::InvalidValue(b'=')),
        ];
        for (input, expected) in cases {
            assert_eq!(parse(input), Err(expected), "{input:?}");
        }
    }

    #[test]
    fn nesting_is_bounded() {
        let mut ok = b"*1\r\n".repeat(MAX_DEPTH);
        ok.extend_from_slice(b":1\r\n");
        assert!(parse(&ok).unwrap().is_some());
        let too_deep = b"*1\r\n".repeat(MAX_DEPTH + 1);
        assert_eq!(parse(&too_deep), Err(FrameError::TooDeep));
        let hostile = b"|1\r\n".repeat(100_000);
        assert_eq!(parse(&hostile), Err(FrameError::TooDeep));
    }

    #[test]
    fn huge_claimed_counts_do_not_allocate() {
        assert_eq!(parse(b"*4611686018427387903\r\n:1\r\n"), Ok(None));
        assert_eq!(parse(b"$9223372036854775807\r\n"), Ok(None));
    }

    #[test]
    fn encodings_are_canonical() {
        let cases: Vec<(Frame, &[u8])> = vec![
            (Frame::Integer(i64::MIN), b":-9223372036854775808\r\n"),
            (Frame::Double(1.0), b",1\r\n"),
            (Frame::Double(-0.0), b",-0\r\n"),
            (Frame::Double(0.1), b",0.1\r\n"),
            (Frame::Double(1e300), b",1e300\r\n"),
            (Frame::Double(-2.5e-7), b",-2.5e-7\r\n"),
            (Frame::Double(f64::INFINITY), b",inf\r\n"),
            (Frame::Double(f64::NAN), b",nan\r\n"),
            (Frame::Error(Bytes::from_static(b"ERR x")), b"-ERR x\r\n"),
            (
                Frame::Error(Bytes::from_static(b"ERR\nx")),
                b"!5\r\nERR\nx\r\n",
            ),
            (
                Frame::Verbatim(Bytes::from_static(b"txt"), Bytes::from_static(b"hi")),
                b"=6\r\ntxt:hi\r\n",
            ),
            (
                Frame::Attribute(
                    vec![(simple("a"), Frame::Boolean(true))],
                    Box::new(Frame::Null),
                ),
                b"|1\r\n+a\r\n#t\r\n_\r\n",
            ),
            (
                Frame::Map(vec![(bulk("k"), Frame::NullBulk)]),
                b"%1\r\n$1\r\nk\r\n$-1\r\n",
            ),
            (Frame::Set(vec![Frame::NullArray]), b"~1\r\n*-1\r\n"),
            (Frame::Push(vec![]), b">0\r\n"),
            (Frame::BigNumber(Bytes::from_static(b"12")), b"(12\r\n"),
        ];
        for (frame, expected) in cases {
            assert_eq!(encoded(&frame), expected, "{frame:?}");
        }
    }

    #[test]
    fn command_and_as_bytes() {
        let cmd = Frame::command(&[b"SET", b"k", b""]);
        assert_eq!(cmd, b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$0\r\n\r\n");
        assert_eq!(
            parse_one(&cmd),
            Frame::Array(vec![bulk("SET"), bulk("k"), bulk("")])
        );
        assert_eq!(simple("OK").as_bytes(), Some(&b"OK"[..]));
        assert_eq!(bulk("v").as_bytes(), Some(&b"v"[..]));
        assert_eq!(Frame::Integer(1).as_bytes(), None);
    }
}
