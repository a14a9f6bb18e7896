//! The command table: every family's specs, looked up by name without
//! allocating (a fast non-keyed hash: the names are ours, not the
//! client's, so there is nothing to flood).
//!
//! Every spec, subcommands included, also has a dense number ([`Table::id`])
//! that per-command statistics index arrays with ([`crate::cmdstats`]). It is
//! found from the spec's address inside the static arrays that hold the
//! specs, so callers that carry only a `&'static Spec` (EXEC's queue) need
//! no extra field and the hot path no hashing.

use foldhash::HashMap;
use foldhash::HashMapExt;
use std::sync::LazyLock;

use crate::cmd;
use crate::command::Spec;

/// All commands, by lower-case name.
pub struct Table {
    by_name: HashMap<&'static [u8], &'static Spec>,
    /// (address of the first spec, number of specs, id of the first), one
    /// per static array of specs, sorted by address.
    ranges: Vec<(usize, usize, usize)>,
    /// Statistics names by id: `get`, `config|get` (Redis's `cmdstat_` names).
    names: Vec<String>,
}

static TABLE: LazyLock<Table> = LazyLock::new(|| {
    let mut by_name = HashMap::new();
    for family in cmd::FAMILIES {
        for spec in family.iter() {
            let dup = by_name.insert(spec.name.as_bytes(), spec);
            assert!(dup.is_none(), "command {} defined twice", spec.name);
        }
    }
    let mut ranges = Vec::new();
    let mut names = Vec::new();
    let mut add = |specs: &'static [Spec], parent: Option<&str>| {
        ranges.push((specs.as_ptr() as usize, specs.len(), names.len()));
        names.extend(specs.iter().map(|s| parent.map_or_else(|| s.name.to_string(), |p| format!("{p}|{}", s.name))));
    };
    for family in cmd::FAMILIES {
        add(family, None);
        for spec in family.iter().filter(|s| !s.subcommands.is_empty()) {
            add(spec.subcommands, Some(spec.name));
        }
    }
    ranges.sort_unstable();
    Table { by_name, ranges, names }
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

    /// The dense number of `spec`, below [`Self::ids`]; None only for a
    /// spec that is not in the table's arrays (a copy made elsewhere).
    pub fn id(&self, spec: &'static Spec) -> Option<usize> {
        let addr = spec as *const Spec as usize;
        let at = self.ranges.partition_point(|r| r.0 <= addr).checked_sub(1)?;
        let (start, len, first) = self.ranges[at];
        let index = (addr - start) / std::mem::size_of::<Spec>();
        (index < len).then_some(first + index)
    }

    /// How many ids there are.
    pub fn ids(&self) -> usize {
        self.names.len()
    }

    /// The statistics name of id `id` (`get`, `config|get`).
    pub fn stat_name(&self, id: usize) -> &str {
        &self.names[id]
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

#[cfg(test)]
mod tests {
    use super::{subcommand, table};

    #[test]
    fn every_spec_has_its_own_id() {
        let t = table();
        let mut seen = vec![false; t.ids()];
        for spec in t.all() {
            let id = t.id(spec).expect("top-level id");
            assert_eq!(t.stat_name(id), spec.name);
            assert!(!std::mem::replace(&mut seen[id], true), "{} shares an id", spec.name);
            for sub in spec.subcommands {
                let id = t.id(subcommand(spec, sub.name.as_bytes()).expect("sub")).expect("subcommand id");
                assert_eq!(t.stat_name(id), format!("{}|{}", spec.name, sub.name));
                assert!(!std::mem::replace(&mut seen[id], true));
            }
        }
        assert!(seen.iter().all(|&s| s), "every id belongs to a spec");
    }
}
