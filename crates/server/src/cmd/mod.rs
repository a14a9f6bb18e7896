//! Command families, one module each, as Redis's documentation groups them.
//! Each module exports `COMMANDS`, its slice of the command table.

pub mod connection;
pub mod keys;
pub mod memory;
pub mod server;
pub mod strings;
pub mod transactions;

use crate::command::Spec;

/// Every family's commands; [`crate::table`] merges them.
pub static FAMILIES: &[&[Spec]] = &[connection::COMMANDS, keys::COMMANDS, memory::COMMANDS, server::COMMANDS, strings::COMMANDS, transactions::COMMANDS];
