//! What a command is: its table entry ([`Spec`]) and the context a handler
//! runs in ([`Ctx`]).
//!
//! One table entry per command gives its name, arity, flags, key positions,
//! summary and handler; the same table dispatches, checks arity, finds keys
//! and answers `COMMAND`. Handlers write their reply into `ctx.out` and
//! return `Err` for the error replies that Redis phrases the same way
//! everywhere ([`CmdError`]).

use bytes::Bytes;
use ferrocache_resp::ReplyBuf;
use ferrocache_store::Db;

use crate::client::Client;
use crate::shared::Shared;

/// Command flags, as `COMMAND INFO` lists them.
pub mod flags {
    pub const WRITE: u32 = 1 << 0;
    pub const READONLY: u32 = 1 << 1;
    pub const DENYOOM: u32 = 1 << 2;
    pub const ADMIN: u32 = 1 << 3;
    pub const PUBSUB: u32 = 1 << 4;
    pub const NOSCRIPT: u32 = 1 << 5;
    pub const BLOCKING: u32 = 1 << 6;
    pub const LOADING: u32 = 1 << 7;
    pub const STALE: u32 = 1 << 8;
    pub const FAST: u32 = 1 << 9;
    /// Allowed before authentication.
    pub const NO_AUTH: u32 = 1 << 10;
    pub const NO_MULTI: u32 = 1 << 11;
    pub const ALLOW_BUSY: u32 = 1 << 12;
    /// Runs with no other command in flight (EXEC, SWAPDB, FLUSHALL, ...).
    /// Internal: not listed by COMMAND.
    pub const EXCLUSIVE: u32 = 1 << 13;
    /// Some keys are found through a `numkeys` argument ([`super::Spec::numkeys`]).
    pub const MOVABLEKEYS: u32 = 1 << 14;
    /// Runs on an importing slot after ASKING (RESTORE-ASKING).
    pub const ASKING: u32 = 1 << 15;
    /// In the `@dangerous` ACL category though not an admin command
    /// (RESTORE). Internal: not listed by COMMAND.
    pub const DANGEROUS: u32 = 1 << 16;
    /// Not put in the slow log (EXEC: its commands are logged instead).
    /// Internal: not listed by COMMAND.
    pub const SKIP_SLOWLOG: u32 = 1 << 17;

    /// Flag names in `COMMAND INFO` order.
    pub const NAMES: &[(u32, &str)] = &[
        (WRITE, "write"),
        (READONLY, "readonly"),
        (DENYOOM, "denyoom"),
        (ADMIN, "admin"),
        (PUBSUB, "pubsub"),
        (NOSCRIPT, "noscript"),
        (BLOCKING, "blocking"),
        (LOADING, "loading"),
        (STALE, "stale"),
        (ASKING, "asking"),
        (FAST, "fast"),
        (NO_AUTH, "no_auth"),
        (NO_MULTI, "no_multi"),
        (ALLOW_BUSY, "allow_busy"),
        (MOVABLEKEYS, "movablekeys"),
    ];
}

/// A command handler. `args[0]` is the command name as the client sent it.
pub type Handler = fn(&mut Ctx, &[Bytes]) -> CmdResult;

/// One command (or subcommand) of the table.
#[derive(Debug)]
pub struct Spec {
    /// Lower-case name (for a subcommand, just the subcommand's name).
    pub name: &'static str,
    /// Redis arity: `n` means exactly n arguments including the name,
    /// `-n` at least n.
    pub arity: i32,
    pub flags: u32,
    /// Key positions: first key, last key (negative counts from the end),
    /// step. (0, 0, 0) for commands without keys.
    pub keys: (i32, i32, i32),
    /// Command group, as COMMAND DOCS reports it (`string`, `generic`, ...).
    pub group: &'static str,
    /// Redis version that introduced it.
    pub since: &'static str,
    pub summary: &'static str,
    pub handler: Handler,
    /// For container commands (CONFIG, CLIENT, ...): their subcommands;
    /// `handler` is then unused.
    pub subcommands: &'static [Spec],
    /// For commands with a `numkeys` argument (ZUNION, LMPOP, ...): its
    /// index; that many keys follow it (besides those `keys` gives).
    pub numkeys: Option<usize>,
    /// Redis 7 key specs, as COMMAND INFO lists them (empty where the
    /// first/last/step triple is all a command has been given so far).
    pub key_specs: &'static [KeySpec],
    /// COMMAND INFO's tips (`nondeterministic_output`, ...).
    pub tips: &'static [&'static str],
}

/// One Redis 7 key spec of the kinds our commands need: keys found from
/// a fixed argument index (`begin_search` type `index`) over a range
/// (`find_keys` type `range`).
#[derive(Debug)]
pub struct KeySpec {
    /// Access flags (`RO`, `OW`, `access`, `update`, ...).
    pub flags: &'static [&'static str],
    /// The argument index the search begins at.
    pub index: i32,
    /// The range's last key (relative to the first; negative from the end),
    /// step, and limit.
    pub last_key: i32,
    pub key_step: i32,
    pub limit: i32,
}

impl KeySpec {
    /// One key at argument `index` with the access `flags`.
    pub const fn single(index: i32, flags: &'static [&'static str]) -> KeySpec {
        KeySpec { flags, index, last_key: 0, key_step: 1, limit: 0 }
    }
}

impl Spec {
    pub fn arity_ok(&self, argc: usize) -> bool {
        let a = self.arity;
        if a >= 0 { argc == a as usize } else { argc >= (-a) as usize }
    }

    pub fn has(&self, flag: u32) -> bool {
        self.flags & flag != 0
    }

