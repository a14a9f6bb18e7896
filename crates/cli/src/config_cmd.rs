//! `ferrocache config ...`: the config center from the command line.
//!
//! Reads and writes go straight to the API. `diff` and `rollback` first read both sides (the
//! current state and the proposed value or the state at the target revision) and show a unified
//! diff per key, so an operator sees what a change does before making it; `rollback` asks for
//! confirmation on a terminal and refuses to guess without one (`--yes`). `watch` follows
//! changes until interrupted and reconnects by itself, resuming where it stopped.

use std::collections::BTreeMap;
use std::io::{BufRead, IsTerminal, Read, Write};
use std::path::{Path, PathBuf};
use std::time::Duration;

use clap::{ArgGroup, Subcommand};
use ferrocache_control::client::{ClientError, ExportDoc, KeyValue, PutOptions, WatchEvent, WatchTarget};
use ferrocache_control::command::ContentType;
use ferrocache_control::schema::SCHEMA_PREFIX;
use ferrocache_control::state::EventKind;
use serde::Serialize;

use crate::conn::{CliError, Ctx};
use crate::diff;
use crate::output::{Table, kind, preview, printable, time};

/// Width of value previews in tables.
const PREVIEW: usize = 60;

#[derive(Subcommand)]
pub enum ConfigCmd {
    /// The node settings each cluster node reports applying (revision, checksum), against what
    /// the control plane asks of it: `in sync`, `drift`, `refused` or `no report`; exit code 1
    /// when any node is not in sync.
    Status,
    /// Print a key's value (the latest, or as it was at --revision).
    Get {
        key: String,
        #[arg(long, value_name = "N")]
        revision: Option<u64>,
        /// Write the value's bytes exactly as stored (binary included, no newline added).
        #[arg(long)]
        raw: bool,
    },
    /// Write a key.
    Put {
        key: String,
        #[command(flatten)]
        value: ValueArgs,
        /// Only if the key's current mod_revision is N (0 = only if the key does not exist).
        #[arg(long, value_name = "N")]
        if_revision: Option<u64>,
        /// Attach the key to a lease: it is deleted when the lease ends.
        #[arg(long, value_name = "ID")]
        lease: Option<u64>,
    },
    /// Delete a key, or every key under a prefix.
    Delete {
        key: String,
        /// Treat KEY as a prefix.
        #[arg(long)]
        prefix: bool,
    },
    /// List keys under a prefix (every key without one).
    List {
        #[arg(default_value = "")]
        prefix: String,
        /// At most N keys [default: all].
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Every kept version of a key, deletions included.
    History { key: String },
    /// Restore a key or a prefix as it was at a revision (written as a new revision).
    #[command(group(ArgGroup::new("target").required(true).args(["key", "prefix"])))]
    Rollback {
        key: Option<String>,
        /// Roll back every key under this prefix.
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        #[arg(long, value_name = "REVISION")]
        to: u64,
        /// Do not ask for confirmation.
        #[arg(long)]
        yes: bool,
    },
    /// Show what putting a value, or rolling back to a revision, would change.
    Diff {
        key: String,
        #[command(flatten)]
        value: ValueArgs,
        /// Compare with the key as it was at this revision (what a rollback would do).
        #[arg(long, value_name = "REVISION", conflicts_with_all = ["value", "file", "kind"])]
        to: Option<u64>,
    },
    /// Print changes under a key or prefix as they happen, until interrupted.
    #[command(group(ArgGroup::new("target").required(true).args(["key", "prefix"])))]
    Watch {
        key: Option<String>,
        #[arg(long, value_name = "PREFIX")]
        prefix: Option<String>,
        /// Start with the changes from this revision on [default: only new changes].
        #[arg(long, value_name = "REVISION")]
        from: Option<u64>,
    },
    /// Write the keys under a prefix as a JSON or YAML document (a backup `import` reads back).
    Export {
        prefix: String,
        /// Write to FILE instead of standard output.
        #[arg(long, value_name = "FILE")]
        out: Option<PathBuf>,
        /// Document format [default: yaml for a FILE ending in .yaml or .yml, else json].
        #[arg(long, value_enum)]
        format: Option<DocFormat>,
    },
    /// Write every key of an export document (JSON, or YAML for a .yaml/.yml file), all in
    /// one transaction.
    Import {
        file: PathBuf,
        /// Document format [default: yaml for a FILE ending in .yaml or .yml, else json].
        #[arg(long, value_enum)]
        format: Option<DocFormat>,
    },
    /// JSON Schemas that values under a prefix must satisfy.
    Schema {
        #[command(subcommand)]
        cmd: SchemaCmd,
    },
}

#[derive(Subcommand)]
pub enum SchemaCmd {
    /// Set the schema of a prefix from a JSON (or .toml) file.
    Set { prefix: String, file: PathBuf },
    /// Print the schema of a prefix.
    Get { prefix: String },
}

/// A value given on the command line or read from a file.
#[derive(clap::Args)]
pub struct ValueArgs {
    /// The value, as text.
    #[arg(allow_hyphen_values = true)]
    value: Option<String>,
    /// Read the value from FILE (`-` = standard input).
    #[arg(long, value_name = "FILE", conflicts_with = "value")]
    file: Option<PathBuf>,
    /// json, yaml, toml, text or binary [default: by the file's extension, else text, or binary when not UTF-8].
    #[arg(long = "type", id = "kind", value_name = "TYPE", value_parser = parse_type)]
    kind: Option<ContentType>,
}

fn parse_type(text: &str) -> Result<ContentType, String> {
    ContentType::parse(text).ok_or_else(|| "expected json, yaml, toml, text or binary".to_string())
}

impl ValueArgs {
    fn given(&self) -> bool {
        self.value.is_some() || self.file.is_some()
    }

