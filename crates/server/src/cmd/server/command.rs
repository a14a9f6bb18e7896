//! COMMAND: the command table as clients see it. Client libraries read
//! COMMAND INFO for arity and key positions (cluster clients route by
//! them), COMMAND DOCS for help, and COMMAND GETKEYS to find the keys of
//! a call; everything here is derived from [`crate::table`], so it cannot
//! drift from what dispatch actually does.
//!
//! Reply shapes are Redis 7.0's. Key specs and tips are listed where a
//! command's table entry has them ([`Spec::described`]), else left empty
//! (the legacy first/last/step triple describes every command we have),
//! and ACL categories are derived from flags and group ([`ACL_CATEGORIES`]).

use bytes::Bytes;
use ferrocache_resp::ReplyBuf;
use ferrocache_store::glob;

use crate::args::is;
use crate::command::{container, flags::*, spec, CmdError, CmdResult, Ctx, KeySpec, Spec};
use crate::table::{subcommand, table};

const FLAGS: u32 = LOADING | STALE;

/// COMMAND, which (unlike other containers) also runs without a subcommand.
pub const COMMAND: Spec = Spec {
    arity: -1,
    flags: FLAGS,
    handler: all,
    ..container("command", -1, "server", "2.8.13", "Returns detailed information about all commands.", SUBCOMMANDS)
};

static SUBCOMMANDS: &[Spec] = &[
    spec("count", 2, FLAGS, (0, 0, 0), "server", "2.8.13", "Returns a count of commands.", count),
    spec("docs", -2, FLAGS, (0, 0, 0), "server", "7.0.0", "Returns documentary information about one, multiple or all commands.", docs),
    spec("getkeys", -4, FLAGS, (0, 0, 0), "server", "2.8.13", "Extracts the key names from an arbitrary command.", getkeys),
    spec("help", 2, FLAGS, (0, 0, 0), "server", "5.0.0", "Returns helpful text about the different subcommands.", help),
    spec("info", -2, FLAGS, (0, 0, 0), "server", "2.8.13", "Returns information about one, multiple or all commands.", info),
    spec("list", -2, FLAGS, (0, 0, 0), "server", "7.0.0", "Returns a list of command names.", list),
];

/// Whether an ACL category applies to a command.
type Rule = fn(&Spec) -> bool;

/// ACL categories implied by a command's flags and group, in Redis's order.
const ACL_CATEGORIES: &[(&str, Rule)] = &[
    ("@keyspace", |s| s.group == "generic" || (s.group == "server" && s.has(READONLY | WRITE))),
    ("@read", |s| s.has(READONLY)),
    ("@write", |s| s.has(WRITE)),
    ("@set", |s| s.group == "set"),
    ("@sortedset", |s| s.group == "sorted-set"),
    ("@list", |s| s.group == "list"),
    ("@hash", |s| s.group == "hash"),
    ("@string", |s| s.group == "string"),
    ("@bitmap", |s| s.group == "bitmap"),
    ("@hyperloglog", |s| s.group == "hyperloglog"),
    ("@geo", |s| s.group == "geo"),
    ("@stream", |s| s.group == "stream"),
    ("@pubsub", |s| s.has(PUBSUB)),
    ("@admin", |s| s.has(ADMIN)),
    ("@fast", |s| s.has(FAST)),
    ("@slow", |s| !s.has(FAST)),
    ("@blocking", |s| s.has(BLOCKING)),
    ("@dangerous", |s| s.has(ADMIN | DANGEROUS) || (s.group == "server" && s.has(WRITE))),
    ("@connection", |s| s.group == "connection"),
    ("@transaction", |s| s.group == "transactions"),
    ("@scripting", |s| s.group == "scripting"),
];

/// A table entry, with its container when it is a subcommand.
#[derive(Clone, Copy)]
struct Entry {
    parent: Option<&'static Spec>,
    spec: &'static Spec,
}

impl Entry {
    /// `get`, or `config|get` for a subcommand.
    fn name(&self) -> String {
        match self.parent {
            Some(p) => format!("{}|{}", p.name, self.spec.name),
            None => self.spec.name.to_string(),
        }
    }

    fn subcommands(self) -> impl Iterator<Item = Entry> {
        self.spec.subcommands.iter().map(move |spec| Entry { parent: Some(self.spec), spec })
    }

    fn categories(&self) -> impl Iterator<Item = &'static str> {
        let spec = self.spec;
        ACL_CATEGORIES.iter().filter(move |(_, applies)| applies(spec)).map(|(name, _)| *name)
    }
}

/// Every top-level command, by name.
fn top_level() -> impl Iterator<Item = Entry> {
    table().all().into_iter().map(|spec| Entry { parent: None, spec })
}

/// Every command and subcommand, each container followed by its subcommands.
fn everything() -> impl Iterator<Item = Entry> {
    top_level().flat_map(|e| std::iter::once(e).chain(e.subcommands()))
}

