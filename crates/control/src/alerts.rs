//! Built-in alerts, evaluated by the control-plane leader.
//!
//! Every [`ROUND`] the leader scrapes every node of the cluster map (`/metrics`), reads the
//! node-settings reports and checks the audit chain, then runs the rules of [`evaluate`] (pure,
//! so each rule is tested by making its condition and ending it). The active alerts are kept
//! under the key `cluster/alerts` (JSON), written only when the set changes: every node serves
//! it at `GET /v1/alerts` from its own copy, the dashboard can watch it, and its history is the
//! log of alerts fired and cleared.
//!
//! Rules (thresholds are constants here; `ferrocache monitor rules` writes the same rules as
//! Prometheus alerting rules for people who run Alertmanager):
//! - `NodeDown`: a node the map marks down, or that did not answer the scrape;
//! - `PrimaryWithoutReplica`: a primary owning slots with no replica up and answering;
//! - `ReplicationLag`: a replica more than [`LAG_BYTES`] behind its primary;
//! - `MemoryHigh`: used memory over 90% of maxmemory;
//! - `HitRatioDrop`: the hit ratio over the last round 20 points below the round before (with
//!   at least 100 lookups in each);
//! - `EvictionsSpike`: more than 100 evictions in a round and ten times the round before's rate;
//! - `ConfigDrift`: a node whose applied node settings are not the ones it should run (or that
//!   refused them), for longer than a round;
//! - `AuditChainBroken`: the audit chain does not verify.

use std::collections::{BTreeMap, HashMap};
use std::sync::Arc;
use std::time::Duration;

use ferrocache_topology::map::{ClusterMap, NodeState};
use serde::{Deserialize, Serialize};

use crate::exposition::Sample;
use crate::node::{MapAccess, Node};
use crate::settings::{self, FLEET_KEY, NODE_PREFIX, Report, STATUS_PREFIX};

/// The key holding the active alerts.
pub const ALERTS_KEY: &str = "cluster/alerts";
/// How often the leader evaluates the rules.
pub const ROUND: Duration = Duration::from_secs(2);
pub const LAG_BYTES: f64 = 1024.0 * 1024.0;
const MEMORY_RATIO: f64 = 0.9;
const HIT_RATIO_DROP: f64 = 0.2;
const MIN_LOOKUPS: f64 = 100.0;
const MIN_EVICTIONS: f64 = 100.0;
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(1);
const ACTOR: &str = "alerts";

/// One firing alert.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alert {
    pub rule: String,
    /// `critical` or `warning`.
    pub severity: String,
    /// The node it is about (client address), if one.
    pub node: Option<String>,
    pub summary: String,
    /// Unix ms when it started firing.
    pub since_ms: u64,
}

/// The value under [`ALERTS_KEY`].
#[derive(Debug, Clone, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Active {
    pub alerts: Vec<Alert>,
}

/// What one round sees of one node.
#[derive(Debug, Clone, Default)]
pub struct NodeView {
    /// None: the node did not answer the scrape.
    pub sample: Option<Sample>,
    pub settings: Option<Report>,
    /// The checksum of the settings the node should run.
    pub wanted_checksum: String,
}

/// What one round sees.
#[derive(Debug, Clone)]
pub struct Round {
    pub map: ClusterMap,
    /// By node address.
    pub nodes: HashMap<String, NodeView>,
    pub audit_ok: bool,
    pub now_ms: u64,
}

/// Between rounds: the last samples (for windows) and when drift was first seen.
#[derive(Debug, Default)]
pub struct Memory {
    last: HashMap<String, Sample>,
    /// The previous window's hit ratio and eviction count, by node.
    windows: HashMap<String, (Option<f64>, f64)>,
    drift_since: HashMap<String, u64>,
}

