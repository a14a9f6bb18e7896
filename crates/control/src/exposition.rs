//! Reading a node's Prometheus exposition back: the few figures that the canary check of a
//! settings rollout and the alert rules judge a node by. Only our own `/metrics` output is
//! read (one sample per line, no escapes in the label values we compare), so a line-based
//! reader is enough.

use std::collections::BTreeMap;

/// Cumulative counters of one node at one moment.
#[derive(Debug, Clone, Default, PartialEq)]
pub struct Sample {
    pub commands: f64,
    pub errors: f64,
    pub hits: f64,
    pub misses: f64,
    pub used_memory: f64,
    /// Cumulative command-duration histogram: (upper bound in seconds, count).
    pub buckets: Vec<(f64, f64)>,
    pub evicted: f64,
    /// The maxmemory limit (0: none).
    pub max_memory: f64,
    /// Bytes each replica is behind, by its address.
    pub replica_lag: Vec<(String, f64)>,
    pub clients: f64,
    /// Whether the node is a replica (`ferrocache_repl_role{role="replica"} 1`).
    pub replica: bool,
    pub slots_owned: f64,
}

impl Sample {
    /// Reads the counters from a Prometheus text exposition.
    pub fn parse(text: &str) -> Sample {
        let mut s = Sample::default();
        let mut buckets: BTreeMap<u64, (f64, f64)> = BTreeMap::new();
        for line in text.lines().filter(|l| !l.starts_with('#')) {
            let Some((name_labels, value)) = line.rsplit_once(' ') else { continue };
            let Ok(value) = value.parse::<f64>() else { continue };
            let name = name_labels.split('{').next().unwrap_or("");
            match name {
                "ferrocache_commands_processed_total" => s.commands += value,
                "ferrocache_error_replies_total" => s.errors += value,
                "ferrocache_keyspace_hits_total" => s.hits += value,
                "ferrocache_keyspace_misses_total" => s.misses += value,
                "ferrocache_memory_used_bytes" => s.used_memory = value,
                "ferrocache_memory_max_bytes" => s.max_memory = value,
                "ferrocache_evicted_keys_total" => s.evicted = value,
                "ferrocache_repl_replica_lag_bytes" => s.replica_lag.push((label(name_labels, "replica").to_string(), value)),
                "ferrocache_connected_clients" => s.clients = value,
                "ferrocache_repl_role" if label(name_labels, "role") == "replica" => s.replica = value == 1.0,
                "ferrocache_cluster_slots_owned" => s.slots_owned = value,
                "ferrocache_command_duration_seconds_bucket" => {
                    let le = label(name_labels, "le");
                    let bound = if le == "+Inf" { f64::INFINITY } else { le.parse().unwrap_or(f64::INFINITY) };
                    let entry = buckets.entry(bound.to_bits()).or_insert((bound, 0.0));
                    entry.1 += value;
                }
                _ => {}
            }
        }
        s.buckets = buckets.into_values().collect();
        s.buckets.sort_by(|a, b| a.0.total_cmp(&b.0));
        s
    }
}

/// A whole-cluster exposition (`/v1/cluster/metrics`) split back into each node's own (the
/// `node` label taken off), by node address; a node that did not answer has an empty text.
pub fn split_by_node(text: &str) -> BTreeMap<String, String> {
    let mut out: BTreeMap<String, String> = BTreeMap::new();
    for line in text.lines().filter(|l| !l.starts_with('#')) {
        let node = label(line, "node");
        if node.is_empty() {
            continue;
        }
        let entry = out.entry(node.to_string()).or_default();
        if line.starts_with("ferrocache_node_up{") {
            continue;
        }
        let tag = format!("node=\"{node}\"");
        let own = line.replacen(&format!("{tag},"), "", 1).replacen(&format!("{{{tag}}}"), "", 1);
        entry.push_str(&own);
        entry.push('\n');
    }
    out
}

/// The value of label `name` in `name_labels` (`metric{a="x",b="y"}`), or "".
fn label<'a>(name_labels: &'a str, name: &str) -> &'a str {
    let pattern = format!("{name}=\"");
    name_labels.split(pattern.as_str()).nth(1).and_then(|r| r.split('"').next()).unwrap_or("")
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn samples_are_read_from_the_exposition() {
        let text = "# HELP x\nferrocache_commands_processed_total 120\nferrocache_keyspace_hits_total 90\nferrocache_keyspace_misses_total 10\n\
                    ferrocache_error_replies_total{code=\"ERR\"} 2\nferrocache_error_replies_total{code=\"WRONGTYPE\"} 1\n\
                    ferrocache_memory_used_bytes 1000\nferrocache_memory_max_bytes 2000\nferrocache_evicted_keys_total 7\n\
                    ferrocache_repl_replica_lag_bytes{replica=\"127.0.0.1:7003\"} 42\n\
                    ferrocache_command_duration_seconds_bucket{cmd=\"get\",le=\"0.001\"} 5\nferrocache_command_duration_seconds_bucket{cmd=\"set\",le=\"0.001\"} 7\n\
                    ferrocache_command_duration_seconds_bucket{cmd=\"get\",le=\"+Inf\"} 6\nferrocache_command_duration_seconds_bucket{cmd=\"set\",le=\"+Inf\"} 7\n";
        let s = Sample::parse(text);
        assert_eq!((s.commands, s.errors, s.hits, s.misses, s.used_memory, s.max_memory, s.evicted), (120.0, 3.0, 90.0, 10.0, 1000.0, 2000.0, 7.0));
        assert_eq!(s.buckets, vec![(0.001, 12.0), (f64::INFINITY, 13.0)]);
        assert_eq!(s.replica_lag, vec![("127.0.0.1:7003".to_string(), 42.0)]);
    }

    #[test]
    fn a_cluster_exposition_splits_back_by_node() {
        let merged = "ferrocache_node_up{node=\"a:1\"} 1\nferrocache_node_up{node=\"b:2\"} 0\n# TYPE x counter\n\
                      ferrocache_keyspace_hits_total{node=\"a:1\"} 5\nferrocache_repl_role{node=\"a:1\",role=\"replica\"} 1\n";
        let nodes = split_by_node(merged);
        assert_eq!(nodes["b:2"], "");
        assert_eq!(nodes["a:1"], "ferrocache_keyspace_hits_total 5\nferrocache_repl_role{role=\"replica\"} 1\n");
        let a = Sample::parse(&nodes["a:1"]);
        assert!(a.replica && a.hits == 5.0);
    }
}
