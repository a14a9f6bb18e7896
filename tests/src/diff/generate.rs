//! Random command generation: the [`Gen`] context every generator draws
//! from, the [`Cmd`] it returns, and the mutation layer that breaks
//! commands on purpose (wrong arity, junk arguments).
//!
//! Generation depends only on the seed and on what was generated before
//! (never on replies), so one seed always produces the same sequence.
//!
//! TTLs are chosen so that two servers a few milliseconds apart reach the
//! same answers: relative TTLs are unique whole seconds per run (so GT/LT
//! comparisons never hinge on which millisecond a command ran in), and the
//! rare short TTL is reported in [`Cmd::settle`] so the runner waits it out
//! before going on.

use std::collections::HashSet;
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use rand::rngs::StdRng;
use rand::{RngExt, SeedableRng};

/// How a reply pair is compared.
#[derive(Debug, Clone, Copy, PartialEq)]
pub enum Check {
    /// Frame for frame.
    Exact,
    /// An array whose order is unspecified (KEYS): compared sorted.
    Unordered,
    /// Integers within this tolerance (TTL-like); negative ones exactly.
    Near(i64),
    /// A SCAN from cursor 0: each server's full iteration is collected and
    /// the key sets compared (cursors are implementation-specific).
    Scan,
    /// RANDOMKEY: both nil, or both keys that exist on both servers.
    RandomKey,
    /// Field-value pairs in no particular order (HGETALL: a flat array in
    /// RESP2, a map in RESP3): compared as sorted pairs.
    Pairs,
    /// A random pick (HRANDFIELD, SRANDMEMBER): both a bulk, or replies of
    /// the same type and length; anything else exactly.
    Random,
    /// A collection scan page (ZSCAN): when both cursors are 0 the items
    /// as a multiset, otherwise the shape only (cursors and bucket order
    /// are implementation-specific).
    CollectionScan,
}

/// One generated command.
#[derive(Debug, Clone)]
pub struct Cmd {
    pub args: Vec<Vec<u8>>,
    pub check: Check,
    /// A key that got a TTL short enough to expire during the run, and how
    /// long to wait for it; the runner then reads the key on both servers,
    /// so both have dropped it before the next command.
    pub settle: Option<(Vec<u8>, Duration)>,
}

impl Cmd {
    pub fn new(name: &str) -> Cmd {
        Cmd { args: vec![name.as_bytes().to_vec()], check: Check::Exact, settle: None }
    }

    pub fn arg(mut self, a: impl AsRef<[u8]>) -> Cmd {
        self.args.push(a.as_ref().to_vec());
        self
    }

    pub fn args<A: AsRef<[u8]>>(mut self, items: impl IntoIterator<Item = A>) -> Cmd {
        self.args.extend(items.into_iter().map(|a| a.as_ref().to_vec()));
        self
    }

    pub fn check(mut self, check: Check) -> Cmd {
        self.check = check;
        self
    }

    /// Records that `key` may have been given the short TTL `ttl`.
    pub fn settle(mut self, key: &[u8], ttl: Option<Duration>) -> Cmd {
        self.settle = ttl.map(|d| (key.to_vec(), d));
        self
    }
}

/// One entry of the generator table.
pub struct Generator {
    /// What `DIFF_COMMANDS` selects it by (lowercase).
    pub name: &'static str,
    /// Relative frequency.
    pub weight: u32,
    /// Whether the mutation layer may break it (wrong arity, junk args).
    pub mutate: bool,
    /// Whether it may run on the side connection (it has no connection
    /// state, so a second client can interleave it, e.g. to touch WATCHed keys).
    pub side: bool,
    pub make: fn(&mut Gen) -> Cmd,
}

/// A data command: may be mutated and may run on the side connection.
pub const fn data(name: &'static str, weight: u32, make: fn(&mut Gen) -> Cmd) -> Generator {
    Generator { name, weight, mutate: true, side: true, make }
}

/// A command that changes connection state (SELECT, MULTI...): main connection only.
pub const fn control(name: &'static str, weight: u32, make: fn(&mut Gen) -> Cmd) -> Generator {
    Generator { name, weight, mutate: true, side: false, make }
}

/// Arguments that are wrong for most parameters, none of them a small
/// positive number (which could become a short TTL or a huge allocation).
const JUNK: &[&str] = &[
    "",
    "abc",
    "-1",
    "0",
    "1.5",
    " 1",
    "9223372036854775807",
    "9223372036854775808",
    "-9223372036854775808",
    "nan",
    "inf",
    "NX",
    "EX",
    "GET",
    "k1",
];

