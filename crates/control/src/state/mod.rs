//! The config-center state machine: pure, deterministic, no I/O and no clock.
//!
//! Raft replicates [`Request`]s; every replica feeds them to [`ConfigState::apply`] in log order
//! and must end in the same state, so nothing here may depend on anything but the state and the
//! request (times come from the leader-stamped `time_ms`). Keeping it free of Raft and storage
//! lets the whole behaviour be unit-tested directly.
//!
//! Model (etcd's ideas): one global `revision` counter; a command that changes keys or lock
//! ownership takes the next revision (all keys changed by one command share it). Each key keeps
//! its versions (tombstones for deletes) until compaction, and `revlog` maps each revision to
//! the keys it touched, which is what watch catch-up and `get at_revision` read.

mod audit;
mod kv;
mod lease;
mod lock;
mod restore;
#[cfg(test)]
mod tests;

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

pub use audit::{AuditCheckpoint, AuditEntry, ChainReport, VerifiedHead};
use lease::Lease;
use lock::LockState;

use crate::command::{ContentType, Op, Outcome, Request, Response, SmError};

/// One stored value.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct StoredValue {
    #[serde(with = "serde_bytes")]
    pub data: Vec<u8>,
    pub content_type: ContentType,
    /// Lowercase hex SHA-256 of `data`.
    pub checksum: String,
    pub lease: Option<u64>,
}

/// One version of a key; `value: None` is a delete (tombstone).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Record {
    pub mod_revision: u64,
    /// Revision at which the current incarnation of the key was created (0 for tombstones).
    pub create_revision: u64,
    /// Number of puts since the key was created (0 for tombstones).
    pub version: u64,
    pub value: Option<StoredValue>,
    pub author: String,
    pub time_ms: u64,
}

impl Record {
    pub fn is_live(&self) -> bool {
        self.value.is_some()
    }

    pub fn checksum(&self) -> Option<&str> {
        self.value.as_ref().map(|v| v.checksum.as_str())
    }
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Serialize, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum EventKind {
    Put,
    Delete,
}

/// A change of one key at one revision, as watchers see it.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Event {
    pub revision: u64,
    pub kind: EventKind,
    pub key: String,
    pub record: Record,
}

/// The whole replicated state (serialized as the Raft snapshot).
#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub struct ConfigState {
    revision: u64,
    /// Lowest revision whose state is still fully readable (0 = nothing compacted).
    first_revision: u64,
    /// Latest leader time seen; never goes backwards.
    time_ms: u64,
    keys: BTreeMap<String, Vec<Record>>,
    revlog: BTreeMap<u64, Vec<String>>,
    leases: BTreeMap<u64, Lease>,
    next_lease_id: u64,
    locks: BTreeMap<String, LockState>,
    audit: Vec<AuditEntry>,
    /// Where the kept audit chain attaches after compaction dropped its start.
    #[serde(default)]
    audit_checkpoint: Option<AuditCheckpoint>,
    /// The revision of the last restore (0 = never restored): events cannot be followed across
    /// it, since the history before it is another state's (see `restore`).
    #[serde(default)]
    restored_at: u64,
}

/// Counts of what a state holds.
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq, Serialize, Deserialize)]
pub struct Summary {
    /// Live keys.
    pub keys: u64,
    /// Stored versions of all keys, tombstones included.
    pub versions: u64,
    /// Kept audit entries.
    pub audit_entries: u64,
    pub leases: u64,
    pub locks: u64,
}

/// The per-command context: who, when, and the revision a change would take.
pub(crate) struct Tx<'a> {
    actor: &'a str,
    now: u64,
    rev: u64,
    changed: bool,
    op: &'static str,
}

impl ConfigState {
    pub fn new() -> ConfigState {
        ConfigState::default()
    }

    /// Current revision (0 before the first change).
    pub fn revision(&self) -> u64 {
        self.revision
    }

    /// Lowest revision still readable; older ones were compacted.
    pub fn first_revision(&self) -> u64 {
        self.first_revision
    }

    /// Latest leader-stamped time the state has seen.
    pub fn time_ms(&self) -> u64 {
        self.time_ms
    }

    /// How much the state holds (what a backup's metadata reports).
    pub fn summary(&self) -> Summary {
        Summary {
            keys: self.live_keys_at(self.revision),
            versions: self.keys.values().map(|v| v.len() as u64).sum(),
            audit_entries: self.audit.len() as u64,
            leases: self.leases.len() as u64,
            locks: self.locks.len() as u64,
        }
    }

    /// How many keys are live at `rev`.
    fn live_keys_at(&self, rev: u64) -> u64 {
        self.keys.keys().filter(|k| self.live_at(k, rev).is_some()).count() as u64
    }

    /// Applies one command. A refused command (`Err`) changes nothing but the clock.
    pub fn apply(&mut self, req: &Request) -> Response {
        if let Op::Batch(batch) = &req.op {
            let replies = batch.iter().map(|inner| self.apply_one(inner)).collect();
            return Ok(Outcome::Batch(replies));
        }
        self.apply_one(req)
    }

