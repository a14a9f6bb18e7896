//! Restore: the whole state replaced by a backup's, as one command through the Raft log, so
//! every member ends in the same state (the backup document itself is [`crate::backup`]).
//!
//! The semantics follow etcd's snapshot restore with `--bump-revision` and `--mark-compacted`,
//! adapted to a restore into a control plane that is running:
//!
//! - **Data**: every key with its kept history, the revisions its versions were written at, the
//!   compaction point and the audit chain come from the backup unchanged. Reads at an older
//!   revision (`at_revision`, rollback) read the backup's history.
//! - **Revision**: the restore takes revision `max(current, backup's) + 1`, so no client ever
//!   sees the revision go backwards and every later write is newer than anything in either
//!   history.
//! - **Watchers**: events cannot be followed across a restore, as the history before it is
//!   another state's. A watch resuming from the restore revision R or before gets `compacted,
//!   resync from revision R+1` (HTTP 410), exactly as after a compaction: it must read the state
//!   again (the restore's own changes at R are part of what it reads) and watch from R+1. Open
//!   watch streams end the same way: the apply path cannot hand them the events after their
//!   last revision, so it signals a resync, and their catch-up meets the error.
//! - **Sessions** (leases, locks, keys attached to leases) belong to running processes, not to
//!   the data. The backup's are dropped: their holders are gone or talk to another cluster, and
//!   their deadlines were stamped by another clock; their keys get a tombstone at the restore
//!   revision. The running control plane's own leases, locks and lease-bound keys are kept
//!   (their keys rewritten at the restore revision), so a restore neither ends a data node's
//!   liveness nor triggers a failover. Lease ids continue after the larger of both counters, so
//!   an id from either side is never handed out again.
//! - **Topology**: the cluster map describes the data nodes that run (they hold their data by
//!   it and only accept growing epochs), so a control plane that has a map keeps it, rewritten
//!   at the restore revision after the backup's versions. A control plane without one — a fresh
//!   one, the disaster-recovery case — takes the backup's map. Its data nodes then have to
//!   register with this control plane (a new lease and alive key, which they take by themselves
//!   once they reach it); until they do, the failover controller treats them as it treats any
//!   node a new leader has not seen: after its grace period it marks them down in the map, and
//!   up again when they register.
//! - **Audit**: the chain is the backup's plus one entry for the restore, chained onto it:
//!   actor and time, key `backup/revision/<n>`, the backup's checksum as the new checksum and
//!   the hash of the replaced chain's last entry as the old one (so the replaced chain can still
//!   be matched against an earlier backup of it). Verification therefore runs end to end
//!   afterwards. The session and map writes of the restore are covered by that one entry.
//! - **Safety**: replacing a state that holds data — a key other than the map that has or had
//!   a value not bound to a lease — needs `force`; without it the restore is refused and
//!   changes nothing. Sessions and the map are kept either way, so they do not count.

use std::collections::BTreeSet;

use super::{ConfigState, StoredValue, Tx};
use crate::cluster_map::MAP_KEY;
use crate::command::{Outcome, Response, RestoreOp, SmError};

impl ConfigState {
    pub(super) fn restore(&mut self, tx: &mut Tx, op: &RestoreOp) -> Response {
        let held = self.data_keys();
        if held > 0 && !op.force {
            return Err(SmError::NotEmpty { keys: held });
        }
        let mut old = std::mem::replace(self, op.state.clone());
        tx.rev = old.revision.max(self.revision) + 1;
        self.time_ms = self.time_ms.max(tx.now);
        tx.now = self.time_ms;
        self.restored_at = tx.rev;
        // Without leases in the map, the writes below attach and detach nothing: the kept
        // leases come back afterwards with their key sets as they were.
        self.leases.clear();
        self.locks.clear();
        let kept = old.session_and_map();
        let kept_keys: BTreeSet<&str> = kept.iter().map(|(k, _)| k.as_str()).collect();
        let ended: Vec<String> = self.session_and_map().into_iter().map(|(k, _)| k).collect();
        for key in ended.iter().filter(|k| k.as_str() != MAP_KEY && !kept_keys.contains(k.as_str())) {
            self.push_version(tx, key, None);
        }
        for (key, value) in &kept {
            if self.current(key).and_then(|r| r.value.as_ref()) != Some(value) {
                self.push_version(tx, key, Some(value.clone()));
            }
        }
        self.leases = std::mem::take(&mut old.leases);
        self.locks = std::mem::take(&mut old.locks);
        self.next_lease_id = self.next_lease_id.max(old.next_lease_id);
        tx.changed = true;
        let (old_seq, old_head) = old.audit_head();
        let replaced = (old_seq > 0).then(|| old_head.to_string());
        self.audit_push(tx, &format!("backup/revision/{}", op.backup_revision), replaced, Some(op.checksum.clone()));
        Ok(Outcome::Restored { revision: tx.rev, backup_revision: op.backup_revision, keys: self.live_keys_at(tx.rev) })
    }

    /// Keys a restore would discard: those other than the map that have, or had in their kept
    /// history, a value not bound to a lease.
    pub fn data_keys(&self) -> u64 {
        let is_data = |(key, versions): &(&String, &Vec<super::Record>)| {
            key.as_str() != MAP_KEY && versions.iter().any(|r| r.value.as_ref().is_some_and(|v| v.lease.is_none()))
        };
        self.keys.iter().filter(is_data).count() as u64
    }

    /// The live keys that belong to the running cluster rather than to its data: those bound
    /// to a lease, and the cluster map.
    fn session_and_map(&self) -> Vec<(String, StoredValue)> {
        self.keys
            .keys()
            .filter_map(|key| {
                let value = self.current(key)?.value.as_ref()?;
                (value.lease.is_some() || key == MAP_KEY).then(|| (key.clone(), value.clone()))
            })
            .collect()
    }
}