/// Integers around the edges of what Redis accepts, and strings that
/// almost look like integers.
const EDGE_INTS: &[&str] = &[
    "9223372036854775807",
    "-9223372036854775808",
    "9223372036854775806",
    "-9223372036854775807",
    "4294967296",
    "007",
    "+1",
    "-0",
    " 1",
    "1 ",
    "0x10",
    "99999999999999999999",
];

const FLOATS: &[&str] =
    &["1.5", "-0.25", "3e2", "0.1", "10.50", "-1e-10", "1e308", ".5", "5.", "inf", "-inf", "1e400", "0x1p3", "3.0e-2", "17"];

/// Probability that a millisecond TTL is a short one (outside MULTI).
const SHORT_TTL: f64 = 0.03;

/// The unit of a TTL argument.
#[derive(Clone, Copy, PartialEq)]
pub enum Unit {
    Secs,
    Millis,
    UnixSecs,
    UnixMillis,
}

/// The random source and generation state of one run.
pub struct Gen {
    rng: StdRng,
    keys: Vec<Vec<u8>>,
    used_ttls: HashSet<u64>,
    /// Unix seconds at the start of the run: base of absolute expiry times.
    t0: u64,
    /// Commands left before the open MULTI is closed; None outside MULTI.
    multi_left: Option<u32>,
}

impl Gen {
    pub fn new(seed: u64) -> Gen {
        let mut keys: Vec<Vec<u8>> = (0..8).map(|i| format!("k{i}").into_bytes()).collect();
        keys.push(b"{t}a".to_vec());
        keys.push(b"bin\x00\xff".to_vec());
        let t0 = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_secs();
        Gen { rng: StdRng::seed_from_u64(seed), keys, used_ttls: HashSet::new(), t0, multi_left: None }
    }

    pub fn chance(&mut self, p: f64) -> bool {
        self.rng.random_bool(p)
    }

    /// A number in `lo..hi`.
    pub fn range(&mut self, lo: i64, hi: i64) -> i64 {
        self.rng.random_range(lo..hi)
    }

