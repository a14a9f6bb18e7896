//! Key-value operations: put, delete, txn, rollback and the reads over versions.
//!
//! Every mutating operation checks everything it needs first and only then writes, so a refused
//! command leaves the state untouched (txn atomicity rests on this).

use std::collections::BTreeSet;

use super::{ConfigState, Record, StoredValue, Tx, sha256_hex};
use crate::command::{
    CmpOp, Compare, CompareTarget, DeleteOp, KvMeta, Outcome, PutOp, Response, RollbackOp, SmError, TxnAction, TxnOp,
};

/// One page of a prefix listing.
pub struct ListPage<'a> {
    pub items: Vec<(&'a str, &'a Record)>,
    /// More keys follow; continue with `start_after` = the last returned key.
    pub more: bool,
}

impl ConfigState {
    /// The live record of `key` at `at` (latest when `None`).
    pub fn get(&self, key: &str, at: Option<u64>) -> Result<Option<&Record>, SmError> {
        if let Some(rev) = at {
            self.check_readable(rev)?;
        }
        Ok(self.live_at(key, at.unwrap_or(self.revision)))
    }

    /// Live keys starting with `prefix`, after `start_after`, at most `limit`, at `at` (latest when `None`).
    pub fn list(&self, prefix: &str, start_after: Option<&str>, limit: usize, at: Option<u64>) -> Result<ListPage<'_>, SmError> {
        if let Some(rev) = at {
            self.check_readable(rev)?;
        }
        let rev = at.unwrap_or(self.revision);
        let start = match start_after {
            Some(after) if after >= prefix => std::ops::Bound::Excluded(after.to_string()),
            _ => std::ops::Bound::Included(prefix.to_string()),
        };
        let mut items = Vec::new();
        let mut more = false;
        let range = self.keys.range::<String, _>((start, std::ops::Bound::Unbounded));
        for (key, _) in range.take_while(|(k, _)| k.starts_with(prefix)) {
            if let Some(record) = self.live_at(key, rev) {
                if items.len() == limit {
                    more = true;
                    break;
                }
                items.push((key.as_str(), record));
            }
        }
        Ok(ListPage { items, more })
    }

    /// Every kept version of `key` (tombstones included), oldest first.
    pub fn history(&self, key: &str) -> &[Record] {
        self.keys.get(key).map(Vec::as_slice).unwrap_or(&[])
    }

    /// The newest version of `key` at or before `rev`, if it is live.
    pub(super) fn live_at(&self, key: &str, rev: u64) -> Option<&Record> {
        let versions = self.keys.get(key)?;
        let idx = versions.partition_point(|r| r.mod_revision <= rev).checked_sub(1)?;
        Some(&versions[idx]).filter(|r| r.is_live())
    }

    /// The version of `key` written exactly at `rev`.
    pub(super) fn record_at_exact(&self, key: &str, rev: u64) -> Option<&Record> {
        let versions = self.keys.get(key)?;
        versions.binary_search_by_key(&rev, |r| r.mod_revision).ok().map(|i| &versions[i])
    }

    pub(super) fn current(&self, key: &str) -> Option<&Record> {
        self.live_at(key, self.revision)
    }

    pub(super) fn put(&mut self, tx: &mut Tx, put: &PutOp) -> Response {
        self.check_put(put)?;
        let prev = self.current(&put.key).map(|r| meta(&put.key, r));
        self.write_put(tx, put);
        Ok(Outcome::Put { revision: tx.rev, prev })
    }

    pub(super) fn delete(&mut self, tx: &mut Tx, del: &DeleteOp) -> Response {
        self.check_delete(del)?;
        let deleted = self.write_delete(tx, del);
        let revision = if deleted.is_empty() { self.revision } else { tx.rev };
        Ok(Outcome::Delete { revision, deleted })
    }

    pub(super) fn txn(&mut self, tx: &mut Tx, txn: &TxnOp) -> Response {
        let succeeded = txn.compare.iter().all(|c| self.compare_holds(c));
        let actions = if succeeded { &txn.success } else { &txn.failure };
        self.check_actions(actions)?;
        for action in actions {
            match action {
                TxnAction::Put(put) => self.write_put(tx, put),
                TxnAction::Delete(del) => {
                    self.write_delete(tx, del);
                }
            }
        }
        let revision = if tx.changed { tx.rev } else { self.revision };
        Ok(Outcome::Txn { succeeded, revision })
    }

    pub(super) fn rollback(&mut self, tx: &mut Tx, rb: &RollbackOp) -> Response {
        self.check_readable(rb.to_revision)?;
        let keys: Vec<String> = if rb.prefix {
            self.keys.range(rb.key.clone()..).map(|(k, _)| k).take_while(|k| k.starts_with(&rb.key)).cloned().collect()
        } else {
            vec![rb.key.clone()]
        };
        let mut changed = Vec::new();
        for key in keys {
            let target = self.live_at(&key, rb.to_revision).and_then(|r| r.value.clone());
            let current = self.current(&key).and_then(|r| r.value.as_ref());
            let same = match (&target, current) {
                (Some(t), Some(c)) => t.checksum == c.checksum && t.content_type == c.content_type,
                (None, None) => true,
                _ => false,
            };
            if !same {
                // A restored value is not bound to the lease it once had: that lease may be gone.
                let restored = target.map(|v| StoredValue { lease: None, ..v });
                self.write_key(tx, &key, restored);
                changed.push(key);
            }
        }
        let revision = if changed.is_empty() { self.revision } else { tx.rev };
        Ok(Outcome::Rollback { revision, changed })
    }

    fn check_put(&self, put: &PutOp) -> Result<(), SmError> {
        check_key(&put.key)?;
        self.check_cas(&put.key, put.if_revision)?;
        match put.lease {
            Some(id) if !self.leases.contains_key(&id) => Err(SmError::LeaseNotFound { id }),
            _ => Ok(()),
        }
    }

    fn check_delete(&self, del: &DeleteOp) -> Result<(), SmError> {
        if del.prefix && del.if_revision.is_some() {
            return Err(SmError::Invalid("if_revision cannot be combined with a prefix delete".into()));
        }
        if !del.prefix {
            check_key(&del.key)?;
        }
        self.check_cas(&del.key, del.if_revision)
    }

    /// A txn branch may touch each key once (a prefix delete touches its whole prefix); every
    /// action must pass its own checks.
    fn check_actions(&self, actions: &[TxnAction]) -> Result<(), SmError> {
        let mut keys = BTreeSet::new();
        let mut prefixes = Vec::new();
        for action in actions {
            match action {
                TxnAction::Put(put) => {
                    self.check_put(put)?;
                    keys.insert(put.key.as_str());
                }
                TxnAction::Delete(del) if del.prefix => {
                    self.check_delete(del)?;
                    prefixes.push(del.key.as_str());
                }
                TxnAction::Delete(del) => {
                    self.check_delete(del)?;
                    keys.insert(del.key.as_str());
                }
            }
        }
        let singles: usize = actions.len() - prefixes.len();
        let overlap = keys.len() != singles
            || prefixes.iter().enumerate().any(|(i, p)| {
                keys.iter().any(|k| k.starts_with(p))
                    || prefixes.iter().enumerate().any(|(j, q)| i != j && q.starts_with(p))
            });
        if overlap {
            return Err(SmError::Invalid("a txn branch may change each key only once".into()));
        }
        Ok(())
    }

    fn check_cas(&self, key: &str, if_revision: Option<u64>) -> Result<(), SmError> {
        let Some(expected) = if_revision else { return Ok(()) };
        let actual = self.current(key).map_or(0, |r| r.mod_revision);
        if actual == expected {
            Ok(())
        } else {
            Err(SmError::Conflict { key: key.to_string(), expected, actual })
        }
    }

    fn compare_holds(&self, cmp: &Compare) -> bool {
        let current = self.current(&cmp.key);
        let number = |f: fn(&Record) -> u64| current.map_or(0, f);
        match &cmp.target {
            CompareTarget::Version(v) => ordered(cmp.op, number(|r| r.version).cmp(v)),
            CompareTarget::ModRevision(v) => ordered(cmp.op, number(|r| r.mod_revision).cmp(v)),
            CompareTarget::CreateRevision(v) => ordered(cmp.op, number(|r| r.create_revision).cmp(v)),
            CompareTarget::Value(v) => match current.and_then(|r| r.value.as_ref()) {
                Some(stored) => ordered(cmp.op, stored.data.as_slice().cmp(v.as_slice())),
                // A missing key only satisfies "not equal".
                None => cmp.op == CmpOp::Ne,
            },
        }
    }

    fn write_put(&mut self, tx: &mut Tx, put: &PutOp) {
        let value = StoredValue {
            checksum: sha256_hex(&put.value),
            data: put.value.clone(),
            content_type: put.content_type,
            lease: put.lease,
        };
        self.write_key(tx, &put.key, Some(value));
    }

    /// Deletes the key (or every live key under the prefix); returns the deleted keys.
    fn write_delete(&mut self, tx: &mut Tx, del: &DeleteOp) -> Vec<String> {
        let keys: Vec<String> = if del.prefix {
            let rev = self.revision;
            let range = self.keys.range(del.key.clone()..).take_while(|(k, _)| k.starts_with(&del.key));
            range.filter(|(k, _)| self.live_at(k, rev).is_some()).map(|(k, _)| k.clone()).collect()
        } else {
            self.current(&del.key).map(|_| del.key.clone()).into_iter().collect()
        };
        for key in &keys {
            self.write_key(tx, key, None);
        }
        keys
    }

    /// Appends a version (or tombstone) of `key` at `tx.rev`, keeps lease attachments in step
    /// and records the change in the revision log and the audit chain.
    pub(super) fn write_key(&mut self, tx: &mut Tx, key: &str, value: Option<StoredValue>) {
        if let Some((old_sum, new_sum)) = self.push_version(tx, key, value) {
            self.audit_push(tx, key, old_sum, new_sum);
        }
    }

    /// [`ConfigState::write_key`] without the audit entry; returns the old and new checksums,
    /// or `None` when there was nothing to do (deleting a missing key).
    pub(super) fn push_version(&mut self, tx: &mut Tx, key: &str, value: Option<StoredValue>) -> Option<(Option<String>, Option<String>)> {
        let prev = self.current(key).cloned();
        if prev.is_none() && value.is_none() {
            return None;
        }
        let old_lease = prev.as_ref().and_then(|r| r.value.as_ref()).and_then(|v| v.lease);
        let new_lease = value.as_ref().and_then(|v| v.lease);
        if old_lease != new_lease {
            self.detach_lease(old_lease, key);
            self.attach_lease(new_lease, key);
        }
        let (create_revision, version) = match (&value, &prev) {
            (None, _) => (0, 0),
            (Some(_), Some(p)) => (p.create_revision, p.version + 1),
            (Some(_), None) => (tx.rev, 1),
        };
        let record = Record {
            mod_revision: tx.rev,
            create_revision,
            version,
            value,
            author: tx.actor.to_string(),
            time_ms: tx.now,
        };
        let old_sum = prev.as_ref().and_then(|r| r.checksum()).map(str::to_string);
        let new_sum = record.checksum().map(str::to_string);
        self.keys.entry(key.to_string()).or_default().push(record);
        self.revlog.entry(tx.rev).or_default().push(key.to_string());
        tx.changed = true;
        Some((old_sum, new_sum))
    }
}

/// The metadata callers see for `record` of `key`.
pub fn meta(key: &str, record: &Record) -> KvMeta {
    KvMeta {
        key: key.to_string(),
        create_revision: record.create_revision,
        mod_revision: record.mod_revision,
        version: record.version,
        checksum: record.checksum().unwrap_or_default().to_string(),
    }
}

fn ordered(op: CmpOp, ord: std::cmp::Ordering) -> bool {
    use std::cmp::Ordering::*;
    matches!((op, ord), (CmpOp::Eq, Equal) | (CmpOp::Ne, Less | Greater) | (CmpOp::Lt, Less) | (CmpOp::Gt, Greater))
}

fn check_key(key: &str) -> Result<(), SmError> {
    if key.is_empty() {
        Err(SmError::Invalid("key must not be empty".into()))
    } else {
        Ok(())
    }
}
