//! The differential runner: drives both servers in lockstep, one command
//! at a time, and stops at the first disagreement with a report that
//! names the seed, the command, both replies and the commands before it.
//!
//! Each run uses a main connection (all commands, including SELECT and
//! transactions) and a side connection (a few data commands, so another
//! client's writes interleave with WATCH and MULTI).

use std::collections::{BTreeSet, VecDeque};
use std::fmt::Write as _;
use std::net::SocketAddr;

use crate::{show_args, Conn, Frame};

use super::compare::{agree, exec_agree, scan_page};
use super::generate::{Check, Cmd, Gen, Generator};
use super::keys::{DBS, MILLIS_TOLERANCE};
use super::{tx, Options, DUMPS};

/// Commands kept for the failure report.
const HISTORY: usize = 40;
/// Share of side-eligible commands sent on the side connection.
const SIDE: f64 = 0.05;
/// Share of command names sent in a random case.
const RECASE: f64 = 0.2;
/// Most SCAN calls one full iteration may take.
const MAX_SCAN_CALLS: usize = 100_000;

/// Runs `opts.runs` runs against the two servers; Ok(commands sent) or
/// the report of the first mismatch.
pub fn run(redis: SocketAddr, ferro: SocketAddr, opts: &Options) -> Result<usize, String> {
    let table = opts.generators()?;
    println!("differential seed = {}", opts.seed);
    println!("  (reproduce with DIFF_SEED={} and the same DIFF_* settings: {opts:?})", opts.seed);
    let mut sent = 0;
    for index in 0..opts.runs {
        let seed = opts.seed.wrapping_add((index as u64).wrapping_mul(0x9E37_79B9_7F4A_7C15));
        let resp3 = opts.resp3 && index % 2 == 1;
        let mut run = Run::new(redis, ferro, opts, &table, index, seed, resp3)?;
        run.commands()?;
        if opts.only.is_none() {
            run.check_state()?;
            run.main_exact(&[b"FLUSHALL"])?;
        }
        sent += run.sent;
    }
    Ok(sent)
}

/// The same connection to each server.
struct Pair {
    redis: Conn,
    ferro: Conn,
}

impl Pair {
    fn open(redis: SocketAddr, ferro: SocketAddr) -> Pair {
        Pair { redis: Conn::connect(redis), ferro: Conn::connect(ferro) }
    }

    /// Each server's reply; a closed connection reads as an error reply
    /// that no server sends, so it is reported like any mismatch.
    fn send(&mut self, args: &[Vec<u8>]) -> (Frame, Frame) {
        let closed = || Frame::Error("(harness: connection closed)".into());
        self.redis.send(args);
        let r = self.redis.read_frame().unwrap_or_else(closed);
        self.ferro.send(args);
        let f = self.ferro.read_frame().unwrap_or_else(closed);
        (r, f)
    }
}

/// Which connection a command went on.
#[derive(Clone, Copy, PartialEq)]
enum On {
    Main,
    Side,
}

struct Run<'a> {
    opts: &'a Options,
    table: &'a [&'static Generator],
    total_weight: u32,
    index: usize,
    seed: u64,
    resp3: bool,
    g: Gen,
    main: Pair,
    side: Pair,
    /// Checks of the commands queued in the open MULTI (None outside).
    queued: Option<Vec<Check>>,
    history: VecDeque<String>,
    sent: usize,
}

