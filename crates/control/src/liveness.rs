//! A data node's lease: how the control plane knows a node is alive, and how a primary knows
//! when it must stop accepting writes.
//!
//! Each cluster node holds a lease (TTL 1 s, renewed every 200 ms by default) with the key
//! `cluster/alive/<node id>` attached; when renewals stop, the leader ends the lease, the key
//! goes, and the failover controller (see [`crate::failover`]) acts on it.
//!
//! Fencing: the control plane ends a lease at least `ttl` after the leader applied the last
//! renewal, which is after the node sent it. So if the node counts from the moment it *sent*
//! a renewal that was then accepted, its lease is certainly still live for `ttl` of its own
//! time; it stops accepting writes after [`SAFE_SHARE`] of that, leaving room for clocks that
//! run at different rates. A node that was paused (SIGSTOP) or cut off therefore fences itself
//! before its replica can be promoted, and never accepts writes in a minority partition.
//!
//! A lease granted anew (first start, or after the old one lapsed) is only trusted once this
//! node's copy of the state has caught up with the leader's, so that a failover decided while
//! it was away is in its map before it serves as a primary again.

use std::time::{Duration, Instant};

use serde::{Deserialize, Serialize};

use crate::command::{ContentType, Op, Outcome, PutOp};
use crate::error::ApiError;
use crate::node::MapAccess;

/// Where alive keys live: `cluster/alive/<node id>`.
pub const ALIVE_PREFIX: &str = "cluster/alive/";

/// The share of the TTL, counted from a renewal's sending, during which a node trusts its lease.
pub const SAFE_SHARE: f64 = 0.75;

/// What an alive key holds.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize)]
pub struct Alive {
    /// Random per process start: a changed value means the node restarted (and lost its data).
    pub boot: String,
}

/// How long a lease lives without renewal, and how often it is renewed.
#[derive(Debug, Clone, Copy)]
pub struct LeaseTimes {
    pub ttl: Duration,
    pub renew: Duration,
}

impl Default for LeaseTimes {
    fn default() -> Self {
        LeaseTimes { ttl: Duration::from_millis(1000), renew: Duration::from_millis(200) }
    }
}

impl LeaseTimes {
    /// How long after sending an accepted renewal the lease may be trusted.
    pub fn trusted_for(&self) -> Duration {
        self.ttl.mul_f64(SAFE_SHARE)
    }
}

impl MapAccess {
    /// Keeps this node's lease (and its alive key, saying `alive`) for as long as the node
    /// runs; after each renewal the control plane accepted, calls `held` with the instant until
    /// which the lease may be trusted, and whether the lease is a new one (first taken, or
    /// taken again after a lapse: the node may have missed changes of the map meanwhile, which
    /// its local state holds by then but its map watcher may not have delivered yet). A new
    /// lease is first held a TTL without being trusted (see `settled`). Never returns before the
    /// node stops.
    pub async fn hold_lease(&self, me: &str, alive: Alive, times: LeaseTimes, held: impl Fn(Instant, bool) + Send) {
        let actor = format!("node {me}");
        let key = format!("{ALIVE_PREFIX}{me}");
        let value = serde_json::to_vec(&alive).expect("an alive record serialises");
        let mut lease = None;
        // When the lease held now was taken, until it is trusted (see `settled`).
        let mut granted_at: Option<Instant> = None;
        let cancel = self.node.cancel.clone();
        loop {
            let sent = Instant::now();
            let renewed = tokio::time::timeout(times.ttl, self.renew(&actor, &key, &value, times, &mut lease)).await;
            self.node.lease_stats.record(sent.elapsed(), matches!(renewed, Ok(Ok(_))));
            match renewed {
                Ok(Ok(fresh)) => {
                    if fresh {
                        granted_at = Some(sent);
                    }
                    match granted_at {
                        None => held(sent + times.trusted_for(), false),
                        Some(at) if self.settled(at, sent, times).await => {
                            granted_at = None;
                            held(sent + times.trusted_for(), true);
                        }
                        Some(_) => {}
                    }
                }
                Ok(Err(e)) => tracing::debug!("lease renewal: {}", e.message),
                Err(_) => tracing::debug!("lease renewal: no answer within {:?}", times.ttl),
            }
            let pause = times.renew.saturating_sub(sent.elapsed());
            tokio::select! {
                _ = tokio::time::sleep(pause) => {}
                _ = cancel.cancelled() => return,
            }
        }
    }