/// Runs every rule; `previous` keeps each alert's start time.
pub fn evaluate(round: &Round, memory: &mut Memory, previous: &Active) -> Active {
    let mut found: Vec<(&str, &str, Option<String>, String)> = Vec::new();
    let mut fire = |rule: &'static str, severity: &'static str, node: Option<&str>, summary: String| {
        found.push((rule, severity, node.map(str::to_string), summary));
    };
    for node in &round.map.nodes {
        let view = round.nodes.get(&node.addr);
        if node.state == NodeState::Down {
            fire("NodeDown", "critical", Some(&node.addr), format!("{} is marked down in the cluster map", node.addr));
        } else if view.is_none_or(|v| v.sample.is_none()) {
            fire("NodeDown", "critical", Some(&node.addr), format!("{} does not answer", node.addr));
        }
    }
    for shard in &round.map.shards {
        let Some(primary) = round.map.node(&shard.primary) else { continue };
        let answering = |addr: &str| round.nodes.get(addr).is_some_and(|v| v.sample.is_some());
        let up = shard.replicas.iter().filter_map(|r| round.map.node(r)).filter(|r| r.state == NodeState::Up && answering(&r.addr)).count();
        if up == 0 && !shard.slots.is_empty() {
            fire("PrimaryWithoutReplica", "warning", Some(&primary.addr), format!("{} serves slots with no replica up", primary.addr));
        }
    }
    for (addr, view) in &round.nodes {
        let Some(s) = &view.sample else { continue };
        for (replica, lag) in &s.replica_lag {
            if *lag > LAG_BYTES {
                fire("ReplicationLag", "warning", Some(replica), format!("{replica} is {:.1} MB behind its primary {addr}", lag / 1e6));
            }
        }
        if s.max_memory > 0.0 && s.used_memory > MEMORY_RATIO * s.max_memory {
            let pct = 100.0 * s.used_memory / s.max_memory;
            fire("MemoryHigh", "warning", Some(addr), format!("{addr} uses {pct:.0}% of its maxmemory"));
        }
        if let Some(last) = memory.last.get(addr) {
            let (hits, misses) = ((s.hits - last.hits).max(0.0), (s.misses - last.misses).max(0.0));
            let evicted = (s.evicted - last.evicted).max(0.0);
            let ratio = (hits + misses >= MIN_LOOKUPS).then(|| hits / (hits + misses));
            let (before_ratio, before_evicted) = memory.windows.get(addr).copied().unwrap_or((None, 0.0));
            if let (Some(now), Some(before)) = (ratio, before_ratio)
                && now < before - HIT_RATIO_DROP
            {
                fire("HitRatioDrop", "warning", Some(addr), format!("{addr}'s hit ratio fell from {before:.2} to {now:.2}"));
            }
            if evicted > MIN_EVICTIONS && evicted > 10.0 * before_evicted {
                fire("EvictionsSpike", "warning", Some(addr), format!("{addr} evicted {evicted:.0} keys in the last {} s", ROUND.as_secs()));
            }
            // A window with too few lookups keeps the last judged ratio as the reference.
            memory.windows.insert(addr.clone(), (ratio.or(before_ratio), evicted));
        }
        memory.last.insert(addr.clone(), s.clone());
        if settings::sync(&view.wanted_checksum, view.settings.as_ref()) != settings::Sync::InSync {
            let since = *memory.drift_since.entry(addr.clone()).or_insert(round.now_ms);
            if round.now_ms.saturating_sub(since) >= ROUND.as_millis() as u64 {
                let why = match view.settings.as_ref().and_then(|r| r.error.as_deref()) {
                    Some(e) => format!("{addr} refused its node settings: {e}"),
                    None => format!("{addr} does not run the node settings it should"),
                };
                fire("ConfigDrift", "warning", Some(addr), why);
            }
        } else {
            memory.drift_since.remove(addr);
        }
    }
    memory.last.retain(|a, _| round.nodes.contains_key(a));
    if !round.audit_ok {
        fire("AuditChainBroken", "critical", None, "the audit chain does not verify: see GET /v1/audit/verify".into());
    }
    let mut alerts: Vec<Alert> = found
        .into_iter()
        .map(|(rule, severity, node, summary)| {
            let since_ms = previous
                .alerts
                .iter()
                .find(|a| a.rule == rule && a.node == node)
                .map_or(round.now_ms, |a| a.since_ms);
            Alert { rule: rule.into(), severity: severity.into(), node, summary, since_ms }
        })
        .collect();
    alerts.sort_by(|a, b| (&a.rule, &a.node).cmp(&(&b.rule, &b.node)));
    alerts.dedup_by(|a, b| a.rule == b.rule && a.node == b.node);
    Active { alerts }
}