    /// The value's bytes and content type.
    fn read(&self) -> Result<(Vec<u8>, ContentType), CliError> {
        let (bytes, path) = match (&self.value, &self.file) {
            (Some(text), None) => (text.clone().into_bytes(), None),
            (None, Some(path)) => (read_input(path)?, Some(path.as_path())),
            _ => return Err(CliError::usage("give the value, or --file FILE")),
        };
        let kind = self.kind.unwrap_or_else(|| guess_type(path, &bytes));
        Ok((bytes, kind))
    }
}

/// Reads a file, or standard input for `-`.
fn read_input(path: &Path) -> Result<Vec<u8>, CliError> {
    let result = if path == Path::new("-") {
        let mut buf = Vec::new();
        std::io::stdin().read_to_end(&mut buf).map(|_| buf)
    } else {
        std::fs::read(path)
    };
    result.map_err(|e| CliError::usage(format!("cannot read {}: {e}", path.display())))
}

/// By extension (`.json`, `.yaml`/`.yml`, `.toml`), else text when UTF-8, else binary.
fn guess_type(path: Option<&Path>, bytes: &[u8]) -> ContentType {
    let ext = path.and_then(Path::extension).and_then(|e| e.to_str()).unwrap_or("");
    match ext.to_ascii_lowercase().as_str() {
        "json" => ContentType::Json,
        "yaml" | "yml" => ContentType::Yaml,
        "toml" => ContentType::Toml,
        _ if std::str::from_utf8(bytes).is_ok() => ContentType::Text,
        _ => ContentType::Binary,
    }
}

pub async fn run(ctx: &Ctx, cmd: ConfigCmd) -> Result<(), CliError> {
    match cmd {
        ConfigCmd::Status => settings_status(ctx).await,
        ConfigCmd::Get { key, revision, raw } => get(ctx, &key, revision, raw).await,
        ConfigCmd::Put { key, value, if_revision, lease } => {
            let (bytes, content_type) = value.read()?;
            put(ctx, &key, bytes, PutOptions { content_type: Some(content_type), if_revision, lease }).await
        }
        ConfigCmd::Delete { key, prefix } => delete(ctx, &key, prefix).await,
        ConfigCmd::List { prefix, limit } => list(ctx, &prefix, limit).await,
        ConfigCmd::History { key } => history(ctx, &key).await,
        ConfigCmd::Rollback { key, prefix, to, yes } => {
            let target = match (key, prefix) {
                (Some(key), None) => Target::Key(key),
                (None, Some(prefix)) => Target::Prefix(prefix),
                _ => return Err(CliError::usage("give KEY or --prefix PREFIX")),
            };
            rollback(ctx, &target, to, yes).await
        }
        ConfigCmd::Diff { key, value, to } => diff_cmd(ctx, &key, &value, to).await,
        ConfigCmd::Watch { key, prefix, from } => {
            let target = match (key, prefix) {
                (Some(key), None) => WatchTarget::Key(key),
                (None, Some(prefix)) => WatchTarget::Prefix(prefix),
                _ => return Err(CliError::usage("give KEY or --prefix PREFIX")),
            };
            watch(ctx, target, from).await
        }
        ConfigCmd::Export { prefix, out, format } => export(ctx, &prefix, out.as_deref(), format).await,
        ConfigCmd::Import { file, format } => import(ctx, &file, format).await,
        ConfigCmd::Schema { cmd: SchemaCmd::Set { prefix, file } } => {
            let bytes = read_input(&file)?;
            let kind = if guess_type(Some(&file), &bytes) == ContentType::Toml { ContentType::Toml } else { ContentType::Json };
            put(ctx, &format!("{SCHEMA_PREFIX}{prefix}"), bytes, PutOptions { content_type: Some(kind), ..Default::default() }).await
        }
        ConfigCmd::Schema { cmd: SchemaCmd::Get { prefix } } => match ctx.client.get(&format!("{SCHEMA_PREFIX}{prefix}"), None).await {
            Ok(kv) => print_value(ctx, &kv, false),
            Err(e) if e.code() == Some("not_found") => Err(CliError::failed(format!("no schema is set for prefix '{prefix}'"))),
            Err(e) => Err(e.into()),
        },
    }
}

async fn get(ctx: &Ctx, key: &str, revision: Option<u64>, raw: bool) -> Result<(), CliError> {
    print_value(ctx, &ctx.client.get(key, revision).await?, raw)
}

/// The value alone (text, or the bytes with `raw`), or the whole record as JSON.
fn print_value(ctx: &Ctx, kv: &KeyValue, raw: bool) -> Result<(), CliError> {
    if ctx.json() {
        crate::output::print_json(kv);
        return Ok(());
    }
    let bytes = kv.bytes()?.unwrap_or_default();
    let mut stdout = std::io::stdout().lock();
    let written = match (raw, printable(&bytes)) {
        (true, _) => stdout.write_all(&bytes),
        (false, Some(text)) if text.ends_with('\n') => stdout.write_all(text.as_bytes()),
        (false, Some(text)) => writeln!(stdout, "{text}"),
        (false, None) => writeln!(stdout, "<binary value, {} bytes: use --raw to write the bytes, e.g. --raw > FILE>", bytes.len()),
    };
    written.and_then(|()| stdout.flush()).map_err(|e| CliError::failed(format!("cannot write the value: {e}")))
}

async fn put(ctx: &Ctx, key: &str, value: Vec<u8>, opts: PutOptions) -> Result<(), CliError> {
    let result = ctx.client.put(key, value, &opts).await?;
    ctx.show(&result, |r| match &r.prev {
        Some(prev) => println!("put {key} at revision {} (was revision {}, version {})", r.revision, prev.mod_revision, prev.version),
        None => println!("put {key} at revision {} (new key)", r.revision),
    });
    Ok(())
}

async fn delete(ctx: &Ctx, key: &str, prefix: bool) -> Result<(), CliError> {
    let result = ctx.client.delete(key, prefix, None).await?;
    if result.deleted.is_empty() {
        let what = if prefix { format!("no keys under '{key}'") } else { format!("key '{key}' not found") };
        return Err(CliError::failed(format!("{what}: nothing deleted")));
    }
    ctx.show(&result, |r| {
        println!("deleted {} key{} at revision {}:", r.deleted.len(), plural(r.deleted.len()), r.revision);
        r.deleted.iter().for_each(|k| println!("  {k}"));
    });
    Ok(())
}

fn plural(n: usize) -> &'static str {
    if n == 1 { "" } else { "s" }
}

