//! Generators for the sorted-set family.
//!
//! Members come from a small pool so commands hit existing members;
//! scores mix integers, decimals, infinities and Redis's odd spellings.
//! The shared keys only ever hold short members, so they stay in the
//! compact encoding, whose order Redis defines even for the
//! lexicographic commands on mixed scores. The skip-list encoding is
//! exercised on one extra key ([`BIG`]) that gets long members (from a
//! generator the mutation layer leaves alone) and is never given to the
//! lexicographic commands (on a skip list with mixed
//! scores their answer depends on Redis's random levels) nor copied into
//! the shared keys.

use super::generate::{data, Check, Cmd, Gen, Generator};
use super::Dump;

pub static GENERATORS: &[Generator] = &[
    data("zadd", 10, zadd),
    // Never mutated: a mutation could send its long members to another
    // key that the lexicographic generators (also mutated) then read.
    Generator { name: "zadd_long", weight: 2, mutate: false, side: true, make: zadd_long },
    data("zincrby", 3, zincrby),
    data("zrem", 3, zrem),
    data("zscore", 2, zscore),
    data("zmscore", 2, zmscore),
    data("zcard", 2, zcard),
    data("zcount", 2, zcount),
    data("zlexcount", 2, zlexcount),
    data("zrange", 4, zrange),
    data("zrangebyscore", 2, zrangebyscore),
    data("zrevrangebyscore", 2, zrevrangebyscore),
    data("zrangebylex", 2, zrangebylex),
    data("zrevrangebylex", 2, zrevrangebylex),
    data("zrevrange", 2, zrevrange),
    data("zrangestore", 2, zrangestore),
    // Not mutated: an extra argument is WITHSCORE's place, which we accept
    // as Redis 7.2 does while the 7.0.15 reference answers an arity error.
    Generator { name: "zrank", weight: 2, mutate: false, side: true, make: zrank },
    Generator { name: "zrevrank", weight: 2, mutate: false, side: true, make: zrevrank },
    data("zpopmin", 2, zpopmin),
    data("zpopmax", 2, zpopmax),
    data("zmpop", 2, zmpop),
    data("zremrangebyrank", 1, zremrangebyrank),
    data("zremrangebyscore", 1, zremrangebyscore),
    data("zremrangebylex", 1, zremrangebylex),
    data("zunionstore", 2, zunionstore),
    data("zinterstore", 2, zinterstore),
    data("zdiffstore", 1, zdiffstore),
    data("zunion", 2, zunion),
    data("zinter", 2, zinter),
    data("zdiff", 2, zdiff),
    data("zintercard", 2, zintercard),
    data("zrandmember", 2, zrandmember),
    // Not mutated: from a junk cursor a page depends on hash order; the
    // generator makes its own bad cursors and options.
    Generator { name: "zscan", weight: 2, mutate: false, side: true, make: zscan },
];

/// How the final state check reads a sorted set.
pub static DUMP: Dump = Dump {
    type_name: "zset",
    read: |key| vec![b"ZRANGE".to_vec(), key.to_vec(), b"0".to_vec(), b"-1".to_vec(), b"WITHSCORES".to_vec()],
    check: Check::Exact,
};

/// The key that holds long members (skip-list encoded).
const BIG: &str = "zbig";

const MEMBERS: &[&str] = &["a", "b", "c", "d", "e", "f", "g", "h", "", "bin\x00\u{7f}", "aa", "ab"];

const SCORES: &[&str] = &["0", "1", "2", "3", "-1", "1.5", "0.1", "2.5", "-2.25", "inf", "-inf", "+inf", "1e3", "0x10", "-0", "10", "100", "3.0"];

/// A key for score/rank commands: now and then the skip-list key.
fn key(g: &mut Gen) -> Vec<u8> {
    if g.chance(0.15) { BIG.as_bytes().to_vec() } else { g.key() }
}

fn member(g: &mut Gen) -> Vec<u8> {
    g.pick(MEMBERS).as_bytes().to_vec()
}

fn score(g: &mut Gen) -> String {
    match g.range(0, 10) {
        0 => g.float_text(),
        1 => g.range(-20, 20).to_string(),
        _ => g.pick(SCORES).to_string(),
    }
}

/// A score range bound, sometimes exclusive.
fn bound(g: &mut Gen) -> String {
    let s = score(g);
    if g.chance(0.3) { format!("({s}") } else { s }
}

fn lex_bound(g: &mut Gen) -> Vec<u8> {
    match g.range(0, 8) {
        0 => b"-".to_vec(),
        1 => b"+".to_vec(),
        2 => g.pick(&["a", "", "(", "[", "x"]).as_bytes().to_vec(),
        n => {
            let mut b = vec![if n % 2 == 0 { b'[' } else { b'(' }];
            b.extend(member(g));
            b
        }
    }
}

fn index(g: &mut Gen) -> Vec<u8> {
    g.index(-8, 8)
}

