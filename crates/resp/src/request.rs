//! Incremental parser for client requests.
//!
//! A request is either a *multibulk* (`*<n>\r\n` then `n` bulk strings
//! `$<len>\r\n<bytes>\r\n`), which every client library sends, or an *inline*
//! line of words, which is what a person types into `telnet` or `nc`. The
//! parser accepts what Redis 7.0 accepts (`processMultibulkBuffer` and
//! `processInlineBuffer` in its `networking.c`) and rejects the rest with
//! Redis's own error strings, so a client sees the behaviour it was written
//! against.
//!
//! Why it keeps state: one request may arrive in many reads (a million
//! element `MSET`, a 512 MB `SET`). The parser remembers the arguments it has
//! already split off, the length of the payload it is waiting for and how far
//! it has already searched for a line end, so every byte is examined a bounded
//! number of times whatever the read sizes. Payloads are split off the read
//! buffer as [`Bytes`] without copying.
//!
//! Redis leniencies kept on purpose, so that anything Redis takes is taken
//! here: a `*`/`$` header line ends at its first `\r` and the byte after it is
//! skipped unchecked, as are the two bytes after a bulk payload; an inline
//! line is split into words as by Redis's `sdssplitargs`, which treats it as a
//! C string (a NUL byte ends it).

use bytes::{Buf, Bytes, BytesMut};
use memchr::memchr;

/// Longest header line (`*<count>` or `$<len>`) waited for before the client
/// is refused; Redis uses its inline limit, `PROTO_INLINE_MAX_SIZE`.
const MAX_HEADER_LEN: usize = 64 * 1024;
/// Largest multibulk count accepted before authentication.
const UNAUTH_MAX_MULTIBULK_LEN: i64 = 10;
/// Largest bulk string accepted before authentication.
const UNAUTH_MAX_BULK_LEN: usize = 16 * 1024;
/// Most buffer space reserved at once for a payload still to arrive: a client
/// claiming 512 MB must send the bytes before we hold memory for them.
const MAX_RESERVE: usize = 1024 * 1024;
/// Most argument slots allocated for a multibulk's claimed count before its
/// arguments arrive (Redis caps its first allocation the same way).
const MAX_PREALLOC_ARGS: usize = 1024;

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

impl ProtocolError {
    fn new(what: &str) -> Self {
        ProtocolError(format!("Protocol error: {what}"))
    }
}

impl std::fmt::Display for ProtocolError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str(&self.0)
    }
}

impl std::error::Error for ProtocolError {}

/// Incremental request parser; keeps its state across partial reads.
///
/// Feed it one connection's read buffer, only ever appended to between calls.
/// After a [`ProtocolError`] its state is unspecified: close the connection.
#[derive(Debug, Default)]
pub struct RequestParser {
    /// Arguments already read of the multibulk request in progress.
    args: Vec<Bytes>,
    /// Bulk strings still to read for that request; 0 between requests.
    pending: usize,
    /// Length of the next bulk payload, once its `$<len>` line is consumed.
    bulk_len: Option<usize>,
    /// Bytes at the front of the buffer already searched, without success,
    /// for the end of the line being read.
    scanned: usize,
}

impl RequestParser {
    pub fn new() -> Self {
        RequestParser::default()
    }

    /// Parses the next complete request from the front of `buf`, consuming
    /// the bytes it used. `Ok(None)`: more bytes are needed (any partial
    /// state is kept in `self`). Empty requests (blank inline line, `*0`,
    /// `*-1`) are skipped, never returned as an empty Vec.
    pub fn parse(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        while self.pending == 0 {
            let Some(&first) = buf.first() else {
                return Ok(None);
            };
            if first == b'*' {
                let Some(count) = self.read_count(buf, limits)? else {
                    return Ok(None);
                };
                self.pending = count;
                self.args = Vec::with_capacity(count.min(MAX_PREALLOC_ARGS));
            } else {
                let Some(args) = self.read_inline(buf, limits)? else {
                    return Ok(None);
                };
                if !args.is_empty() {
                    return Ok(Some(args));
                }
            }
        }
        self.read_bulks(buf, limits)
    }

