//! The commands that go through the Raft log and the answers the state machine gives.
//!
//! A [`Request`] is what the leader proposes: who acts, the leader's clock reading and the
//! operation. The state machine never reads a clock, so every time it needs (lease deadlines,
//! record timestamps, audit times) comes from `time_ms` here; that keeps every replica's apply
//! deterministic. These types are serialized into the log (MessagePack), so their shape is part
//! of the on-disk format: add fields with `#[serde(default)]`.

use serde::{Deserialize, Serialize};

/// One log entry's application payload.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Request {
    /// Who asked (token name, `X-Ferrocache-Actor` header, or `system` for the node's own timers).
    pub actor: String,
    /// Unix milliseconds read by the leader when it proposed the command.
    pub time_ms: u64,
    pub op: Op,
}

/// How a value should be read; `json` and `toml` values must parse before they are accepted.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize, Default)]
#[serde(rename_all = "snake_case")]
pub enum ContentType {
    Json,
    Yaml,
    Toml,
    Text,
    #[default]
    Binary,
}

impl ContentType {
    pub fn name(self) -> &'static str {
        match self {
            ContentType::Json => "json",
            ContentType::Yaml => "yaml",
            ContentType::Toml => "toml",
            ContentType::Text => "text",
            ContentType::Binary => "binary",
        }
    }

    /// Parses a short name (`json`) or a MIME type (`application/json; charset=utf-8`).
    pub fn parse(text: &str) -> Option<ContentType> {
        let base = text.split(';').next().unwrap_or("").trim().to_ascii_lowercase();
        Some(match base.as_str() {
            "json" | "application/json" => ContentType::Json,
            "yaml" | "yml" | "application/yaml" | "application/x-yaml" | "text/yaml" => ContentType::Yaml,
            "toml" | "application/toml" => ContentType::Toml,
            "text" | "text/plain" => ContentType::Text,
            "binary" | "application/octet-stream" => ContentType::Binary,
            _ => return None,
        })
    }

    pub fn mime(self) -> &'static str {
        match self {
            ContentType::Json => "application/json",
            ContentType::Yaml => "application/yaml",
            ContentType::Toml => "application/toml",
            ContentType::Text => "text/plain; charset=utf-8",
            ContentType::Binary => "application/octet-stream",
        }
    }
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutOp {
    pub key: String,
    #[serde(with = "serde_bytes")]
    pub value: Vec<u8>,
    #[serde(default)]
    pub content_type: ContentType,
    /// Compare-and-swap: the key's current `mod_revision` must equal this (0 = must not exist).
    #[serde(default)]
    pub if_revision: Option<u64>,
    /// Attach the key to this lease: it is deleted when the lease ends.
    #[serde(default)]
    pub lease: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteOp {
    pub key: String,
    /// Delete every live key starting with `key`.
    #[serde(default)]
    pub prefix: bool,
    /// Compare-and-swap on a single key's `mod_revision`.
    #[serde(default)]
    pub if_revision: Option<u64>,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CmpOp {
    Eq,
    Ne,
    Lt,
    Gt,
}

/// What a txn compare looks at. A missing key has version, mod and create revision 0 and no value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum CompareTarget {
    Value(#[serde(with = "serde_bytes")] Vec<u8>),
    Version(u64),
    ModRevision(u64),
    CreateRevision(u64),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Compare {
    pub key: String,
    pub op: CmpOp,
    pub target: CompareTarget,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum TxnAction {
    Put(PutOp),
    Delete(DeleteOp),
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct TxnOp {
    pub compare: Vec<Compare>,
    pub success: Vec<TxnAction>,
    pub failure: Vec<TxnAction>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackOp {
    pub key: String,
    #[serde(default)]
    pub prefix: bool,
    pub to_revision: u64,
}

/// Replace the whole state with a backup's (see [`crate::backup`] for the document and
/// `state::restore` for what is kept). The node that receives the backup checks its format and
/// checksum before proposing; the state machine applies the decoded state as it is.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreOp {
    pub state: crate::state::ConfigState,
    /// The backup's revision and checksum, recorded in the restore's audit entry.
    pub backup_revision: u64,
    pub checksum: String,
    /// Replace a state that holds data (without it such a restore is refused).
    #[serde(default)]
    pub force: bool,
    /// Size of the encoded backup content, for the snapshot policy's byte count.
    #[serde(default)]
    pub content_bytes: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Op {
    Put(PutOp),
    Delete(DeleteOp),
    Txn(TxnOp),
    Rollback(RollbackOp),
    LeaseGrant { ttl_ms: u64 },
    LeaseKeepAlive { id: u64 },
    LeaseRevoke { id: u64 },
    /// Proposed by the leader's timer: end every lease whose deadline is at or before `time_ms`.
    ExpireLeases,
    /// Proposed by a new leader: give every lease at least half its TTL from `time_ms`, so
    /// keep-alives lost during the election do not expire it.
    RefreshLeases,
    LockAcquire { name: String, owner: String, lease: u64 },
    LockRelease { name: String, owner: String },
    /// Drop history older than `revision` (the state at `revision` stays readable).
    Compact { revision: u64 },
    /// Several proposals that reached the leader at the same moment, packed into one log entry
    /// so that they cost one append and one fsync per node (see [`crate::proposer`]). Each is
    /// applied in order as if it had its own entry (own revision, own audit record, own
    /// answer in [`Outcome::Batch`]); a batch never nests.
    Batch(Vec<Request>),
    /// Replace the state with a backup's; boxed, as it is much larger than any other op.
    Restore(Box<RestoreOp>),
}

impl Op {
    /// The audit log's name for the operation.
    pub fn name(&self) -> &'static str {
        match self {
            Op::Put(_) => "put",
            Op::Delete(_) => "delete",
            Op::Txn(_) => "txn",
            Op::Rollback(_) => "rollback",
            Op::LeaseGrant { .. } => "lease.grant",
            Op::LeaseKeepAlive { .. } => "lease.keepalive",
            Op::LeaseRevoke { .. } => "lease.revoke",
            Op::ExpireLeases => "lease.expire",
            Op::RefreshLeases => "lease.refresh",
            Op::LockAcquire { .. } => "lock.acquire",
            Op::LockRelease { .. } => "lock.release",
            Op::Compact { .. } => "compact",
            Op::Batch(_) => "batch",
            Op::Restore(_) => "restore",
        }
    }
}

/// Metadata of one stored version, as returned to callers.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KvMeta {
    pub key: String,
    pub create_revision: u64,
    pub mod_revision: u64,
    pub version: u64,
    pub checksum: String,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseInfo {
    pub id: u64,
    pub ttl_ms: u64,
    pub expires_at_ms: u64,
    pub keys: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockStatus {
    pub name: String,
    pub holder: Option<String>,
    /// The fencing token of the current holder: the revision at which it got the lock.
    pub token: Option<u64>,
    pub holder_lease: Option<u64>,
    pub waiters: Vec<String>,
}

/// What a successful command did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Outcome {
    /// Blank and membership entries.
    None,
    Put { revision: u64, prev: Option<KvMeta> },
    Delete { revision: u64, deleted: Vec<String> },
    Txn { succeeded: bool, revision: u64 },
    Rollback { revision: u64, changed: Vec<String> },
    Lease(LeaseInfo),
    LeaseRevoked { id: u64, deleted: Vec<String> },
    Expired { leases: Vec<u64> },
    Refreshed { leases: usize },
    /// `acquired` false means the owner is queued at `position` (0 = next).
    Lock { acquired: bool, token: Option<u64>, position: Option<usize> },
    Unlocked { released: bool },
    Compacted { revision: u64 },
    /// The answers to an [`Op::Batch`], one per request, in order.
    Batch(Vec<Response>),
    /// The state now is the backup's; `revision` is the restore's own (above every earlier one).
    Restored { revision: u64, backup_revision: u64, keys: u64 },
}

/// Why the state machine refused a command. The command still occupies its log slot; nothing
/// in the state changed.
#[derive(Debug, Clone, PartialEq, Eq, Serialize, Deserialize, thiserror::Error)]
#[serde(rename_all = "snake_case")]
pub enum SmError {
    #[error("revision conflict on '{key}': expected mod_revision {expected}, found {actual}")]
    Conflict { key: String, expected: u64, actual: u64 },
    #[error("compacted, resync from revision {first_available}")]
    Compacted { first_available: u64 },
    #[error("revision {requested} is in the future (current revision is {current})")]
    FutureRevision { requested: u64, current: u64 },
    #[error("lease {id} not found")]
    LeaseNotFound { id: u64 },
    #[error("'{owner}' does not hold or wait for lock '{name}'")]
    NotLockOwner { name: String, owner: String },
    #[error("{0}")]
    Invalid(String),
    #[error(
        "the control plane already holds data ({keys} {}); a restore replaces all of it: \
         give force=true (`ferrocache backup restore --force`) to replace it",
        if *keys == 1 { "key with history" } else { "keys with history" }
    )]
    NotEmpty { keys: u64 },
}

/// The state machine's reply for one entry (openraft's `R`).
pub type Response = Result<Outcome, SmError>;
