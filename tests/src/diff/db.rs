//! Generators for database-level commands: SELECT, DBSIZE, SWAPDB, FLUSHDB.

use super::generate::{control, data, Cmd, Gen, Generator};
use super::keys::db_index;

pub static GENERATORS: &[Generator] = &[
    control("select", 2, select),
    data("dbsize", 2, dbsize),
    data("swapdb", 1, swapdb),
    // Rare, as it empties the database the run is filling.
    data("flushdb", 1, flushdb),
];

fn select(g: &mut Gen) -> Cmd {
    Cmd::new("SELECT").arg(db_index(g))
}

fn dbsize(_: &mut Gen) -> Cmd {
    Cmd::new("DBSIZE")
}

fn swapdb(g: &mut Gen) -> Cmd {
    Cmd::new("SWAPDB").arg(db_index(g)).arg(db_index(g))
}

fn flushdb(g: &mut Gen) -> Cmd {
    let cmd = Cmd::new("FLUSHDB");
    match g.range(0, 4) {
        0 => cmd.arg("ASYNC"),
        1 => cmd.arg("SYNC"),
        _ => cmd,
    }
}