    /// Reads a `*<count>` line; non-positive counts (empty requests) give 0.
    fn read_count(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<usize>, ProtocolError> {
        let Some(end) = self.header_end(buf, "too big mbulk count string")? else {
            return Ok(None);
        };
        let count = match parse_i64(&buf[1..end]) {
            Some(n) if !exceeds(n, limits.max_multibulk_len) => n,
            _ => return Err(ProtocolError::new("invalid multibulk length")),
        };
        if limits.unauthenticated && count > UNAUTH_MAX_MULTIBULK_LEN {
            return Err(ProtocolError::new("unauthenticated multibulk length"));
        }
        self.consume(buf, end + 2);
        Ok(Some(usize::try_from(count).unwrap_or(0)))
    }

    /// Reads the remaining bulk strings of the current multibulk request and
    /// returns the request once all have arrived.
    fn read_bulks(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        while self.pending > 0 {
            let len = match self.bulk_len {
                Some(len) => len,
                None => match self.read_bulk_len(buf, limits)? {
                    Some(len) => len,
                    None => return Ok(None),
                },
            };
            // The payload and the two bytes meant to be CRLF.
            if buf.len() < len + 2 {
                self.bulk_len = Some(len);
                buf.reserve((len + 2 - buf.len()).min(MAX_RESERVE));
                return Ok(None);
            }
            self.bulk_len = None;
            self.args.push(buf.split_to(len).freeze());
            buf.advance(2);
            self.pending -= 1;
        }
        Ok(Some(std::mem::take(&mut self.args)))
    }

    /// Reads a `$<len>` line.
    fn read_bulk_len(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<usize>, ProtocolError> {
        let Some(end) = self.header_end(buf, "too big bulk count string")? else {
            return Ok(None);
        };
        // Checked first, so `end >= 1` below: the line starts with `$`, not `\r`.
        if buf[0] != b'$' {
            return Err(ProtocolError::new(&format!(
                "expected '$', got '{}'",
                char::from(buf[0])
            )));
        }
        let len = parse_i64(&buf[1..end])
            .filter(|&n| !exceeds(n, limits.max_bulk_len))
            .and_then(|n| usize::try_from(n).ok())
            .ok_or_else(|| ProtocolError::new("invalid bulk length"))?;
        if limits.unauthenticated && len > UNAUTH_MAX_BULK_LEN {
            return Err(ProtocolError::new("unauthenticated bulk length"));
        }
        self.consume(buf, end + 2);
        Ok(Some(len))
    }

    /// Finds the `\r` ending the header line at the front of `buf`. Like
    /// Redis, it also waits for the byte after it, which is not checked.
    fn header_end(
        &mut self,
        buf: &BytesMut,
        too_big: &str,
    ) -> Result<Option<usize>, ProtocolError> {
        match memchr(b'\r', &buf[self.scanned..]) {
            Some(i) if self.scanned + i + 1 < buf.len() => Ok(Some(self.scanned + i)),
            Some(i) => {
                self.scanned += i;
                Ok(None)
            }
            None if buf.len() > MAX_HEADER_LEN => Err(ProtocolError::new(too_big)),
            None => {
                self.scanned = buf.len();
                Ok(None)
            }
        }
    }

    /// Reads an inline request line; blank lines give no arguments.
    fn read_inline(
        &mut self,
        buf: &mut BytesMut,
        limits: &Limits,
    ) -> Result<Option<Vec<Bytes>>, ProtocolError> {
        let Some(i) = memchr(b'\n', &buf[self.scanned..]) else {
            if buf.len() > limits.max_inline_len {
                return Err(ProtocolError::new("too big inline request"));
            }
            self.scanned = buf.len();
            return Ok(None);
        };
        let newline = self.scanned + i;
        let line = &buf[..newline];
        let line = line.strip_suffix(b"\r").unwrap_or(line);
        let args =
            split_args(line).ok_or_else(|| ProtocolError::new("unbalanced quotes in request"))?;
        self.consume(buf, newline + 1);
        Ok(Some(args))
    }

    fn consume(&mut self, buf: &mut BytesMut, n: usize) {
        buf.advance(n);
        self.scanned = 0;
    }
}

/// Whether a parsed length is above a configured maximum.
fn exceeds(n: i64, max: u64) -> bool {
    u64::try_from(n).is_ok_and(|n| n > max)
}

/// Parses a decimal number as strictly as Redis's `string2ll`: an optional
/// `-`, then digits without leading zeros, no `+`, no spaces, within `i64`.
fn parse_i64(s: &[u8]) -> Option<i64> {
    let (negative, digits) = match s.split_first() {
        Some((b'-', rest)) => (true, rest),
        _ => (false, s),
    };
    match digits {
        [b'0'] if !negative => return Some(0),
        [b'1'..=b'9', ..] => {}
        _ => return None,
    }
    let mut magnitude: u64 = 0;
    for &d in digits {
        if !d.is_ascii_digit() {
            return None;
        }
        magnitude = magnitude
            .checked_mul(10)?
            .checked_add(u64::from(d - b'0'))?;
    }
    if negative {
        0i64.checked_sub_unsigned(magnitude)
    } else {
        i64::try_from(magnitude).ok()
    }
}

/// Splits an inline line into arguments as Redis's `sdssplitargs` does;
/// `None` means unbalanced quotes.
///
/// Words are separated by whitespace. A word may contain a double-quoted part
/// (escapes `\n \r \t \b \a \xHH`, and `\` before any other byte keeps that
/// byte) or a single-quoted part (only `\'` is an escape); the closing quote
/// ends the word and must be followed by whitespace or the end of the line.
fn split_args(line: &[u8]) -> Option<Vec<Bytes>> {
    let line = &line[..memchr(0, line).unwrap_or(line.len())];
    let mut args = Vec::new();
    let mut pos = 0;
    loop {
        while line.get(pos).is_some_and(|&b| is_c_space(b)) {
            pos += 1;
        }
        if pos == line.len() {
            return Some(args);
        }
        let (word, next) = read_word(line, pos)?;
        args.push(Bytes::from(word));
        pos = next;
    }
}

/// Reads the word starting at `pos`; returns it and the position after it.
fn read_word(line: &[u8], mut pos: usize) -> Option<(Vec<u8>, usize)> {
    let mut word = Vec::new();
    while let Some(&b) = line.get(pos) {
        match b {
            b' ' | b'\n' | b'\r' | b'\t' => break,
            b'"' => return read_double_quoted(line, pos + 1, word),
            b'\'' => return read_single_quoted(line, pos + 1, word),
            _ => word.push(b),
        }
        pos += 1;
    }
    Some((word, pos))
}

/// Appends the double-quoted part starting at `pos` (after the quote) to `word`.
fn read_double_quoted(line: &[u8], mut pos: usize, mut word: Vec<u8>) -> Option<(Vec<u8>, usize)> {
    loop {
        match *line.get(pos)? {
            b'\\' if pos + 1 < line.len() => {
                if let Some(byte) = hex_escape(&line[pos + 1..]) {
                    word.push(byte);
                    pos += 4;
                } else {
                    word.push(unescape(line[pos + 1]));
                    pos += 2;
                }
            }
            b'"' => return close_quote(line, pos, word),
            b => {
                word.push(b);
                pos += 1;
            }
        }
    }
}

/// Appends the single-quoted part starting at `pos` (after the quote) to `word`.
fn read_single_quoted(line: &[u8], mut pos: usize, mut word: Vec<u8>) -> Option<(Vec<u8>, usize)> {
    loop {
        match *line.get(pos)? {
            b'\\' if line.get(pos + 1) == Some(&b'\'') => {
                word.push(b'\'');
                pos += 2;
            }
            b'\'' => return close_quote(line, pos, word),
            b => {
                word.push(b);
                pos += 1;
            }
        }
    }
}

/// Ends a word at the closing quote at `pos`, which must be followed by
/// whitespace or the end of the line.
fn close_quote(line: &[u8], pos: usize, word: Vec<u8>) -> Option<(Vec<u8>, usize)> {
    match line.get(pos + 1) {
        Some(&b) if !is_c_space(b) => None,
        _ => Some((word, pos + 1)),
    }
}

/// The byte written as `xHH` at the start of `s`, if it is one.
fn hex_escape(s: &[u8]) -> Option<u8> {
    match s {
        [b'x', hi, lo, ..] => Some(hex_digit(*hi)? << 4 | hex_digit(*lo)?),
        _ => None,
    }
}

fn hex_digit(b: u8) -> Option<u8> {
    char::from(b).to_digit(16).map(|d| d as u8)
}

/// The byte a backslash escape stands for inside double quotes.
fn unescape(b: u8) -> u8 {
    match b {
        b'n' => b'\n',
        b'r' => b'\r',
        b't' => b'\t',
        b'b' => 0x08,
        b'a' => 0x07,
        other => other,
    }
}

/// C's `isspace` in the "C" locale.
fn is_c_space(b: u8) -> bool {
    matches!(b, b' ' | b'\t' | b'\n' | 0x0b | 0x0c | b'\r')
}

#[cfg(test)]
mod tests {
    use super::*;

    type Requests = Vec<Vec<Vec<u8>>>;

    fn unauth() -> Limits {
        Limits {
            unauthenticated: true,
            ..Limits::default()
        }
    }

    /// Feeds `chunks` one after the other, collecting every request until
    /// the first error.
    fn feed<'a>(
        chunks: impl IntoIterator<Item = &'a [u8]>,
        limits: &Limits,
    ) -> (Requests, Option<ProtocolError>) {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::new();
        let mut requests = Vec::new();
        for chunk in chunks {
            buf.extend_from_slice(chunk);
            loop {
                match parser.parse(&mut buf, limits) {
                    Ok(Some(args)) => requests.push(args.iter().map(|a| a.to_vec()).collect()),
                    Ok(None) => break,
                    Err(e) => return (requests, Some(e)),
                }
            }
        }
        (requests, None)
    }

    fn parse_all(input: &[u8]) -> Requests {
        match feed([input], &Limits::default()) {
            (requests, None) => requests,
            (_, Some(e)) => panic!("unexpected {e} for {input:?}"),
        }
    }

    fn error_of(input: &[u8], limits: &Limits) -> String {
        feed([input], limits).1.expect("a protocol error").0
    }

    fn req(args: &[&str]) -> Vec<Vec<u8>> {
        args.iter().map(|a| a.as_bytes().to_vec()).collect()
    }

    /// Every way of cutting `input` in two gives the same result as whole,
    /// and so does feeding it one byte at a time.
    fn assert_split_invariant(input: &[u8]) {
        let whole = feed([input], &Limits::default());
        for cut in 0..=input.len() {
            let (a, b) = input.split_at(cut);
            assert_eq!(feed([a, b], &Limits::default()), whole, "cut at {cut}");
        }
        assert_eq!(
            feed(input.chunks(1), &Limits::default()),
            whole,
            "byte by byte"
        );
    }

    #[test]
    fn multibulk_request() {
        assert_eq!(
            parse_all(b"*2\r\n$3\r\nGET\r\n$1\r\nk\r\n"),
            vec![req(&["GET", "k"])]
        );
    }

    #[test]
    fn binary_safe_payloads() {
        assert_eq!(
            parse_all(b"*1\r\n$4\r\na\r\n\0\r\n"),
            vec![vec![b"a\r\n\0".to_vec()]]
        );
        assert_eq!(parse_all(b"*1\r\n$0\r\n\r\n"), vec![vec![vec![]]]);
    }

    #[test]
    fn pipelined_requests_come_out_one_per_call() {
        let input = b"*1\r\n$4\r\nPING\r\nECHO hi\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n";
        assert_eq!(
            parse_all(input),
            vec![req(&["PING"]), req(&["ECHO", "hi"]), req(&["GET", "k"])]
        );
    }

    #[test]
    fn empty_requests_are_skipped() {
        let input = b"*0\r\n*-1\r\n*-10\r\n\r\n   \n\n*1\r\n$4\r\nPING\r\n";
        assert_eq!(parse_all(input), vec![req(&["PING"])]);
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&b"*0\r\n\r\n"[..]);
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        assert!(buf.is_empty());
    }

