//! Publish/subscribe (SUBSCRIBE, PUBLISH, ...).

use crate::command::Spec;

pub static COMMANDS: &[Spec] = &[];
