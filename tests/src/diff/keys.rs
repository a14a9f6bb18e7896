//! Generators for the generic key family (and expiry).

use super::generate::{data, Check, Cmd, Gen, Generator, Unit};

pub static GENERATORS: &[Generator] = &[
    data("del", 3, del),
    data("unlink", 1, unlink),
    data("exists", 3, exists),
    data("type", 2, type_),
    data("rename", 2, rename),
    data("renamenx", 1, renamenx),
    data("copy", 2, copy),
    data("move", 1, move_),
    data("keys", 2, keys),
    data("scan", 2, scan),
    data("randomkey", 1, randomkey),
    data("touch", 1, touch),
    data("object", 2, object),
    data("expire", 3, expire),
    data("pexpire", 2, pexpire),
    data("expireat", 2, expireat),
    data("pexpireat", 2, pexpireat),
    data("ttl", 3, ttl),
    data("pttl", 2, pttl),
    data("expiretime", 1, expiretime),
    data("pexpiretime", 1, pexpiretime),
    data("persist", 2, persist),
];

/// Databases the run uses (SELECT, MOVE, COPY DB, SWAPDB targets).
pub const DBS: i64 = 4;

/// Glob patterns, including character classes, escapes and odd ones.
const PATTERNS: &[&str] = &["*", "k*", "k?", "k[1-3]", "k[^1]", "*a*", "{t}*", "\\k*", "k[", "[", "?", "", "b*\\", "*[a-c]"];

/// A database index, now and then out of range or not a number.
pub fn db_index(g: &mut Gen) -> String {
    if g.chance(0.05) {
        return g.pick(&["16", "-1", "x", "1000000"]).to_string();
    }
    g.range(0, DBS).to_string()
}

fn del(g: &mut Gen) -> Cmd {
    Cmd::new("DEL").args(g.keys(1, 3))
}

fn unlink(g: &mut Gen) -> Cmd {
    Cmd::new("UNLINK").args(g.keys(1, 3))
}

fn exists(g: &mut Gen) -> Cmd {
    Cmd::new("EXISTS").args(g.keys(1, 4))
}

fn type_(g: &mut Gen) -> Cmd {
    Cmd::new("TYPE").arg(g.key())
}

fn rename(g: &mut Gen) -> Cmd {
    Cmd::new("RENAME").arg(g.key()).arg(g.key())
}

fn renamenx(g: &mut Gen) -> Cmd {
    Cmd::new("RENAMENX").arg(g.key()).arg(g.key())
}

fn copy(g: &mut Gen) -> Cmd {
    let mut cmd = Cmd::new("COPY").arg(g.key()).arg(g.key());
    if g.chance(0.4) {
        cmd = cmd.arg("DB").arg(db_index(g));
    }
    if g.chance(0.4) {
        cmd = cmd.arg("REPLACE");
    }
    cmd
}

fn move_(g: &mut Gen) -> Cmd {
    Cmd::new("MOVE").arg(g.key()).arg(db_index(g))
}

fn keys(g: &mut Gen) -> Cmd {
    Cmd::new("KEYS").arg(g.pick(PATTERNS)).check(Check::Unordered)
}

fn scan(g: &mut Gen) -> Cmd {
    let mut cmd = Cmd::new("SCAN").arg("0").check(Check::Scan);
    if g.chance(0.4) {
        cmd = cmd.arg("MATCH").arg(g.pick(PATTERNS));
    }
    if g.chance(0.4) {
        cmd = cmd.arg("COUNT").arg(g.range(1, 20).to_string());
    }
    if g.chance(0.2) {
        cmd = cmd.arg("TYPE").arg(g.pick(&["string", "hash", "list", "none", "STRING"]));
    }
    cmd
}

fn randomkey(_: &mut Gen) -> Cmd {
    Cmd::new("RANDOMKEY").check(Check::RandomKey)
}

fn touch(g: &mut Gen) -> Cmd {
    Cmd::new("TOUCH").args(g.keys(1, 3))
}

/// OBJECT ENCODING mostly; now and then an unknown subcommand.
fn object(g: &mut Gen) -> Cmd {
    let sub = if g.chance(0.9) { "ENCODING" } else { *g.pick(&["NOPE", "encodings"]) };
    Cmd::new("OBJECT").arg(sub).arg(g.key())
}

/// An EXPIRE-family command: a TTL in `unit`, maybe with NX/XX/GT/LT
/// (now and then two of them, which is an error).
fn expire_like(g: &mut Gen, name: &str, unit: Unit) -> Cmd {
    let key = g.key();
    let (ttl, wait) = g.ttl(unit);
    let mut cmd = Cmd::new(name).arg(&key).arg(ttl).settle(&key, wait);
    let flags = ["NX", "XX", "GT", "LT", "nx", "gt"];
    for _ in 0..[0, 0, 1, 1, 1, 2][g.range(0, 6) as usize] {
        cmd = cmd.arg(g.pick(&flags));
    }
    cmd
}

fn expire(g: &mut Gen) -> Cmd {
    expire_like(g, "EXPIRE", Unit::Secs)
}

fn pexpire(g: &mut Gen) -> Cmd {
    expire_like(g, "PEXPIRE", Unit::Millis)
}

fn expireat(g: &mut Gen) -> Cmd {
    expire_like(g, "EXPIREAT", Unit::UnixSecs)
}

fn pexpireat(g: &mut Gen) -> Cmd {
    expire_like(g, "PEXPIREAT", Unit::UnixMillis)
}

/// Second-resolution TTL readers may differ by one (rounding at a boundary).
const SECS_TOLERANCE: i64 = 1;
/// Millisecond readers may differ by the time between the two servers'
/// commands.
pub const MILLIS_TOLERANCE: i64 = 250;

fn ttl(g: &mut Gen) -> Cmd {
    Cmd::new("TTL").arg(g.key()).check(Check::Near(SECS_TOLERANCE))
}

fn pttl(g: &mut Gen) -> Cmd {
    Cmd::new("PTTL").arg(g.key()).check(Check::Near(MILLIS_TOLERANCE))
}

fn expiretime(g: &mut Gen) -> Cmd {
    Cmd::new("EXPIRETIME").arg(g.key()).check(Check::Near(SECS_TOLERANCE))
}

fn pexpiretime(g: &mut Gen) -> Cmd {
    Cmd::new("PEXPIRETIME").arg(g.key()).check(Check::Near(MILLIS_TOLERANCE))
}

fn persist(g: &mut Gen) -> Cmd {
    Cmd::new("PERSIST").arg(g.key())
}
