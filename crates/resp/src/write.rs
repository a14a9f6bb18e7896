//! Reply encoder.
//!
//! The server appends replies for a whole batch of pipelined commands into
//! one [`ReplyBuf`] and writes it with a single syscall. Handlers call typed
//! methods (`bulk`, `int`, `map`, ...) and never build intermediate values,
//! so a reply costs no allocation beyond the buffer's growth. RESP3-only
//! types are written in their RESP2 shape when the connection speaks RESP2,
//! exactly as Redis does (map -> flat array, double -> bulk string,
//! null -> `$-1`, boolean -> integer, push -> array).

/// Output buffer for one connection.
#[derive(Debug, Default, Clone)]
pub struct ReplyBuf {
    pub buf: Vec<u8>,
    /// Whether the connection negotiated RESP3 with `HELLO 3`.
    pub resp3: bool,
}

impl ReplyBuf {
    pub fn new() -> Self {
        ReplyBuf::default()
    }

    pub fn len(&self) -> usize {
        self.buf.len()
    }

    pub fn is_empty(&self) -> bool {
        self.buf.is_empty()
    }

    pub fn clear(&mut self) {
        self.buf.clear();
    }

    fn line(&mut self, prefix: u8, body: &[u8]) {
        self.buf.push(prefix);
        self.buf.extend_from_slice(body);
        self.buf.extend_from_slice(b"\r\n");
    }

    fn len_line(&mut self, prefix: u8, n: i64) {
        self.buf.push(prefix);
        self.buf.extend_from_slice(itoa_buf(n).as_bytes());
        self.buf.extend_from_slice(b"\r\n");
    }

    /// `+OK`-style status reply. `s` must not contain CR or LF.
    pub fn simple(&mut self, s: &str) {
        self.line(b'+', s.as_bytes());
    }

    pub fn ok(&mut self) {
        self.buf.extend_from_slice(b"+OK\r\n");
    }

    /// Error reply; `msg` starts with its code, e.g. `ERR syntax error` or
    /// `WRONGTYPE Operation ...`. CR/LF inside are replaced by spaces, as Redis does.
    pub fn error(&mut self, msg: &str) {
        self.error_bytes(msg.as_bytes());
    }

    /// Like [`error`](Self::error), for messages that quote client bytes
    /// which need not be UTF-8 (Redis echoes them unchanged).
    pub fn error_bytes(&mut self, msg: &[u8]) {
        self.buf.push(b'-');
        for &b in msg {
            self.buf.push(if b == b'\r' || b == b'\n' { b' ' } else { b });
        }
        self.buf.extend_from_slice(b"\r\n");
    }

    pub fn int(&mut self, n: i64) {
        self.len_line(b':', n);
    }

    pub fn bulk(&mut self, b: &[u8]) {
        self.bulk_parts((b, &[]));
    }

    /// A bulk string given in two parts, one after the other (a value the
    /// keyspace stores split).
    pub fn bulk_parts(&mut self, (head, tail): (&[u8], &[u8])) {
        self.len_line(b'$', (head.len() + tail.len()) as i64);
        self.buf.extend_from_slice(head);
        self.buf.extend_from_slice(tail);
        self.buf.extend_from_slice(b"\r\n");
    }

    /// A bulk string holding the decimal form of `n`.
    pub fn bulk_int(&mut self, n: i64) {
        self.bulk(itoa_buf(n).as_bytes());
    }

    /// The null of a missing string: `$-1` (RESP2) or `_` (RESP3).
    pub fn null(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"$-1\r\n");
        }
    }

    /// The null of a missing array: `*-1` (RESP2) or `_` (RESP3).
    pub fn null_array(&mut self) {
        if self.resp3 {
            self.buf.extend_from_slice(b"_\r\n");
        } else {
            self.buf.extend_from_slice(b"*-1\r\n");
        }
    }

    /// Header of an array of `n` elements; the caller writes them next.
    pub fn array(&mut self, n: usize) {
        self.len_line(b'*', n as i64);
    }

    /// Header of a map of `n` key/value pairs (RESP2: array of `2n`).
    pub fn map(&mut self, n: usize) {
        if self.resp3 {
            self.len_line(b'%', n as i64);
        } else {
            self.len_line(b'*', 2 * n as i64);
        }
    }

    /// Header of a set of `n` elements (RESP2: array).
    pub fn set(&mut self, n: usize) {
        self.len_line(if self.resp3 { b'~' } else { b'*' }, n as i64);
    }

    /// Header of an out-of-band push message of `n` elements (RESP2: array).
    pub fn push(&mut self, n: usize) {
        self.len_line(if self.resp3 { b'>' } else { b'*' }, n as i64);
    }

    /// A double: RESP3 `,` type, RESP2 bulk string; both formatted like
    /// Redis 7.0's `%.17g`, with `inf`/`-inf`/`nan` spelled as Redis does.
    pub fn double(&mut self, d: f64) {
        let text = format_double(d);
        if self.resp3 {
            self.line(b',', text.as_bytes());
        } else {
            self.bulk(text.as_bytes());
        }
    }

    /// A boolean: RESP3 `#t`/`#f`, RESP2 `:1`/`:0`.
    pub fn boolean(&mut self, b: bool) {
        if self.resp3 {
            self.buf.extend_from_slice(if b { b"#t\r\n" } else { b"#f\r\n" });
        } else {
            self.int(b as i64);
        }
    }

    /// Verbatim text (`=` with a 3-letter format such as `txt`); RESP2 bulk.
    pub fn verbatim(&mut self, format: &str, text: &[u8]) {
        if self.resp3 {
            self.len_line(b'=', (text.len() + 4) as i64);
            self.buf.extend_from_slice(format.as_bytes());
            self.buf.push(b':');
            self.buf.extend_from_slice(text);
            self.buf.extend_from_slice(b"\r\n");
        } else {
            self.bulk(text);
        }
    }

    /// Raw, already encoded protocol bytes.
    pub fn raw(&mut self, bytes: &[u8]) {
        self.buf.extend_from_slice(bytes);
    }
}

