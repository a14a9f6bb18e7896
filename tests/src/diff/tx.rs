//! Generators for transactions: MULTI/EXEC/DISCARD and WATCH/UNWATCH.
//!
//! [`super::generate::Gen`] tracks whether a MULTI is open and for how many
//! more commands; the runner then closes it with [`close`]. EXEC and
//! DISCARD outside MULTI (errors) come from their own table entries.

use super::generate::{control, Cmd, Gen, Generator};

pub static GENERATORS: &[Generator] = &[
    control("multi", 2, multi),
    control("exec", 1, exec),
    control("discard", 1, discard),
    control("watch", 1, watch),
    control("unwatch", 1, unwatch),
];

fn multi(_: &mut Gen) -> Cmd {
    Cmd::new("MULTI")
}

fn exec(_: &mut Gen) -> Cmd {
    Cmd::new("EXEC")
}

fn discard(_: &mut Gen) -> Cmd {
    Cmd::new("DISCARD")
}

fn watch(g: &mut Gen) -> Cmd {
    Cmd::new("WATCH").args(g.keys(1, 3))
}

fn unwatch(_: &mut Gen) -> Cmd {
    Cmd::new("UNWATCH")
}

/// Ends an open MULTI: EXEC mostly, DISCARD sometimes.
pub fn close(g: &mut Gen) -> Cmd {
    if g.chance(0.75) {
        exec(g)
    } else {
        discard(g)
    }
}
