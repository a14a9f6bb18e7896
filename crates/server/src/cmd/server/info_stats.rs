//! INFO's per-command sections, `commandstats`, `errorstats` and
//! `latencystats`, in Redis 7's line formats (tools such as
//! `redis_exporter` parse them), from [`crate::cmdstats`].
//!
//! Commands are listed by name (Redis lists them in hash order, which no
//! reader relies on); subcommands as `parent|sub`; a command appears once it
//! was called or refused, and in `latencystats` once it ran.

use super::info::Info;
use crate::cmdstats::CommandTotals;
use crate::command::Ctx;
use crate::table::table;

/// The percentiles `latencystats` reports (Redis's default
/// `latency-tracking-info-percentiles`).
const PERCENTILES: &[(&str, f64)] = &[("50", 50.0), ("99", 99.0), ("99.9", 99.9)];

/// The commands to list, by name.
fn by_name(ctx: &Ctx) -> Vec<(&'static str, CommandTotals)> {
    let mut all: Vec<_> = ctx.shared.cmdstats.commands().into_iter().map(|(id, t)| (table().stat_name(id), t)).collect();
    all.sort_by_key(|(name, _)| *name);
    all
}

pub(super) fn commandstats(ctx: &Ctx, i: &mut Info) {
    for (name, t) in by_name(ctx) {
        let usec = t.nanos / 1000;
        let per_call = if t.calls == 0 { 0.0 } else { t.nanos as f64 / 1000.0 / t.calls as f64 };
        i.field(
            &format!("cmdstat_{name}"),
            format_args!(
                "calls={},usec={usec},usec_per_call={per_call:.2},rejected_calls={},failed_calls={}",
                t.calls, t.rejected, t.failed
            ),
        );
    }
}

pub(super) fn errorstats(ctx: &Ctx, i: &mut Info) {
    for (code, count) in ctx.shared.cmdstats.errors() {
        i.field(&format!("errorstat_{code}"), format_args!("count={count}"));
    }
}

pub(super) fn latencystats(ctx: &Ctx, i: &mut Info) {
    for (name, t) in by_name(ctx).into_iter().filter(|(_, t)| t.calls > 0) {
        let values: Vec<String> = PERCENTILES.iter().map(|(name, p)| format!("p{name}={:.3}", t.percentile_usec(*p))).collect();
        i.field(&format!("latency_percentiles_usec_{name}"), values.join(","));
    }
}