    #[test]
    fn redis_leniencies_are_kept() {
        // The byte after a header's `\r` and the two after a payload are not checked.
        assert_eq!(parse_all(b"*1\rx$2\r\nhiXY"), vec![req(&["hi"])]);
    }

    #[test]
    fn partial_input_at_every_boundary() {
        assert_split_invariant(
            b"*3\r\n$3\r\nSET\r\n$3\r\nkey\r\n$5\r\nva\r\nl\r\n\
              set \"a b\" 'c d'\r\n*0\r\n\nPING\n*1\r\n$0\r\n\r\n",
        );
        assert_split_invariant(b"*2\r\n$3\r\nGET\r\nfoo\r\n");
        assert_split_invariant(b"GET \"unbalanced\r\n");
    }

    #[test]
    fn large_request_in_many_reads() {
        let n = 100_000;
        let mut input = format!("*{n}\r\n").into_bytes();
        for i in 0..n {
            let arg = i.to_string();
            input.extend_from_slice(format!("${}\r\n{arg}\r\n", arg.len()).as_bytes());
        }
        let bulk = vec![b'v'; 3_000_000];
        input.extend_from_slice(format!("*1\r\n${}\r\n", bulk.len()).as_bytes());
        input.extend_from_slice(&bulk);
        input.extend_from_slice(b"\r\n");
        let (requests, error) = feed(input.chunks(4093), &Limits::default());
        assert_eq!(error, None);
        assert_eq!(requests.len(), 2);
        assert_eq!(requests[0].len(), n);
        assert_eq!(requests[0][n - 1], (n - 1).to_string().into_bytes());
        assert_eq!(requests[1], vec![bulk]);
    }