impl<'a> Run<'a> {
    fn new(
        redis: SocketAddr,
        ferro: SocketAddr,
        opts: &'a Options,
        table: &'a [&'static Generator],
        index: usize,
        seed: u64,
        resp3: bool,
    ) -> Result<Run<'a>, String> {
        let total_weight = table.iter().map(|g| g.weight).sum();
        if total_weight == 0 {
            return Err("no generators selected".into());
        }
        let mut run = Run {
            opts,
            table,
            total_weight,
            index,
            seed,
            resp3,
            g: Gen::new(seed),
            main: Pair::open(redis, ferro),
            side: Pair::open(redis, ferro),
            queued: None,
            history: VecDeque::new(),
            sent: 0,
        };
        if resp3 {
            run.hello3()?;
        }
        Ok(run)
    }

    /// Switches the main connections to RESP3; the HELLO replies hold
    /// server-specific fields, so only their type is compared.
    fn hello3(&mut self) -> Result<(), String> {
        let args = [b"HELLO".to_vec(), b"3".to_vec()];
        let (r, f) = self.main.send(&args);
        if matches!((&r, &f), (Frame::Map(_), Frame::Map(_))) {
            return Ok(());
        }
        Err(self.report("HELLO 3", &args, &r, &f))
    }

    fn commands(&mut self) -> Result<(), String> {
        for _ in 0..self.opts.per_run {
            self.step()?;
        }
        Ok(())
    }

    /// Picks the next generator (or the command that closes a MULTI).
    fn next(&mut self) -> (Option<&'static Generator>, Cmd) {
        if self.g.multi_due() {
            return (None, tx::close(&mut self.g));
        }
        let mut ticket = self.g.range(0, self.total_weight as i64) as u32;
        let generator = self
            .table
            .iter()
            .find(|g| {
                if ticket < g.weight {
                    return true;
                }
                ticket -= g.weight;
                false
            })
            .expect("ticket below the total weight");
        (Some(generator), (generator.make)(&mut self.g))
    }

    fn step(&mut self) -> Result<(), String> {
        let (generator, mut cmd) = self.next();
        let side = generator.is_some_and(|g| g.side) && self.g.chance(SIDE);
        if generator.is_some_and(|g| g.mutate) && cmd.settle.is_none() && self.g.chance(self.opts.mutate) {
            self.g.mutate(&mut cmd.args);
        }
        if self.g.chance(RECASE) {
            self.g.recase(&mut cmd.args[0]);
        }
        let on = if side { On::Side } else { On::Main };
        if on == On::Main {
            self.g.observe(&cmd.args);
        }
        self.send(on, &cmd)?;
        if let Some((key, wait)) = &cmd.settle {
            std::thread::sleep(*wait);
            self.checked(on, vec![b"EXISTS".to_vec(), key.clone()], Check::Exact)?;
        }
        Ok(())
    }

    /// Sends one command to both servers and checks the replies (an EXEC
    /// reply element by element, under the queued commands' checks).
    fn send(&mut self, on: On, cmd: &Cmd) -> Result<(Frame, Frame), String> {
        let (r, f) = self.pair(on).send(&cmd.args);
        self.sent += 1;
        // EXEC ends a MULTI even when its arity is wrong (Redis aborts it).
        let exec_checks = if on == On::Main && cmd.args[0].eq_ignore_ascii_case(b"EXEC") { self.queued.take() } else { None };
        self.note(on, &cmd.args, &r, &f);
        let ok = match &exec_checks {
            Some(checks) => exec_agree(checks, &r, &f),
            None => self.agree(on, cmd, &r, &f)?,
        };
        if !ok {
            return Err(self.report("reply mismatch", &cmd.args, &r, &f));
        }
        if on == On::Main {
            self.track_multi(cmd, &r);
        }
        Ok((r, f))
    }

    /// Records MULTI state from the reference's replies: which commands
    /// were queued, so EXEC's reply can be checked element by element
    /// (inside EXEC, SCAN and RANDOMKEY replies are compared by shape).
    fn track_multi(&mut self, cmd: &Cmd, reply: &Frame) {
        let is = |s: &bytes::Bytes, text: &[u8]| &s[..] == text;
        match (&mut self.queued, reply) {
            (None, Frame::Simple(s)) if is_bare(&cmd.args, b"MULTI") && is(s, b"OK") => self.queued = Some(Vec::new()),
            (Some(_), _) if is_bare(&cmd.args, b"DISCARD") => self.queued = None,
            (Some(q), Frame::Simple(s)) if is(s, b"QUEUED") => q.push(cmd.check),
            _ => {}
        }
    }

    /// Compares one reply pair under the command's check, running the
    /// follow-up commands SCAN and RANDOMKEY need.
    fn agree(&mut self, on: On, cmd: &Cmd, r: &Frame, f: &Frame) -> Result<bool, String> {
        if !agree(cmd.check, r, f) {
            return Ok(false);
        }
        match (cmd.check, r, f) {
            (Check::Scan, _, _) if scan_page(r).is_some() && cmd.args.get(cursor_at(&cmd.args)).is_some_and(|c| c == b"0") => self.scan_all(on, &cmd.args, r, f),
            (Check::RandomKey, Frame::Bulk(kr), Frame::Bulk(kf)) => {
                let (kr, kf) = (kr.to_vec(), kf.to_vec());
                let pair = self.pair(on);
                let on_ferro = pair.ferro.cmd_bytes(&[&b"EXISTS"[..], &kr]);
                let on_redis = pair.redis.cmd_bytes(&[&b"EXISTS"[..], &kf]);
                Ok(on_ferro == Frame::Integer(1) && on_redis == Frame::Integer(1))
            }
            _ => Ok(true),
        }
    }

    fn pair(&mut self, on: On) -> &mut Pair {
        match on {
            On::Main => &mut self.main,
            On::Side => &mut self.side,
        }
    }

    /// Finishes a SCAN from cursor 0 on each server with its own cursors
    /// and compares the sets of keys seen.
    fn scan_all(&mut self, on: On, args: &[Vec<u8>], r: &Frame, f: &Frame) -> Result<bool, String> {
        let pair = self.pair(on);
        let seen_r = scan_rest(&mut pair.redis, args, r)?;
        let seen_f = scan_rest(&mut pair.ferro, args, f)?;
        Ok(seen_r == seen_f)
    }

    /// Sends a command to both servers under `check`.
    fn checked(&mut self, on: On, args: Vec<Vec<u8>>, check: Check) -> Result<(Frame, Frame), String> {
        self.send(on, &Cmd { args, check, settle: None })
    }

    fn main_exact(&mut self, args: &[&[u8]]) -> Result<(Frame, Frame), String> {
        self.checked(On::Main, args.iter().map(|a| a.to_vec()).collect(), Check::Exact)
    }

    /// After a run: every database holds the same keys, types, values and
    /// TTLs on both servers.
    fn check_state(&mut self) -> Result<(), String> {
        if self.queued.is_some() {
            self.main_exact(&[b"DISCARD"])?;
        }
        for db in 0..DBS {
            self.main_exact(&[b"SELECT", db.to_string().as_bytes()])?;
            let (keys, _) = self.checked(On::Main, vec![b"KEYS".to_vec(), b"*".to_vec()], Check::Unordered)?;
            let Frame::Array(keys) = keys else { continue };
            for key in keys.iter().filter_map(Frame::as_bytes) {
                self.check_key(key)?;
            }
        }
        Ok(())
    }

    fn check_key(&mut self, key: &[u8]) -> Result<(), String> {
        let (type_name, _) = self.main_exact(&[b"TYPE", key])?;
        let type_name = type_name.as_bytes().unwrap_or_default();
        if let Some(dump) = DUMPS.iter().find(|d| d.type_name.as_bytes() == type_name) {
            self.checked(On::Main, (dump.read)(key), dump.check)?;
        }
        self.checked(On::Main, vec![b"PTTL".to_vec(), key.to_vec()], Check::Near(MILLIS_TOLERANCE))?;
        Ok(())
    }

    fn note(&mut self, on: On, args: &[Vec<u8>], r: &Frame, f: &Frame) {
        let conn = if on == On::Main { "main" } else { "side" };
        let mut line = format!("#{} [{conn}] {}\n      redis: {r:?}", self.sent, show_args(args));
        if r != f {
            let _ = write!(line, "\n      ferro: {f:?}");
        }
        self.history.push_back(line);
        if self.history.len() > HISTORY {
            self.history.pop_front();
        }
    }

    fn report(&self, what: &str, args: &[Vec<u8>], r: &Frame, f: &Frame) -> String {
        let mut out = String::new();
        let _ = writeln!(out, "differential {what}: seed = {}, run {} (run seed {}, {})", self.opts.seed, self.index, self.seed, if self.resp3 { "RESP3" } else { "RESP2" });
        let _ = writeln!(out, "  command #{}: {}", self.sent, show_args(args));
        let _ = writeln!(out, "  redis:      {r:?}");
        let _ = writeln!(out, "  ferrocache: {f:?}");
        let _ = writeln!(out, "last {} commands (oldest first; ferro shown where it differs):", self.history.len());
        for line in &self.history {
            let _ = writeln!(out, "  {line}");
        }
        let _ = write!(out, "reproduce: DIFF_SEED={} (options {:?})", self.opts.seed, self.opts);
        out
    }
}

