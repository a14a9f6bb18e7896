//! List commands (LPUSH, LRANGE, ...) and the blocking pops.

use crate::command::Spec;

pub static COMMANDS: &[Spec] = &[];
