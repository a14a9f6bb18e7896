//! Named locks with FIFO waiters and fencing tokens.
//!
//! Every acquisition (direct or by promotion of the next waiter) takes a new revision and that
//! revision is the holder's fencing token, so tokens only grow: a holder that lost its lease
//! (and with it the lock) can be told apart from the new holder by its smaller token. Locks
//! hang on leases so that a crashed holder does not block the queue forever.

use std::collections::VecDeque;

use serde::{Deserialize, Serialize};

use super::{ConfigState, Tx};
use crate::command::{LockStatus, Outcome, Response, SmError};

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Holder {
    owner: String,
    lease: u64,
    token: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
struct Waiter {
    owner: String,
    lease: u64,
}

#[derive(Debug, Clone, Default, PartialEq, Serialize, Deserialize)]
pub(super) struct LockState {
    holder: Option<Holder>,
    waiters: VecDeque<Waiter>,
}

impl ConfigState {
    pub fn lock_status(&self, name: &str) -> LockStatus {
        let lock = self.locks.get(name);
        let holder = lock.and_then(|l| l.holder.as_ref());
        LockStatus {
            name: name.to_string(),
            holder: holder.map(|h| h.owner.clone()),
            token: holder.map(|h| h.token),
            holder_lease: holder.map(|h| h.lease),
            waiters: lock.map(|l| l.waiters.iter().map(|w| w.owner.clone()).collect()).unwrap_or_default(),
        }
    }

    pub(super) fn lock_acquire(&mut self, tx: &mut Tx, name: &str, owner: &str, lease: u64) -> Response {
        if name.is_empty() || owner.is_empty() {
            return Err(SmError::Invalid("lock name and owner must not be empty".into()));
        }
        if !self.leases.contains_key(&lease) {
            return Err(SmError::LeaseNotFound { id: lease });
        }
        let lock = self.locks.entry(name.to_string()).or_default();
        let outcome = match &lock.holder {
            None => {
                lock.holder = Some(Holder { owner: owner.to_string(), lease, token: tx.rev });
                tx.changed = true;
                Outcome::Lock { acquired: true, token: Some(tx.rev), position: None }
            }
            Some(h) if h.owner == owner => return Ok(Outcome::Lock { acquired: true, token: Some(h.token), position: None }),
            Some(_) => match lock.waiters.iter().position(|w| w.owner == owner) {
                Some(pos) => return Ok(Outcome::Lock { acquired: false, token: None, position: Some(pos) }),
                None => {
                    lock.waiters.push_back(Waiter { owner: owner.to_string(), lease });
                    Outcome::Lock { acquired: false, token: None, position: Some(lock.waiters.len() - 1) }
                }
            },
        };
        self.audit_push(tx, name, None, None);
        Ok(outcome)
    }

    pub(super) fn lock_release(&mut self, tx: &mut Tx, name: &str, owner: &str) -> Response {
        let not_owner = || SmError::NotLockOwner { name: name.to_string(), owner: owner.to_string() };
        let lock = self.locks.get_mut(name).ok_or_else(not_owner)?;
        if lock.holder.as_ref().is_some_and(|h| h.owner == owner) {
            lock.holder = None;
        } else if let Some(pos) = lock.waiters.iter().position(|w| w.owner == owner) {
            lock.waiters.remove(pos);
        } else {
            return Err(not_owner());
        }
        self.audit_push(tx, name, None, None);
        self.settle_lock(tx, name);
        Ok(Outcome::Unlocked { released: true })
    }

    /// A lease ended: its holders lose their locks and its waiters leave the queues.
    pub(super) fn drop_lease_from_locks(&mut self, tx: &mut Tx, lease: u64) {
        let names: Vec<String> = self.locks.keys().cloned().collect();
        for name in names {
            let Some(lock) = self.locks.get_mut(&name) else { continue };
            lock.waiters.retain(|w| w.lease != lease);
            if lock.holder.as_ref().is_some_and(|h| h.lease == lease) {
                lock.holder = None;
            }
            self.settle_lock(tx, &name);
        }
    }

    /// Hands a free lock to the first waiter (new token), or forgets an idle lock.
    fn settle_lock(&mut self, tx: &mut Tx, name: &str) {
        let Some(lock) = self.locks.get_mut(name) else { return };
        if lock.holder.is_some() {
            return;
        }
        match lock.waiters.pop_front() {
            Some(next) => {
                lock.holder = Some(Holder { owner: next.owner, lease: next.lease, token: tx.rev });
                tx.changed = true;
                self.audit_push(tx, name, None, None);
            }
            None => {
                self.locks.remove(name);
            }
        }
    }
}
