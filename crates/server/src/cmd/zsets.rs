//! Sorted-set commands (ZADD, ZRANGE, ...).

use crate::command::Spec;

pub static COMMANDS: &[Spec] = &[];
