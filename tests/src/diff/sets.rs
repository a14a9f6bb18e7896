//! Generators for the sets family.

use super::generate::Generator;

pub static GENERATORS: &[Generator] = &[];
