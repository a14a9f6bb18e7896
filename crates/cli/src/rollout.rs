//! Gray rollout of node settings: a change goes to one canary node first, is watched, and
//! reaches the fleet only if the canary stayed healthy; otherwise it is taken back.
//!
//! The health check compares the canary's counters over a window before the change with a
//! window after it (both read from its `/metrics`): the error-reply ratio, the keyspace hit
//! ratio, the p99 command latency (from the duration histogram) and memory used. A window with
//! too little traffic to judge a signal skips that signal. Rules, chosen to catch a harmful
//! change rather than noise:
//!
//! - errors: more than 1 point above the ratio before and more than twice it;
//! - hit ratio: more than 10 points below (at least 100 lookups in each window);
//! - p99 latency: more than twice and more than 1 ms above (at least 100 commands in each);
//! - memory: more than 1.5 times and more than 64 MB above.
//!
//! A rollback deletes the canary's own settings, so it returns to the fleet's, and records why
//! under `deploy/<name>/action` (its history and the audit log keep it).

use std::time::Duration;

use ferrocache_control::client::{Client, PutOptions};
use ferrocache_control::command::ContentType;
use ferrocache_topology::map::ClusterMap;

use crate::conn::CliError;
use ferrocache_control::exposition::Sample;
use ferrocache_control::settings::{self as node_settings, FLEET_KEY, NODE_PREFIX, Report, STATUS_PREFIX, Settings};
use crate::output::{Format, Table};

/// How long nodes may take to report a change.
const REPORT_TIMEOUT: Duration = Duration::from_secs(30);
/// Fewer events than this in a window say nothing about a ratio.
const MIN_EVENTS: f64 = 100.0;

/// What happened between two samples.
#[derive(Debug, Clone, PartialEq)]
pub struct Window {
    pub commands: f64,
    pub error_ratio: f64,
    pub lookups: f64,
    pub hit_ratio: f64,
    pub p99: Option<f64>,
    pub used_memory: f64,
}

impl std::fmt::Display for Window {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let p99 = self.p99.map_or("-".to_string(), |p| format!("{:.2} ms", p * 1e3));
        write!(
            f,
            "{} commands, {:.1}% errors, hit ratio {:.2} over {} lookups, p99 {p99}, {:.1} MB used",
            self.commands,
            self.error_ratio * 100.0,
            self.hit_ratio,
            self.lookups,
            self.used_memory / 1e6
        )
    }
}

impl Window {
    pub fn between(a: &Sample, b: &Sample) -> Window {
        let commands = (b.commands - a.commands).max(0.0);
        let (hits, misses) = ((b.hits - a.hits).max(0.0), (b.misses - a.misses).max(0.0));
        let lookups = hits + misses;
        let counts: Vec<(f64, f64)> = b
            .buckets
            .iter()
            .map(|&(le, n)| (le, n - a.buckets.iter().find(|(l, _)| *l == le).map_or(0.0, |(_, m)| *m)))
            .collect();
        let total = counts.last().map_or(0.0, |(_, n)| *n);
        let p99 = (total > 0.0).then(|| counts.iter().find(|(_, n)| *n >= 0.99 * total).map_or(f64::INFINITY, |(le, _)| *le));
        Window {
            commands,
            error_ratio: if commands > 0.0 { (b.errors - a.errors).max(0.0) / commands } else { 0.0 },
            lookups,
            hit_ratio: if lookups > 0.0 { hits / lookups } else { 1.0 },
            p99,
            used_memory: b.used_memory,
        }
    }