/// The active alerts as this node's copy of the state holds them.
pub fn active(node: &Node) -> Active {
    let data = node.sm.data.read();
    data.kv
        .get(ALERTS_KEY, None)
        .ok()
        .flatten()
        .and_then(|r| r.value.as_ref())
        .and_then(|v| serde_json::from_slice(&v.data).ok())
        .unwrap_or_default()
}

/// The leader's loop.
pub async fn run(node: Arc<Node>) {
    let maps = MapAccess { node: node.clone() };
    let mut memory = Memory::default();
    let mut tick = crate::node::ticker(ROUND);
    while node.next_tick(&mut tick).await {
        if !node.is_leader() {
            memory = Memory::default();
            continue;
        }
        let Ok(Some((_, map))) = maps.current() else { continue };
        let round = observe(&node, map).await;
        let previous = active(&node);
        let next = evaluate(&round, &mut memory, &previous);
        if next != previous {
            for a in next.alerts.iter().filter(|a| !previous.alerts.iter().any(|p| p.rule == a.rule && p.node == a.node)) {
                tracing::warn!(rule = %a.rule, "alert: {}", a.summary);
            }
            let value = serde_json::to_value(&next).unwrap_or_default();
            if let Err(e) = maps.put_json(ACTOR, ALERTS_KEY, &value).await {
                tracing::debug!("alerts: {}", e.message);
            }
        }
    }
}

async fn observe(node: &Arc<Node>, map: ClusterMap) -> Round {
    let texts = crate::scrape::scrape_nodes(node, &map, None, SCRAPE_TIMEOUT).await;
    let samples: Vec<Option<Sample>> = texts.iter().map(|t| t.as_deref().map(Sample::parse)).collect();
    let data = node.sm.data.read();
    let value = |key: &str| data.kv.get(key, None).ok().flatten().and_then(|r| r.value.as_ref()).map(|v| v.data.clone());
    let fleet = value(FLEET_KEY);
    let mut nodes = HashMap::new();
    for (n, sample) in map.nodes.iter().zip(samples) {
        let own = value(&format!("{NODE_PREFIX}{}", n.id));
        let wanted = settings::effective(fleet.as_deref(), own.as_deref()).unwrap_or_default();
        let report = value(&format!("{STATUS_PREFIX}{}", n.id)).and_then(|b| serde_json::from_slice(&b).ok());
        nodes.insert(n.addr.clone(), NodeView { sample, settings: report, wanted_checksum: settings::checksum(&wanted) });
    }
    let audit_ok = node.audit_chain_ok(&data.kv);
    drop(data);
    Round { map, nodes, audit_ok, now_ms: crate::node::now_ms() }
}

/// The same rules as Prometheus alerting rules (YAML), over the metrics of `/metrics` (scraped
/// per node, or `/v1/cluster/metrics` for `ferrocache_node_up`).
pub fn prometheus_rules() -> String {
    let rules: BTreeMap<&str, (&str, &str, &str)> = BTreeMap::from([
        ("NodeDown", ("critical", "ferrocache_node_up == 0", "{{ $labels.node }} does not answer")),
        (
            "PrimaryWithoutReplica",
            ("warning", "ferrocache_cluster_slots_owned > 0 and ferrocache_repl_connected_replicas == 0", "{{ $labels.instance }} serves slots with no replica"),
        ),
        ("ReplicationLag", ("warning", "ferrocache_repl_replica_lag_bytes > 1048576", "{{ $labels.replica }} is over 1 MB behind its primary")),
        (
            "MemoryHigh",
            ("warning", "ferrocache_memory_max_bytes > 0 and ferrocache_memory_used_bytes / ferrocache_memory_max_bytes > 0.9", "{{ $labels.instance }} uses over 90% of its maxmemory"),
        ),
        (
            "HitRatioDrop",
            (
                "warning",
                "(rate(ferrocache_keyspace_hits_total[5m]) / (rate(ferrocache_keyspace_hits_total[5m]) + rate(ferrocache_keyspace_misses_total[5m]))) < (rate(ferrocache_keyspace_hits_total[1h] offset 5m) / (rate(ferrocache_keyspace_hits_total[1h] offset 5m) + rate(ferrocache_keyspace_misses_total[1h] offset 5m))) - 0.2",
                "{{ $labels.instance }}'s hit ratio fell by more than 20 points",
            ),
        ),
        (
            "EvictionsSpike",
            ("warning", "rate(ferrocache_evicted_keys_total[5m]) > 10 * rate(ferrocache_evicted_keys_total[1h] offset 5m) + 1", "{{ $labels.instance }} evicts ten times faster than before"),
        ),
        ("ConfigDrift", ("warning", "ferrocache_config_refused == 1 or count(count by (checksum) (ferrocache_config_checksum)) > 1", "nodes run different node settings")),
        ("AuditChainBroken", ("critical", "ferrocache_audit_chain_ok == 0", "the control plane's audit chain does not verify")),
    ]);
    let mut out = String::from("# Ferrocache's built-in alerts as Prometheus alerting rules (ferrocache monitor rules).\ngroups:\n  - name: ferrocache\n    rules:\n");
    for (name, (severity, expr, summary)) in rules {
        out.push_str(&format!(
            "      - alert: {name}\n        expr: '{}'\n        for: 1m\n        labels:\n          severity: {severity}\n        annotations:\n          summary: '{}'\n",
            expr.replace('\'', "''"),
            summary.replace('\'', "''")
        ));
    }
    out
}