    #[test]
    fn a_claimed_huge_bulk_does_not_allocate_it() {
        let mut parser = RequestParser::new();
        let mut buf = BytesMut::from(&b"*1\r\n$536870912\r\n"[..]);
        assert_eq!(parser.parse(&mut buf, &Limits::default()), Ok(None));
        assert!(
            buf.capacity() <= 2 * MAX_RESERVE,
            "capacity {}",
            buf.capacity()
        );
        assert!(buf.capacity() >= MAX_RESERVE);
    }

    #[test]
    fn multibulk_length_errors() {
        let invalid = "Protocol error: invalid multibulk length";
        for input in [
            &b"*x\r\n"[..],
            b"*\r\n",
            b"*+1\r\n",
            b"*01\r\n",
            b"*-0\r\n",
            b"*1 \r\n",
            b"*1048577\r\n",
        ] {
            assert_eq!(error_of(input, &Limits::default()), invalid, "{input:?}");
        }
        assert_eq!(
            error_of(b"*99999999999999999999\r\n", &Limits::default()),
            invalid
        );
        assert_eq!(parse_all(b"*1048576\r\n"), Requests::new());
        let small = Limits {
            max_multibulk_len: 2,
            ..Limits::default()
        };
        assert_eq!(error_of(b"*3\r\n", &small), invalid);
        assert_eq!(
            error_of(b"*11\r\n", &unauth()),
            "Protocol error: unauthenticated multibulk length"
        );
        assert_eq!(feed([&b"*10\r\n"[..]], &unauth()).1, None);
    }

