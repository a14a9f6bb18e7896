//! Command families, one module each, as Redis's documentation groups them.
//! Each module exports `COMMANDS`, its slice of the command table.

pub mod cluster;
pub mod connection;
pub mod dump;
pub mod hashes;
pub mod keys;
pub mod lists;
pub mod memory;
pub mod pubsub;
pub mod replication;
pub mod scan;
pub mod server;
pub mod sets;
pub mod strings;
pub mod transactions;
pub mod zsets;

use crate::command::Spec;

/// Every family's commands; [`crate::table`] merges them.
pub static FAMILIES: &[&[Spec]] = &[
    cluster::COMMANDS,
    connection::COMMANDS,
    dump::COMMANDS,
    hashes::COMMANDS,
    keys::COMMANDS,
    lists::COMMANDS,
    memory::COMMANDS,
    pubsub::COMMANDS,
    replication::COMMANDS,
    server::COMMANDS,
    sets::COMMANDS,
    strings::COMMANDS,
    transactions::COMMANDS,
    zsets::COMMANDS,
];
