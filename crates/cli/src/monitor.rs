//! `ferrocache monitor ...`: the cluster's built-in alerts, and the same rules for Prometheus.
//!
//! `alerts` lists what fires now (any node answers from its copy of `cluster/alerts`, which the
//! control-plane leader keeps); exit code 1 while any alert fires, so scripts can gate on it.
//! `rules` prints the rules as a Prometheus alerting-rules file, for Alertmanager users.

use clap::Subcommand;

use crate::conn::{CliError, Ctx};
use crate::output::Table;

#[derive(Subcommand)]
pub enum MonitorCmd {
    /// The alerts firing now; exit code 1 while any fires.
    Alerts,
    /// The built-in alert rules as a Prometheus alerting-rules file: `ferrocache monitor rules > alerts.yml`.
    Rules,
}

pub async fn run(ctx: &Ctx, cmd: MonitorCmd) -> Result<u8, CliError> {
    match cmd {
        MonitorCmd::Rules => {
            print!("{}", ferrocache_control::alerts::prometheus_rules());
            Ok(0)
        }
        MonitorCmd::Alerts => {
            let active = ctx.client.alerts().await?;
            ctx.show(&active, |a| {
                if a.alerts.is_empty() {
                    println!("no alert");
                    return;
                }
                let mut table = Table::new(&["ALERT", "SEVERITY", "NODE", "SINCE (UTC)", "SUMMARY"]);
                for alert in &a.alerts {
                    table.row(vec![
                        alert.rule.clone(),
                        alert.severity.clone(),
                        alert.node.clone().unwrap_or_else(|| "-".into()),
                        crate::output::time(alert.since_ms),
                        alert.summary.clone(),
                    ]);
                }
                table.print();
            });
            Ok(u8::from(!active.alerts.is_empty()))
        }
    }
}