    /// Applies one command that is not a batch (a batch inside a batch is refused).
    fn apply_one(&mut self, req: &Request) -> Response {
        self.time_ms = self.time_ms.max(req.time_ms);
        let mut tx = Tx { actor: &req.actor, now: self.time_ms, rev: self.revision + 1, changed: false, op: req.op.name() };
        let result = match &req.op {
            Op::Put(put) => self.put(&mut tx, put),
            Op::Delete(del) => self.delete(&mut tx, del),
            Op::Txn(txn) => self.txn(&mut tx, txn),
            Op::Rollback(rb) => self.rollback(&mut tx, rb),
            Op::LeaseGrant { ttl_ms } => self.lease_grant(&mut tx, *ttl_ms),
            Op::LeaseKeepAlive { id } => self.lease_keepalive(&mut tx, *id),
            Op::LeaseRevoke { id } => self.lease_revoke(&mut tx, *id),
            Op::ExpireLeases => Ok(self.expire_leases(&mut tx)),
            Op::RefreshLeases => Ok(self.refresh_leases(&mut tx)),
            Op::LockAcquire { name, owner, lease } => self.lock_acquire(&mut tx, name, owner, *lease),
            Op::LockRelease { name, owner } => self.lock_release(&mut tx, name, owner),
            Op::Compact { revision } => self.compact(&mut tx, *revision),
            Op::Restore(restore) => self.restore(&mut tx, restore),
            // `apply` unpacks a batch; only a batch inside a batch gets here.
            Op::Batch(_) => Err(SmError::Invalid("a batch cannot contain a batch".to_string())),
        };
        if tx.changed {
            self.revision = tx.rev;
        }
        result
    }

    /// Records a Raft membership change in the audit chain (membership lives in Raft itself).
    pub fn record_membership(&mut self, description: &str) {
        let tx = Tx { actor: "raft", now: self.time_ms, rev: self.revision, changed: false, op: "membership" };
        self.audit_push(&tx, description, None, None);
    }

    /// Checks that `revision` can be read: not compacted, not in the future.
    pub fn check_readable(&self, revision: u64) -> Result<(), SmError> {
        if revision > self.revision {
            return Err(SmError::FutureRevision { requested: revision, current: self.revision });
        }
        if revision < self.first_revision {
            return Err(SmError::Compacted { first_available: self.first_revision });
        }
        Ok(())
    }

    /// Events with revision >= `from` on keys starting with `prefix`, in revision order.
    /// A watcher cannot follow events across a restore: it is told to read the state again and
    /// watch from the revision after the restore's, as after a compaction (the restore's own
    /// changes are part of the state it reads).
    pub fn events_from(&self, from: u64, prefix: &str) -> Result<Vec<Event>, SmError> {
        let after_restore = if self.restored_at > 0 { self.restored_at + 1 } else { 0 };
        let floor = self.first_revision.max(after_restore);
        if from < floor {
            return Err(SmError::Compacted { first_available: floor });
        }
        let mut out = Vec::new();
        for (rev, keys) in self.revlog.range(from..) {
            for key in keys.iter().filter(|k| k.starts_with(prefix)) {
                if let Some(record) = self.record_at_exact(key, *rev) {
                    let kind = if record.is_live() { EventKind::Put } else { EventKind::Delete };
                    out.push(Event { revision: *rev, kind, key: key.clone(), record: record.clone() });
                }
            }
        }
        Ok(out)
    }

    /// How far compaction may go while keeping the last `keep_revisions` revisions (0 = no
    /// count rule) and every revision written at or after `keep_since_ms` (None = no age rule).
    /// With both rules, the one that keeps more wins. `None` when there is nothing to drop.
    pub fn compaction_target(&self, keep_revisions: u64, keep_since_ms: Option<u64>) -> Option<u64> {
        let by_count = (keep_revisions > 0).then(|| self.revision.saturating_sub(keep_revisions));
        let by_age = keep_since_ms.map(|cutoff| {
            // Times never go backwards, so the first revision at or after the cutoff ends the old part.
            self.revlog
                .iter()
                .find(|(rev, keys)| keys.first().and_then(|k| self.record_at_exact(k, **rev)).is_some_and(|r| r.time_ms >= cutoff))
                .map_or(self.revision, |(rev, _)| *rev)
        });
        let target = match (by_count, by_age) {
            (Some(a), Some(b)) => a.min(b),
            (a, b) => a.or(b)?,
        };
        (target > self.first_revision).then_some(target)
    }

    /// Drops history older than `revision`: per key, versions before it are removed except the
    /// newest live one (so the state at `revision` stays readable); audit entries older than
    /// `revision` go too, leaving a checkpoint of the chain (see `audit`).
    fn compact(&mut self, tx: &mut Tx, revision: u64) -> Response {
        if revision > self.revision {
            return Err(SmError::FutureRevision { requested: revision, current: self.revision });
        }
        if revision <= self.first_revision {
            return Ok(Outcome::Compacted { revision: self.first_revision });
        }
        self.keys.retain(|_, versions| {
            let newer = versions.partition_point(|r| r.mod_revision < revision);
            let keep_from = match newer.checked_sub(1) {
                Some(last_old) if versions[last_old].is_live() => last_old,
                _ => newer,
            };
            versions.drain(..keep_from);
            !versions.is_empty()
        });
        self.revlog = self.revlog.split_off(&revision);
        self.first_revision = revision;
        self.compact_audit(revision);
        self.audit_push(tx, &format!("revision/{revision}"), None, None);
        Ok(Outcome::Compacted { revision })
    }
}

/// Lowercase hex SHA-256 of `data`.
pub fn sha256_hex(data: &[u8]) -> String {
    use sha2::{Digest, Sha256};
    hex(&Sha256::digest(data))
}

pub(crate) fn hex(bytes: &[u8]) -> String {
    const DIGITS: &[u8; 16] = b"0123456789abcdef";
    let mut out = String::with_capacity(bytes.len() * 2);
    for b in bytes {
        out.push(DIGITS[(b >> 4) as usize] as char);
        out.push(DIGITS[(b & 15) as usize] as char);
    }
    out
}