async fn list(ctx: &Ctx, prefix: &str, limit: Option<usize>) -> Result<(), CliError> {
    let page = ctx.client.list(prefix, limit, None).await?;
    ctx.show(&page, |p| {
        let mut table = Table::new(&["KEY", "TYPE", "REVISION", "VERSION", "VALUE"]);
        for kv in &p.items {
            table.row(vec![kv.key.clone(), kind(kv).into(), kv.mod_revision.to_string(), kv.version.to_string(), preview(kv, PREVIEW)]);
        }
        table.print();
        if p.more {
            eprintln!("(more keys follow; raise --limit)");
        }
    });
    Ok(())
}

async fn history(ctx: &Ctx, key: &str) -> Result<(), CliError> {
    let history = ctx.client.history(key).await?;
    if history.versions.is_empty() {
        return Err(CliError::failed(format!("key '{key}' has no history (never written, or compacted)")));
    }
    ctx.show(&history, |h| {
        let mut table = Table::new(&["REVISION", "VERSION", "TYPE", "AUTHOR", "TIME (UTC)", "VALUE"]);
        for kv in &h.versions {
            let cells = [kv.mod_revision.to_string(), kv.version.to_string(), kind(kv).into(), kv.author.clone(), time(kv.timestamp_ms)];
            table.row(cells.into_iter().chain([preview(kv, PREVIEW)]).collect());
        }
        table.print();
    });
    Ok(())
}

