//! Generators for the set family. Members come from a small pool of
//! integers (intset) and strings (hashtable) so that commands meet the
//! same members and both encodings run; now and then a key gets 600
//! integers (past `set-max-intset-entries`).
//!
//! SPOP removes random members, which would make the two servers'
//! contents differ: its generator only asks for counts that pop the whole
//! set (or none), whose result is deterministic. SRANDMEMBER's picks are
//! compared by shape only.

use super::generate::{data, Check, Cmd, Gen, Generator};
use super::Dump;

pub static GENERATORS: &[Generator] = &[
    data("sadd", 8, sadd),
    data("srem", 3, srem),
    data("smembers", 3, smembers),
    data("sismember", 2, sismember),
    data("smismember", 2, smismember),
    data("scard", 2, scard),
    // Not mutated: a dropped count would pop one random member.
    Generator { name: "spop", weight: 1, mutate: false, side: true, make: spop },
    data("srandmember", 3, srandmember),
    data("smove", 2, smove),
    data("sinter", 2, sinter),
    data("sintercard", 2, sintercard),
    data("sunion", 2, sunion),
    data("sdiff", 2, sdiff),
    data("sinterstore", 2, sinterstore),
    data("sunionstore", 2, sunionstore),
    data("sdiffstore", 2, sdiffstore),
    data("sscan", 2, sscan),
];

/// How the final state check reads a set.
pub static DUMP: Dump = Dump { type_name: "set", read: |key| vec![b"SMEMBERS".to_vec(), key.to_vec()], check: Check::Unordered };

const MEMBERS: &[&str] = &["1", "2", "3", "-7", "100000", "9223372036854775807", "a", "b", "007", ""];

fn member(g: &mut Gen) -> Vec<u8> {
    g.pick(MEMBERS).as_bytes().to_vec()
}

/// `lo..=hi` members; rarely 600 integers.
fn members(g: &mut Gen, lo: i64, hi: i64) -> Vec<Vec<u8>> {
    if g.chance(0.01) {
        return (0..600).map(|i| i.to_string().into_bytes()).collect();
    }
    (0..g.range(lo, hi + 1)).map(|_| member(g)).collect()
}

fn keyed(name: &str, g: &mut Gen) -> Cmd {
    Cmd::new(name).arg(g.key())
}

fn sadd(g: &mut Gen) -> Cmd {
    let ms = members(g, 1, 4);
    keyed("SADD", g).args(ms)
}

fn srem(g: &mut Gen) -> Cmd {
    let ms = members(g, 1, 3);
    keyed("SREM", g).args(ms)
}

fn smembers(g: &mut Gen) -> Cmd {
    keyed("SMEMBERS", g).check(Check::Unordered)
}

fn sismember(g: &mut Gen) -> Cmd {
    let m = member(g);
    keyed("SISMEMBER", g).arg(m)
}

fn smismember(g: &mut Gen) -> Cmd {
    let ms = members(g, 1, 4);
    keyed("SMISMEMBER", g).args(ms)
}

fn scard(g: &mut Gen) -> Cmd {
    keyed("SCARD", g)
}

/// SPOP of the whole set (a count above any set's size here) or of none.
fn spop(g: &mut Gen) -> Cmd {
    let count = *g.pick(&["700", "1000", "0", "-1"]);
    keyed("SPOP", g).arg(count).check(Check::Unordered)
}

fn srandmember(g: &mut Gen) -> Cmd {
    let cmd = keyed("SRANDMEMBER", g).check(Check::Random);
    if g.chance(0.2) {
        return cmd;
    }
    let count = if g.chance(0.05) { g.junk() } else { g.range(-6, 15).to_string().into_bytes() };
    cmd.arg(count)
}

fn smove(g: &mut Gen) -> Cmd {
    let (dst, m) = (g.key(), member(g));
    keyed("SMOVE", g).arg(dst).arg(m)
}

fn multi(name: &str, g: &mut Gen, lo: usize) -> Cmd {
    Cmd::new(name).args(g.keys(lo, 3))
}

fn sinter(g: &mut Gen) -> Cmd {
    multi("SINTER", g, 1).check(Check::Unordered)
}

fn sunion(g: &mut Gen) -> Cmd {
    multi("SUNION", g, 1).check(Check::Unordered)
}

fn sdiff(g: &mut Gen) -> Cmd {
    multi("SDIFF", g, 1).check(Check::Unordered)
}

fn sinterstore(g: &mut Gen) -> Cmd {
    multi("SINTERSTORE", g, 2)
}

fn sunionstore(g: &mut Gen) -> Cmd {
    multi("SUNIONSTORE", g, 2)
}

fn sdiffstore(g: &mut Gen) -> Cmd {
    multi("SDIFFSTORE", g, 2)
}

/// SINTERCARD with a right or wrong key count, and sometimes a LIMIT.
fn sintercard(g: &mut Gen) -> Cmd {
    let keys = g.keys(1, 3);
    let numkeys = if g.chance(0.1) { g.range(-1, 5) } else { keys.len() as i64 };
    let cmd = Cmd::new("SINTERCARD").arg(numkeys.to_string()).args(keys);
    if g.chance(0.3) { cmd.arg("LIMIT").arg(g.range(-1, 4).to_string()) } else { cmd }
}

/// SSCAN from cursor 0 (the runner follows each server's cursors).
fn sscan(g: &mut Gen) -> Cmd {
    let mut cmd = keyed("SSCAN", g).arg("0").check(Check::Scan);
    if g.chance(0.3) {
        cmd = cmd.arg("MATCH").arg(g.pick(&["1*", "?", "*", "a"]));
    }
    if g.chance(0.3) {
        cmd = cmd.arg("COUNT").arg(g.range(1, 20).to_string());
    }
    cmd
}
