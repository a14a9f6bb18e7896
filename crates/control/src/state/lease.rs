//! Leases: a TTL that keys and locks hang on. When a lease ends (revoke, or an `ExpireLeases`
//! command stamped by the leader at or after its deadline) its keys are deleted and its locks
//! are released, all at one revision.

use std::collections::BTreeSet;

use serde::{Deserialize, Serialize};

use super::{ConfigState, Tx};
use crate::command::{LeaseInfo, Outcome, Response, SmError};

/// Longest TTL a lease may ask for (a day); anything longer is a mistake, not a lease.
pub const MAX_TTL_MS: u64 = 24 * 60 * 60 * 1000;

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub(super) struct Lease {
    ttl_ms: u64,
    expires_at_ms: u64,
    keys: BTreeSet<String>,
}

impl ConfigState {
    pub fn lease(&self, id: u64) -> Option<LeaseInfo> {
        self.leases.get(&id).map(|l| info(id, l))
    }

    pub fn leases(&self) -> Vec<LeaseInfo> {
        self.leases.iter().map(|(id, l)| info(*id, l)).collect()
    }

    /// The earliest lease deadline, for the leader's expiry timer.
    pub fn next_lease_deadline(&self) -> Option<u64> {
        self.leases.values().map(|l| l.expires_at_ms).min()
    }

    pub(super) fn lease_grant(&mut self, tx: &mut Tx, ttl_ms: u64) -> Response {
        if ttl_ms == 0 || ttl_ms > MAX_TTL_MS {
            return Err(SmError::Invalid(format!("lease ttl must be between 1 ms and {MAX_TTL_MS} ms")));
        }
        self.next_lease_id += 1;
        let id = self.next_lease_id;
        let lease = Lease { ttl_ms, expires_at_ms: tx.now.saturating_add(ttl_ms), keys: BTreeSet::new() };
        let out = info(id, &lease);
        self.leases.insert(id, lease);
        self.audit_push(tx, &lease_key(id), None, None);
        Ok(Outcome::Lease(out))
    }

    pub(super) fn lease_keepalive(&mut self, tx: &mut Tx, id: u64) -> Response {
        let lease = self.leases.get_mut(&id).ok_or(SmError::LeaseNotFound { id })?;
        lease.expires_at_ms = tx.now.saturating_add(lease.ttl_ms);
        // Not audited: data nodes renew their leases five times a second, and a renewal changes
        // nothing a reader of the trail needs (grants, revocations and expiries are recorded).
        Ok(Outcome::Lease(info(id, lease)))
    }

    pub(super) fn lease_revoke(&mut self, tx: &mut Tx, id: u64) -> Response {
        if !self.leases.contains_key(&id) {
            return Err(SmError::LeaseNotFound { id });
        }
        let deleted = self.end_lease(tx, id);
        Ok(Outcome::LeaseRevoked { id, deleted })
    }

    /// Ends every lease whose deadline is at or before the command's time.
    pub(super) fn expire_leases(&mut self, tx: &mut Tx) -> Outcome {
        let due: Vec<u64> = self.leases.iter().filter(|(_, l)| l.expires_at_ms <= tx.now).map(|(id, _)| *id).collect();
        for id in &due {
            self.end_lease(tx, *id);
        }
        Outcome::Expired { leases: due }
    }

    /// Gives every lease at least half its TTL from now: time for its holder, which could not
    /// renew while there was no leader, to find the new one (holders renew at a third of the
    /// TTL or more often). Not the full TTL, as etcd gives: a data node that died together with
    /// the old leader would then be failed over a whole TTL after the election instead of half.
    /// No lease ever ends earlier than its holder was promised: the deadline only grows.
    pub(super) fn refresh_leases(&mut self, tx: &mut Tx) -> Outcome {
        for lease in self.leases.values_mut() {
            lease.expires_at_ms = lease.expires_at_ms.max(tx.now.saturating_add(lease.ttl_ms / 2));
        }
        self.audit_push(tx, "lease/*", None, None);
        Outcome::Refreshed { leases: self.leases.len() }
    }

    /// Removes the lease, deletes its keys and releases its locks; returns the deleted keys.
    fn end_lease(&mut self, tx: &mut Tx, id: u64) -> Vec<String> {
        let Some(lease) = self.leases.remove(&id) else { return Vec::new() };
        self.audit_push(tx, &lease_key(id), None, None);
        for key in &lease.keys {
            self.write_key(tx, key, None);
        }
        self.drop_lease_from_locks(tx, id);
        lease.keys.into_iter().collect()
    }

    pub(super) fn attach_lease(&mut self, id: Option<u64>, key: &str) {
        if let Some(lease) = id.and_then(|id| self.leases.get_mut(&id)) {
            lease.keys.insert(key.to_string());
        }
    }

    pub(super) fn detach_lease(&mut self, id: Option<u64>, key: &str) {
        if let Some(lease) = id.and_then(|id| self.leases.get_mut(&id)) {
            lease.keys.remove(key);
        }
    }
}

fn info(id: u64, lease: &Lease) -> LeaseInfo {
    LeaseInfo { id, ttl_ms: lease.ttl_ms, expires_at_ms: lease.expires_at_ms, keys: lease.keys.iter().cloned().collect() }
}

/// How leases appear in the audit chain's key column.
fn lease_key(id: u64) -> String {
    format!("lease/{id}")
}