    /// Why `after` is worse than `self` (empty: it is not).
    pub fn regressions(&self, after: &Window) -> Vec<String> {
        let mut out = Vec::new();
        if after.commands >= MIN_EVENTS && after.error_ratio > self.error_ratio + 0.01 && after.error_ratio > 2.0 * self.error_ratio {
            out.push(format!("error replies rose from {:.1}% to {:.1}% of commands", self.error_ratio * 100.0, after.error_ratio * 100.0));
        }
        if self.lookups >= MIN_EVENTS && after.lookups >= MIN_EVENTS && after.hit_ratio < self.hit_ratio - 0.10 {
            out.push(format!("the hit ratio fell from {:.2} to {:.2}", self.hit_ratio, after.hit_ratio));
        }
        if let (Some(before), Some(now)) = (self.p99, after.p99)
            && self.commands >= MIN_EVENTS
            && after.commands >= MIN_EVENTS
            && now > 2.0 * before
            && now - before > 0.001
        {
            out.push(format!("p99 latency rose from {:.2} ms to {:.2} ms", before * 1e3, now * 1e3));
        }
        if after.used_memory > 1.5 * self.used_memory && after.used_memory - self.used_memory > 64e6 {
            out.push(format!("memory used rose from {:.0} MB to {:.0} MB", self.used_memory / 1e6, after.used_memory / 1e6));
        }
        out
    }
}

/// The fleet settings the control plane holds (None: none yet).
pub async fn fleet(client: &Client) -> Result<Option<Settings>, CliError> {
    value_of(client, FLEET_KEY).await?.map(|bytes| parse_fleet(&bytes)).transpose()
}

fn parse_fleet(bytes: &[u8]) -> Result<Settings, CliError> {
    serde_json::from_slice(bytes).map_err(|e| CliError::failed(format!("{FLEET_KEY} is not an object of texts: {e}")))
}

/// The value of `key`, None when it does not exist.
pub(crate) async fn value_of(client: &Client, key: &str) -> Result<Option<Vec<u8>>, CliError> {
    match client.get(key, None).await {
        Ok(kv) => Ok(kv.bytes()?),
        Err(e) if e.code() == Some("not_found") => Ok(None),
        Err(e) => Err(e.into()),
    }
}

async fn put_json(client: &Client, key: &str, value: &impl serde::Serialize) -> Result<u64, CliError> {
    let bytes = serde_json::to_vec(value).map_err(|e| CliError::failed(e.to_string()))?;
    let opts = PutOptions { content_type: Some(ContentType::Json), if_revision: None, lease: None };
    Ok(client.put(key, bytes, &opts).await?.revision)
}

/// One node's settings as it reported them, against what it should run.
#[derive(Debug, serde::Serialize)]
pub struct NodeSettings {
    pub addr: String,
    pub id: String,
    pub wanted_checksum: String,
    pub report: Option<Report>,
    /// `in sync`, `drift` (an older or different set), `refused` (with the node's error) or
    /// `no report`.
    pub state: String,
}

/// Every node of `map`: what it should run and what it reported.
pub async fn node_settings(client: &Client, map: &ClusterMap) -> Result<Vec<NodeSettings>, CliError> {
    // One listing of every settings key: each node is judged against the same revision.
    let mut values = std::collections::HashMap::new();
    for kv in client.list(node_settings::PREFIX, None, None).await?.items {
        if let Some(bytes) = kv.bytes()? {
            values.insert(kv.key, bytes);
        }
    }
    let fleet_bytes = values.get(FLEET_KEY);
    if let Some(bytes) = fleet_bytes {
        parse_fleet(bytes)?;
    }
    let mut out = Vec::new();
    for node in &map.nodes {
        let own = values.get(&format!("{NODE_PREFIX}{}", node.id));
        let wanted = node_settings::effective(fleet_bytes.map(Vec::as_slice), own.map(Vec::as_slice)).map_err(CliError::failed)?;
        let wanted_checksum = node_settings::checksum(&wanted);
        let report: Option<Report> = values.get(&format!("{STATUS_PREFIX}{}", node.id)).and_then(|b| serde_json::from_slice(b).ok());
        let state = node_settings::sync(&wanted_checksum, report.as_ref()).name();
        out.push(NodeSettings { addr: node.addr.clone(), id: node.id.to_string(), wanted_checksum, report, state: state.to_string() });
    }
    Ok(out)
}

