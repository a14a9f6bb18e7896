//! Generators for connection commands and unknown commands.

use super::generate::{control, data, Cmd, Gen, Generator};

pub static GENERATORS: &[Generator] = &[data("ping", 1, ping), data("echo", 1, echo), control("unknown", 1, unknown)];

fn ping(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("PING");
    if g.chance(0.5) {
        cmd.arg(g.value())
    } else {
        cmd
    }
}

fn echo(g: &mut Gen) -> Cmd {
    Cmd::new("ECHO").arg(g.value())
}

/// A command that does not exist (some close to real names), or a real
/// container command with an unknown subcommand.
fn unknown(g: &mut Gen) -> Cmd {
    let name = *g.pick(&["FOO", "GETT", "sett", "KEYS2", "X", "CLIENT"]);
    let arity = g.range(0, 4);
    let mut cmd = Cmd::new(name);
    for _ in 0..arity {
        cmd = cmd.arg(g.value());
    }
    if name == "CLIENT" {
        cmd.args[1..].iter_mut().for_each(|a| a.insert(0, b'z'));
    }
    cmd
}
