//! The hash-chained audit log.
//!
//! Every mutation appends an entry whose `hash` is the SHA-256 of its own fields and the previous
//! entry's hash. Changing, removing or reordering any stored entry breaks the chain from that
//! point on, and [`ConfigState::verify_audit`] names the first entry where it breaks.
//!
//! The log would grow with every mutation forever, so history compaction also drops the audit
//! entries older than the compacted revision. What it keeps of them is an [`AuditCheckpoint`]:
//! the sequence number and hash of the last dropped entry. The first kept entry's `prev_hash`
//! must equal that hash and its `seq` must follow it, so verification still runs end to end —
//! from the checkpoint instead of from genesis — and still catches a changed, removed or
//! reordered kept entry, or a changed checkpoint. A prefix is only dropped if it verifies: a
//! broken link found at compaction time stays in the log, where `verify` keeps reporting it.

use serde::{Deserialize, Serialize};
use sha2::{Digest, Sha256};

use super::{ConfigState, Tx, hex};

/// The `prev_hash` of the first entry.
pub const GENESIS: &str = "0000000000000000000000000000000000000000000000000000000000000000";

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditEntry {
    pub seq: u64,
    /// The revision the change produced (or the current one for changes that take none).
    pub revision: u64,
    pub time_ms: u64,
    pub actor: String,
    pub op: String,
    pub key: String,
    pub old_checksum: Option<String>,
    pub new_checksum: Option<String>,
    pub prev_hash: String,
    pub hash: String,
}

/// What compaction keeps of the audit entries it drops: where the kept chain must attach.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditCheckpoint {
    /// Sequence number of the last dropped entry (the first kept one has `seq + 1`).
    pub seq: u64,
    /// Hash of the last dropped entry: the first kept entry's `prev_hash`.
    pub hash: String,
    /// The compaction revision that dropped the entries.
    pub revision: u64,
}

/// Result of checking the chain end to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    pub ok: bool,
    /// Entries checked (the kept ones).
    pub entries: u64,
    /// Entries dropped by compaction; the kept chain was checked against the last one's hash.
    #[serde(default)]
    pub compacted: u64,
    /// Sequence number of the first entry that does not verify.
    pub first_broken: Option<u64>,
    pub reason: Option<String>,
}

impl AuditEntry {
    /// SHA-256 over every field but `hash`, each length-prefixed so fields cannot run together.
    pub(super) fn compute_hash(&self) -> String {
        let mut h = Sha256::new();
        let mut field = |bytes: &[u8]| {
            h.update((bytes.len() as u64).to_le_bytes());
            h.update(bytes);
        };
        field(&self.seq.to_le_bytes());
        field(&self.revision.to_le_bytes());
        field(&self.time_ms.to_le_bytes());
        field(self.actor.as_bytes());
        field(self.op.as_bytes());
        field(self.key.as_bytes());
        field(self.old_checksum.as_deref().unwrap_or("-").as_bytes());
        field(self.new_checksum.as_deref().unwrap_or("-").as_bytes());
        field(self.prev_hash.as_bytes());
        hex(&h.finalize())
    }
}

impl ConfigState {
    /// Sequence number and hash the next entry follows: the last entry, else the checkpoint,
    /// else genesis.
    pub(super) fn audit_head(&self) -> (u64, &str) {
        match (self.audit.last(), &self.audit_checkpoint) {
            (Some(last), _) => (last.seq, &last.hash),
            (None, cp) => audit_base(cp.as_ref()),
        }
    }

    /// Sequence number of the first kept entry.
    pub fn audit_first_seq(&self) -> u64 {
        audit_base(self.audit_checkpoint.as_ref()).0 + 1
    }