#[cfg(test)]
mod tests {
    use ferrocache_topology::map::Shard;
    use ferrocache_topology::placement::SlotRange;

    use super::*;
    use crate::test_nodes::{id, node};

    /// One shard: node 1 primary of every slot, node 2 its replica.
    fn round() -> Round {
        let map = ClusterMap {
            epoch: 1,
            nodes: vec![node(1), node(2)],
            shards: vec![Shard { primary: id(1), replicas: vec![id(2)], slots: vec![SlotRange { start: 0, end: 16383 }] }],
            migrations: Vec::new(),
        };
        let view = NodeView { sample: Some(Sample::default()), settings: None, wanted_checksum: settings::checksum(&Default::default()) };
        let nodes = HashMap::from([("127.0.0.1:7001".to_string(), view.clone()), ("127.0.0.1:7002".to_string(), view)]);
        Round { map, nodes, audit_ok: true, now_ms: 1_000 }
    }

    fn rules(active: &Active) -> Vec<(String, Option<String>)> {
        active.alerts.iter().map(|a| (a.rule.clone(), a.node.clone())).collect()
    }

    fn one(rule: &str, node: &str) -> Vec<(String, Option<String>)> {
        vec![(rule.to_string(), Some(node.to_string()))]
    }

    fn sample<'a>(r: &'a mut Round, addr: &str) -> &'a mut Sample {
        r.nodes.get_mut(addr).unwrap().sample.as_mut().unwrap()
    }

    #[test]
    fn a_healthy_cluster_has_no_alert() {
        assert_eq!(evaluate(&round(), &mut Memory::default(), &Active::default()), Active::default());
    }

    #[test]
    fn node_down_fires_for_a_down_or_silent_node_and_clears() {
        let mut r = round();
        r.map.nodes[1].state = NodeState::Down;
        let a = evaluate(&r, &mut Memory::default(), &Active::default());
        // A primary whose only replica is down is alone too.
        assert_eq!(rules(&a), [("NodeDown".to_string(), Some("127.0.0.1:7002".into())), ("PrimaryWithoutReplica".into(), Some("127.0.0.1:7001".into()))]);
        let mut r = round();
        r.nodes.get_mut("127.0.0.1:7002").unwrap().sample = None;
        assert_eq!(rules(&evaluate(&r, &mut Memory::default(), &Active::default())), rules(&a), "a silent node is as good as down");
        assert!(evaluate(&round(), &mut Memory::default(), &a).alerts.is_empty());
    }

    #[test]
    fn an_alert_keeps_its_start_time() {
        let mut r = round();
        r.map.nodes[1].state = NodeState::Down;
        let first = evaluate(&r, &mut Memory::default(), &Active::default());
        r.now_ms = 9_000;
        let later = evaluate(&r, &mut Memory::default(), &first);
        assert!(later.alerts.iter().all(|a| a.since_ms == 1_000));
    }

    #[test]
    fn replication_lag_and_memory_fire_over_their_thresholds() {
        let mut r = round();
        sample(&mut r, "127.0.0.1:7001").replica_lag = vec![("127.0.0.1:7002".into(), 2.0 * LAG_BYTES)];
        assert_eq!(rules(&evaluate(&r, &mut Memory::default(), &Active::default())), one("ReplicationLag", "127.0.0.1:7002"));
        sample(&mut r, "127.0.0.1:7001").replica_lag = vec![("127.0.0.1:7002".into(), 10.0)];
        let s = sample(&mut r, "127.0.0.1:7001");
        (s.used_memory, s.max_memory) = (95.0, 100.0);
        assert_eq!(rules(&evaluate(&r, &mut Memory::default(), &Active::default())), one("MemoryHigh", "127.0.0.1:7001"));
        sample(&mut r, "127.0.0.1:7001").used_memory = 50.0;
        assert!(evaluate(&r, &mut Memory::default(), &Active::default()).alerts.is_empty());
    }

    /// Three rounds on node 1 with the given hits, misses and evictions in each.
    fn windows(steps: &[(f64, f64, f64)]) -> Vec<Vec<(String, Option<String>)>> {
        let mut memory = Memory::default();
        let mut r = round();
        let (mut hits, mut misses, mut evicted) = (0.0, 0.0, 0.0);
        let mut out = Vec::new();
        for &(h, m, e) in steps {
            (hits, misses, evicted) = (hits + h, misses + m, evicted + e);
            let s = sample(&mut r, "127.0.0.1:7001");
            (s.hits, s.misses, s.evicted) = (hits, misses, evicted);
            out.push(rules(&evaluate(&r, &mut memory, &Active::default())));
        }
        out
    }

    #[test]
    fn a_hit_ratio_drop_fires_and_clears() {
        let seen = windows(&[(0.0, 0.0, 0.0), (950.0, 50.0, 0.0), (300.0, 700.0, 0.0), (300.0, 700.0, 0.0)]);
        assert_eq!(seen[2], one("HitRatioDrop", "127.0.0.1:7001"));
        assert!(seen[3].is_empty(), "the low ratio is the new normal");
        // Too few lookups to judge: nothing.
        assert!(windows(&[(0.0, 0.0, 0.0), (95.0, 5.0, 0.0), (3.0, 7.0, 0.0)]).iter().all(Vec::is_empty));
    }

    #[test]
    fn an_evictions_spike_fires_and_clears() {
        let seen = windows(&[(0.0, 0.0, 0.0), (0.0, 0.0, 5.0), (0.0, 0.0, 5000.0), (0.0, 0.0, 5000.0)]);
        assert_eq!(seen[2], one("EvictionsSpike", "127.0.0.1:7001"));
        assert!(seen[3].is_empty());
    }

    #[test]
    fn config_drift_fires_after_a_round_and_clears() {
        let mut r = round();
        let wanted = settings::checksum(&BTreeMap::from([("hz".to_string(), "20".to_string())]));
        r.nodes.get_mut("127.0.0.1:7002").unwrap().wanted_checksum = wanted.clone();
        let mut memory = Memory::default();
        assert!(evaluate(&r, &mut memory, &Active::default()).alerts.is_empty(), "a change takes a moment to apply");
        r.now_ms += ROUND.as_millis() as u64;
        assert_eq!(rules(&evaluate(&r, &mut memory, &Active::default())), one("ConfigDrift", "127.0.0.1:7002"));
        let report = Report { revision: 5, checksum: wanted, settings: Default::default(), error: None };
        r.nodes.get_mut("127.0.0.1:7002").unwrap().settings = Some(report);
        assert!(evaluate(&r, &mut memory, &Active::default()).alerts.is_empty());
    }

    #[test]
    fn a_broken_audit_chain_fires() {
        let mut r = round();
        r.audit_ok = false;
        assert_eq!(rules(&evaluate(&r, &mut Memory::default(), &Active::default())), [("AuditChainBroken".to_string(), None)]);
    }

    #[test]
    fn the_prometheus_rules_name_every_rule() {
        let text = prometheus_rules();
        for rule in ["NodeDown", "PrimaryWithoutReplica", "ReplicationLag", "MemoryHigh", "HitRatioDrop", "EvictionsSpike", "ConfigDrift", "AuditChainBroken"] {
            assert!(text.contains(&format!("- alert: {rule}\n")), "{rule}");
        }
    }
}
