//! `ferrocache top`: the cluster at a glance, refreshed every second, like `redis-cli --stat`
//! for every node at once.
//!
//! Each refresh is one scrape of `/v1/cluster/metrics` on the node given (the whole cluster,
//! labelled by node), or of its own `/metrics` when it is not in a cluster. Rates (commands per
//! second, the hit ratio) are over the time between two scrapes, so the first frame shows
//! them over the node's whole life. On a terminal each frame replaces the last; piped, frames
//! follow each other.

use std::collections::BTreeMap;
use std::io::IsTerminal;
use std::time::{Duration, Instant};

use ferrocache_control::exposition::{Sample, split_by_node};

use crate::conn::{CliError, Ctx};
use crate::output::Table;

#[derive(clap::Args)]
pub struct TopArgs {
    /// Seconds between refreshes.
    #[arg(long, default_value_t = 1.0, value_name = "SECS")]
    interval: f64,
    /// Stop after this many frames [default: run until Ctrl-C].
    #[arg(long, value_name = "N")]
    iterations: Option<u64>,
}

/// One frame's figures for one node.
#[derive(Debug, Default, PartialEq, serde::Serialize)]
pub struct Row {
    pub node: String,
    pub up: bool,
    pub role: String,
    pub ops_per_sec: f64,
    /// None without lookups in the window.
    pub hit_ratio: Option<f64>,
    pub used_memory: f64,
    pub max_memory: f64,
    pub clients: f64,
    /// Bytes behind its primary (replicas).
    pub lag: Option<f64>,
    pub slots: f64,
}

/// The rows of one frame from this scrape and the previous one (`secs` apart).
pub fn rows(now: &BTreeMap<String, Option<Sample>>, before: &BTreeMap<String, Option<Sample>>, secs: f64) -> Vec<Row> {
    let lag_of: BTreeMap<&str, f64> = now.values().flatten().flat_map(|s| s.replica_lag.iter().map(|(a, l)| (a.as_str(), *l))).collect();
    now.iter()
        .map(|(node, sample)| {
            let Some(s) = sample else {
                return Row { node: node.clone(), role: "-".into(), ..Row::default() };
            };
            let zero = Sample::default();
            let (b, secs) = match before.get(node).and_then(Option::as_ref) {
                Some(b) => (b, secs),
                None => (&zero, 1.0),
            };
            let (hits, misses) = ((s.hits - b.hits).max(0.0), (s.misses - b.misses).max(0.0));
            Row {
                node: node.clone(),
                up: true,
                role: if s.replica { "replica" } else { "primary" }.into(),
                ops_per_sec: (s.commands - b.commands).max(0.0) / secs.max(0.001),
                hit_ratio: (hits + misses > 0.0).then(|| hits / (hits + misses)),
                used_memory: s.used_memory,
                max_memory: s.max_memory,
                clients: s.clients,
                lag: lag_of.get(node.as_str()).copied(),
                slots: s.slots_owned,
            }
        })
        .collect()
}

fn mb(bytes: f64) -> String {
    format!("{:.1}", bytes / 1e6)
}

fn render(rows: &[Row]) -> String {
    let mut table = Table::new(&["NODE", "ROLE", "UP", "OPS/S", "HIT%", "MEM MB", "MAX MB", "CLIENTS", "LAG B", "SLOTS"]);
    for r in rows {
        table.row(vec![
            r.node.clone(),
            r.role.clone(),
            if r.up { "yes" } else { "NO" }.into(),
            format!("{:.0}", r.ops_per_sec),
            r.hit_ratio.map_or("-".into(), |h| format!("{:.1}", h * 100.0)),
            mb(r.used_memory),
            if r.max_memory > 0.0 { mb(r.max_memory) } else { "-".into() },
            format!("{:.0}", r.clients),
            r.lag.map_or("-".into(), |l| format!("{l:.0}")),
            format!("{:.0}", r.slots),
        ]);
    }
    table.render()
}

/// One scrape: every node's sample (None: it did not answer), by address.
async fn scrape(ctx: &Ctx) -> Result<BTreeMap<String, Option<Sample>>, CliError> {
    match ctx.client.cluster_metrics().await {
        Ok(text) => Ok(split_by_node(&text).into_iter().map(|(node, t)| (node, (!t.is_empty()).then(|| Sample::parse(&t)))).collect()),
        Err(e) if e.code() == Some("not_found") => {
            let text = ctx.client.metrics().await?;
            Ok(BTreeMap::from([(ctx.client.url().to_string(), Some(Sample::parse(&text)))]))
        }
        Err(e) => Err(e.into()),
    }
}

pub async fn run(ctx: &Ctx, args: TopArgs) -> Result<u8, CliError> {
    let terminal = std::io::stdout().is_terminal() && !ctx.json();
    let interval = Duration::from_secs_f64(args.interval.max(0.1));
    let mut before = BTreeMap::new();
    let mut at = Instant::now();
    let mut frame = 0;
    loop {
        let now = scrape(ctx).await?;
        let secs = at.elapsed().as_secs_f64();
        at = Instant::now();
        let rows = rows(&now, &before, secs);
        before = now;
        match (ctx.json(), terminal) {
            (true, _) => crate::output::print_json(&rows),
            (false, true) => print!("\x1b[H\x1b[2J{}\n{}", crate::output::time(crate::output::now_ms()), render(&rows)),
            (false, false) => println!("{}", render(&rows)),
        }
        frame += 1;
        if args.iterations.is_some_and(|n| frame >= n) {
            return Ok(0);
        }
        tokio::time::sleep(interval).await;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn rates_come_from_two_scrapes_and_lag_from_the_primary() {
        let primary = |commands: f64, hits: f64, misses: f64| Sample { commands, hits, misses, replica_lag: vec![("r:2".into(), 42.0)], slots_owned: 16384.0, ..Sample::default() };
        let before = BTreeMap::from([("p:1".to_string(), Some(primary(100.0, 10.0, 0.0))), ("r:2".to_string(), Some(Sample { replica: true, ..Sample::default() }))]);
        let now = BTreeMap::from([
            ("p:1".to_string(), Some(primary(300.0, 40.0, 10.0))),
            ("r:2".to_string(), Some(Sample { replica: true, ..Sample::default() })),
            ("x:3".to_string(), None),
        ]);
        let rows = rows(&now, &before, 2.0);
        assert_eq!((rows[0].ops_per_sec, rows[0].hit_ratio, rows[0].slots), (100.0, Some(0.75), 16384.0));
        assert_eq!((rows[1].role.as_str(), rows[1].lag, rows[1].hit_ratio), ("replica", Some(42.0), None));
        assert!(!rows[2].up);
        assert!(render(&rows).contains("x:3"));
    }
}
