//! The data plane's part of `GET /metrics` (Prometheus's text format),
//! served by the admin HTTP server, which calls [`Exposition`] on each
//! scrape (it is a `prometheus_client` collector).
//!
//! Why a collector read at scrape time rather than metric objects updated
//! as things happen: the counters already exist for INFO (in
//! [`crate::cmdstats`], [`crate::shared::Stats`], the keyspace), so the hot
//! path pays for them once, and a scrape just reads and converts them.
//! Names follow Prometheus's conventions: the `ferrocache_` prefix comes
//! from the registry, counters end in `_total`, durations are in seconds and
//! sizes in bytes.

use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};

use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric, NoLabelSet};
use prometheus_client::metrics::MetricType;
use prometheus_client::metrics::counter::ConstCounter;
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Unit;

use crate::cmdstats::{BUCKETS, bucket_bound_ns};
use crate::shared::Shared;
use crate::table::table;

/// The data plane's metrics, read from `Shared` when scraped.
pub struct Exposition(pub Arc<Shared>);

impl std::fmt::Debug for Exposition {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        f.write_str("Exposition")
    }
}

type Out<'a> = DescriptorEncoder<'a>;
type Result = std::result::Result<(), std::fmt::Error>;

fn counter(out: &mut Out, name: &str, help: &str, unit: Option<&Unit>, value: u64) -> Result {
    let c = ConstCounter::new(value);
    c.encode(out.encode_descriptor(name, help, unit, c.metric_type())?)
}

fn gauge(out: &mut Out, name: &str, help: &str, unit: Option<&Unit>, value: i64) -> Result {
    let g = ConstGauge::new(value);
    g.encode(out.encode_descriptor(name, help, unit, g.metric_type())?)
}

/// One counter per label value.
fn counters(out: &mut Out, name: &str, help: &str, label: &str, values: &[(&str, u64)]) -> Result {
    let mut family = out.encode_descriptor(name, help, None, MetricType::Counter)?;
    for &(value, n) in values {
        ConstCounter::new(n).encode(family.encode_family(&[(label, value)])?)?;
    }
    Ok(())
}

impl Exposition {
    fn commands(&self, out: &mut Out) -> Result {
        let all = self.0.cmdstats.commands();
        let named: Vec<_> = all.iter().map(|(id, t)| (table().stat_name(*id), t)).collect();
        let pick = |f: fn(&crate::cmdstats::CommandTotals) -> u64| named.iter().map(|(n, t)| (*n, f(t))).collect::<Vec<_>>();
        counters(out, "commands", "Commands run, by command.", "cmd", &pick(|t| t.calls))?;
        counters(out, "command_failures", "Commands that ran and replied with an error, by command.", "cmd", &pick(|t| t.failed))?;
        counters(out, "command_rejections", "Commands refused before running (arity, auth, routing, OOM), by command.", "cmd", &pick(|t| t.rejected))?;
        let errors = self.0.cmdstats.errors();
        let errors: Vec<_> = errors.iter().map(|(code, n)| (code.as_str(), *n)).collect();
        counters(out, "error_replies", "Error replies sent, by error code (ERR, WRONGTYPE, MOVED, ...).", "code", &errors)?;
        let help = "Time commands took to run, by command.";
        let mut family = out.encode_descriptor("command_duration", help, Some(&Unit::Seconds), MetricType::Histogram)?;
        for (name, t) in named.iter().filter(|(_, t)| t.calls > 0) {
            let bound = |b| bucket_bound_ns(b).map_or(f64::INFINITY, |ns| ns as f64 / 1e9);
            let buckets: Vec<(f64, u64)> = (0..BUCKETS).map(|b| (bound(b), t.latency[b])).collect();
            family.encode_family(&[("cmd", *name)])?.encode_histogram::<NoLabelSet>(t.nanos as f64 / 1e9, t.calls, &buckets, None)?;
        }
        Ok(())
    }

