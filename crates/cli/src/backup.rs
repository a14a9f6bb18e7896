//! `ferrocache backup ...`: the whole control plane to a file and back, for disaster recovery.
//!
//! `save` fetches a backup, checks it exactly as a restore will (so a file that gets written is
//! one that restores) and writes it atomically: to a temporary file beside FILE, renamed into
//! place, so an interrupted save never leaves half a backup under FILE's name. `inspect`
//! checks a file without any node and prints what it holds. `restore` checks the file, then
//! sends it unchanged; the node checks it again and replaces its state through the Raft log.

use std::path::{Path, PathBuf};

use clap::Subcommand;
use ferrocache_control::backup::{self, BackupMeta, Opened};
use serde_json::json;

use crate::conn::{CliError, Ctx};
use crate::output::time;

#[derive(Subcommand)]
pub enum BackupCmd {
    /// Save the whole control plane (keys with history, cluster map, leases, locks, audit
    /// chain) to FILE.
    Save { file: PathBuf },
    /// Replace the control plane's state with the backup in FILE, on every member.
    Restore {
        file: PathBuf,
        /// Replace a control plane that already holds data (it is lost, except its leases,
        /// locks and cluster map, which are kept).
        #[arg(long)]
        force: bool,
    },
    /// Check FILE's checksum and print what it holds (needs no node).
    Inspect { file: PathBuf },
}

pub async fn run(ctx: &Ctx, cmd: BackupCmd) -> Result<(), CliError> {
    match cmd {
        BackupCmd::Save { file } => save(ctx, &file).await,
        BackupCmd::Restore { file, force } => {
            let bytes = read(&file)?;
            check(&file, &bytes)?;
            let done = ctx.client.restore(bytes, force).await?;
            ctx.show(&done, |d| {
                println!(
                    "restored the backup of revision {} from {}: {} live; the control plane is now at revision {} \
                     (watchers resume from there)",
                    d.backup_revision,
                    file.display(),
                    count(d.keys, "key", "keys"),
                    d.revision
                );
            });
            Ok(())
        }
        BackupCmd::Inspect { file } => {
            let opened = check(&file, &read(&file)?)?;
            ctx.show(&json!({ "file": file, "meta": opened.meta, "checksum": opened.checksum, "verified": true }), |_| {
                print!("{}", describe(&file, &opened));
            });
            Ok(())
        }
    }
}

async fn save(ctx: &Ctx, file: &Path) -> Result<(), CliError> {
    let bytes = ctx.client.backup().await?;
    let opened = backup::open(&bytes)
        .map_err(|e| CliError::failed(format!("the node sent a backup that does not check out, nothing written: {e}")))?;
    let name = file.file_name().ok_or_else(|| CliError::usage(format!("{} is not a file name", file.display())))?;
    let partial = file.with_file_name(format!(".{}.partial", name.to_string_lossy()));
    let written = std::fs::write(&partial, &bytes).and_then(|()| std::fs::rename(&partial, file));
    if let Err(e) = written {
        let _ = std::fs::remove_file(&partial);
        return Err(CliError::failed(format!("cannot write {}: {e}", file.display())));
    }
    let out = json!({ "file": file, "bytes": bytes.len(), "meta": opened.meta, "checksum": opened.checksum });
    ctx.show(&out, |_| {
        let m = &opened.meta;
        println!(
            "saved revision {} ({}, {}, {}) to {} ({} bytes, sha256 {})",
            m.revision,
            count(m.summary.keys, "key", "keys"),
            count(m.summary.versions, "version", "versions"),
            count(m.summary.audit_entries, "audit entry", "audit entries"),
            file.display(),
            bytes.len(),
            opened.checksum
        );
    });
    Ok(())
}

/// `1 key`, `2 keys`.
fn count(n: u64, one: &str, many: &str) -> String {
    format!("{n} {}", if n == 1 { one } else { many })
}

fn read(file: &Path) -> Result<Vec<u8>, CliError> {
    std::fs::read(file).map_err(|e| CliError::usage(format!("cannot read {}: {e}", file.display())))
}

/// Opens the backup as a restore would, failing with what is wrong with the file.
fn check(file: &Path, bytes: &[u8]) -> Result<Opened, CliError> {
    backup::open(bytes).map_err(|e| CliError::failed(format!("{}: {e}", file.display())))
}

/// The text form of `inspect`.
fn describe(file: &Path, opened: &Opened) -> String {
    let BackupMeta { format, format_version, revision, first_revision, created_at_ms, source_node, source_url, summary } = &opened.meta;
    let history = if *first_revision > 0 { format!(" (history kept from revision {first_revision})") } else { String::new() };
    [
        format!("file:           {}", file.display()),
        format!("format:         {format} version {format_version}"),
        format!("revision:       {revision}{history}"),
        format!("taken:          {} UTC on node {source_node} ({source_url})", time(*created_at_ms)),
        format!("keys:           {} live, {} versions with history", summary.keys, summary.versions),
        format!("audit entries:  {} (chain verified)", summary.audit_entries),
        format!("sessions:       {} leases, {} locks (not restored: they belong to the source's processes)", summary.leases, summary.locks),
        format!("checksum:       sha256 {} (matches)", opened.checksum),
    ]
    .iter()
    .map(|line| format!("{line}\n"))
    .collect()
}
