//! `GET /metrics`: the node in Prometheus's text format (version 0.0.4), for Prometheus and
//! anything that scrapes like it.
//!
//! The control plane describes itself (Raft term, leader, commit and applied index); the data
//! plane's part comes from a [`Collector`] that the binary running both planes registers with
//! [`crate::ControlHandle::serve_metrics`], since this crate does not depend on the data plane.
//! Values are read when scraped, so nothing is kept up to date between scrapes. The endpoint
//! sits behind the same authentication as `/v1/`: a read token when tokens are in use.

use std::sync::Arc;

use axum::extract::State;
use axum::http::header;
use axum::response::{IntoResponse, Response};
use prometheus_client::collector::Collector;
use prometheus_client::encoding::{DescriptorEncoder, EncodeMetric};
use prometheus_client::metrics::gauge::ConstGauge;
use prometheus_client::registry::Registry;

use super::AppState;
use crate::error::ApiError;

/// Every metric name starts `ferrocache_`.
const PREFIX: &str = "ferrocache";

/// The data plane's collector, shared by every scrape.
#[derive(Debug, Clone)]
pub(crate) struct Source(pub Arc<dyn Collector>);

impl Collector for Source {
    fn encode(&self, encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        self.0.encode(encoder)
    }
}

/// The control plane's figures at scrape time.
#[derive(Debug)]
struct Raft {
    term: u64,
    /// 0 when no leader is known (node ids start at 1).
    leader: u64,
    is_leader: bool,
    commit_index: Option<u64>,
    applied_index: Option<u64>,
    lease: crate::liveness::LeaseStats,
    audit_ok: bool,
}

impl Collector for Raft {
    fn encode(&self, mut encoder: DescriptorEncoder) -> Result<(), std::fmt::Error> {
        let index = |i: Option<u64>| i.map_or(-1, |i| i as i64);
        let gauges = [
            ("raft_term", "Current Raft term as this node knows it.", self.term as i64),
            ("raft_leader_id", "Node id of the Raft leader this node knows (0: none).", self.leader as i64),
            ("raft_is_leader", "1 if this node is the Raft leader.", i64::from(self.is_leader)),
            ("raft_commit_index", "Highest Raft log index known committed (-1: none).", index(self.commit_index)),
            ("raft_applied_index", "Highest Raft log index applied to the state machine (-1: none).", index(self.applied_index)),
            (
                "raft_apply_lag",
                "Committed Raft entries not yet applied here (commit index - applied index).",
                self.commit_index.unwrap_or(0).saturating_sub(self.applied_index.unwrap_or(0)) as i64,
            ),
            ("audit_chain_ok", "1 if the audit chain verifies from its checkpoint (or genesis) to its head.", i64::from(self.audit_ok)),
        ];
        for (name, help, value) in gauges {
            let gauge = ConstGauge::new(value);
            gauge.encode(encoder.encode_descriptor(name, help, None, gauge.metric_type())?)?;
        }
        if let Some(last) = self.lease.last_renew_seconds() {
            let gauge = ConstGauge::new(last);
            let help = "How long this node's last lease renewal took, as a cluster node.";
            gauge.encode(encoder.encode_descriptor("lease_renew", help, Some(&prometheus_client::registry::Unit::Seconds), gauge.metric_type())?)?;
            let (ok, failed) = self.lease.counts();
            for (name, help, n) in [("lease_renewals", "Lease renewals that succeeded.", ok), ("lease_renewal_failures", "Lease renewals that failed or timed out.", failed)] {
                let c = prometheus_client::metrics::counter::ConstCounter::new(n);
                c.encode(encoder.encode_descriptor(name, help, None, c.metric_type())?)?;
            }
        }
        Ok(())
    }
}

/// Renders the exposition text of `node`.
pub(crate) fn render(node: &crate::node::Node) -> Result<String, std::fmt::Error> {
    let status = node.status();
    let mut registry = Registry::with_prefix(PREFIX);
    registry.register_collector(Box::new(Raft {
        term: status.term,
        leader: status.leader.unwrap_or(0),
        is_leader: status.leader == Some(status.node_id),
        commit_index: status.commit_index,
        applied_index: status.applied_index,
        lease: node.lease_stats.clone(),
        audit_ok: node.audit_chain_ok(&node.sm.data.read().kv),
    }));
    if let Some(source) = node.data_metrics.get() {
        registry.register_collector(Box::new(source.clone()));
    }
    let mut text = String::new();
    prometheus_client::encoding::prometheus_text::encode(&mut text, &registry)?;
    Ok(text)
}

pub async fn scrape(State(node): State<AppState>) -> Response {
    match render(&node) {
        Ok(text) => ([(header::CONTENT_TYPE, prometheus_client::encoding::prometheus_text::CONTENT_TYPE)], text).into_response(),
        Err(_) => ApiError::internal("the metrics could not be encoded").into_response(),
    }
}
