//! Hash commands (HSET, HGET, ...).

use crate::command::Spec;

pub static COMMANDS: &[Spec] = &[];
