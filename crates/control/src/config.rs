//! Settings of a control-plane node.
//!
//! Raft's timers default to values that hold up with several nodes sharing two cores (openraft's
//! own 50 ms heartbeat / 150-300 ms election timeouts cause needless elections there).
//!
//! How long a leader's death goes unnoticed: openraft's followers wait a leader lease (the
//! maximum election timeout) plus a random election timeout after the last heartbeat, so
//! 800-1000 ms with 300-500 ms. That time also bounds the control plane's lease safety: a new
//! leader extends every node lease to at least half its TTL from its election, and a node trusts
//! its lease for 3/4 of the TTL from a renewal the old leader committed, at least a leader lease
//! before the election (a voter grants its vote only once its leader lease ran out); so the
//! lease is safe while `election_max_ms` >= TTL / 4.

use std::net::SocketAddr;
use std::path::PathBuf;

/// Raft and housekeeping timers, in milliseconds.
#[derive(Debug, Clone, PartialEq)]
pub struct Timers {
    pub heartbeat_ms: u64,
    pub election_min_ms: u64,
    pub election_max_ms: u64,
    /// How often the leader looks for expired leases.
    pub lease_check_ms: u64,
    /// How often the leader checks whether history should be compacted.
    pub compaction_check_ms: u64,
    /// Longest a request waits for a leader, a quorum or this node to catch up before it is
    /// answered 503 (a write that timed out may still be applied later).
    pub request_timeout_ms: u64,
}

impl Default for Timers {
    fn default() -> Timers {
        Timers { heartbeat_ms: 100, election_min_ms: 300, election_max_ms: 500, lease_check_ms: 50, compaction_check_ms: 5_000, request_timeout_ms: 10_000 }
    }
}

#[derive(Debug, Clone, PartialEq)]
pub struct ControlConfig {
    /// This node's Raft id; unique in the cluster and never reused for a wiped node.
    pub node_id: u64,
    /// Where the redb file lives.
    pub data_dir: PathBuf,
    /// Address of the admin HTTP server (API and Raft RPC); port 0 picks a free port.
    pub admin_addr: SocketAddr,
    /// URL other nodes use to reach this one; defaults to `http://<admin_addr>` (`https://`
    /// with TLS; 127.0.0.1 when bound to an unspecified address).
    pub advertise_url: Option<String>,
    /// Admin URL of a running cluster member to join, instead of starting a new cluster.
    pub join: Option<String>,
    /// On first start without `join`, wait to be added to a cluster (or made the first member
    /// through `POST /v1/cluster/init`) instead of forming a cluster of one at once.
    pub standby: bool,
    pub timers: Timers,
    /// Build a snapshot after this many applied entries (then the log is purged).
    pub snapshot_every: u64,
    /// Also build a snapshot once this many writes were applied since the last one (one entry
    /// may batch hundreds); 0 = no such rule.
    pub snapshot_writes: u64,
    /// Also build a snapshot once writes carrying this many key/value bytes were applied since
    /// the last one; 0 = no such rule.
    pub snapshot_bytes: u64,
    /// Entries kept in the log behind the snapshot, so lagging followers can catch up without one.
    pub keep_logs_after_snapshot: u64,
    /// Largest value a put may carry.
    pub max_value_bytes: usize,
    /// Revisions of history to keep; older ones are compacted (0 = no count rule).
    pub retain_revisions: u64,
    /// Milliseconds of history to keep (0 = no age rule). With both rules, history either rule
    /// wants is kept; with neither, nothing is compacted automatically.
    pub retain_ms: u64,
    /// Bearer tokens the API accepts (see [`crate::auth`]); empty = no access control, which
    /// is only allowed on a loopback admin address.
    pub tokens: Vec<crate::auth::Token>,
    /// Serve the admin port over HTTPS and reach peers over HTTPS (see [`crate::tls`]).
    pub tls: Option<crate::tls::TlsFiles>,
}

impl ControlConfig {
    pub fn new(node_id: u64, data_dir: impl Into<PathBuf>, admin_addr: SocketAddr) -> ControlConfig {
        ControlConfig {
            node_id,
            data_dir: data_dir.into(),
            admin_addr,
            advertise_url: None,
            join: None,
            standby: false,
            timers: Timers::default(),
            snapshot_every: 5_000,
            snapshot_writes: 20_000,
            snapshot_bytes: 64 * 1024 * 1024,
            keep_logs_after_snapshot: 500,
            max_value_bytes: 1536 * 1024,
            retain_revisions: 100_000,
            retain_ms: 0,
            tokens: Vec::new(),
            tls: None,
        }
    }

    /// openraft's configuration from these settings, validated.
    pub(crate) fn raft_config(&self) -> Result<openraft::Config, String> {
        let t = &self.timers;
        let config = openraft::Config {
            cluster_name: "ferrocache-control".into(),
            heartbeat_interval: t.heartbeat_ms,
            election_timeout_min: t.election_min_ms,
            election_timeout_max: t.election_max_ms,
            install_snapshot_timeout: t.election_max_ms.max(1_000),
            snapshot_policy: openraft::SnapshotPolicy::LogsSinceLast(self.snapshot_every),
            max_in_snapshot_log_to_keep: self.keep_logs_after_snapshot,
            ..Default::default()
        };
        config.validate().map_err(|e| format!("invalid raft timers: {e}"))
    }

    /// Largest HTTP body accepted: a value plus room for JSON framing.
    pub(crate) fn body_limit(&self) -> usize {
        self.max_value_bytes.saturating_mul(2).saturating_add(64 * 1024)
    }
}