    /// Whether a new lease taken at `granted` may be trusted at `now`. The failover controller
    /// may have decided to replace this node from a state where its old lease had ended, just
    /// before the new one was granted; that decision lands in the map within a probe and a
    /// write. So a new lease is trusted only once a TTL has passed since it was taken, and this
    /// node's state has caught up with the leader's again (the caller then routes by that map).
    async fn settled(&self, granted: Instant, now: Instant, times: LeaseTimes) -> bool {
        now.duration_since(granted) >= times.ttl && self.node.linearize().await.is_ok()
    }

    /// One renewal: a keep-alive of the lease held (false), or a new lease with the alive key
    /// put on it (true; not trusted before `settled` caught this node up with the leader).
    async fn renew(&self, actor: &str, key: &str, value: &[u8], times: LeaseTimes, lease: &mut Option<u64>) -> Result<bool, ApiError> {
        if let Some(id) = *lease {
            match self.node.propose(actor, Op::LeaseKeepAlive { id }).await {
                Ok(_) => return Ok(false),
                Err(e) if e.code == "lease_not_found" => {
                    tracing::warn!("this node's lease on the control plane lapsed; taking a new one");
                    *lease = None;
                }
                Err(e) => return Err(e),
            }
        }
        let ttl_ms = times.ttl.as_millis() as u64;
        let id = match self.node.propose(actor, Op::LeaseGrant { ttl_ms }).await? {
            Outcome::Lease(info) => info.id,
            other => return Err(ApiError::internal(format!("unexpected outcome {other:?}"))),
        };
        let put = PutOp { key: key.to_string(), value: value.to_vec(), content_type: ContentType::Json, if_revision: None, lease: Some(id) };
        self.node.propose(actor, Op::Put(put)).await?;
        *lease = Some(id);
        Ok(true)
    }
}

/// The node ids with a live alive key in `state`, and what each key says.
pub fn alive_nodes(state: &crate::state::ConfigState) -> Vec<(String, Alive)> {
    let Ok(page) = state.list(ALIVE_PREFIX, None, usize::MAX, None) else { return Vec::new() };
    page.items
        .into_iter()
        .filter_map(|(key, record)| {
            let id = key.strip_prefix(ALIVE_PREFIX)?;
            let alive = serde_json::from_slice(&record.value.as_ref()?.data).ok()?;
            Some((id.to_string(), alive))
        })
        .collect()
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_lease_is_trusted_for_less_than_its_ttl() {
        let times = LeaseTimes::default();
        assert!(times.trusted_for() < times.ttl);
        assert!(times.trusted_for() > times.renew * 2, "two renewals may fail before fencing");
    }
}

/// Lease renewal figures of one node: the last renewal's duration and the counts.
#[derive(Debug, Clone, Default)]
pub struct LeaseStats(std::sync::Arc<LeaseCounters>);

#[derive(Debug, Default)]
struct LeaseCounters {
    /// Microseconds the last renewal took, plus one (0: none yet).
    last_us: std::sync::atomic::AtomicU64,
    ok: std::sync::atomic::AtomicU64,
    failed: std::sync::atomic::AtomicU64,
}

impl LeaseStats {
    fn record(&self, took: Duration, ok: bool) {
        use std::sync::atomic::Ordering::Relaxed;
        self.0.last_us.store(took.as_micros() as u64 + 1, Relaxed);
        if ok { &self.0.ok } else { &self.0.failed }.fetch_add(1, Relaxed);
    }

    /// Seconds the last renewal took; None before the first.
    pub fn last_renew_seconds(&self) -> Option<f64> {
        let us = self.0.last_us.load(std::sync::atomic::Ordering::Relaxed);
        (us > 0).then(|| (us - 1) as f64 / 1e6)
    }

    /// Renewals that succeeded and that failed.
    pub fn counts(&self) -> (u64, u64) {
        use std::sync::atomic::Ordering::Relaxed;
        (self.0.ok.load(Relaxed), self.0.failed.load(Relaxed))
    }
}