/// Looks up `name` or `container|sub`, case-insensitively.
fn lookup(name: &[u8]) -> Option<Entry> {
    let Some(bar) = name.iter().position(|&b| b == b'|') else {
        return table().get(name).map(|spec| Entry { parent: None, spec });
    };
    let parent = table().get(&name[..bar])?;
    subcommand(parent, &name[bar + 1..]).map(|spec| Entry { parent: Some(parent), spec })
}

/// One COMMAND INFO entry: name, arity, flags, first key, last key, step,
/// ACL categories, tips, key specs, subcommands.
fn write_info(out: &mut ReplyBuf, e: Entry) {
    let spec = e.spec;
    out.array(10);
    out.bulk(e.name().as_bytes());
    out.int(spec.arity as i64);
    let flags: Vec<&str> = NAMES.iter().filter(|(f, _)| spec.has(*f)).map(|(_, n)| *n).collect();
    write_simple_set(out, &flags);
    let (first, last, step) = spec.keys;
    out.int(first as i64);
    out.int(last as i64);
    out.int(step as i64);
    write_simple_set(out, &e.categories().collect::<Vec<_>>());
    out.set(spec.tips.len());
    spec.tips.iter().for_each(|tip| out.bulk(tip.as_bytes()));
    out.set(spec.key_specs.len());
    spec.key_specs.iter().for_each(|ks| write_key_spec(out, ks));
    out.set(spec.subcommands.len());
    for sub in e.subcommands() {
        write_info(out, sub);
    }
}

/// One key spec, in Redis 7's shape (maps, flat arrays in RESP2).
fn write_key_spec(out: &mut ReplyBuf, ks: &KeySpec) {
    out.map(3);
    out.bulk(b"flags");
    write_simple_set(out, ks.flags);
    write_search(out, "begin_search", "index", &[("index", ks.index)]);
    write_search(out, "find_keys", "range", &[("lastkey", ks.last_key), ("keystep", ks.key_step), ("limit", ks.limit)]);
}

/// A key spec's `begin_search` or `find_keys` entry: its type and spec.
fn write_search(out: &mut ReplyBuf, name: &str, kind: &str, spec: &[(&str, i32)]) {
    out.bulk(name.as_bytes());
    out.map(2);
    out.bulk(b"type");
    out.bulk(kind.as_bytes());
    out.bulk(b"spec");
    out.map(spec.len());
    for (field, n) in spec {
        out.bulk(field.as_bytes());
        out.int(*n as i64);
    }
}

fn write_simple_set(out: &mut ReplyBuf, items: &[&str]) {
    out.set(items.len());
    for item in items {
        out.simple(item);
    }
}

/// One COMMAND DOCS entry: summary, since, group, and subcommands' docs.
fn write_docs(out: &mut ReplyBuf, e: Entry) {
    let spec = e.spec;
    let container = !spec.subcommands.is_empty();
    out.map(3 + container as usize);
    for (field, value) in [("summary", spec.summary), ("since", spec.since), ("group", spec.group)] {
        out.bulk(field.as_bytes());
        out.bulk(value.as_bytes());
    }
    if container {
        out.bulk(b"subcommands");
        out.map(spec.subcommands.len());
        for sub in e.subcommands() {
            out.bulk(sub.name().as_bytes());
            write_docs(out, sub);
        }
    }
}

/// Bare `COMMAND`: every command's info.
fn all(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let entries: Vec<Entry> = top_level().collect();
    ctx.out.array(entries.len());
    for e in entries {
        write_info(ctx.out, e);
    }
    Ok(())
}

fn count(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.out.int(table().len() as i64);
    Ok(())
}

