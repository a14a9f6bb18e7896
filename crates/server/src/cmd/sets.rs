//! Set commands (SADD, SINTER, ...).

use crate::command::Spec;

pub static COMMANDS: &[Spec] = &[];