fn zadd(g: &mut Gen) -> Cmd {
    let mut cmd = Cmd::new("ZADD").arg(key(g));
    for flag in ["NX", "XX", "GT", "LT", "CH", "INCR"] {
        if g.chance(0.1) {
            cmd = cmd.arg(flag);
        }
    }
    for _ in 0..g.range(1, 5) {
        cmd = cmd.arg(score(g)).arg(member(g));
    }
    cmd
}

/// ZADD of the skip-list key, with a member longer than 64 bytes.
fn zadd_long(g: &mut Gen) -> Cmd {
    let long = g.text(65, 68);
    Cmd::new("ZADD").arg(BIG).arg(score(g)).arg(long).arg(score(g)).arg(member(g))
}

fn zincrby(g: &mut Gen) -> Cmd {
    Cmd::new("ZINCRBY").arg(key(g)).arg(score(g)).arg(member(g))
}

fn zrem(g: &mut Gen) -> Cmd {
    let n = g.range(1, 4);
    let members: Vec<Vec<u8>> = (0..n).map(|_| member(g)).collect();
    Cmd::new("ZREM").arg(key(g)).args(members)
}

fn zscore(g: &mut Gen) -> Cmd {
    Cmd::new("ZSCORE").arg(key(g)).arg(member(g))
}

fn zmscore(g: &mut Gen) -> Cmd {
    let n = g.range(1, 4);
    let members: Vec<Vec<u8>> = (0..n).map(|_| member(g)).collect();
    Cmd::new("ZMSCORE").arg(key(g)).args(members)
}

fn zcard(g: &mut Gen) -> Cmd {
    Cmd::new("ZCARD").arg(key(g))
}

fn zcount(g: &mut Gen) -> Cmd {
    Cmd::new("ZCOUNT").arg(key(g)).arg(bound(g)).arg(bound(g))
}

fn zlexcount(g: &mut Gen) -> Cmd {
    Cmd::new("ZLEXCOUNT").arg(g.key()).arg(lex_bound(g)).arg(lex_bound(g))
}

/// `[LIMIT offset count]`, sometimes.
fn limit(g: &mut Gen, cmd: Cmd) -> Cmd {
    if g.chance(0.3) { cmd.arg("LIMIT").arg(g.index(-1, 4)).arg(g.index(-2, 5)) } else { cmd }
}

fn withscores(g: &mut Gen, cmd: Cmd) -> Cmd {
    if g.chance(0.5) { cmd.arg("WITHSCORES") } else { cmd }
}

/// ZRANGE and ZRANGESTORE's `min max [BYSCORE|BYLEX] [REV] [LIMIT]`,
/// options in random order; BYLEX only on the shared keys.
fn range_args(g: &mut Gen, lex_ok: bool) -> (Vec<Vec<u8>>, Vec<Vec<Vec<u8>>>) {
    let by = g.range(0, if lex_ok { 3 } else { 2 });
    let (lo, hi) = match by {
        0 => (index(g), index(g)),
        1 => (bound(g).into_bytes(), bound(g).into_bytes()),
        _ => (lex_bound(g), lex_bound(g)),
    };
    let mut opts: Vec<Vec<Vec<u8>>> = Vec::new();
    match by {
        1 => opts.push(vec![b"BYSCORE".to_vec()]),
        2 => opts.push(vec![b"BYLEX".to_vec()]),
        _ => {}
    }
    if g.chance(0.4) {
        opts.push(vec![b"REV".to_vec()]);
    }
    if g.chance(if by == 0 { 0.05 } else { 0.3 }) {
        opts.push(vec![b"LIMIT".to_vec(), g.index(-1, 4), g.index(-2, 5)]);
    }
    (vec![lo, hi], opts)
}

fn zrange(g: &mut Gen) -> Cmd {
    let k = key(g);
    let (bounds, mut opts) = range_args(g, k != BIG.as_bytes());
    if g.chance(0.4) {
        opts.push(vec![b"WITHSCORES".to_vec()]);
    }
    g.shuffle(&mut opts);
    Cmd::new("ZRANGE").arg(k).args(bounds).args(opts.concat())
}

fn zrangestore(g: &mut Gen) -> Cmd {
    let (bounds, mut opts) = range_args(g, true);
    g.shuffle(&mut opts);
    Cmd::new("ZRANGESTORE").arg(g.key()).arg(g.key()).args(bounds).args(opts.concat())
}

fn zrangebyscore(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("ZRANGEBYSCORE").arg(key(g)).arg(bound(g)).arg(bound(g));
    let cmd = withscores(g, cmd);
    limit(g, cmd)
}

fn zrevrangebyscore(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("ZREVRANGEBYSCORE").arg(key(g)).arg(bound(g)).arg(bound(g));
    let cmd = limit(g, cmd);
    withscores(g, cmd)
}

fn zrangebylex(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("ZRANGEBYLEX").arg(g.key()).arg(lex_bound(g)).arg(lex_bound(g));
    limit(g, cmd)
}

fn zrevrangebylex(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("ZREVRANGEBYLEX").arg(g.key()).arg(lex_bound(g)).arg(lex_bound(g));
    limit(g, cmd)
}

