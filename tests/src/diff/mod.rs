//! Differential testing: random command sequences sent to `redis-server`
//! and to Ferrocache side by side, replies compared.
//!
//! The generator table ([`FAMILIES`]) has one small function per command,
//! grouped by family; adding a command (or a new value type) means adding
//! entries there, plus a [`Dump`] for a new type so the end-of-run state
//! check can read its values. All families share one small key space, so
//! commands of different types collide on keys and WRONGTYPE paths run.
//!
//! Knobs (environment, read by [`Options::from_env`]):
//! - `DIFF_SEED`: the seed (random if unset; always printed);
//! - `DIFF_COMMANDS=get,set,...`: only these generators (names as in the
//!   tables; `set_plain` is `SET key value` without options). A restricted
//!   run sends nothing else except HELLO 3 on RESP3 runs, EXISTS after a
//!   short TTL and the EXEC/DISCARD that closes a MULTI: no FLUSHALL between
//!   runs, no end-of-run state check;
//! - `DIFF_MUTATE`: share of commands broken on purpose (default 0.1);
//! - `DIFF_RUNS`, `DIFF_COUNT`: runs and commands per run (default 4 × 2500).

mod compare;
mod db;
pub mod generate;
mod hashes;
mod keys;
mod lists;
mod misc;
mod run;
mod sets;
mod strings;
mod tx;
mod zsets;

pub use generate::{Check, Cmd, Gen, Generator};
pub use run::run;

/// Every generator, by family.
pub static FAMILIES: &[&[Generator]] = &[
    strings::GENERATORS,
    keys::GENERATORS,
    db::GENERATORS,
    tx::GENERATORS,
    misc::GENERATORS,
    hashes::GENERATORS,
    lists::GENERATORS,
    sets::GENERATORS,
    zsets::GENERATORS,
];

/// How the end-of-run state check reads a value of one type.
pub struct Dump {
    /// As TYPE names it.
    pub type_name: &'static str,
    /// The command that reads the whole value of `key`.
    pub read: fn(&[u8]) -> Vec<Vec<u8>>,
    pub check: Check,
}

/// One per value type.
pub static DUMPS: &[&Dump] = &[&strings::DUMP, &hashes::DUMP, &lists::DUMP, &sets::DUMP, &zsets::DUMP];

/// What a differential run does.
#[derive(Debug, Clone)]
pub struct Options {
    pub seed: u64,
    pub runs: usize,
    pub per_run: usize,
    /// Generator names to use; None = all.
    pub only: Option<Vec<String>>,
    /// Share of commands the mutation layer breaks.
    pub mutate: f64,
    /// Odd-numbered runs speak RESP3 (HELLO 3).
    pub resp3: bool,
}

impl Default for Options {
    fn default() -> Self {
        Options { seed: random_seed(), runs: 4, per_run: 2500, only: None, mutate: 0.1, resp3: true }
    }
}

impl Options {
    /// Defaults overridden by the `DIFF_*` environment variables.
    pub fn from_env() -> Options {
        let mut o = Options::default();
        if let Some(seed) = env_parse("DIFF_SEED") {
            o.seed = seed;
        }
        if let Some(runs) = env_parse("DIFF_RUNS") {
            o.runs = runs;
        }
        if let Some(n) = env_parse("DIFF_COUNT") {
            o.per_run = n;
        }
        if let Some(m) = env_parse("DIFF_MUTATE") {
            o.mutate = m;
        }
        if let Ok(list) = std::env::var("DIFF_COMMANDS") {
            o.only = Some(list.split(',').map(|s| s.trim().to_ascii_lowercase()).filter(|s| !s.is_empty()).collect());
        }
        o
    }

    /// The generators this run uses; an unknown name is an error that
    /// lists the known ones.
    pub fn generators(&self) -> Result<Vec<&'static Generator>, String> {
        let Some(only) = &self.only else { return Ok(all_generators().collect()) };
        if let Some(bad) = only.iter().find(|n| !all_generators().any(|g| g.name == n.as_str())) {
            let known: Vec<&str> = all_generators().map(|g| g.name).collect();
            return Err(format!("unknown generator '{bad}' in DIFF_COMMANDS; known: {}", known.join(",")));
        }
        Ok(all_generators().filter(|g| only.iter().any(|n| n == g.name)).collect())
    }
}

fn all_generators() -> impl Iterator<Item = &'static Generator> {
    FAMILIES.iter().flat_map(|f| f.iter())
}

fn env_parse<T: std::str::FromStr>(name: &str) -> Option<T> {
    let value = std::env::var(name).ok()?;
    Some(value.trim().parse().unwrap_or_else(|_| panic!("{name}={value:?} is not valid")))
}

fn random_seed() -> u64 {
    use rand::RngExt;
    rand::rng().random()
}