    #[test]
    fn bulk_length_errors() {
        let invalid = "Protocol error: invalid bulk length";
        for input in [
            &b"*1\r\n$-1\r\n"[..],
            b"*1\r\n$x\r\n",
            b"*1\r\n$\r\n",
            b"*1\r\n$+3\r\n",
            b"*1\r\n$536870913\r\n",
        ] {
            assert_eq!(error_of(input, &Limits::default()), invalid, "{input:?}");
        }
        let small = Limits {
            max_bulk_len: 3,
            ..Limits::default()
        };
        assert_eq!(error_of(b"*1\r\n$4\r\n", &small), invalid);
        assert_eq!(feed([&b"*1\r\n$3\r\n"[..]], &small).1, None);
        assert_eq!(
            error_of(b"*1\r\n$16385\r\n", &unauth()),
            "Protocol error: unauthenticated bulk length"
        );
        assert_eq!(feed([&b"*1\r\n$16384\r\n"[..]], &unauth()).1, None);
    }

    #[test]
    fn element_must_be_a_bulk() {
        let input = b"*3\r\n$3\r\nSET\r\n$1\r\nx\r\nfooz\r\n";
        assert_eq!(
            error_of(input, &Limits::default()),
            "Protocol error: expected '$', got 'f'"
        );
        assert_eq!(
            error_of(b"*1\r\n\r\n", &Limits::default()),
            "Protocol error: expected '$', got '\r'"
        );
        // Only decided once the line is complete, as in Redis.
        assert_eq!(feed([&b"*1\r\nfoo"[..]], &Limits::default()).1, None);
    }

