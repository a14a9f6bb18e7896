//! `ferrocache lease ...`: leases, the time-to-live that ephemeral keys and locks hang on.

use std::time::Duration;

use clap::Subcommand;
use ferrocache_control::client::Lease;

use crate::conn::{CliError, Ctx};
use crate::output::{Table, secs, time};

#[derive(Subcommand)]
pub enum LeaseCmd {
    /// Grant a lease that ends TTL_SECS after its last keep-alive.
    Grant { ttl_secs: u64 },
    /// Renew a lease for another full TTL.
    Keepalive { id: u64 },
    /// End a lease now: its keys are deleted and its locks released.
    Revoke { id: u64 },
    /// Every live lease.
    List,
}

pub async fn run(ctx: &Ctx, cmd: LeaseCmd) -> Result<(), CliError> {
    match cmd {
        LeaseCmd::Grant { ttl_secs } => {
            if ttl_secs == 0 {
                return Err(CliError::usage("TTL_SECS must be at least 1"));
            }
            let lease = ctx.client.lease_grant(Duration::from_secs(ttl_secs)).await?;
            ctx.show(&lease, |l| println!("lease {} granted, ttl {}", l.info.id, secs(l.info.ttl_ms)));
        }
        LeaseCmd::Keepalive { id } => {
            let lease = ctx.client.lease_keepalive(id).await?;
            ctx.show(&lease, |l| println!("lease {} renewed: {} left", l.info.id, secs(l.remaining_ms)));
        }
        LeaseCmd::Revoke { id } => {
            let revoked = ctx.client.lease_revoke(id).await?;
            ctx.show(&revoked, |r| match r.deleted.is_empty() {
                true => println!("lease {} revoked", r.id),
                false => println!("lease {} revoked; deleted {}", r.id, r.deleted.join(", ")),
            });
        }
        LeaseCmd::List => {
            let leases = ctx.client.leases().await?;
            ctx.show(&leases, |ls| lease_table(ls).print());
        }
    }
    Ok(())
}

fn lease_table(leases: &[Lease]) -> Table {
    let mut table = Table::new(&["ID", "TTL", "REMAINING", "EXPIRES (UTC)", "KEYS"]);
    for l in leases {
        let info = &l.info;
        table.row(vec![info.id.to_string(), secs(info.ttl_ms), secs(l.remaining_ms), time(info.expires_at_ms), info.keys.join(", ")]);
    }
    table
}
