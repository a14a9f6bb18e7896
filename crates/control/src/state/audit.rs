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

/// An entry up to which the chain was found whole (see [`ConfigState::verify_audit_after`]).
#[derive(Debug, Clone, PartialEq, Eq)]
pub struct VerifiedHead {
    seq: u64,
    hash: String,
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
        self.verify_audit_after(None).0
    }

    /// [`Self::verify_audit`] for a caller that checks the chain again and again (`/metrics`,
    /// the alert rounds): the entries up to `known`, a head an earlier call returned, are not
    /// hashed again while that entry is still in the chain with the same hash; only the ones
    /// appended since are. Returns the report and the head to pass next time (none while the
    /// chain is broken, so that every call walks it all and reports the break).
    ///
    /// Why trusting the verified part holds: entries are only ever appended in memory, and
    /// compaction and restores, which replace the start of the chain, move the checkpoint or
    /// the entry at `known.seq`, and the walk starts over. What it does not catch is an entry
    /// before `known` changed in place in this process's memory; a state read back from disk
    /// starts with no known head, so a changed file is still found.
    pub fn verify_audit_after(&self, known: Option<&VerifiedHead>) -> (ChainReport, Option<VerifiedHead>) {
        let (base, base_hash) = audit_base(self.audit_checkpoint.as_ref());
        let (mut skip, mut after, mut prev) = (0, base, base_hash);
        if let Some(k) = known.filter(|k| k.seq > base) {
            let at = (k.seq - base - 1) as usize;
            if let Some(entry) = self.audit.get(at).filter(|e| e.seq == k.seq && e.hash == k.hash) {
                (skip, after, prev) = (at + 1, k.seq, entry.hash.as_str());
            }
        }
        let broken = verify_links(&self.audit[skip..], after, prev, skip == 0 && base > 0);
        let head = match (&broken, self.audit.last()) {
            (None, Some(last)) => Some(VerifiedHead { seq: last.seq, hash: last.hash.clone() }),
            _ => None,
        };
        let (first_broken, reason) = broken.map_or((None, None), |(seq, why)| (Some(seq), Some(why)));
        let report = ChainReport { ok: first_broken.is_none(), entries: self.audit.len() as u64, compacted: base, first_broken, reason };
        (report, head)
    }

    /// Drops the audit entries older than `revision` (with history compaction), leaving a
    /// checkpoint the kept chain attaches to. Nothing is dropped if the part to drop does not
    /// verify, so a broken link is never compacted away.
    pub(super) fn compact_audit(&mut self, revision: u64) {
        // Entries carry non-decreasing revisions in sequence order.
        let cut = self.audit.partition_point(|e| e.revision < revision);
        let Some(last_dropped) = cut.checked_sub(1).map(|i| &self.audit[i]) else { return };
        let (base, prev) = audit_base(self.audit_checkpoint.as_ref());
        if verify_links(&self.audit[..cut], base, prev, base > 0).is_some() {
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
/// and hash `prev` (the compaction checkpoint's if `base` is its); returns the first entry that
/// does not hold, and why.
fn verify_links<'a>(entries: &'a [AuditEntry], base: u64, mut prev: &'a str, base_is_checkpoint: bool) -> Option<(u64, String)> {
    for (i, entry) in entries.iter().enumerate() {
        let expected_seq = base + i as u64 + 1;
        let reason = if entry.seq != expected_seq {
            Some(format!("sequence number {} where {expected_seq} was expected", entry.seq))
        } else if entry.prev_hash != prev {
            let what = if i == 0 && base_is_checkpoint { "the compaction checkpoint's hash" } else { "the previous entry's hash" };
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
