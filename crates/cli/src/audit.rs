//! `ferrocache audit ...`: the hash-chained log of every change, and its end-to-end check.

use clap::Subcommand;

use crate::conn::{CliError, Ctx};
use crate::output::{Table, short_hash, time};

#[derive(Subcommand)]
pub enum AuditCmd {
    /// Entries in order, from sequence number --from.
    List {
        #[arg(long, value_name = "SEQ")]
        from: Option<u64>,
        /// At most N entries [default: 100].
        #[arg(long, value_name = "N")]
        limit: Option<usize>,
    },
    /// Check the whole hash chain; exit code 1 names the first broken link.
    Verify,
}

pub async fn run(ctx: &Ctx, cmd: AuditCmd) -> Result<(), CliError> {
    match cmd {
        AuditCmd::List { from, limit } => {
            let page = ctx.client.audit(from, limit).await?;
            ctx.show(&page, |p| {
                let mut table = Table::new(&["SEQ", "REVISION", "TIME (UTC)", "ACTOR", "OP", "KEY", "OLD", "NEW"]);
                for e in &p.entries {
                    let (old, new) = (short_hash(e.old_checksum.as_deref()), short_hash(e.new_checksum.as_deref()));
                    let cells = [e.seq.to_string(), e.revision.to_string(), time(e.time_ms), e.actor.clone(), e.op.clone(), e.key.clone()];
                    table.row(cells.into_iter().chain([old, new]).collect());
                }
                table.print();
            });
        }
        AuditCmd::Verify => {
            let report = ctx.client.audit_verify().await?;
            ctx.show(&report, |r| {
                if r.ok && r.compacted > 0 {
                    println!("audit chain ok: {} entries verified from the checkpoint of {} compacted ones", r.entries, r.compacted);
                } else if r.ok {
                    println!("audit chain ok: {} entries verified", r.entries);
                }
            });
            if !report.ok {
                let at = report.first_broken.map_or_else(|| "an unknown entry".to_string(), |s| format!("entry {s}"));
                let why = report.reason.as_deref().unwrap_or("no reason given");
                return Err(CliError::failed(format!("audit chain broken at {at} of {}: {why}", report.entries)));
            }
        }
    }
    Ok(())
}
