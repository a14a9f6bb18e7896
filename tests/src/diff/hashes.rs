//! Generators for the hash family. Fields come from a small pool so that
//! commands meet the same fields; values now and then exceed the 64-byte
//! listpack limit, and some keys grow past 512 fields (HSET of many
//! fields), so both encodings and the conversion between them run.

use super::generate::{data, Check, Cmd, Gen, Generator};
use super::Dump;

pub static GENERATORS: &[Generator] = &[
    data("hset", 8, hset),
    data("hsetnx", 2, hsetnx),
    data("hmset", 2, hmset),
    data("hget", 5, hget),
    data("hmget", 2, hmget),
    data("hgetall", 3, hgetall),
    data("hdel", 3, hdel),
    data("hexists", 2, hexists),
    data("hlen", 2, hlen),
    data("hkeys", 2, hkeys),
    data("hvals", 2, hvals),
    data("hstrlen", 2, hstrlen),
    data("hincrby", 3, hincrby),
    data("hincrbyfloat", 3, hincrbyfloat),
    data("hrandfield", 3, hrandfield),
    data("hscan", 2, hscan),
];

/// How the final state check reads a hash.
pub static DUMP: Dump = Dump { type_name: "hash", read: |key| vec![b"HGETALL".to_vec(), key.to_vec()], check: Check::Pairs };

const FIELDS: &[&str] = &["f1", "f2", "f3", "f4", "n", "x", "1", "", "a-field-name-longer-than-the-sixty-four-byte-listpack-limit-0123456789"];

fn field(g: &mut Gen) -> Vec<u8> {
    g.pick(FIELDS).as_bytes().to_vec()
}

/// A value: usually small, now and then past the listpack limit.
fn value(g: &mut Gen) -> Vec<u8> {
    if g.chance(0.03) { g.text(65, 80) } else { g.value() }
}

/// `lo..=hi` field-value pairs; rarely a bulk of 520 distinct fields (past hash-max-listpack-entries, 512 by default in 7.0).
fn pairs(g: &mut Gen, lo: i64, hi: i64) -> Vec<Vec<u8>> {
    if g.chance(0.01) {
        return (0..520).flat_map(|i| [format!("bulk{i}").into_bytes(), i.to_string().into_bytes()]).collect();
    }
    (0..g.range(lo, hi + 1)).flat_map(|_| [field(g), value(g)]).collect()
}

fn fields(g: &mut Gen, lo: i64, hi: i64) -> Vec<Vec<u8>> {
    (0..g.range(lo, hi + 1)).map(|_| field(g)).collect()
}

fn keyed(name: &str, g: &mut Gen) -> Cmd {
    Cmd::new(name).arg(g.key())
}

fn hset(g: &mut Gen) -> Cmd {
    let pairs = pairs(g, 1, 4);
    keyed("HSET", g).args(pairs)
}

fn hsetnx(g: &mut Gen) -> Cmd {
    let (f, v) = (field(g), value(g));
    keyed("HSETNX", g).arg(f).arg(v)
}

fn hmset(g: &mut Gen) -> Cmd {
    let pairs = pairs(g, 1, 3);
    keyed("HMSET", g).args(pairs)
}

fn hget(g: &mut Gen) -> Cmd {
    let f = field(g);
    keyed("HGET", g).arg(f)
}

fn hmget(g: &mut Gen) -> Cmd {
    let fs = fields(g, 1, 4);
    keyed("HMGET", g).args(fs)
}

fn hgetall(g: &mut Gen) -> Cmd {
    keyed("HGETALL", g).check(Check::Pairs)
}

fn hdel(g: &mut Gen) -> Cmd {
    let fs = fields(g, 1, 3);
    keyed("HDEL", g).args(fs)
}

fn hexists(g: &mut Gen) -> Cmd {
    let f = field(g);
    keyed("HEXISTS", g).arg(f)
}

fn hlen(g: &mut Gen) -> Cmd {
    keyed("HLEN", g)
}

fn hkeys(g: &mut Gen) -> Cmd {
    keyed("HKEYS", g).check(Check::Unordered)
}

fn hvals(g: &mut Gen) -> Cmd {
    keyed("HVALS", g).check(Check::Unordered)
}

fn hstrlen(g: &mut Gen) -> Cmd {
    let f = field(g);
    keyed("HSTRLEN", g).arg(f)
}

fn hincrby(g: &mut Gen) -> Cmd {
    let (f, by) = (field(g), g.int_text());
    keyed("HINCRBY", g).arg(f).arg(by)
}

fn hincrbyfloat(g: &mut Gen) -> Cmd {
    let (f, by) = (field(g), g.float_text());
    keyed("HINCRBYFLOAT", g).arg(f).arg(by)
}

/// HRANDFIELD with no count, a small count of either sign, or a junk one;
/// only the reply's shape is compared (the picks are random).
fn hrandfield(g: &mut Gen) -> Cmd {
    let cmd = keyed("HRANDFIELD", g).check(Check::Random);
    if g.chance(0.2) {
        return cmd;
    }
    let count = if g.chance(0.05) { g.junk() } else { g.range(-6, 12).to_string().into_bytes() };
    let cmd = cmd.arg(count);
    if g.chance(0.4) { cmd.arg("WITHVALUES") } else { cmd }
}

/// HSCAN from cursor 0 (the runner follows each server's cursors).
fn hscan(g: &mut Gen) -> Cmd {
    let mut cmd = keyed("HSCAN", g).arg("0").check(Check::Scan);
    if g.chance(0.3) {
        cmd = cmd.arg("MATCH").arg(g.pick(&["f*", "?", "*", "n"]));
    }
    if g.chance(0.3) {
        cmd = cmd.arg("COUNT").arg(g.range(1, 20).to_string());
    }
    cmd
}
