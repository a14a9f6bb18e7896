//! Generators for the lists family.

use super::generate::Generator;

pub static GENERATORS: &[Generator] = &[];
