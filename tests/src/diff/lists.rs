//! Generators for the lists family. Elements come mostly from a tiny pool
//! so that LREM, LPOS and LINSERT's pivot find matches.

use super::generate::{control, data, Check, Cmd, Gen, Generator};
use super::Dump;

pub static GENERATORS: &[Generator] = &[
    data("lpush", 6, lpush),
    data("rpush", 6, rpush),
    data("lpushx", 2, lpushx),
    data("rpushx", 2, rpushx),
    data("lpop", 3, lpop),
    data("rpop", 3, rpop),
    data("llen", 2, llen),
    data("lrange", 4, lrange),
    data("lindex", 2, lindex),
    data("lset", 2, lset),
    data("lrem", 2, lrem),
    data("ltrim", 2, ltrim),
    data("linsert", 2, linsert),
    data("lpos", 3, lpos),
    data("lmove", 2, lmove),
    data("rpoplpush", 1, rpoplpush),
    data("lmpop", 2, lmpop),
    // Blocking commands only inside MULTI, where they never block (see
    // `bpop`); the side connection is never in MULTI, so main only.
    control("blpop", 1, blpop),
    control("blmove", 1, blmove),
];

/// How the final state check reads a list.
pub static DUMP: Dump =
    Dump { type_name: "list", read: |key| vec![b"LRANGE".to_vec(), key.to_vec(), b"0".to_vec(), b"-1".to_vec()], check: Check::Exact };

fn elem(g: &mut Gen) -> Vec<u8> {
    if g.chance(0.8) { g.pick(&["a", "b", "c", "1", "2"]).as_bytes().to_vec() } else { g.value() }
}

fn elems(g: &mut Gen) -> Vec<Vec<u8>> {
    let n = if g.chance(0.1) { g.range(20, 200) } else { g.range(1, 5) };
    (0..n).map(|_| elem(g)).collect()
}

fn side(g: &mut Gen) -> &'static str {
    let side: &&str = g.pick(&["LEFT", "RIGHT", "left", "Right"]);
    side
}

fn lpush(g: &mut Gen) -> Cmd {
    Cmd::new("LPUSH").arg(g.key()).args(elems(g))
}

fn rpush(g: &mut Gen) -> Cmd {
    Cmd::new("RPUSH").arg(g.key()).args(elems(g))
}

fn lpushx(g: &mut Gen) -> Cmd {
    Cmd::new("LPUSHX").arg(g.key()).args(elems(g))
}

fn rpushx(g: &mut Gen) -> Cmd {
    Cmd::new("RPUSHX").arg(g.key()).args(elems(g))
}

/// LPOP/RPOP, half the time with a count (0, small, huge or junk).
fn pop(g: &mut Gen, name: &str) -> Cmd {
    let cmd = Cmd::new(name).arg(g.key());
    if g.chance(0.5) {
        return cmd;
    }
    let count = match g.range(0, 6) {
        0 => "0".to_string(),
        1 => "9223372036854775807".to_string(),
        2 => "-1".to_string(),
        _ => g.range(1, 5).to_string(),
    };
    cmd.arg(count)
}

fn lpop(g: &mut Gen) -> Cmd {
    pop(g, "LPOP")
}

fn rpop(g: &mut Gen) -> Cmd {
    pop(g, "RPOP")
}

fn llen(g: &mut Gen) -> Cmd {
    Cmd::new("LLEN").arg(g.key())
}

fn lrange(g: &mut Gen) -> Cmd {
    let (a, b) = (g.index(-12, 12), g.index(-12, 12));
    Cmd::new("LRANGE").arg(g.key()).arg(a).arg(b)
}

fn lindex(g: &mut Gen) -> Cmd {
    let i = g.index(-12, 12);
    Cmd::new("LINDEX").arg(g.key()).arg(i)
}

fn lset(g: &mut Gen) -> Cmd {
    let i = g.index(-8, 8);
    Cmd::new("LSET").arg(g.key()).arg(i).arg(elem(g))
}

fn lrem(g: &mut Gen) -> Cmd {
    let count = g.index(-3, 4);
    Cmd::new("LREM").arg(g.key()).arg(count).arg(elem(g))
}

fn ltrim(g: &mut Gen) -> Cmd {
    let (a, b) = (g.index(-10, 10), g.index(-10, 10));
    Cmd::new("LTRIM").arg(g.key()).arg(a).arg(b)
}

fn linsert(g: &mut Gen) -> Cmd {
    let at = if g.chance(0.95) { g.pick(&["BEFORE", "AFTER", "after"]) } else { "MIDDLE" };
    Cmd::new("LINSERT").arg(g.key()).arg(at).arg(elem(g)).arg(elem(g))
}

fn lpos(g: &mut Gen) -> Cmd {
    let mut cmd = Cmd::new("LPOS").arg(g.key()).arg(elem(g));
    for opt in ["RANK", "COUNT", "MAXLEN"] {
        if g.chance(0.4) {
            let v = match g.range(0, 8) {
                0 => g.junk(),
                1 => b"0".to_vec(),
                _ => g.range(if opt == "RANK" { -4 } else { 0 }, 5).to_string().into_bytes(),
            };
            cmd = cmd.arg(opt).arg(v);
        }
    }
    cmd
}

fn lmove(g: &mut Gen) -> Cmd {
    let (from, to) = (side(g), side(g));
    Cmd::new("LMOVE").arg(g.key()).arg(g.key()).arg(from).arg(to)
}

fn rpoplpush(g: &mut Gen) -> Cmd {
    Cmd::new("RPOPLPUSH").arg(g.key()).arg(g.key())
}

/// LMPOP's arguments after the command name: numkeys (now and then wrong),
/// keys, a side and maybe a COUNT.
fn mpop_args(g: &mut Gen) -> Vec<Vec<u8>> {
    let keys = g.keys(1, 3);
    let numkeys = if g.chance(0.05) { g.junk() } else { keys.len().to_string().into_bytes() };
    let mut args = vec![numkeys];
    args.extend(keys);
    args.push(side(g).as_bytes().to_vec());
    if g.chance(0.5) {
        args.push(b"COUNT".to_vec());
        args.push(g.index(0, 5));
    }
    args
}

fn lmpop(g: &mut Gen) -> Cmd {
    Cmd::new("LMPOP").args(mpop_args(g))
}

/// A blocking command only where it cannot block: inside MULTI (it serves
/// or answers nil at once); elsewhere an LLEN instead.
fn bpop(g: &mut Gen, cmd: Cmd) -> Cmd {
    if g.in_multi() { cmd } else { Cmd::new("LLEN").arg(g.key()) }
}

fn blpop(g: &mut Gen) -> Cmd {
    let name: &&str = g.pick(&["BLPOP", "BRPOP"]);
    let cmd = Cmd::new(name).args(g.keys(1, 3)).arg("0.01");
    bpop(g, cmd)
}

fn blmove(g: &mut Gen) -> Cmd {
    let (from, to) = (side(g), side(g));
    let cmd = if g.chance(0.5) {
        Cmd::new("BLMOVE").arg(g.key()).arg(g.key()).arg(from).arg(to).arg("0")
    } else {
        Cmd::new("BLMPOP").arg("0").args(mpop_args(g))
    };
    bpop(g, cmd)
}