    pub(super) fn audit_push(&mut self, tx: &Tx, key: &str, old: Option<String>, new: Option<String>) {
        let (head_seq, head_hash) = self.audit_head();
        let prev_hash = head_hash.to_string();
        let mut entry = AuditEntry {
            seq: head_seq + 1,
            revision: if tx.changed { tx.rev } else { self.revision },
            time_ms: tx.now,
            actor: tx.actor.to_string(),
            op: tx.op.to_string(),
            key: key.to_string(),
            old_checksum: old,
            new_checksum: new,
            prev_hash,
            hash: String::new(),
        };
        entry.hash = entry.compute_hash();
        self.audit.push(entry);
    }

    /// Entries with `seq >= from` (from the first kept one if `from` was compacted), at most
    /// `limit`.
    pub fn audit_entries(&self, from: u64, limit: usize) -> &[AuditEntry] {
        let first = self.audit_first_seq();
        let start = (from.max(first) - first).min(self.audit.len() as u64) as usize;
        let end = start.saturating_add(limit).min(self.audit.len());
        &self.audit[start..end]
    }

    /// Walks the chain from the checkpoint (or genesis) and reports the first link that does
    /// not hold.
    pub fn verify_audit(&self) -> ChainReport {
        let (base, prev) = audit_base(self.audit_checkpoint.as_ref());
        let (first_broken, reason) = match verify_links(&self.audit, base, prev) {
            Some((seq, why)) => (Some(seq), Some(why)),
            None => (None, None),
        };
        ChainReport { ok: first_broken.is_none(), entries: self.audit.len() as u64, compacted: base, first_broken, reason }
    }

    /// Drops the audit entries older than `revision` (with history compaction), leaving a
    /// checkpoint the kept chain attaches to. Nothing is dropped if the part to drop does not
    /// verify, so a broken link is never compacted away.
    pub(super) fn compact_audit(&mut self, revision: u64) {
        // Entries carry non-decreasing revisions in sequence order.
        let cut = self.audit.partition_point(|e| e.revision < revision);
        let Some(last_dropped) = cut.checked_sub(1).map(|i| &self.audit[i]) else { return };
        let (base, prev) = audit_base(self.audit_checkpoint.as_ref());
        if verify_links(&self.audit[..cut], base, prev).is_some() {
            return;
        }
        let checkpoint = AuditCheckpoint { seq: last_dropped.seq, hash: last_dropped.hash.clone(), revision };
        self.audit_checkpoint = Some(checkpoint);
        self.audit.drain(..cut);
    }

    /// Test hook: gives mutable access to the stored chain to simulate tampering.
    #[cfg(test)]
    pub(crate) fn audit_mut(&mut self) -> &mut Vec<AuditEntry> {
        &mut self.audit
    }

    /// Test hook: the checkpoint, to simulate tampering with it.
    #[cfg(test)]
    pub(crate) fn audit_checkpoint_mut(&mut self) -> &mut Option<AuditCheckpoint> {
        &mut self.audit_checkpoint
    }
}

/// Sequence number and hash the first kept entry follows.
fn audit_base(checkpoint: Option<&AuditCheckpoint>) -> (u64, &str) {
    checkpoint.map_or((0, GENESIS), |cp| (cp.seq, cp.hash.as_str()))
}

/// Checks `entries` as the continuation of a chain whose last entry had sequence number `base`
/// and hash `prev`; returns the first entry that does not hold, and why.
fn verify_links<'a>(entries: &'a [AuditEntry], base: u64, mut prev: &'a str) -> Option<(u64, String)> {
    for (i, entry) in entries.iter().enumerate() {
        let expected_seq = base + i as u64 + 1;
        let reason = if entry.seq != expected_seq {
            Some(format!("sequence number {} where {expected_seq} was expected", entry.seq))
        } else if entry.prev_hash != prev {
            let what = if i == 0 && base > 0 { "the compaction checkpoint's hash" } else { "the previous entry's hash" };
            Some(format!("prev_hash does not match {what}"))
        } else if entry.compute_hash() != entry.hash {
            Some("hash does not match the entry's contents".to_string())
        } else {
            None
        };
        if let Some(why) = reason {
            return Some((expected_seq, why));
        }
        prev = &entry.hash;
    }
    None
}