fn zrevrange(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("ZREVRANGE").arg(key(g)).arg(index(g)).arg(index(g));
    withscores(g, cmd)
}

fn zrank(g: &mut Gen) -> Cmd {
    Cmd::new("ZRANK").arg(key(g)).arg(member(g))
}

fn zrevrank(g: &mut Gen) -> Cmd {
    Cmd::new("ZREVRANK").arg(key(g)).arg(member(g))
}

fn pop_like(g: &mut Gen, name: &str) -> Cmd {
    let cmd = Cmd::new(name).arg(key(g));
    if g.chance(0.5) { cmd.arg(g.index(-1, 5)) } else { cmd }
}

fn zpopmin(g: &mut Gen) -> Cmd {
    pop_like(g, "ZPOPMIN")
}

fn zpopmax(g: &mut Gen) -> Cmd {
    pop_like(g, "ZPOPMAX")
}

fn zmpop(g: &mut Gen) -> Cmd {
    let keys = g.keys(1, 3);
    let mut cmd = Cmd::new("ZMPOP").arg(keys.len().to_string()).args(keys).arg(g.pick(&["MIN", "MAX", "min"]));
    if g.chance(0.5) {
        cmd = cmd.arg("COUNT").arg(g.index(0, 5));
    }
    cmd
}

fn zremrangebyrank(g: &mut Gen) -> Cmd {
    Cmd::new("ZREMRANGEBYRANK").arg(key(g)).arg(index(g)).arg(index(g))
}

fn zremrangebyscore(g: &mut Gen) -> Cmd {
    Cmd::new("ZREMRANGEBYSCORE").arg(key(g)).arg(bound(g)).arg(bound(g))
}

fn zremrangebylex(g: &mut Gen) -> Cmd {
    Cmd::new("ZREMRANGEBYLEX").arg(g.key()).arg(lex_bound(g)).arg(lex_bound(g))
}

/// `numkeys key... [WEIGHTS w...] [AGGREGATE x] [WITHSCORES]` for the
/// set operations (`weighted`: WEIGHTS/AGGREGATE allowed).
fn setop(g: &mut Gen, cmd: Cmd, weighted: bool, scores: bool) -> Cmd {
    let keys = g.keys(1, 3);
    let n = keys.len();
    let mut cmd = cmd.arg(n.to_string()).args(keys);
    if weighted && g.chance(0.3) {
        cmd = cmd.arg("WEIGHTS");
        for _ in 0..n {
            cmd = cmd.arg(g.pick(&["1", "2", "0", "-1", "0.5", "inf"]));
        }
    }
    if weighted && g.chance(0.3) {
        cmd = cmd.arg("AGGREGATE").arg(g.pick(&["SUM", "MIN", "MAX", "max"]));
    }
    if scores && g.chance(0.5) {
        cmd = cmd.arg("WITHSCORES");
    }
    cmd
}

fn zunionstore(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("ZUNIONSTORE").arg(g.key());
    setop(g, cmd, true, false)
}

fn zinterstore(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("ZINTERSTORE").arg(g.key());
    setop(g, cmd, true, false)
}

fn zdiffstore(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("ZDIFFSTORE").arg(g.key());
    setop(g, cmd, false, false)
}

fn zunion(g: &mut Gen) -> Cmd {
    setop(g, Cmd::new("ZUNION"), true, true)
}

fn zinter(g: &mut Gen) -> Cmd {
    setop(g, Cmd::new("ZINTER"), true, true)
}

fn zdiff(g: &mut Gen) -> Cmd {
    setop(g, Cmd::new("ZDIFF"), false, true)
}

fn zintercard(g: &mut Gen) -> Cmd {
    let keys = g.keys(1, 3);
    let cmd = Cmd::new("ZINTERCARD").arg(keys.len().to_string()).args(keys);
    if g.chance(0.4) { cmd.arg("LIMIT").arg(g.index(0, 3)) } else { cmd }
}

/// Random picks: only their number (and type) is compared.
fn zrandmember(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("ZRANDMEMBER").arg(key(g)).check(Check::Random);
    if g.chance(0.2) {
        return cmd;
    }
    let cmd = cmd.arg(g.index(-6, 6));
    withscores(g, cmd)
}

fn zscan(g: &mut Gen) -> Cmd {
    let cursor = if g.chance(0.05) { g.pick(&["abc", "1.5", " 1", ""]) } else { "0" };
    let mut cmd = Cmd::new("ZSCAN").arg(key(g)).arg(cursor).check(Check::CollectionScan);
    if g.chance(0.05) {
        cmd = cmd.arg(g.pick(&["COUNT", "MATCH", "TYPE"])).arg(g.pick(&["0", "abc", "-1"]));
    }
    if g.chance(0.3) {
        cmd = cmd.arg("MATCH").arg(g.pick(&["*", "a*", "?", "[a-c]", "*b*"]));
    }
    if g.chance(0.5) {
        // Large enough for one call to cover a skip-list set.
        cmd = cmd.arg("COUNT").arg(g.pick(&["1000", "5000"]));
    }
    cmd
}
