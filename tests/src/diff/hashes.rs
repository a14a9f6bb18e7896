//! Generators for the hashes family.

use super::generate::Generator;

pub static GENERATORS: &[Generator] = &[];