fn itoa_buf(n: i64) -> ItoaStr {
    let mut b = ItoaStr { buf: [0; 20], start: 20 };
    let neg = n < 0;
    let mut v = n.unsigned_abs();
    loop {
        b.start -= 1;
        b.buf[b.start] = b'0' + (v % 10) as u8;
        v /= 10;
        if v == 0 {
            break;
        }
    }
    if neg {
        b.start -= 1;
        b.buf[b.start] = b'-';
    }
    b
}

struct ItoaStr {
    buf: [u8; 20],
    start: usize,
}

impl ItoaStr {
    fn as_bytes(&self) -> &[u8] {
        &self.buf[self.start..]
    }
}

/// Formats a double the way C's `printf("%.17g")` does, which is what Redis
/// 7.0 uses for double replies; infinities are `inf`/`-inf`.
pub fn format_double(d: f64) -> String {
    if d.is_nan() {
        return "nan".into();
    }
    if d.is_infinite() {
        return if d > 0.0 { "inf".into() } else { "-inf".into() };
    }
    format_g(d, 17)
}

/// C's `%.{precision}g` for finite values.
pub fn format_g(d: f64, precision: usize) -> String {
    if d == 0.0 {
        return if d.is_sign_negative() { "-0".into() } else { "0".into() };
    }
    let p = precision.max(1);
    let sci = format!("{:.*e}", p - 1, d);
    let (mantissa, exp) = sci.split_once('e').expect("exponent form");
    let x: i32 = exp.parse().expect("exponent digits");
    if x < -4 || x >= p as i32 {
        let m = trim_fraction(mantissa);
        let sign = if x < 0 { '-' } else { '+' };
        format!("{m}e{sign}{:02}", x.unsigned_abs())
    } else {
        let decimals = (p as i32 - 1 - x).max(0) as usize;
        trim_fraction(&format!("{:.*}", decimals, d)).to_string()
    }
}

fn trim_fraction(s: &str) -> &str {
    if s.contains('.') {
        s.trim_end_matches('0').trim_end_matches('.')
    } else {
        s
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn g17_matches_c_printf() {
        assert_eq!(format_double(1.1), "1.1000000000000001");
        assert_eq!(format_double(1.5), "1.5");
        assert_eq!(format_double(3.0), "3");
        assert_eq!(format_double(-2.5e-7), "-2.4999999999999999e-07");
        assert_eq!(format_double(1e20), "1e+20");
        assert_eq!(format_double(123456789012345678.0), "1.2345678901234568e+17");
        assert_eq!(format_double(0.0001), "0.0001");
        assert_eq!(format_double(f64::INFINITY), "inf");
        assert_eq!(format_double(f64::NEG_INFINITY), "-inf");
        assert_eq!(format_g(100.0, 17), "100");
    }

    #[test]
    fn resp2_downgrades() {
        let mut r = ReplyBuf::new();
        r.map(2);
        r.null();
        r.boolean(true);
        r.double(1.5);
        r.null_array();
        assert_eq!(r.buf, b"*4\r\n$-1\r\n:1\r\n$3\r\n1.5\r\n*-1\r\n");
    }

    #[test]
    fn resp3_types() {
        let mut r = ReplyBuf { resp3: true, ..Default::default() };
        r.map(1);
        r.null();
        r.boolean(false);
        r.double(-0.5);
        r.set(0);
        r.push(1);
        r.verbatim("txt", b"hi");
        assert_eq!(r.buf, b"%1\r\n_\r\n#f\r\n,-0.5\r\n~0\r\n>1\r\n=6\r\ntxt:hi\r\n");
    }

    #[test]
    fn ints_and_errors() {
        let mut r = ReplyBuf::new();
        r.int(i64::MIN);
        r.int(0);
        r.error("ERR bad\r\nthing");
        assert_eq!(r.buf, b":-9223372036854775808\r\n:0\r\n-ERR bad  thing\r\n");
    }
}