/// `COMMAND INFO [name ...]`: nil for unknown names; all without names.
fn info(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        return all(ctx, args);
    }
    ctx.out.array(args.len() - 2);
    for name in &args[2..] {
        match lookup(name) {
            Some(e) => write_info(ctx.out, e),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// `COMMAND DOCS [name ...]`: a map by name; unknown names are left out.
fn docs(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let entries: Vec<Entry> = if args.len() == 2 { top_level().collect() } else { args[2..].iter().filter_map(|n| lookup(n)).collect() };
    ctx.out.map(entries.len());
    for e in entries {
        ctx.out.bulk(e.name().as_bytes());
        write_docs(ctx.out, e);
    }
    Ok(())
}

/// `COMMAND GETKEYS command [arg ...]`: the key arguments of that call.
fn getkeys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let call = &args[2..];
    let spec = table()
        .get(&call[0])
        .and_then(|spec| match spec.subcommands.is_empty() {
            true => Some(spec),
            false => call.get(1).and_then(|sub| subcommand(spec, sub)),
        })
        .ok_or_else(|| CmdError::err("Invalid command specified"))?;
    if spec.keys.0 == 0 && spec.numkeys.is_none() {
        return Err(CmdError::err("The command has no key arguments"));
    }
    if !spec.arity_ok(call.len()) {
        return Err(CmdError::err("Invalid number of arguments specified for command"));
    }
    let keys = spec.key_indexes(call).filter(|k| !k.is_empty()).ok_or_else(|| CmdError::err("Invalid arguments specified for command"))?;
    ctx.out.array(keys.len());
    for i in keys {
        ctx.out.bulk(&call[i]);
    }
    Ok(())
}

/// `COMMAND LIST [FILTERBY MODULE name | ACLCAT category | PATTERN pattern]`.
fn list(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let keep: Box<dyn Fn(&Entry) -> bool> = match &args[2..] {
        [] => Box::new(|_| true),
        [by, kind, value] if is(by, "filterby") => {
            if is(kind, "module") {
                Box::new(|_| false)
            } else if is(kind, "aclcat") {
                let cat = value.clone();
                Box::new(move |e| e.categories().any(|c| c.as_bytes()[1..].eq_ignore_ascii_case(&cat)))
            } else if is(kind, "pattern") {
                let pattern = value.to_ascii_lowercase();
                Box::new(move |e| glob::matches(&pattern, e.name().as_bytes()))
            } else {
                return Err(CmdError::Syntax);
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    let names: Vec<String> = everything().filter(|e| keep(e)).map(|e| e.name()).collect();
    ctx.out.array(names.len());
    for name in names {
        ctx.out.bulk(name.as_bytes());
    }
    Ok(())
}

fn help(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.help(
        "COMMAND",
        &[
            "(no subcommand)",
            "    Return details about all Redis commands.",
            "COUNT",
            "    Return the total number of commands in this Redis server.",
            "LIST [FILTERBY (MODULE <module-name>|ACLCAT <category>|PATTERN <pattern>)]",
            "    Return a list of all commands in this Redis server.",
            "INFO [<command-name> ...]",
            "    Return details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "DOCS [<command-name> ...]",
            "    Return documentation details about multiple Redis commands.",
            "    If no command names are given, documentation details for all",
            "    commands are returned.",
            "GETKEYS <full-command>",
            "    Return the keys from a full Redis command.",
        ],
    )
}

/// The supported-commands list in `docs/commands.md`, one line per command
/// and subcommand.
#[cfg(test)]
fn commands_markdown() -> String {
    let mut text = String::from(
        "# Supported commands\n\n\
         Generated from the command table by `FERROCACHE_BLESS=1 cargo test -p ferrocache-server commands_doc`; \
         do not edit by hand. Arity follows Redis: `n` is exactly n arguments including the command name, `-n` at least n.\n\n\
         | Command | Arity | Group | Summary |\n| --- | --- | --- | --- |\n",
    );
    for e in everything() {
        let name = e.name().replace('|', " ").to_ascii_uppercase();
        text.push_str(&format!("| `{name}` | {} | {} | {} |\n", e.spec.arity, e.spec.group, e.spec.summary.replace('|', "\\|")));
    }
    text
}

#[cfg(test)]
mod tests {
    use super::*;

    /// Keeps `docs/commands.md` in step with the table.
    #[test]
    fn commands_doc() {
        let path = std::path::Path::new(env!("CARGO_MANIFEST_DIR")).join("../../docs/commands.md");
        let want = commands_markdown();
        if std::env::var("FERROCACHE_BLESS").is_ok_and(|v| v == "1") {
            std::fs::create_dir_all(path.parent().expect("docs dir")).expect("create docs dir");
            std::fs::write(&path, want).expect("write docs/commands.md");
            return;
        }
        let have = std::fs::read_to_string(&path).unwrap_or_default();
        assert!(
            have == want,
            "docs/commands.md is out of date with the command table: run `FERROCACHE_BLESS=1 cargo test -p ferrocache-server commands_doc` and commit the result"
        );
    }

    #[test]
    fn derived_acl_categories() {
        let cats = |name: &[u8]| lookup(name).expect("known command").categories().collect::<Vec<_>>();
        assert_eq!(cats(b"get"), ["@read", "@string", "@fast"]);
        assert_eq!(cats(b"swapdb"), ["@keyspace", "@write", "@fast", "@dangerous"]);
        assert_eq!(cats(b"config|get"), ["@admin", "@slow", "@dangerous"]);
        assert_eq!(cats(b"CONFIG"), ["@slow"]);
        assert_eq!(cats(b"exec"), ["@slow", "@transaction"]);
    }

    #[test]
    fn lookup_names() {
        assert_eq!(lookup(b"CONFIG|Get").map(|e| e.name()), Some("config|get".into()));
        assert!(lookup(b"get|x").is_none());
        assert!(lookup(b"config|").is_none());
        assert!(lookup(b"|get").is_none());
    }
}
