//! The last hour of the cluster's figures, kept in memory for the dashboard's charts.
//!
//! A browser only sees what happens while its page is open; so that the charts survive a
//! reload, the node serving the dashboard samples the cluster itself. The sampler starts the
//! first time the dashboard (or `GET /v1/cluster/history`) is asked for on a node, then every
//! [`INTERVAL`] scrapes every node of the map (the same scrape as `/v1/cluster/metrics`, see
//! [`crate::scrape`]) and turns two successive expositions of a node into rates: a
//! [`Point`] per round, [`KEEP`] rounds (one hour) in a ring. Nodes that never serve the
//! dashboard never sample, so a large cluster does not pay for it on every node.
//!
//! The ring is not replicated: another node's dashboard has its own hour, started when it
//! was first opened there.

use std::collections::{BTreeMap, HashMap, VecDeque};
use std::sync::Arc;
use std::sync::atomic::{AtomicBool, Ordering};
use std::time::Duration;

use parking_lot::Mutex;
use serde::Serialize;

use crate::exposition::Sample;
use crate::node::{MapAccess, Node};

/// How often the sampler scrapes.
pub const INTERVAL: Duration = Duration::from_secs(5);
/// Rounds kept: one hour.
pub const KEEP: usize = 3600 / 5;
const SCRAPE_TIMEOUT: Duration = Duration::from_secs(2);

/// One node's figures over one round.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct NodePoint {
    /// Whether it answered the scrape.
    pub up: bool,
    /// Commands per second (None on its first answered round).
    pub ops: Option<f64>,
    /// Key lookups per second.
    pub lookups: Option<f64>,
    /// Hits over lookups in the round (None without lookups).
    pub hit_ratio: Option<f64>,
    /// Used memory, bytes.
    pub memory: Option<f64>,
    /// The 99th percentile of command duration over the round, milliseconds (an upper
    /// bound: the histogram bucket it falls in).
    pub p99_ms: Option<f64>,
    /// Bytes this node, as a replica, is behind its primary (None for a primary).
    pub lag: Option<f64>,
}

/// One round over the whole cluster.
#[derive(Debug, Clone, PartialEq, Serialize)]
pub struct Point {
    /// Unix ms.
    pub t: u64,
    /// By node address.
    pub nodes: BTreeMap<String, NodePoint>,
}

/// The ring and what the next round needs of the last one.
#[derive(Debug, Default)]
pub struct Ring {
    points: VecDeque<Point>,
    last: HashMap<String, (u64, Sample)>,
}

impl Ring {
    /// Adds a round: each node's exposition parsed (None: did not answer), at `now_ms`.
    pub fn record(&mut self, now_ms: u64, nodes: &[(String, Option<Sample>)]) {
        let mut lags: HashMap<&str, f64> = HashMap::new();
        for (_, s) in nodes {
            for (replica, lag) in s.iter().flat_map(|s| &s.replica_lag) {
                let e = lags.entry(replica.as_str()).or_insert(0.0);
                *e = e.max(*lag);
            }
        }
        let mut point = Point { t: now_ms, nodes: BTreeMap::new() };
        for (addr, sample) in nodes {
            let Some(s) = sample else {
                point.nodes.insert(addr.clone(), NodePoint { up: false, ops: None, lookups: None, hit_ratio: None, memory: None, p99_ms: None, lag: None });
                self.last.remove(addr);
                continue;
            };
            let before = self.last.get(addr).filter(|(t, _)| *t < now_ms);
            let (mut ops, mut lookups, mut hit_ratio, mut p99_ms) = (None, None, None, None);
            if let Some((t, b)) = before {
                let secs = (now_ms - t) as f64 / 1000.0;
                let (hits, misses) = ((s.hits - b.hits).max(0.0), (s.misses - b.misses).max(0.0));
                ops = Some((s.commands - b.commands).max(0.0) / secs);
                lookups = Some((hits + misses) / secs);
                hit_ratio = (hits + misses > 0.0).then(|| hits / (hits + misses));
                p99_ms = quantile(&b.buckets, &s.buckets, 0.99).map(|secs| secs * 1000.0);
            }
            let lag = if s.replica { Some(lags.get(addr.as_str()).copied().unwrap_or(0.0)) } else { None };
            point.nodes.insert(addr.clone(), NodePoint { up: true, ops, lookups, hit_ratio, memory: Some(s.used_memory), p99_ms, lag });
            self.last.insert(addr.clone(), (now_ms, s.clone()));
        }
        self.last.retain(|a, _| nodes.iter().any(|(n, _)| n == a));
        self.points.push_back(point);
        while self.points.len() > KEEP {
            self.points.pop_front();
        }
    }

    /// Every kept point, oldest first.
    pub fn points(&self) -> Vec<Point> {
        self.points.iter().cloned().collect()
    }

    pub fn latest(&self) -> Option<Point> {
        self.points.back().cloned()
    }
}

