//! Whether this cluster node may act as a primary (accept writes, feed replicas) right now.
//!
//! Two conditions, both about not being a second primary after a failover:
//! - its lease on the control plane is current: the lease loop reports after each renewal
//!   until when it may be trusted (see `ferrocache_control::liveness`), and a node past that
//!   instant refuses writes, because the control plane may already have promoted a replica;
//! - the map it routes by names this run of the process (its `boot`): a restarted node has no
//!   data, and the control plane hands its shard to a replica before recording the new run.
//!
//! Checked on every write with one clock read; a node outside cluster mode, or before the lease
//! loop starts, is not fenced.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};
use std::sync::OnceLock;
use std::time::Instant;

pub struct Fence {
    /// Set once the lease loop runs; until then the node is not fenced.
    enabled: AtomicBool,
    /// The lease may be trusted until `base` plus this many nanoseconds.
    until_ns: AtomicU64,
    base: Instant,
    boot: OnceLock<String>,
    /// Whether the installed map names `boot` for this node.
    recorded: AtomicBool,
}

impl Default for Fence {
    fn default() -> Self {
        Fence { enabled: AtomicBool::new(false), until_ns: AtomicU64::new(0), base: Instant::now(), boot: OnceLock::new(), recorded: AtomicBool::new(false) }
    }
}

/// Why a fenced node refuses: cluster clients retry CLUSTERDOWN after reading the slots again.
pub const FENCED: &str = "CLUSTERDOWN The cluster is down: this node holds no current lease from the control plane, so it takes no writes until it renews it (a replica may have replaced it)";

impl Fence {
    /// Turns fencing on for this run of the process, named `boot`.
    pub fn enable(&self, boot: String) {
        let _ = self.boot.set(boot);
        self.enabled.store(true, Ordering::Release);
    }

    pub fn boot(&self) -> Option<&str> {
        self.boot.get().map(String::as_str)
    }

    /// The lease was renewed: it may be trusted until `until` (never moves back).
    pub fn held_until(&self, until: Instant) {
        let ns = until.saturating_duration_since(self.base).as_nanos() as u64;
        self.until_ns.fetch_max(ns, Ordering::AcqRel);
    }

    /// A new map was installed, recording `boot` for this node (None: none, or not a member).
    pub fn saw_map(&self, boot: Option<&str>) {
        let mine = self.boot.get().map(String::as_str);
        self.recorded.store(mine.is_some() && boot == mine, Ordering::Release);
    }

    /// Whether the node may act as a primary now.
    pub fn open(&self) -> bool {
        if !self.enabled.load(Ordering::Acquire) {
            return true;
        }
        self.recorded.load(Ordering::Acquire) && (self.base.elapsed().as_nanos() as u64) < self.until_ns.load(Ordering::Acquire)
    }
}

#[cfg(test)]
mod tests {
    use super::*;
    use std::time::Duration;

    #[test]
    fn writes_need_a_current_lease_and_this_run_in_the_map() {
        let fence = Fence::default();
        assert!(fence.open(), "not fenced until enabled");
        fence.enable("run1".into());
        assert!(!fence.open(), "no lease yet");
        fence.held_until(Instant::now() + Duration::from_secs(60));
        assert!(!fence.open(), "the map does not name this run yet");
        fence.saw_map(Some("run0"));
        assert!(!fence.open(), "a map naming the previous run");
        fence.saw_map(Some("run1"));
        assert!(fence.open());
        fence.held_until(Instant::now());
        assert!(fence.open(), "a deadline never moves back");
        let lapsed = Fence::default();
        lapsed.enable("x".into());
        lapsed.saw_map(Some("x"));
        lapsed.held_until(Instant::now());
        std::thread::sleep(Duration::from_millis(2));
        assert!(!lapsed.open(), "past the lease");
    }
}
