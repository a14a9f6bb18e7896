//! The command table: every family's specs, looked up by name without
//! allocating (a fast non-keyed hash: the names are ours, not the
//! client's, so there is nothing to flood).

use foldhash::HashMap;
use foldhash::HashMapExt;
use std::sync::LazyLock;

use crate::cmd;
use crate::command::Spec;

/// All commands, by lower-case name.
pub struct Table {
    by_name: HashMap<&'static [u8], &'static Spec>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut by_name = HashMap::new();
    for family in cmd::FAMILIES {
        for spec in family.iter() {
            let dup = by_name.insert(spec.name.as_bytes(), spec);
            assert!(dup.is_none(), "command {} defined twice", spec.name);
        }
    }
    Table { by_name }
});

/// The process-wide command table.
pub fn table() -> &'static Table {
    &TABLE
}

impl Table {
    /// Case-insensitive lookup.
    pub fn get(&self, name: &[u8]) -> Option<&'static Spec> {
        let mut buf = [0u8; 32];
        if name.len() > buf.len() {
            return None;
        }
        let lower = &mut buf[..name.len()];
        lower.copy_from_slice(name);
        lower.make_ascii_lowercase();
        self.by_name.get(&*lower).copied()
    }

    pub fn len(&self) -> usize {
        self.by_name.len()
    }

    pub fn is_empty(&self) -> bool {
        self.by_name.is_empty()
    }

    /// All commands, sorted by name.
    pub fn all(&self) -> Vec<&'static Spec> {
        let mut v: Vec<_> = self.by_name.values().copied().collect();
        v.sort_by_key(|s| s.name);
        v
    }
}

/// The subcommand of container `spec` named `name`.
pub fn subcommand(spec: &'static Spec, name: &[u8]) -> Option<&'static Spec> {
    spec.subcommands.iter().find(|s| s.name.as_bytes().eq_ignore_ascii_case(name))
}