    pub fn pick<'a, T>(&mut self, items: &'a [T]) -> &'a T {
        &items[self.rng.random_range(0..items.len())]
    }

    /// Shuffles `items` in place.
    pub fn shuffle<T>(&mut self, items: &mut [T]) {
        for i in (1..items.len()).rev() {
            let j = self.rng.random_range(0..=i);
            items.swap(i, j);
        }
    }

    pub fn in_multi(&self) -> bool {
        self.multi_left.is_some()
    }

    pub fn key(&mut self) -> Vec<u8> {
        self.keys[self.rng.random_range(0..self.keys.len())].clone()
    }

    /// `lo..=hi` keys, repeats allowed.
    pub fn keys(&mut self, lo: usize, hi: usize) -> Vec<Vec<u8>> {
        let n = self.rng.random_range(lo..=hi);
        (0..n).map(|_| self.key()).collect()
    }

    /// A junk argument (see [`JUNK`]).
    pub fn junk(&mut self) -> Vec<u8> {
        self.pick(JUNK).as_bytes().to_vec()
    }

    /// A value of any kind: integers, floats, empty, binary, text of
    /// lengths around the 44-byte embstr limit.
    pub fn value(&mut self) -> Vec<u8> {
        match self.range(0, 10) {
            0 | 1 => self.int_text().into_bytes(),
            2 => self.pick(EDGE_INTS).as_bytes().to_vec(),
            3 => self.float_text().into_bytes(),
            4 => Vec::new(),
            5 => (0..self.range(1, 12)).map(|_| self.rng.random::<u8>()).collect(),
            6 => self.text(40, 60),
            _ => self.text(1, 10),
        }
    }

    /// Lowercase letters, `lo..=hi` of them.
    pub fn text(&mut self, lo: usize, hi: usize) -> Vec<u8> {
        let n = self.rng.random_range(lo..=hi);
        (0..n).map(|_| b'a' + self.rng.random_range(0..26u8)).collect()
    }

    /// A small integer, sometimes negative, sometimes at the i64 edges.
    pub fn int_text(&mut self) -> String {
        match self.range(0, 10) {
            0 => self.pick(EDGE_INTS).to_string(),
            1..=2 => self.range(-1000, 0).to_string(),
            _ => self.range(0, 1000).to_string(),
        }
    }

    pub fn float_text(&mut self) -> String {
        if self.chance(0.5) {
            self.pick(FLOATS).to_string()
        } else {
            format!("{}.{}", self.range(-100, 100), self.range(0, 1000))
        }
    }

    /// An index or offset in `lo..hi`, or now and then a junk argument.
    pub fn index(&mut self, lo: i64, hi: i64) -> Vec<u8> {
        if self.chance(0.03) {
            return self.junk();
        }
        self.range(lo, hi).to_string().into_bytes()
    }

    /// A whole number of seconds not used before in this run (so two TTLs
    /// of one run always differ by at least a second).
    fn unique_secs(&mut self) -> u64 {
        loop {
            let s = self.rng.random_range(1000..10_000_000u64);
            if self.used_ttls.insert(s) {
                return s;
            }
        }
    }

    /// A TTL argument in `unit`: mostly long; now and then zero or negative
    /// (an error, or the key is deleted), or in the past, or (millisecond
    /// units outside MULTI) a short one: those two come with how long to
    /// wait before the key is surely expired.
    pub fn ttl(&mut self, unit: Unit) -> (String, Option<Duration>) {
        if self.chance(0.04) {
            return (self.pick(&["0", "-5"]).to_string(), None);
        }
        let absolute = matches!(unit, Unit::UnixSecs | Unit::UnixMillis);
        if !self.in_multi() && absolute && self.chance(0.03) {
            let past = self.t0 - 100;
            // SET and GETEX leave such a key in place until something reads it.
            return ((if unit == Unit::UnixSecs { past } else { past * 1000 }).to_string(), Some(Duration::ZERO));
        }
        let short = !self.in_multi() && matches!(unit, Unit::Millis | Unit::UnixMillis) && self.chance(SHORT_TTL);
        if short {
            let ms = self.rng.random_range(1..25u64);
            let wait = Some(Duration::from_millis(ms + 10));
            if unit == Unit::Millis {
                return (ms.to_string(), wait);
            }
            let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock after 1970").as_millis() as u64;
            return ((now + ms).to_string(), wait);
        }
        let secs = self.unique_secs();
        let jitter = self.rng.random_range(0..500u64);
        let text = match unit {
            Unit::Secs => secs,
            Unit::Millis => secs * 1000 + jitter,
            Unit::UnixSecs => self.t0 + secs,
            Unit::UnixMillis => (self.t0 + secs) * 1000 + jitter,
        };
        (text.to_string(), None)
    }

    /// An expiry option pair (`EX 100`, `PXAT ...`) for SET-like commands.
    pub fn expiry_option(&mut self) -> (Vec<String>, Option<Duration>) {
        let (word, unit) = *self.pick(&[("EX", Unit::Secs), ("PX", Unit::Millis), ("EXAT", Unit::UnixSecs), ("PXAT", Unit::UnixMillis)]);
        let (ttl, wait) = self.ttl(unit);
        (vec![word.to_string(), ttl], wait)
    }

    /// Breaks a command: drops trailing arguments, appends a junk one, or
    /// replaces one (never the name) with junk.
    pub fn mutate(&mut self, args: &mut Vec<Vec<u8>>) {
        let junk = self.junk();
        match self.range(0, 3) {
            0 if args.len() > 1 => {
                let keep = self.rng.random_range(1..args.len());
                args.truncate(keep);
            }
            2 if args.len() > 1 => {
                let i = self.rng.random_range(1..args.len());
                args[i] = junk;
            }
            _ => args.push(junk),
        }
    }

    /// Randomises the case of a command name (`get`, `GET`, `gEt`).
    pub fn recase(&mut self, name: &mut [u8]) {
        match self.range(0, 4) {
            0 => name.make_ascii_lowercase(),
            1 => name.iter_mut().for_each(|b| {
                if self.rng.random_bool(0.5) {
                    b.make_ascii_lowercase()
                }
            }),
            _ => name.make_ascii_uppercase(),
        }
    }

    /// Tracks MULTI state from a command about to be sent on the main
    /// connection: a well-formed MULTI opens one; EXEC (even with wrong
    /// arguments, which aborts it) or a well-formed DISCARD closes it.
    pub fn observe(&mut self, args: &[Vec<u8>]) {
        let name = args[0].to_ascii_uppercase();
        let exact = args.len() == 1;
        match (&name[..], self.multi_left) {
            (b"MULTI", None) if exact => self.multi_left = Some(self.rng.random_range(0..7)),
            (b"EXEC", Some(_)) => self.multi_left = None,
            (b"DISCARD", Some(_)) if exact => self.multi_left = None,
            (_, Some(n)) => self.multi_left = Some(n.saturating_sub(1)),
            _ => {}
        }
    }

    /// Whether the open MULTI should be closed now.
    pub fn multi_due(&self) -> bool {
        self.multi_left == Some(0)
    }
}