/// The `q` quantile (seconds, a bucket's upper bound) of the observations made between two
/// cumulative histograms; None without observations or when it falls in the `+Inf` bucket
/// with no finite bound below it.
pub fn quantile(before: &[(f64, f64)], after: &[(f64, f64)], q: f64) -> Option<f64> {
    let delta: Vec<(f64, f64)> = after
        .iter()
        .map(|(le, n)| {
            let was = before.iter().find(|(b, _)| b == le).map_or(0.0, |(_, c)| *c);
            (*le, (n - was).max(0.0))
        })
        .collect();
    let total = delta.iter().map(|(_, n)| *n).fold(0.0, f64::max);
    if total <= 0.0 {
        return None;
    }
    let wanted = q * total;
    let at = delta.iter().position(|(_, n)| *n >= wanted)?;
    let (le, _) = delta[at];
    if le.is_finite() {
        Some(le)
    } else {
        delta[..at].iter().rev().map(|(b, _)| *b).find(|b| b.is_finite())
    }
}

/// A node's ring and whether its sampler runs.
#[derive(Default)]
pub struct History {
    ring: Mutex<Ring>,
    started: AtomicBool,
}

impl History {
    pub fn points(&self) -> Vec<Point> {
        self.ring.lock().points()
    }

    pub fn latest(&self) -> Option<Point> {
        self.ring.lock().latest()
    }
}

/// Starts the node's sampler unless it runs already.
pub fn ensure_started(node: &Arc<Node>) {
    if node.history.started.swap(true, Ordering::SeqCst) {
        return;
    }
    tokio::spawn(run(node.clone()));
}

async fn run(node: Arc<Node>) {
    let maps = MapAccess { node: node.clone() };
    let mut tick = crate::node::ticker(INTERVAL);
    while node.next_tick(&mut tick).await {
        let Ok(Some((_, map))) = maps.current() else { continue };
        let texts = crate::scrape::scrape_nodes(&node, &map, None, SCRAPE_TIMEOUT).await;
        let nodes: Vec<(String, Option<Sample>)> =
            map.nodes.iter().zip(texts).map(|(n, t)| (n.addr.clone(), t.as_deref().map(Sample::parse))).collect();
        node.history.ring.lock().record(crate::node::now_ms(), &nodes);
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sample(commands: f64, hits: f64, misses: f64, buckets: &[(f64, f64)]) -> Sample {
        Sample { commands, hits, misses, used_memory: 1000.0, buckets: buckets.to_vec(), ..Sample::default() }
    }

    #[test]
    fn two_rounds_make_rates_and_a_p99() {
        let mut ring = Ring::default();
        let inf = f64::INFINITY;
        ring.record(1_000, &[("a".into(), Some(sample(100.0, 10.0, 10.0, &[(0.001, 50.0), (0.01, 100.0), (inf, 100.0)])))]);
        let first = ring.latest().unwrap();
        assert_eq!(first.nodes["a"].ops, None, "no rate from one sample");
        assert_eq!(first.nodes["a"].memory, Some(1000.0));
        // 1000 more commands in 5 s, 985 of them under 1 ms, 15 under 10 ms: p99 is 10 ms.
        ring.record(6_000, &[("a".into(), Some(sample(1100.0, 40.0, 20.0, &[(0.001, 1035.0), (0.01, 1100.0), (inf, 1100.0)])))]);
        let p = ring.latest().unwrap();
        let a = &p.nodes["a"];
        assert_eq!(a.ops, Some(200.0));
        assert_eq!(a.lookups, Some(8.0));
        assert_eq!(a.hit_ratio, Some(0.75));
        assert_eq!(a.p99_ms, Some(10.0));
        assert!(a.up);
        assert_eq!(a.lag, None, "a primary has no lag");
    }

    #[test]
    fn a_node_that_does_not_answer_is_down_and_starts_over() {
        let mut ring = Ring::default();
        let s = sample(10.0, 0.0, 0.0, &[]);
        ring.record(1_000, &[("a".into(), Some(s.clone()))]);
        ring.record(2_000, &[("a".into(), None)]);
        assert!(!ring.latest().unwrap().nodes["a"].up);
        ring.record(3_000, &[("a".into(), Some(s))]);
        assert_eq!(ring.latest().unwrap().nodes["a"].ops, None, "no rate across a gap");
    }

    #[test]
    fn a_replica_gets_the_lag_its_primary_reports() {
        let mut ring = Ring::default();
        let primary = Sample { replica_lag: vec![("r:1".into(), 4096.0)], ..Sample::default() };
        let replica = Sample { replica: true, ..Sample::default() };
        ring.record(1_000, &[("p:1".into(), Some(primary)), ("r:1".into(), Some(replica))]);
        let p = ring.latest().unwrap();
        assert_eq!(p.nodes["r:1"].lag, Some(4096.0));
        assert_eq!(p.nodes["p:1"].lag, None);
    }

    #[test]
    fn the_ring_keeps_one_hour() {
        let mut ring = Ring::default();
        for i in 0..(KEEP as u64 + 10) {
            ring.record(i * 5_000, &[("a".into(), None)]);
        }
        let points = ring.points();
        assert_eq!(points.len(), KEEP);
        assert_eq!(points[0].t, 10 * 5_000);
    }

    #[test]
    fn quantile_edges() {
        let inf = f64::INFINITY;
        assert_eq!(quantile(&[], &[], 0.99), None);
        assert_eq!(quantile(&[(0.1, 5.0), (inf, 5.0)], &[(0.1, 5.0), (inf, 5.0)], 0.99), None, "nothing new");
        // Everything beyond the last finite bound: report that bound.
        assert_eq!(quantile(&[], &[(0.1, 0.0), (inf, 10.0)], 0.99), Some(0.1));
        assert_eq!(quantile(&[], &[(inf, 10.0)], 0.99), None);
    }
}
