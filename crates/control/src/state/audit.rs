//! The hash-chained audit log.
//!
//! Every mutation appends an entry whose `hash` is the SHA-256 of its own fields and the previous
//! entry's hash. Changing, removing or reordering any stored entry breaks the chain from that
//! point on, and [`ConfigState::verify_audit`] names the first entry where it breaks.

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

/// Result of checking the chain end to end.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ChainReport {
    pub ok: bool,
    pub entries: u64,
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
    pub(super) fn audit_push(&mut self, tx: &Tx, key: &str, old: Option<String>, new: Option<String>) {
        let prev_hash = self.audit.last().map_or_else(|| GENESIS.to_string(), |e| e.hash.clone());
        let mut entry = AuditEntry {
            seq: self.audit.len() as u64 + 1,
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

    /// Entries with `seq >= from`, at most `limit`.
    pub fn audit_entries(&self, from: u64, limit: usize) -> &[AuditEntry] {
        let start = (from.max(1) - 1).min(self.audit.len() as u64) as usize;
        let end = start.saturating_add(limit).min(self.audit.len());
        &self.audit[start..end]
    }

    /// Walks the chain from the first entry and reports the first link that does not hold.
    pub fn verify_audit(&self) -> ChainReport {
        let mut prev = GENESIS;
        for (i, entry) in self.audit.iter().enumerate() {
            let expected_seq = i as u64 + 1;
            let reason = if entry.seq != expected_seq {
                Some(format!("sequence number {} where {expected_seq} was expected", entry.seq))
            } else if entry.prev_hash != prev {
                Some("prev_hash does not match the previous entry's hash".to_string())
            } else if entry.compute_hash() != entry.hash {
                Some("hash does not match the entry's contents".to_string())
            } else {
                None
            };
            if reason.is_some() {
                return ChainReport { ok: false, entries: self.audit.len() as u64, first_broken: Some(expected_seq), reason };
            }
            prev = &entry.hash;
        }
        ChainReport { ok: true, entries: self.audit.len() as u64, first_broken: None, reason: None }
    }

    /// Test hook: gives mutable access to the stored chain to simulate tampering.
    #[cfg(test)]
    pub(crate) fn audit_mut(&mut self) -> &mut Vec<AuditEntry> {
        &mut self.audit
    }
}
