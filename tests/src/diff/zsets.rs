//! Generators for the zsets family.

use super::generate::Generator;

pub static GENERATORS: &[Generator] = &[];