    #[test]
    fn overlong_header_lines() {
        let mut input = b"*1".to_vec();
        input.resize(MAX_HEADER_LEN, b'1');
        assert_eq!(feed([&input[..]], &Limits::default()).1, None);
        input.push(b'1');
        assert_eq!(
            error_of(&input, &Limits::default()),
            "Protocol error: too big mbulk count string"
        );

        let mut input = b"*1\r\n$1".to_vec();
        input.resize(4 + MAX_HEADER_LEN + 1, b'1');
        assert_eq!(
            error_of(&input, &Limits::default()),
            "Protocol error: too big bulk count string"
        );
    }

    #[test]
    fn overlong_inline_line() {
        let limits = Limits {
            max_inline_len: 10,
            ..Limits::default()
        };
        assert_eq!(feed([&b"GET 567890"[..]], &limits).1, None);
        assert_eq!(
            error_of(b"GET 5678901", &limits),
            "Protocol error: too big inline request"
        );
        // A line whose newline has arrived is accepted whatever its length.
        assert_eq!(
            feed([&b"GET 5678901234\n"[..]], &limits),
            (vec![req(&["GET", "5678901234"])], None)
        );
    }

    #[test]
    fn inline_words() {
        assert_eq!(
            parse_all(b"  SET\tk   v \r\n"),
            vec![req(&["SET", "k", "v"])]
        );
        assert_eq!(parse_all(b"PING\n"), vec![req(&["PING"])]);
        // Only one `\r` before the newline belongs to the line ending.
        assert_eq!(parse_all(b"a\rb\r\r\n"), vec![req(&["a", "b"])]);
        // Vertical tab and form feed separate words only before a word.
        assert_eq!(parse_all(b"\x0ba\x0bb\n"), vec![req(&["a\x0bb"])]);
        // A NUL byte ends the line for argument splitting.
        assert_eq!(parse_all(b"GET k\0junk\n"), vec![req(&["GET", "k"])]);
    }

    #[test]
    fn inline_double_quotes() {
        assert_eq!(
            parse_all(b"SET \"a b\" \"\"\n"),
            vec![req(&["SET", "a b", ""])]
        );
        assert_eq!(
            parse_all(b"\"\\n\\r\\t\\b\\a\\\\\\\"\\q\\x41\\x4a\\xzz\"\n"),
            vec![req(&["\n\r\t\x08\x07\\\"qAJxzz"])]
        );
        assert_eq!(parse_all(b"foo\"bar\" x\n"), vec![req(&["foobar", "x"])]);
        assert_eq!(parse_all(b"\"a\"\x0bb\n"), vec![req(&["a", "b"])]);
    }

    #[test]
    fn inline_single_quotes() {
        assert_eq!(
            parse_all(b"SET 'it\\'s' 'a\\nb\"'\n"),
            vec![req(&["SET", "it's", "a\\nb\""])]
        );
        assert_eq!(parse_all(b"'' x\n"), vec![req(&["", "x"])]);
    }

    #[test]
    fn unbalanced_quotes() {
        let unbalanced = "Protocol error: unbalanced quotes in request";
        for input in [
            &b"GET \"k\n"[..],
            b"GET \"k\\\"\n",
            b"\"a\"b\n",
            b"GET 'k\n",
            b"'a'b\n",
            b"\"a\0\"\n",
        ] {
            assert_eq!(error_of(input, &Limits::default()), unbalanced, "{input:?}");
        }
    }
}