pub fn print_node_settings(rows: &[NodeSettings], format: Format) {
    if format == Format::Json {
        crate::output::print_json(&rows);
        return;
    }
    let mut table = Table::new(&["NODE", "STATE", "REVISION", "CHECKSUM", "WANTED", "ERROR"]);
    for r in rows {
        table.row(vec![
            r.addr.clone(),
            r.state.clone(),
            r.report.as_ref().map_or("-".into(), |r| r.revision.to_string()),
            r.report.as_ref().map_or("-".into(), |r| r.checksum[..12].to_string()),
            r.wanted_checksum[..12].to_string(),
            r.report.as_ref().and_then(|r| r.error.clone()).unwrap_or_else(|| "-".into()),
        ]);
    }
    table.print();
}

/// Waits until every node of `map` that `which` selects reports `checksum` (or refuses).
async fn await_reports(client: &Client, map: &ClusterMap, which: impl Fn(&str) -> bool) -> Result<Vec<NodeSettings>, CliError> {
    let deadline = tokio::time::Instant::now() + REPORT_TIMEOUT;
    loop {
        let rows = node_settings(client, map).await?;
        let chosen: Vec<&NodeSettings> = rows.iter().filter(|r| which(&r.addr)).collect();
        if let Some(refused) = chosen.iter().find(|r| r.state == "refused") {
            let error = refused.report.as_ref().and_then(|r| r.error.clone()).unwrap_or_default();
            return Err(CliError::failed(format!("{} refused the settings: {error}", refused.addr)));
        }
        if chosen.iter().all(|r| r.state == "in sync") {
            return Ok(rows);
        }
        if tokio::time::Instant::now() >= deadline {
            let late: Vec<&str> = chosen.iter().filter(|r| r.state != "in sync").map(|r| r.addr.as_str()).collect();
            return Err(CliError::failed(format!("no report of the new settings from {} after {} s", late.join(", "), REPORT_TIMEOUT.as_secs())));
        }
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

/// The schema of the settings keys: an object of texts (what nodes apply, checked by the
/// control plane's leader on every write; see crates/control/src/schema.rs).
const SETTINGS_SCHEMA: &str = r#"{"type":"object","additionalProperties":{"type":"string"},"description":"node settings: name -> value as text"}"#;

/// Puts the schemas of the settings keys in place, unless they are there already.
async fn ensure_schemas(client: &Client) -> Result<(), CliError> {
    for key in [format!("_schema/{FLEET_KEY}"), format!("_schema/{NODE_PREFIX}")] {
        if value_of(client, &key).await?.as_deref() != Some(SETTINGS_SCHEMA.as_bytes()) {
            let opts = PutOptions { content_type: Some(ContentType::Json), if_revision: None, lease: None };
            client.put(&key, SETTINGS_SCHEMA.as_bytes().to_vec(), &opts).await?;
        }
    }
    Ok(())
}

/// Settles the fleet's settings at `wanted`: straight to every node when `canary` is None,
/// else through the canary with a health check over `watch`. Returns the nodes' reports.
pub async fn roll_out(
    client: &Client,
    canary_client: Option<(&str, &Client)>,
    map: &ClusterMap,
    wanted: &Settings,
    watch: Duration,
    record: impl AsyncFn(serde_json::Value) -> Result<(), CliError>,
) -> Result<Vec<NodeSettings>, CliError> {
    ensure_schemas(client).await?;
    if let Some((canary, metrics)) = canary_client {
        let node = map.nodes.iter().find(|n| n.addr == canary).ok_or_else(|| CliError::failed(format!("the canary {canary} is not in the cluster")))?;
        let own_key = format!("{NODE_PREFIX}{}", node.id);
        let sample = async || -> Result<Sample, CliError> { Ok(Sample::parse(&metrics.metrics().await?)) };
        println!("canary {canary}: watching {} s before the change", watch.as_secs());
        let s0 = sample().await?;
        tokio::time::sleep(watch).await;
        let before = Window::between(&s0, &sample().await?);
        println!("canary {canary} before: {before}");
        put_json(client, &own_key, wanted).await?;
        if let Err(e) = await_reports(client, map, |a| a == canary).await {
            client.delete(&own_key, false, None).await?;
            record(serde_json::json!({ "step": "rollback", "canary": canary, "reason": e.message })).await?;
            return Err(CliError::failed(format!("rolled back: {}", e.message)));
        }
        println!("canary {canary}: running the new settings; watching {} s", watch.as_secs());
        let s2 = sample().await?;
        tokio::time::sleep(watch).await;
        let after = Window::between(&s2, &sample().await?);
        println!("canary {canary} after:  {after}");
        let problems = before.regressions(&after);
        if !problems.is_empty() {
            client.delete(&own_key, false, None).await?;
            let reason = problems.join("; ");
            record(serde_json::json!({ "step": "rollback", "canary": canary, "reason": reason, "settings": wanted })).await?;
            await_reports(client, map, |a| a == canary).await?;
            return Err(CliError::failed(format!("rolled back the settings: on the canary {canary}, {reason}")));
        }
        put_json(client, FLEET_KEY, wanted).await?;
        client.delete(&own_key, false, None).await?;
    } else {
        put_json(client, FLEET_KEY, wanted).await?;
    }
    let rows = await_reports(client, map, |_| true).await?;
    record(serde_json::json!({ "step": "settings applied", "settings": wanted })).await?;
    Ok(rows)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(commands: f64, errors: f64, hits: f64, misses: f64, fast: f64, slow: f64) -> Sample {
        // `fast` commands took under 100 us, `slow` ones 10 ms.
        Sample {
            commands,
            errors,
            hits,
            misses,
            used_memory: 10e6,
            buckets: vec![(0.0001, fast), (0.01, fast + slow), (f64::INFINITY, fast + slow)],
            ..Sample::default()
        }
    }

    #[test]
    fn a_window_has_ratios_and_p99() {
        let w = Window::between(&sample(0.0, 0.0, 0.0, 0.0, 0.0, 0.0), &sample(1000.0, 10.0, 900.0, 100.0, 995.0, 5.0));
        assert_eq!((w.commands, w.error_ratio, w.lookups, w.hit_ratio), (1000.0, 0.01, 1000.0, 0.9));
        assert_eq!(w.p99, Some(0.0001));
        let w = Window::between(&sample(0.0, 0.0, 0.0, 0.0, 0.0, 0.0), &sample(1000.0, 0.0, 0.0, 0.0, 900.0, 100.0));
        assert_eq!(w.p99, Some(0.01));
    }

    #[test]
    fn regressions_are_caught_and_noise_is_not() {
        let zero = sample(0.0, 0.0, 0.0, 0.0, 0.0, 0.0);
        let before = Window::between(&zero, &sample(1000.0, 1.0, 950.0, 50.0, 1000.0, 0.0));
        let same = Window::between(&zero, &sample(1100.0, 2.0, 1000.0, 80.0, 1100.0, 0.0));
        assert!(before.regressions(&same).is_empty());
        let misses = Window::between(&zero, &sample(1000.0, 1.0, 300.0, 700.0, 1000.0, 0.0));
        assert_eq!(before.regressions(&misses), ["the hit ratio fell from 0.95 to 0.30"]);
        let errors = Window::between(&zero, &sample(1000.0, 100.0, 950.0, 50.0, 1000.0, 0.0));
        assert_eq!(before.regressions(&errors), ["error replies rose from 0.1% to 10.0% of commands"]);
        let slow = Window::between(&zero, &sample(1000.0, 1.0, 950.0, 50.0, 900.0, 100.0));
        assert_eq!(before.regressions(&slow), ["p99 latency rose from 0.10 ms to 10.00 ms"]);
        // Too little traffic after the change to judge the hit ratio.
        let quiet = Window::between(&zero, &sample(50.0, 0.0, 10.0, 40.0, 50.0, 0.0));
        assert!(before.regressions(&quiet).is_empty());
    }
}