/// Whether `args` is exactly the command `name` with no arguments.
fn is_bare(args: &[Vec<u8>], name: &[u8]) -> bool {
    args.len() == 1 && args[0].eq_ignore_ascii_case(name)
}

/// Where a SCAN-family command has its cursor: SCAN's first argument,
/// after the key for HSCAN, SSCAN and ZSCAN.
fn cursor_at(args: &[Vec<u8>]) -> usize {
    if args[0].eq_ignore_ascii_case(b"SCAN") { 1 } else { 2 }
}

/// The keys of a full SCAN iteration that began with `first`.
fn scan_rest(conn: &mut Conn, args: &[Vec<u8>], first: &Frame) -> Result<BTreeSet<Vec<u8>>, String> {
    let mut seen = BTreeSet::new();
    let mut page = first.clone();
    for _ in 0..MAX_SCAN_CALLS {
        let Some((cursor, keys)) = scan_page(&page) else {
            return Err(format!("SCAN continuation got {page:?} for {}", show_args(args)));
        };
        seen.extend(keys.into_iter().map(<[u8]>::to_vec));
        if cursor == b"0" {
            return Ok(seen);
        }
        let mut next = args.to_vec();
        next[cursor_at(args)] = cursor.to_vec();
        page = conn.cmd_bytes(&next);
    }
    Err(format!("SCAN did not finish within {MAX_SCAN_CALLS} calls: {}", show_args(args)))
}