/// What a rollback or diff covers.
enum Target {
    Key(String),
    Prefix(String),
}

/// One side of a comparison: a value and its type, or nothing (absent or deleted).
type Side = Option<(ContentType, Vec<u8>)>;

fn side(kv: &KeyValue) -> Result<Side, CliError> {
    Ok(kv.bytes()?.map(|b| (kv.content_type.unwrap_or_default(), b)))
}

/// A key whose value would change.
#[derive(Serialize)]
struct Change {
    key: String,
    /// `create`, `update` or `delete`.
    change: &'static str,
    /// Unified diff of the value (or a note for binary values and type changes).
    diff: String,
}

/// The change from `before` to `after`, or `None` when they are equal.
fn change(key: &str, before: &Side, after: &Side) -> Option<Change> {
    if before == after {
        return None;
    }
    let (kind, old, new) = match (before, after) {
        (None, Some((_, new))) => ("create", &[][..], new.as_slice()),
        (Some((_, old)), None) => ("delete", old.as_slice(), &[][..]),
        (Some((_, old)), Some((_, new))) => ("update", old.as_slice(), new.as_slice()),
        (None, None) => return None,
    };
    let mut text = String::new();
    if let (Some((from, _)), Some((to, _))) = (before, after)
        && from != to
    {
        text.push_str(&format!("content type: {} -> {}\n", from.name(), to.name()));
    }
    match (printable(old), printable(new)) {
        (Some(old), Some(new)) => text.push_str(&diff::unified(old, new)),
        _ if old != new => text.push_str(&format!("binary value: {} bytes -> {} bytes\n", old.len(), new.len())),
        _ => {}
    }
    Some(Change { key: key.to_string(), change: kind, diff: text })
}

