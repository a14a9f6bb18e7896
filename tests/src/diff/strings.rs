//! Generators for the string family.

use super::generate::{data, Check, Cmd, Gen, Generator, Unit};
use super::Dump;

pub static GENERATORS: &[Generator] = &[
    data("get", 8, get),
    // SET key value only: the form that works before SET's options do.
    Generator { name: "set_plain", weight: 3, mutate: false, side: true, make: set_plain },
    data("set", 8, set),
    data("setnx", 2, setnx),
    data("setex", 2, setex),
    data("psetex", 2, psetex),
    data("mget", 2, mget),
    data("mset", 2, mset),
    data("msetnx", 1, msetnx),
    data("getset", 1, getset),
    data("getdel", 1, getdel),
    data("getex", 2, getex),
    data("append", 3, append),
    data("strlen", 2, strlen),
    data("incr", 3, incr),
    data("decr", 2, decr),
    data("incrby", 2, incrby),
    data("decrby", 2, decrby),
    data("incrbyfloat", 3, incrbyfloat),
    data("getrange", 2, getrange),
    data("setrange", 2, setrange),
    data("setbit", 2, setbit),
    data("getbit", 2, getbit),
    data("bitcount", 2, bitcount),
];

/// How the final state check reads a string.
pub static DUMP: Dump = Dump { type_name: "string", read: |key| vec![b"GET".to_vec(), key.to_vec()], check: Check::Exact };

fn get(g: &mut Gen) -> Cmd {
    Cmd::new("GET").arg(g.key())
}

fn set_plain(g: &mut Gen) -> Cmd {
    Cmd::new("SET").arg(g.key()).arg(g.value())
}

/// SET with a random subset of its options in random order; now and then
/// two that conflict (NX with XX, two expiries, KEEPTTL with an expiry).
fn set(g: &mut Gen) -> Cmd {
    let key = g.key();
    let mut options: Vec<Vec<String>> = Vec::new();
    let mut wait = None;
    if g.chance(0.3) {
        options.push(vec![g.pick(&["NX", "XX"]).to_string()]);
    }
    if g.chance(0.2) {
        options.push(vec!["GET".into()]);
    }
    if g.chance(0.5) {
        let (opt, w) = g.expiry_option();
        options.push(opt);
        wait = w;
    } else if g.chance(0.2) {
        options.push(vec!["KEEPTTL".into()]);
    }
    if g.chance(0.04) {
        let (opt, w) = g.expiry_option();
        wait = wait.or(w);
        let conflicting = [vec!["NX".to_string()], vec!["XX".to_string()], vec!["KEEPTTL".to_string()], opt];
        options.push(g.pick(&conflicting).clone());
    }
    g.shuffle(&mut options);
    Cmd::new("SET").arg(&key).arg(g.value()).args(options.concat()).settle(&key, wait)
}

fn setnx(g: &mut Gen) -> Cmd {
    Cmd::new("SETNX").arg(g.key()).arg(g.value())
}

fn setex(g: &mut Gen) -> Cmd {
    let (ttl, _) = g.ttl(Unit::Secs);
    Cmd::new("SETEX").arg(g.key()).arg(ttl).arg(g.value())
}

fn psetex(g: &mut Gen) -> Cmd {
    let key = g.key();
    let (ttl, wait) = g.ttl(Unit::Millis);
    Cmd::new("PSETEX").arg(&key).arg(ttl).arg(g.value()).settle(&key, wait)
}

fn mget(g: &mut Gen) -> Cmd {
    Cmd::new("MGET").args(g.keys(1, 4))
}

/// Key-value pairs for MSET/MSETNX.
fn pairs(g: &mut Gen) -> Vec<Vec<u8>> {
    let n = g.range(1, 4);
    (0..n).flat_map(|_| [g.key(), g.value()]).collect()
}

fn mset(g: &mut Gen) -> Cmd {
    Cmd::new("MSET").args(pairs(g))
}

fn msetnx(g: &mut Gen) -> Cmd {
    Cmd::new("MSETNX").args(pairs(g))
}

fn getset(g: &mut Gen) -> Cmd {
    Cmd::new("GETSET").arg(g.key()).arg(g.value())
}

fn getdel(g: &mut Gen) -> Cmd {
    Cmd::new("GETDEL").arg(g.key())
}

fn getex(g: &mut Gen) -> Cmd {
    let key = g.key();
    let cmd = Cmd::new("GETEX").arg(&key);
    match g.range(0, 4) {
        0 => cmd,
        1 => cmd.arg("PERSIST"),
        _ => {
            let (opt, wait) = g.expiry_option();
            cmd.args(opt).settle(&key, wait)
        }
    }
}

fn append(g: &mut Gen) -> Cmd {
    Cmd::new("APPEND").arg(g.key()).arg(g.value())
}

fn strlen(g: &mut Gen) -> Cmd {
    Cmd::new("STRLEN").arg(g.key())
}

fn incr(g: &mut Gen) -> Cmd {
    Cmd::new("INCR").arg(g.key())
}

fn decr(g: &mut Gen) -> Cmd {
    Cmd::new("DECR").arg(g.key())
}

fn incrby(g: &mut Gen) -> Cmd {
    Cmd::new("INCRBY").arg(g.key()).arg(g.int_text())
}

fn decrby(g: &mut Gen) -> Cmd {
    Cmd::new("DECRBY").arg(g.key()).arg(g.int_text())
}

fn incrbyfloat(g: &mut Gen) -> Cmd {
    let by = if g.chance(0.8) { g.float_text() } else { g.int_text() };
    Cmd::new("INCRBYFLOAT").arg(g.key()).arg(by)
}

fn getrange(g: &mut Gen) -> Cmd {
    Cmd::new("GETRANGE").arg(g.key()).arg(g.index(-20, 30)).arg(g.index(-20, 30))
}

fn setrange(g: &mut Gen) -> Cmd {
    Cmd::new("SETRANGE").arg(g.key()).arg(g.index(0, 40)).arg(g.value())
}

fn setbit(g: &mut Gen) -> Cmd {
    let bit = if g.chance(0.95) { g.range(0, 2).to_string() } else { "2".into() };
    Cmd::new("SETBIT").arg(g.key()).arg(g.index(0, 200)).arg(bit)
}

fn getbit(g: &mut Gen) -> Cmd {
    Cmd::new("GETBIT").arg(g.key()).arg(g.index(0, 240))
}

fn bitcount(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("BITCOUNT").arg(g.key());
    if g.chance(0.3) {
        return cmd;
    }
    let cmd = cmd.arg(g.index(-10, 20)).arg(g.index(-10, 20));
    match g.range(0, 4) {
        0 => cmd.arg("BYTE"),
        1 => cmd.arg("BIT"),
        _ => cmd,
    }
}