    fn server(&self, out: &mut Out) -> Result {
        let s = &*self.0;
        let load = |a: &AtomicU64| a.load(Ordering::Relaxed);
        let keyspace = s.keyspace_stats();
        counter(out, "commands_processed", "Commands processed (INFO total_commands_processed).", None, load(&s.stats.commands))?;
        counter(out, "keyspace_hits", "Key lookups that found the key.", None, keyspace.hits)?;
        counter(out, "keyspace_misses", "Key lookups that did not find the key.", None, keyspace.misses)?;
        counter(out, "expired_keys", "Keys removed because their time to live ended.", None, keyspace.expired)?;
        counter(out, "evicted_keys", "Keys evicted to stay under maxmemory.", None, crate::evict::evicted_keys(s))?;
        let bytes = Some(&Unit::Bytes);
        gauge(out, "memory_used", "Memory used by the keyspace (INFO used_memory).", bytes, crate::evict::used_memory(s) as i64)?;
        gauge(out, "memory_peak", "Highest used memory seen.", bytes, crate::evict::used_memory_peak(s) as i64)?;
        gauge(out, "memory_rss", "Resident set size of the process.", bytes, ferrocache_store::memory::rss_bytes() as i64)?;
        gauge(out, "memory_max", "The maxmemory limit (0: none).", bytes, s.maxmemory.load(Ordering::Relaxed) as i64)?;
        gauge(out, "connected_clients", "Client connections open.", None, s.clients.len() as i64)?;
        gauge(out, "blocked_clients", "Clients blocked in a blocking command, WAIT or CLIENT PAUSE.", None, s.blocked_clients() as i64)?;
        counter(out, "connections_received", "Connections accepted.", None, load(&s.clients.total_connections))?;
        counter(out, "rejected_connections", "Connections refused (maxclients).", None, load(&s.clients.rejected))?;
        counter(out, "net_input", "Bytes read from clients.", bytes, load(&s.stats.net_input_bytes))?;
        counter(out, "net_output", "Bytes written to clients.", bytes, load(&s.stats.net_output_bytes))?;
        let lookups = keyspace.hits + keyspace.misses;
        let ratio = if lookups == 0 { 1.0 } else { keyspace.hits as f64 / lookups as f64 };
        let g = ConstGauge::new(ratio);
        let help = "Key lookups that found the key, over all lookups since start or CONFIG RESETSTAT (1 before any).";
        g.encode(out.encode_descriptor("keyspace_hit_ratio", help, None, g.metric_type())?)?;
        Ok(())
    }

    /// The cluster map as this node routes by it, and the node settings it applied.
    fn cluster(&self, out: &mut Out) -> Result {
        let Some(cluster) = &self.0.cluster else { return Ok(()) };
        let map = cluster.map();
        let me = cluster.my_id();
        let owned: usize = me
            .as_ref()
            .and_then(|id| map.shards.iter().find(|s| &s.primary == id))
            .map_or(0, |s| s.slots.iter().map(|r| r.len()).sum());
        let from_me = map.migrations.iter().filter(|m| Some(&m.from) == me.as_ref()).count();
        let to_me = map.migrations.iter().filter(|m| Some(&m.to) == me.as_ref()).count();
        gauge(out, "cluster_epoch", "Epoch of the cluster map this node routes by.", None, map.epoch as i64)?;
        gauge(out, "cluster_slots_owned", "Hash slots this node serves as a primary.", None, owned as i64)?;
        gauge(out, "cluster_slots_migrating", "Slots migrating away from this node.", None, from_me as i64)?;
        gauge(out, "cluster_slots_importing", "Slots migrating to this node.", None, to_me as i64)?;
        if let Some(applied) = cluster.settings.lock().clone() {
            gauge(out, "config_revision", "Control-plane revision of the node settings this node applied.", None, applied.revision as i64)?;
            gauge(out, "config_refused", "1 if the node settings last asked for were refused.", None, i64::from(applied.refused))?;
            let mut info = out.encode_descriptor("config_checksum", "Checksum of the node settings in force (1 on its series).", None, MetricType::Gauge)?;
            ConstGauge::new(1).encode(info.encode_family(&[("checksum", applied.checksum.as_str())])?)?;
        }
        Ok(())
    }

    fn replication(&self, out: &mut Out) -> Result {
        let repl = &self.0.repl;
        let replica = repl.is_replica();
        let offset = repl.own_offset();
        let mut role = out.encode_descriptor("repl_role", "This node's replication role (1 on the series of its role).", None, MetricType::Gauge)?;
        for name in ["master", "replica"] {
            ConstGauge::new(i64::from((name == "replica") == replica)).encode(role.encode_family(&[("role", name)])?)?;
        }
        let bytes = Some(&Unit::Bytes);
        gauge(out, "repl_offset", "Replication offset of this node (INFO master_repl_offset).", bytes, offset as i64)?;
        gauge(out, "repl_connected_replicas", "Replicas attached to this node.", None, repl.replicas.lock().len() as i64)?;
        let help = "Bytes of the replication stream no replica acknowledged yet: what a failover now could lose.";
        gauge(out, "repl_loss_window", help, bytes, repl.loss_window(offset) as i64)?;
        let replicas = repl.replicas.lock().clone();
        if !replicas.is_empty() {
            let help = "Bytes of this node's stream a replica has not acknowledged, by replica.";
            let mut lag = out.encode_descriptor("repl_replica_lag", help, bytes, MetricType::Gauge)?;
            for r in &replicas {
                let addr = format!("{}:{}", r.ip, r.port);
                let behind = offset.saturating_sub(r.acked.load(Ordering::Relaxed));
                ConstGauge::new(behind as i64).encode(lag.encode_family(&[("replica", addr.as_str())])?)?;
            }
        }
        Ok(())
    }
}

impl Collector for Exposition {
    fn encode(&self, mut out: DescriptorEncoder) -> Result {
        self.commands(&mut out)?;
        self.server(&mut out)?;
        self.replication(&mut out)?;
        self.cluster(&mut out)
    }
}