/// Current value of a key (`None` when absent).
async fn current(ctx: &Ctx, key: &str, at: Option<u64>) -> Result<Side, CliError> {
    match ctx.client.get(key, at).await {
        Ok(kv) => side(&kv),
        Err(e) if e.code() == Some("not_found") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

/// Live keys under `prefix` at `at` (latest when `None`), by key.
async fn snapshot(ctx: &Ctx, prefix: &str, at: Option<u64>) -> Result<BTreeMap<String, Side>, CliError> {
    let page = ctx.client.list(prefix, None, at).await?;
    page.items.iter().map(|kv| Ok((kv.key.clone(), side(kv)?))).collect()
}

/// What rolling `target` back to `to` would change.
async fn rollback_changes(ctx: &Ctx, target: &Target, to: u64) -> Result<Vec<Change>, CliError> {
    match target {
        Target::Key(key) => {
            let (now, then) = (current(ctx, key, None).await?, current(ctx, key, Some(to)).await?);
            Ok(change(key, &now, &then).into_iter().collect())
        }
        Target::Prefix(prefix) => {
            let (mut now, mut then) = (snapshot(ctx, prefix, None).await?, snapshot(ctx, prefix, Some(to)).await?);
            let keys: std::collections::BTreeSet<String> = now.keys().chain(then.keys()).cloned().collect();
            Ok(keys
                .iter()
                .filter_map(|k| change(k, &now.remove(k).flatten(), &then.remove(k).flatten()))
                .collect())
        }
    }
}

fn print_changes(changes: &[Change], before: &str, after: &str) {
    for c in changes {
        println!("--- {} ({before})", c.key);
        println!("+++ {} ({after})", c.key);
        print!("{}", c.diff);
    }
}

async fn diff_cmd(ctx: &Ctx, key: &str, value: &ValueArgs, to: Option<u64>) -> Result<(), CliError> {
    let (changes, after) = match to {
        Some(rev) => (rollback_changes(ctx, &Target::Key(key.to_string()), rev).await?, format!("revision {rev}")),
        None if value.given() => {
            let (bytes, kind) = value.read()?;
            let proposed = Some((kind, bytes));
            let now = current(ctx, key, None).await?;
            (change(key, &now, &proposed).into_iter().collect(), "proposed".to_string())
        }
        None => return Err(CliError::usage("give the new value, --file FILE or --to REVISION")),
    };
    ctx.show(&DiffOut { changed: !changes.is_empty(), changes: &changes }, |d| {
        if d.changes.is_empty() {
            println!("no changes");
        }
        print_changes(d.changes, "current", &after);
    });
    Ok(())
}

#[derive(Serialize)]
struct DiffOut<'a> {
    changed: bool,
    changes: &'a [Change],
}

async fn rollback(ctx: &Ctx, target: &Target, to: u64, yes: bool) -> Result<(), CliError> {
    let (key, prefix) = match target {
        Target::Key(k) => (k.as_str(), false),
        Target::Prefix(p) => (p.as_str(), true),
    };
    if !yes {
        let changes = rollback_changes(ctx, target, to).await?;
        if changes.is_empty() {
            ctx.show(&DiffOut { changed: false, changes: &changes }, |_| println!("nothing to roll back: already as at revision {to}"));
            return Ok(());
        }
        if ctx.json() || !std::io::stdin().is_terminal() {
            return Err(CliError::usage("not rolling back without confirmation: give --yes (standard input is not a terminal)"));
        }
        print_changes(&changes, "current", &format!("revision {to}"));
        if !confirm(&format!("Roll back {} key{} to revision {to}?", changes.len(), plural(changes.len())))? {
            return Err(CliError::failed("rollback cancelled"));
        }
    }
    let result = ctx.client.rollback(key, prefix, to).await?;
    ctx.show(&result, |r| match r.changed.len() {
        0 => println!("nothing to roll back: already as at revision {to}"),
        n => {
            println!("rolled back {n} key{} to revision {to}, written at revision {}:", plural(n), r.revision);
            r.changed.iter().for_each(|k| println!("  {k}"));
        }
    });
    Ok(())
}

/// Asks on the terminal; only `y` or `yes` agrees.
fn confirm(question: &str) -> Result<bool, CliError> {
    eprint!("{question} [y/N] ");
    let _ = std::io::stderr().flush();
    let mut answer = String::new();
    std::io::stdin().lock().read_line(&mut answer).map_err(|e| CliError::failed(format!("cannot read the answer: {e}")))?;
    Ok(matches!(answer.trim().to_ascii_lowercase().as_str(), "y" | "yes"))
}

/// Longest pause between reconnection attempts of a watch.
const MAX_BACKOFF: Duration = Duration::from_secs(5);

async fn watch(ctx: &Ctx, target: WatchTarget, from: Option<u64>) -> Result<(), CliError> {
    let mut watch = ctx.client.watch(target, from).await?;
    let mut backoff = Duration::from_millis(200);
    let mut down = false;
    loop {
        match watch.next().await {
            Ok(event) => {
                print_event(ctx, &event);
                down = false;
                backoff = Duration::from_millis(200);
            }
            Err(e @ ClientError::Unreachable { .. }) => {
                if !down {
                    eprintln!("ferrocache: watch: {e}; reconnecting (resuming at revision {})", watch.resume_revision());
                    down = true;
                }
                tokio::time::sleep(backoff).await;
                backoff = (backoff * 2).min(MAX_BACKOFF);
            }
            Err(e) => return Err(e.into()),
        }
    }
}

/// One line per event: JSON for scripts, `REVISION TYPE KEY VALUE` for people.
fn print_event(ctx: &Ctx, event: &WatchEvent) {
    if ctx.json() {
        match serde_json::to_string(event) {
            Ok(line) => println!("{line}"),
            Err(e) => eprintln!("ferrocache: cannot encode an event: {e}"),
        }
        return;
    }
    let kind = match event.kind {
        EventKind::Put => "put",
        EventKind::Delete => "delete",
    };
    let line = format!("{:<8} {kind:<6} {} {}", event.revision, event.kv.key, preview(&event.kv, PREVIEW));
    println!("{}", line.trim_end());
}

/// How an export document is written and read: the server speaks JSON; YAML is converted here.
#[derive(Debug, Clone, Copy, PartialEq, Eq, clap::ValueEnum)]
pub enum DocFormat {
    Json,
    Yaml,
}

impl DocFormat {
    /// The format asked for, else the one the file's extension names, else JSON.
    fn pick(asked: Option<DocFormat>, file: Option<&Path>) -> DocFormat {
        let by_extension = file
            .and_then(|f| f.extension())
            .and_then(|e| e.to_str())
            .filter(|e| e.eq_ignore_ascii_case("yaml") || e.eq_ignore_ascii_case("yml"))
            .map(|_| DocFormat::Yaml);
        asked.or(by_extension).unwrap_or(DocFormat::Json)
    }
}

async fn export(ctx: &Ctx, prefix: &str, out: Option<&Path>, format: Option<DocFormat>) -> Result<(), CliError> {
    let doc = ctx.client.export(prefix).await?;
    let encoded = match DocFormat::pick(format, out) {
        DocFormat::Json => serde_json::to_string_pretty(&doc).map(|t| t + "\n").map_err(|e| e.to_string()),
        DocFormat::Yaml => serde_yaml::to_string(&doc).map_err(|e| e.to_string()),
    };
    let text = encoded.map_err(|e| CliError::failed(format!("cannot encode the export: {e}")))?;
    let Some(path) = out else {
        print!("{text}");
        return Ok(());
    };
    std::fs::write(path, text).map_err(|e| CliError::failed(format!("cannot write {}: {e}", path.display())))?;
    let summary = ExportSummary { file: path.display().to_string(), revision: doc.revision, keys: doc.items.len() };
    ctx.show(&summary, |s| println!("exported {} key{} under '{prefix}' at revision {} to {}", s.keys, plural(s.keys), s.revision, s.file));
    Ok(())
}

#[derive(Serialize)]
struct ExportSummary {
    file: String,
    revision: u64,
    keys: usize,
}

async fn import(ctx: &Ctx, file: &Path, format: Option<DocFormat>) -> Result<(), CliError> {
    let bytes = read_input(file)?;
    let parsed: Result<ExportDoc, String> = match DocFormat::pick(format, Some(file)) {
        DocFormat::Json => serde_json::from_slice(&bytes).map_err(|e| e.to_string()),
        DocFormat::Yaml => serde_yaml::from_slice(&bytes).map_err(|e| e.to_string()),
    };
    let doc = parsed
        .map_err(|e| CliError::usage(format!("{} is not an export document ({{\"items\": [{{\"key\", \"value\"}}]}}): {e}", file.display())))?;
    let result = ctx.client.import(&doc.items).await?;
    ctx.show(&result, |r| println!("imported {} key{} at revision {}", r.imported, plural(r.imported), r.revision));
    Ok(())
}

async fn settings_status(ctx: &Ctx) -> Result<(), CliError> {
    let (_, map) = crate::cluster_cmd::read_map(&ctx.client).await?;
    let map = map.ok_or_else(|| CliError::failed("this control plane has no cluster map: node settings are for cluster nodes"))?;
    let rows = crate::rollout::node_settings(&ctx.client, &map).await?;
    crate::rollout::print_node_settings(&rows, ctx.format);
    match rows.iter().filter(|r| r.state != "in sync").count() {
        0 => Ok(()),
        n => Err(CliError::failed(format!("{n} node(s) not in sync"))),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn types_come_from_the_extension_then_the_bytes() {
        assert_eq!(guess_type(Some(Path::new("a.JSON")), b"{}"), ContentType::Json);
        assert_eq!(guess_type(Some(Path::new("a.yml")), b"a: 1"), ContentType::Yaml);
        assert_eq!(guess_type(Some(Path::new("a.toml")), b"a = 1"), ContentType::Toml);
        assert_eq!(guess_type(Some(Path::new("a.conf")), b"x"), ContentType::Text);
        assert_eq!(guess_type(None, &[0xff, 0xfe]), ContentType::Binary);
    }

    #[test]
    fn changes_name_their_kind_and_type_changes() {
        let text = |s: &str| Some((ContentType::Text, s.as_bytes().to_vec()));
        assert!(change("k", &text("a\n"), &text("a\n")).is_none());
        let c = change("k", &None, &text("a\n")).unwrap();
        assert_eq!((c.change, c.diff.as_str()), ("create", "@@ -0,0 +1,1 @@\n+a\n"));
        assert_eq!(change("k", &text("a\n"), &None).unwrap().change, "delete");
        let json = Some((ContentType::Json, b"1\n".to_vec()));
        assert_eq!(change("k", &text("1\n"), &json).unwrap().diff, "content type: text -> json\n");
        let bin = Some((ContentType::Binary, vec![0, 1, 2]));
        assert_eq!(change("k", &text("a"), &bin).unwrap().diff, "content type: text -> binary\nbinary value: 1 bytes -> 3 bytes\n");
    }
}