    /// Indexes of the key arguments in `args`: the fixed positions, then
    /// the `numkeys` keys. None when `numkeys` is not a count of keys that
    /// the arguments hold.
    pub fn key_indexes(&self, args: &[Bytes]) -> Option<Vec<usize>> {
        self.key_positions(args).map(Iterator::collect)
    }

    /// [`key_indexes`](Self::key_indexes) without allocating: cluster
    /// routing walks the keys of every command.
    pub fn key_positions(&self, args: &[Bytes]) -> Option<impl Iterator<Item = usize> + use<>> {
        let argc = args.len();
        let (first, last, step) = self.keys;
        let last = if last < 0 { argc as i32 + last } else { last.min(argc as i32 - 1) };
        let (first, step) = (first.max(0) as usize, step.max(1) as usize);
        let end = if first == 0 { 0 } else { last.max(0) as usize + 1 };
        let counted = match self.numkeys {
            Some(at) => {
                let n = crate::args::int(args.get(at)?).ok().and_then(|n| usize::try_from(n).ok())?;
                let keys_end = (at + 1).checked_add(n).filter(|&e| e <= argc && n > 0)?;
                at + 1..keys_end
            }
            None => 0..0,
        };
        Some((first..end).step_by(step).chain(counted))
    }

    /// Whether the command names keys at all (by position or `numkeys`).
    pub fn has_keys(&self) -> bool {
        self.keys.0 > 0 || self.numkeys.is_some()
    }

    /// Gives the command Redis's key specs and tips for COMMAND INFO.
    pub const fn described(mut self, key_specs: &'static [KeySpec], tips: &'static [&'static str]) -> Spec {
        self.key_specs = key_specs;
        self.tips = tips;
        self
    }

    /// Marks the command's `numkeys` argument (at `at`), Redis's
    /// "movablekeys".
    pub const fn numkeys_at(mut self, at: usize) -> Spec {
        self.numkeys = Some(at);
        self.flags |= flags::MOVABLEKEYS;
        self
    }
}

/// Errors that every command phrases the same way.
#[derive(Debug, Clone, PartialEq)]
pub enum CmdError {
    WrongType,
    Syntax,
    NotInteger,
    NotFloat,
    Overflow,
    NoSuchKey,
    OutOfRange,
    WrongArity(String),
    /// Any other message, starting with its code (`ERR ...`).
    Msg(String),
    /// A message quoting client bytes verbatim (not necessarily UTF-8).
    Bytes(Vec<u8>),
}

impl CmdError {
    pub fn msg(s: impl Into<String>) -> Self {
        CmdError::Msg(s.into())
    }

    /// `ERR <s>`.
    pub fn err(s: impl AsRef<str>) -> Self {
        CmdError::Msg(format!("ERR {}", s.as_ref()))
    }

    pub fn text(&self) -> String {
        match self {
            CmdError::WrongType => "WRONGTYPE Operation against a key holding the wrong kind of value".into(),
            CmdError::Syntax => "ERR syntax error".into(),
            CmdError::NotInteger => "ERR value is not an integer or out of range".into(),
            CmdError::NotFloat => "ERR value is not a valid float".into(),
            CmdError::Overflow => "ERR increment or decrement would overflow".into(),
            CmdError::NoSuchKey => "ERR no such key".into(),
            CmdError::OutOfRange => "ERR index out of range".into(),
            CmdError::WrongArity(name) => format!("ERR wrong number of arguments for '{name}' command"),
            CmdError::Msg(m) => m.clone(),
            CmdError::Bytes(b) => String::from_utf8_lossy(b).into_owned(),
        }
    }

    /// The reply text as bytes (exact for [`CmdError::Bytes`]).
    pub fn bytes(&self) -> Vec<u8> {
        match self {
            CmdError::Bytes(b) => b.clone(),
            other => other.text().into_bytes(),
        }
    }
}

pub type CmdResult = Result<(), CmdError>;

/// Where a handler runs: the server's shared state, this client's state,
/// the reply buffer, and the time the command started.
pub struct Ctx<'a> {
    pub shared: &'a Shared,
    pub client: &'a mut Client,
    pub out: &'a mut ReplyBuf,
    /// Command start time, Unix ms.
    pub now: u64,
}

impl<'a> Ctx<'a> {
    /// Redis's reply to `<COMMAND> HELP`: a title line, `lines`, then
    /// HELP's own entry, as status lines.
    pub fn help(&mut self, command: &str, lines: &[&str]) -> CmdResult {
        self.out.array(lines.len() + 3);
        self.out.simple(&format!("{command} <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
        for line in lines {
            self.out.simple(line);
        }
        self.out.simple("HELP");
        self.out.simple("    Prints this help.");
        Ok(())
    }

    /// The client's selected database.
    pub fn db(&self) -> &'a Db {
        &self.shared.dbs[self.client.db]
    }
}

/// Builds a table entry; `keys` is (first, last, step).
#[allow(clippy::too_many_arguments)]
pub const fn spec(
    name: &'static str,
    arity: i32,
    flags: u32,
    keys: (i32, i32, i32),
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    handler: Handler,
) -> Spec {
    Spec { name, arity, flags, keys, group, since, summary, handler, subcommands: &[], numkeys: None, key_specs: &[], tips: &[] }
}

/// Builds a container command (CONFIG, CLIENT, ...) from its subcommands.
pub const fn container(
    name: &'static str,
    arity: i32,
    group: &'static str,
    since: &'static str,
    summary: &'static str,
    subcommands: &'static [Spec],
) -> Spec {
    Spec { name, arity, flags: 0, keys: (0, 0, 0), group, since, summary, handler: no_handler, subcommands, numkeys: None, key_specs: &[], tips: &[] }
}

fn no_handler(_: &mut Ctx, _: &[Bytes]) -> CmdResult {
    Err(CmdError::err("container command needs a subcommand"))
}
