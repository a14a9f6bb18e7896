//! Unit tests of the pure state machine: every behaviour without Raft, storage or network.

use super::*;
use crate::command::*;

/// Applies ops as `tester` with a clock the test moves by hand.
struct Harness {
    state: ConfigState,
    now: u64,
}

impl Harness {
    fn new() -> Harness {
        Harness { state: ConfigState::new(), now: 1_000 }
    }

    fn run(&mut self, op: Op) -> Response {
        let req = Request { actor: "tester".into(), time_ms: self.now, op };
        self.state.apply(&req)
    }

    /// Puts a text value and returns the revision it took.
    fn put(&mut self, key: &str, value: &str) -> u64 {
        revision_of(self.run(Op::Put(put_op(key, value))))
    }

    fn value(&self, key: &str) -> Option<String> {
        let record = self.state.get(key, None).unwrap()?;
        Some(String::from_utf8(record.value.as_ref().unwrap().data.clone()).unwrap())
    }

    fn lease(&mut self, ttl_ms: u64) -> u64 {
        match self.run(Op::LeaseGrant { ttl_ms }).unwrap() {
            Outcome::Lease(info) => info.id,
            other => panic!("{other:?}"),
        }
    }
}

fn put_op(key: &str, value: &str) -> PutOp {
    PutOp { key: key.into(), value: value.as_bytes().to_vec(), content_type: ContentType::Text, if_revision: None, lease: None }
}

fn revision_of(res: Response) -> u64 {
    match res.unwrap() {
        Outcome::Put { revision, .. }
        | Outcome::Delete { revision, .. }
        | Outcome::Txn { revision, .. }
        | Outcome::Rollback { revision, .. } => revision,
        other => panic!("{other:?}"),
    }
}

#[test]
fn revisions_versions_and_checksums() {
    let mut h = Harness::new();
    assert_eq!(h.put("app/a", "1"), 1);
    assert_eq!(h.put("app/b", "x"), 2);
    assert_eq!(h.put("app/a", "2"), 3);
    let a = h.state.get("app/a", None).unwrap().unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (1, 3, 2));
    assert_eq!(a.author, "tester");
    assert_eq!(a.time_ms, 1_000);
    // SHA-256("2")
    assert_eq!(a.checksum().unwrap(), "d4735e3a265e16eee03f59718b9b5d03019c07d8b6c51f90da3a666eec13ab35");
    // Deleting and recreating starts a new incarnation.
    assert_eq!(revision_of(h.run(Op::Delete(DeleteOp { key: "app/a".into(), prefix: false, if_revision: None }))), 4);
    assert!(h.state.get("app/a", None).unwrap().is_none());
    h.put("app/a", "3");
    let a = h.state.get("app/a", None).unwrap().unwrap();
    assert_eq!((a.create_revision, a.mod_revision, a.version), (5, 5, 1));
    assert_eq!(h.state.revision(), 5);
}

#[test]
fn delete_of_missing_key_takes_no_revision() {
    let mut h = Harness::new();
    h.put("a", "1");
    let res = h.run(Op::Delete(DeleteOp { key: "zzz".into(), prefix: false, if_revision: None }));
    assert_eq!(res, Ok(Outcome::Delete { revision: 1, deleted: vec![] }));
    assert_eq!(h.state.revision(), 1);
}

#[test]
fn prefix_delete_removes_only_the_prefix() {
    let mut h = Harness::new();
    h.put("svc/a", "1");
    h.put("svc/b", "2");
    h.put("svd", "3");
    let res = h.run(Op::Delete(DeleteOp { key: "svc/".into(), prefix: true, if_revision: None }));
    assert_eq!(res, Ok(Outcome::Delete { revision: 4, deleted: vec!["svc/a".into(), "svc/b".into()] }));
    assert_eq!(h.value("svd").as_deref(), Some("3"));
}

#[test]
fn cas_conflict_changes_nothing() {
    let mut h = Harness::new();
    h.put("k", "v1");
    let mut op = put_op("k", "v2");
    op.if_revision = Some(7);
    let res = h.run(Op::Put(op.clone()));
    assert_eq!(res, Err(SmError::Conflict { key: "k".into(), expected: 7, actual: 1 }));
    assert_eq!(h.value("k").as_deref(), Some("v1"));
    assert_eq!(h.state.revision(), 1);
    op.if_revision = Some(1);
    assert_eq!(revision_of(h.run(Op::Put(op))), 2);
    // if_revision 0 means "create only".
    let mut create = put_op("k", "v3");
    create.if_revision = Some(0);
    assert!(matches!(h.run(Op::Put(create.clone())), Err(SmError::Conflict { .. })));
    create.key = "new".into();
    assert_eq!(revision_of(h.run(Op::Put(create))), 3);
}

#[test]
fn get_at_revision_and_future_revision() {
    let mut h = Harness::new();
    h.put("k", "a");
    h.put("k", "b");
    h.run(Op::Delete(DeleteOp { key: "k".into(), prefix: false, if_revision: None })).unwrap();
    let at = |h: &Harness, rev| h.state.get("k", Some(rev)).unwrap().map(|r| r.value.clone().unwrap().data);
    assert_eq!(at(&h, 1), Some(b"a".to_vec()));
    assert_eq!(at(&h, 2), Some(b"b".to_vec()));
    assert_eq!(at(&h, 3), None);
    assert_eq!(h.state.get("k", Some(9)), Err(SmError::FutureRevision { requested: 9, current: 3 }));
}

#[test]
fn list_paginates_in_key_order() {
    let mut h = Harness::new();
    for k in ["p/c", "p/a", "p/b", "q/a", "p/d"] {
        h.put(k, k);
    }
    h.run(Op::Delete(DeleteOp { key: "p/c".into(), prefix: false, if_revision: None })).unwrap();
    let page = h.state.list("p/", None, 2, None).unwrap();
    let keys: Vec<_> = page.items.iter().map(|(k, _)| *k).collect();
    assert_eq!((keys, page.more), (vec!["p/a", "p/b"], true));
    let page = h.state.list("p/", Some("p/b"), 2, None).unwrap();
    let keys: Vec<_> = page.items.iter().map(|(k, _)| *k).collect();
    assert_eq!((keys, page.more), (vec!["p/d"], false));
    // At revision 3, p/d did not exist yet and p/c did.
    let page = h.state.list("p/", None, 10, Some(3)).unwrap();
    let keys: Vec<_> = page.items.iter().map(|(k, _)| *k).collect();
    assert_eq!(keys, vec!["p/a", "p/b", "p/c"]);
}

#[test]
fn txn_compares_then_applies_all_or_nothing() {
    let mut h = Harness::new();
    h.put("a", "1");
    h.put("b", "1");
    let txn = |version: u64, success: Vec<TxnAction>| {
        Op::Txn(TxnOp {
            compare: vec![Compare { key: "a".into(), op: CmpOp::Eq, target: CompareTarget::Version(version) }],
            success,
            failure: vec![TxnAction::Put(put_op("failed", "yes"))],
        })
    };
    let both = vec![
        TxnAction::Put(put_op("a", "2")),
        TxnAction::Delete(DeleteOp { key: "b".into(), prefix: false, if_revision: None }),
    ];
    assert_eq!(h.run(txn(1, both.clone())), Ok(Outcome::Txn { succeeded: true, revision: 3 }));
    assert_eq!(h.value("a").as_deref(), Some("2"));
    assert_eq!(h.value("b"), None);
    // Both changes share one revision.
    assert_eq!(h.state.get("a", None).unwrap().unwrap().mod_revision, 3);
    assert_eq!(h.state.history("b").last().unwrap().mod_revision, 3);
    // Compare fails: the failure branch runs.
    assert_eq!(h.run(txn(1, both)), Ok(Outcome::Txn { succeeded: false, revision: 4 }));
    assert_eq!(h.value("failed").as_deref(), Some("yes"));
    // An action that cannot apply (CAS conflict) refuses the whole txn.
    let mut bad = put_op("b", "x");
    bad.if_revision = Some(99);
    let res = h.run(txn(2, vec![TxnAction::Put(put_op("a", "3")), TxnAction::Put(bad)]));
    assert!(matches!(res, Err(SmError::Conflict { .. })));
    assert_eq!(h.value("a").as_deref(), Some("2"));
    assert_eq!(h.state.revision(), 4);
    // The same key twice in one branch is refused.
    let dup = vec![TxnAction::Put(put_op("z", "1")), TxnAction::Put(put_op("z", "2"))];
    assert!(matches!(h.run(txn(2, dup)), Err(SmError::Invalid(_))));
}

#[test]
fn txn_value_and_revision_compares() {
    let mut h = Harness::new();
    h.put("a", "hello");
    let run = |h: &mut Harness, target, op| {
        let res = h.run(Op::Txn(TxnOp {
            compare: vec![Compare { key: "a".into(), op, target }],
            success: vec![],
            failure: vec![],
        }));
        matches!(res, Ok(Outcome::Txn { succeeded: true, .. }))
    };
    assert!(run(&mut h, CompareTarget::Value(b"hello".to_vec()), CmpOp::Eq));
    assert!(run(&mut h, CompareTarget::Value(b"hellp".to_vec()), CmpOp::Lt));
    assert!(!run(&mut h, CompareTarget::Value(b"x".to_vec()), CmpOp::Eq));
    assert!(run(&mut h, CompareTarget::ModRevision(1), CmpOp::Eq));
    assert!(run(&mut h, CompareTarget::CreateRevision(0), CmpOp::Gt));
    // A missing key compares as revision 0 and no value.
    let res = h.run(Op::Txn(TxnOp {
        compare: vec![Compare { key: "nope".into(), op: CmpOp::Eq, target: CompareTarget::ModRevision(0) }],
        success: vec![],
        failure: vec![],
    }));
    assert!(matches!(res, Ok(Outcome::Txn { succeeded: true, .. })));
}

#[test]
fn history_and_rollback_write_new_revisions() {
    let mut h = Harness::new();
    h.put("cfg/a", "v1"); // 1
    h.put("cfg/b", "b1"); // 2
    h.put("cfg/a", "v2"); // 3
    h.put("cfg/c", "c1"); // 4
    h.run(Op::Delete(DeleteOp { key: "cfg/b".into(), prefix: false, if_revision: None })).unwrap(); // 5
    assert_eq!(h.state.history("cfg/a").iter().map(|r| r.mod_revision).collect::<Vec<_>>(), vec![1, 3]);
    let res = h.run(Op::Rollback(RollbackOp { key: "cfg/a".into(), prefix: false, to_revision: 1 }));
    assert_eq!(res, Ok(Outcome::Rollback { revision: 6, changed: vec!["cfg/a".into()] }));
    assert_eq!(h.value("cfg/a").as_deref(), Some("v1"));
    assert_eq!(h.state.get("cfg/a", None).unwrap().unwrap().version, 3);
    // Prefix rollback to revision 2: a=v1 (already), b restored, c removed — one revision.
    let res = h.run(Op::Rollback(RollbackOp { key: "cfg/".into(), prefix: true, to_revision: 2 }));
    assert_eq!(res, Ok(Outcome::Rollback { revision: 7, changed: vec!["cfg/b".into(), "cfg/c".into()] }));
    assert_eq!(h.value("cfg/b").as_deref(), Some("b1"));
    assert_eq!(h.value("cfg/c"), None);
    // Nothing to change: no revision.
    let res = h.run(Op::Rollback(RollbackOp { key: "cfg/".into(), prefix: true, to_revision: 2 }));
    assert_eq!(res, Ok(Outcome::Rollback { revision: 7, changed: vec![] }));
    assert_eq!(h.state.history("cfg/a").len(), 3, "history is never rewritten");
}

#[test]
fn leases_expire_keys_by_leader_time() {
    let mut h = Harness::new();
    let lease = h.lease(5_000);
    let mut op = put_op("svc/node1", "10.0.0.1");
    op.lease = Some(lease);
    h.run(Op::Put(op)).unwrap();
    h.put("svc/static", "x");
    assert_eq!(h.state.lease(lease).unwrap().keys, vec!["svc/node1".to_string()]);
    assert_eq!(h.state.next_lease_deadline(), Some(6_000));
    // Keep-alive at t=4000 pushes the deadline to 9000.
    h.now = 4_000;
    h.run(Op::LeaseKeepAlive { id: lease }).unwrap();
    h.now = 8_999;
    assert_eq!(h.run(Op::ExpireLeases), Ok(Outcome::Expired { leases: vec![] }));
    assert!(h.value("svc/node1").is_some());
    h.now = 9_000;
    assert_eq!(h.run(Op::ExpireLeases), Ok(Outcome::Expired { leases: vec![lease] }));
    assert_eq!(h.value("svc/node1"), None);
    assert_eq!(h.value("svc/static").as_deref(), Some("x"));
    assert!(h.state.lease(lease).is_none());
    assert_eq!(h.run(Op::LeaseKeepAlive { id: lease }), Err(SmError::LeaseNotFound { id: lease }));
    let mut op = put_op("svc/node2", "y");
    op.lease = Some(lease);
    assert_eq!(h.run(Op::Put(op)), Err(SmError::LeaseNotFound { id: lease }));
}

#[test]
fn a_new_leader_refreshes_leases_before_expiring_them() {
    let mut h = Harness::new();
    let lease = h.lease(5_000); // deadline 6000
    h.now = 5_500;
    assert_eq!(h.run(Op::RefreshLeases), Ok(Outcome::Refreshed { leases: 1 }));
    assert_eq!(h.state.lease(lease).unwrap().expires_at_ms, 8_000, "half the TTL from now");
    h.now = 6_000;
    assert_eq!(h.run(Op::ExpireLeases), Ok(Outcome::Expired { leases: vec![] }));
    // A leader with a slower clock still refreshes from the latest time seen.
    h.now = 1_000;
    h.run(Op::RefreshLeases).unwrap();
    assert_eq!(h.state.lease(lease).unwrap().expires_at_ms, 8_500);
    // A deadline further away is kept.
    let long = h.lease(60_000);
    let before = h.state.lease(long).unwrap().expires_at_ms;
    h.run(Op::RefreshLeases).unwrap();
    assert_eq!(h.state.lease(long).unwrap().expires_at_ms, before);
}

#[test]
fn revoke_deletes_keys_and_overwrite_detaches() {
    let mut h = Harness::new();
    let lease = h.lease(60_000);
    for key in ["e/1", "e/2"] {
        let mut op = put_op(key, "v");
        op.lease = Some(lease);
        h.run(Op::Put(op)).unwrap();
    }
    // Overwriting without a lease detaches the key: it survives the revoke.
    h.put("e/2", "kept");
    let res = h.run(Op::LeaseRevoke { id: lease }).unwrap();
    assert_eq!(res, Outcome::LeaseRevoked { id: lease, deleted: vec!["e/1".into()] });
    assert_eq!(h.value("e/1"), None);
    assert_eq!(h.value("e/2").as_deref(), Some("kept"));
}

#[test]
fn state_never_reads_time_backwards() {
    let mut h = Harness::new();
    h.now = 5_000;
    h.put("a", "1");
    h.now = 3_000; // a new leader with a slower clock
    h.put("a", "2");
    assert_eq!(h.state.get("a", None).unwrap().unwrap().time_ms, 5_000);
}

#[test]
fn locks_are_fifo_with_growing_fencing_tokens() {
    let mut h = Harness::new();
    let (l1, l2, l3) = (h.lease(10_000), h.lease(10_000), h.lease(60_000));
    let acquire = |h: &mut Harness, owner: &str, lease| {
        h.run(Op::LockAcquire { name: "jobs".into(), owner: owner.into(), lease }).unwrap()
    };
    let Outcome::Lock { acquired: true, token: Some(t1), .. } = acquire(&mut h, "alice", l1) else { panic!() };
    assert_eq!(acquire(&mut h, "bob", l2), Outcome::Lock { acquired: false, token: None, position: Some(0) });
    assert_eq!(acquire(&mut h, "carol", l3), Outcome::Lock { acquired: false, token: None, position: Some(1) });
    // Re-asking is idempotent.
    assert_eq!(acquire(&mut h, "alice", l1), Outcome::Lock { acquired: true, token: Some(t1), position: None });
    assert_eq!(acquire(&mut h, "carol", l3), Outcome::Lock { acquired: false, token: None, position: Some(1) });
    // Release hands the lock to bob (first in line) with a bigger token.
    h.run(Op::LockRelease { name: "jobs".into(), owner: "alice".into() }).unwrap();
    let st = h.state.lock_status("jobs");
    assert_eq!(st.holder.as_deref(), Some("bob"));
    let t2 = st.token.unwrap();
    assert!(t2 > t1);
    assert_eq!(st.waiters, vec!["carol".to_string()]);
    // Bob's lease expires: carol gets it, with a still bigger token.
    h.now += 10_000;
    h.run(Op::ExpireLeases).unwrap();
    let st = h.state.lock_status("jobs");
    assert_eq!(st.holder.as_deref(), Some("carol"));
    assert!(st.token.unwrap() > t2);
    // A non-holder cannot release.
    assert!(matches!(h.run(Op::LockRelease { name: "jobs".into(), owner: "bob".into() }), Err(SmError::NotLockOwner { .. })));
    h.run(Op::LockRelease { name: "jobs".into(), owner: "carol".into() }).unwrap();
    assert_eq!(h.state.lock_status("jobs").holder, None);
    // A lock needs a live lease.
    assert_eq!(
        h.run(Op::LockAcquire { name: "jobs".into(), owner: "dave".into(), lease: 999 }),
        Err(SmError::LeaseNotFound { id: 999 })
    );
}

#[test]
fn audit_chain_verifies_and_detects_tampering() {
    let mut h = Harness::new();
    h.put("a", "1");
    h.put("a", "2");
    let lease = h.lease(1_000);
    h.run(Op::LockAcquire { name: "l".into(), owner: "o".into(), lease }).unwrap();
    h.state.record_membership("voters {1,2,3}");
    let entries = h.state.audit_entries(1, 100).to_vec();
    assert_eq!(entries.len(), 5);
    assert_eq!(entries[0].prev_hash, audit::GENESIS);
    assert_eq!(entries[1].old_checksum, entries[0].new_checksum);
    assert_eq!(entries[1].op, "put");
    assert_eq!(entries[1].actor, "tester");
    assert_eq!(entries[2].op, "lease.grant");
    assert_eq!(entries[4].op, "membership");
    assert!(entries.windows(2).all(|w| w[1].prev_hash == w[0].hash));
    assert!(h.state.verify_audit().ok);
    assert_eq!(h.state.audit_entries(4, 10).len(), 2);

    let mut tampered = h.state.clone();
    tampered.audit_mut()[2].actor = "mallory".into();
    let report = tampered.verify_audit();
    assert_eq!((report.ok, report.first_broken), (false, Some(3)));

    // Recomputing the tampered entry's own hash still breaks the next link.
    let mut rehashed = h.state.clone();
    rehashed.audit_mut()[1].new_checksum = Some("f".repeat(64));
    let fixed = rehashed.audit_mut()[1].compute_hash();
    rehashed.audit_mut()[1].hash = fixed;
    assert_eq!(rehashed.verify_audit().first_broken, Some(3));

    let mut removed = h.state.clone();
    removed.audit_mut().remove(0);
    assert_eq!(removed.verify_audit().first_broken, Some(1));
}

#[test]
fn audit_compaction_drops_old_entries_and_keeps_the_chain_verifiable() {
    let mut h = Harness::new();
    for i in 0..10 {
        h.put("a", &i.to_string()); // revisions 1..=10, audit seq 1..=10
    }
    h.run(Op::Compact { revision: 8 }).unwrap();
    // Entries of revisions 1..=7 are gone; a checkpoint of entry 7 remains.
    let kept = h.state.audit_entries(1, 100).to_vec();
    assert_eq!(h.state.audit_first_seq(), 8);
    assert_eq!(kept.iter().map(|e| e.seq).collect::<Vec<_>>(), vec![8, 9, 10, 11]);
    assert_eq!(kept[3].op, "compact");
    let report = h.state.verify_audit();
    assert_eq!((report.ok, report.entries, report.compacted, report.first_broken), (true, 4, 7, None), "{report:?}");
    assert_eq!(h.state.audit_entries(9, 2).iter().map(|e| e.seq).collect::<Vec<_>>(), vec![9, 10]);

    // The chain goes on from the kept part, and a second compaction moves the checkpoint.
    h.put("b", "x"); // revision 11, seq 12
    h.put("b", "y"); // revision 12, seq 13
    h.run(Op::Compact { revision: 12 }).unwrap();
    assert_eq!(h.state.audit_first_seq(), 13);
    let report = h.state.verify_audit();
    assert_eq!((report.ok, report.entries, report.compacted), (true, 2, 12), "{report:?}");

    // Tampering after compaction is still found: a changed kept entry...
    let mut tampered = h.state.clone();
    tampered.audit_mut()[1].actor = "mallory".into();
    let report = tampered.verify_audit();
    assert_eq!((report.ok, report.first_broken), (false, Some(14)), "{report:?}");
    // ...the first kept entry removed...
    let mut removed = h.state.clone();
    removed.audit_mut().remove(0);
    assert_eq!(removed.verify_audit().first_broken, Some(13));
    // ...or a forged checkpoint (as if more had been dropped, or other entries had come before).
    let mut forged = h.state.clone();
    if let Some(cp) = forged.audit_checkpoint_mut().as_mut() {
        cp.hash = audit::GENESIS.to_string();
    }
    let report = forged.verify_audit();
    assert_eq!(report.first_broken, Some(13));
    assert!(report.reason.as_deref().is_some_and(|r| r.contains("checkpoint")), "{report:?}");
}

#[test]
fn verifying_again_hashes_only_what_was_appended_and_still_finds_breaks_there() {
    let mut h = Harness::new();
    for i in 0..5 {
        h.put("a", &i.to_string());
    }
    let (report, head) = h.state.verify_audit_after(None);
    assert_eq!((report.ok, report.entries), (true, 5));
    let head = head.expect("a whole chain gives a head");
    // Nothing new: the same report, the same head.
    assert_eq!(h.state.verify_audit_after(Some(&head)), (report, Some(head.clone())));

    h.put("b", "x");
    h.put("b", "y");
    let (report, next) = h.state.verify_audit_after(Some(&head));
    assert_eq!((report.ok, report.entries), (true, 7));
    assert_ne!(next.as_ref(), Some(&head), "the head moved on");
    // A change after the known head is found, and named as a full walk names it.
    let mut tampered = h.state.clone();
    tampered.audit_mut()[6].actor = "mallory".into();
    let (report, none) = tampered.verify_audit_after(Some(&head));
    assert_eq!((report.ok, report.first_broken, none), (false, Some(7), None));
    assert_eq!(report, tampered.verify_audit());
    let mut cut = h.state.clone();
    cut.audit_mut().remove(5);
    let (report, _) = cut.verify_audit_after(Some(&head));
    assert_eq!((report.first_broken, report.reason.as_deref()), (Some(6), Some("sequence number 7 where 6 was expected")));
    // A head the chain no longer holds (another chain, as after a restore) means a full walk.
    let mut other = h.state.clone();
    other.audit_mut()[4].hash = "f".repeat(64);
    assert_eq!(other.verify_audit_after(Some(&head)).0.first_broken, Some(5));
    // After compaction past the head, the walk starts at the checkpoint.
    h.run(Op::Compact { revision: 7 }).unwrap();
    let (report, _) = h.state.verify_audit_after(Some(&head));
    assert_eq!((report.ok, report.compacted), (true, 6), "{report:?}");
}

#[test]
fn audit_compaction_never_drops_a_broken_link() {
    let mut h = Harness::new();
    for i in 0..5 {
        h.put("a", &i.to_string());
    }
    h.state.audit_mut()[1].actor = "mallory".into();
    h.run(Op::Compact { revision: 5 }).unwrap();
    // The history was compacted, the tampered audit prefix was kept and is still reported.
    assert_eq!(h.state.first_revision(), 5);
    assert_eq!(h.state.audit_first_seq(), 1);
    let report = h.state.verify_audit();
    assert_eq!((report.ok, report.first_broken, report.compacted), (false, Some(2), 0), "{report:?}");
}

#[test]
fn a_batch_applies_each_request_with_its_own_revision_and_answer() {
    let mut h = Harness::new();
    h.put("a", "0"); // revision 1
    let req = |actor: &str, op: Op| Request { actor: actor.into(), time_ms: 2_000, op };
    let cas = PutOp { if_revision: Some(99), ..put_op("a", "stale") };
    let batch = Op::Batch(vec![
        req("alice", Op::Put(put_op("a", "1"))),
        req("bob", Op::Put(cas)),
        req("carol", Op::Put(put_op("b", "2"))),
        req("dave", Op::Batch(vec![])),
    ]);
    let answers = match h.run(batch) {
        Ok(Outcome::Batch(answers)) => answers,
        other => panic!("{other:?}"),
    };
    assert_eq!(answers.len(), 4);
    assert_eq!(revision_of(answers[0].clone()), 2);
    assert!(matches!(answers[1], Err(SmError::Conflict { .. })), "{:?}", answers[1]);
    assert_eq!(revision_of(answers[2].clone()), 3);
    assert!(matches!(answers[3], Err(SmError::Invalid(_))), "a batch does not nest: {:?}", answers[3]);
    assert_eq!((h.value("a").as_deref(), h.value("b").as_deref(), h.state.revision()), (Some("1"), Some("2"), 3));
    // Each request is audited under its own actor, as if it had had its own log entry.
    let actors: Vec<_> = h.state.audit_entries(2, 10).iter().map(|e| e.actor.clone()).collect();
    assert_eq!(actors, vec!["alice", "carol"]);
    assert_eq!(h.state.get("b", None).unwrap().unwrap().author, "carol");
}

#[test]
fn compaction_keeps_state_and_refuses_old_revisions() {
    let mut h = Harness::new();
    h.put("a", "1"); // 1
    h.put("a", "2"); // 2
    h.put("b", "1"); // 3
    h.run(Op::Delete(DeleteOp { key: "b".into(), prefix: false, if_revision: None })).unwrap(); // 4
    h.put("a", "3"); // 5
    assert_eq!(h.run(Op::Compact { revision: 4 }), Ok(Outcome::Compacted { revision: 4 }));
    assert_eq!(h.state.first_revision(), 4);
    let compacted = SmError::Compacted { first_available: 4 };
    assert_eq!(h.state.get("a", Some(3)).unwrap_err(), compacted);
    assert_eq!(h.state.events_from(2, "").unwrap_err(), compacted);
    assert_eq!(SmError::Compacted { first_available: 4 }.to_string(), "compacted, resync from revision 4");
    // The state at revision 4 is still whole: a=2, b deleted.
    assert_eq!(h.state.get("a", Some(4)).unwrap().unwrap().value.as_ref().unwrap().data, b"2");
    assert!(h.state.get("b", Some(4)).unwrap().is_none());
    assert_eq!(h.state.history("a").iter().map(|r| r.mod_revision).collect::<Vec<_>>(), vec![2, 5]);
    let events = h.state.events_from(4, "").unwrap();
    assert_eq!(events.iter().map(|e| (e.revision, e.kind)).collect::<Vec<_>>(), vec![(4, EventKind::Delete), (5, EventKind::Put)]);
    assert!(matches!(
        h.run(Op::Rollback(RollbackOp { key: "a".into(), prefix: false, to_revision: 1 })),
        Err(SmError::Compacted { .. })
    ));
    assert!(matches!(h.run(Op::Compact { revision: 99 }), Err(SmError::FutureRevision { .. })));
}

#[test]
fn compaction_target_follows_count_and_age_retention() {
    let mut h = Harness::new();
    for (i, t) in [1_000, 2_000, 3_000, 4_000, 5_000].iter().enumerate() {
        h.now = *t;
        h.put(&format!("k{i}"), "v"); // revision i+1 at time t
    }
    assert_eq!(h.state.compaction_target(0, None), None, "no rule, no compaction");
    assert_eq!(h.state.compaction_target(2, None), Some(3));
    assert_eq!(h.state.compaction_target(10, None), None);
    assert_eq!(h.state.compaction_target(0, Some(3_500)), Some(4), "revisions before t=3500 may go");
    assert_eq!(h.state.compaction_target(0, Some(9_000)), Some(5), "everything is old: keep the head");
    assert_eq!(h.state.compaction_target(4, Some(3_500)), Some(1), "the count rule keeps more");
    assert_eq!(h.state.compaction_target(1, Some(2_500)), Some(3), "the age rule keeps more");
    h.run(Op::Compact { revision: 3 }).unwrap();
    assert_eq!(h.state.compaction_target(1, Some(2_500)), None, "already compacted that far");
}

#[test]
fn events_follow_revision_order_and_prefix() {
    let mut h = Harness::new();
    h.put("w/a", "1");
    h.put("x/a", "1");
    h.run(Op::Txn(TxnOp {
        compare: vec![],
        success: vec![TxnAction::Put(put_op("w/b", "2")), TxnAction::Put(put_op("w/c", "3"))],
        failure: vec![],
    }))
    .unwrap();
    h.run(Op::Delete(DeleteOp { key: "w/a".into(), prefix: false, if_revision: None })).unwrap();
    let events = h.state.events_from(2, "w/").unwrap();
    let got: Vec<_> = events.iter().map(|e| (e.revision, e.key.as_str(), e.kind)).collect();
    assert_eq!(got, vec![(3, "w/b", EventKind::Put), (3, "w/c", EventKind::Put), (4, "w/a", EventKind::Delete)]);
}

#[test]
fn snapshot_roundtrip_is_identical() {
    let mut h = Harness::new();
    h.put("a", "1");
    let lease = h.lease(1_000);
    h.run(Op::LockAcquire { name: "l".into(), owner: "o".into(), lease }).unwrap();
    let bytes = rmp_serde::to_vec_named(&h.state).unwrap();
    let back: ConfigState = rmp_serde::from_slice(&bytes).unwrap();
    assert_eq!(back, h.state);
}

/// Puts `value` under `key` attached to `lease`.
fn put_on_lease(h: &mut Harness, key: &str, value: &str, lease: u64) {
    let mut op = put_op(key, value);
    op.lease = Some(lease);
    h.run(Op::Put(op)).unwrap();
}

fn restore_op(backup: &ConfigState, force: bool) -> Op {
    let state = backup.clone();
    Op::Restore(Box::new(RestoreOp { backup_revision: state.revision(), state, checksum: "c0ffee".into(), force, content_bytes: 0 }))
}

/// A source with versions, a rollback, a deletion, a session (lease, bound key, lock) and a map.
fn restore_source() -> Harness {
    let mut src = Harness::new();
    src.put("app/db", "v1"); // 1
    src.put("app/db", "v2"); // 2
    src.put("app/flag", "on"); // 3
    src.run(Op::Rollback(RollbackOp { key: "app/db".into(), prefix: false, to_revision: 1 })).unwrap(); // 4
    src.run(Op::Delete(DeleteOp { key: "app/flag".into(), prefix: false, if_revision: None })).unwrap(); // 5
    src.put("cluster/map", "{\"epoch\":7}"); // 6
    let lease = src.lease(60_000);
    put_on_lease(&mut src, "cluster/alive/a", "old-a", lease); // 7
    put_on_lease(&mut src, "svc/gone", "x", lease); // 8
    src.run(Op::LockAcquire { name: "jobs".into(), owner: "old".into(), lease }).unwrap(); // 9
    src
}

#[test]
fn restore_into_a_fresh_state_keeps_history_and_moves_the_revision_on() {
    let src = restore_source();
    let mut dst = Harness::new();
    dst.state.record_membership("membership {1}");
    dst.now = 50_000;
    let res = dst.run(restore_op(&src.state, false)).unwrap();
    let restore_rev = src.state.revision() + 1;
    assert_eq!(res, Outcome::Restored { revision: restore_rev, backup_revision: src.state.revision(), keys: 2 });
    assert_eq!(dst.state.revision(), restore_rev);
    // Data: values, history and revisions are the backup's; old revisions read its history.
    assert_eq!(dst.value("app/db").as_deref(), Some("v1"));
    assert_eq!(dst.state.history("app/db"), src.state.history("app/db"));
    assert_eq!(dst.state.history("app/flag"), src.state.history("app/flag"));
    assert_eq!(dst.state.get("app/db", Some(2)).unwrap().unwrap().mod_revision, 2);
    assert_eq!(dst.value("cluster/map").as_deref(), Some("{\"epoch\":7}"), "a state without a map takes the backup's");
    // Sessions: the backup's leases and locks are gone, and so are their keys (a tombstone at
    // the restore revision).
    assert!(dst.state.leases().is_empty());
    assert_eq!(dst.state.lock_status("jobs").holder, None);
    for key in ["cluster/alive/a", "svc/gone"] {
        assert_eq!(dst.value(key), None);
        let last = dst.state.history(key).last().unwrap().clone();
        assert_eq!((last.mod_revision, last.is_live(), last.author.as_str()), (restore_rev, false, "tester"));
    }
    // Watchers cannot follow events across the restore: they are told to resync from it.
    let resync = Err(SmError::Compacted { first_available: restore_rev + 1 });
    assert_eq!(dst.state.events_from(3, ""), resync);
    assert_eq!(dst.state.events_from(restore_rev, ""), resync, "the restore's own changes are part of the state read again");
    assert_eq!(dst.state.events_from(restore_rev + 1, ""), Ok(vec![]));
    // Audit: the backup's chain plus one restore entry chained onto it.
    let report = dst.state.verify_audit();
    assert!(report.ok, "{report:?}");
    let audit = dst.state.audit_entries(0, usize::MAX);
    assert_eq!(audit.len(), src.state.audit_entries(0, usize::MAX).len() + 1);
    let last = audit.last().unwrap();
    assert_eq!((last.op.as_str(), last.key.as_str(), last.revision), ("restore", "backup/revision/9", restore_rev));
    assert_eq!(last.new_checksum.as_deref(), Some("c0ffee"));
    assert!(last.old_checksum.is_some(), "the replaced chain's head is recorded");
    assert_eq!(last.time_ms, 50_000);
    // Writes go on after the restore revision; lease ids are never handed out again.
    assert_eq!(dst.put("app/new", "1"), restore_rev + 1);
    assert!(dst.lease(1_000) > src.state.leases()[0].id);
}

#[test]
fn restore_over_data_needs_force_and_never_moves_the_revision_back() {
    let src = restore_source();
    let mut dst = Harness::new();
    for i in 0..20 {
        dst.put("mine/key", &i.to_string());
    }
    let before = dst.state.clone();
    assert_eq!(dst.run(restore_op(&src.state, false)), Err(SmError::NotEmpty { keys: 1 }));
    assert_eq!(dst.state, before, "a refused restore changes nothing");
    let Outcome::Restored { revision, .. } = dst.run(restore_op(&src.state, true)).unwrap() else { panic!() };
    assert_eq!(revision, 21, "above the replaced state's revision 20");
    assert_eq!(dst.value("mine/key"), None);
    assert!(dst.state.history("mine/key").is_empty());
    assert_eq!(dst.value("app/db").as_deref(), Some("v1"));
    assert!(dst.state.verify_audit().ok);
    // Restoring again over the restored data needs force again.
    assert!(matches!(dst.run(restore_op(&src.state, false)), Err(SmError::NotEmpty { .. })));
}

#[test]
fn restore_keeps_the_running_clusters_sessions_and_map() {
    let src = restore_source();
    let mut dst = Harness::new();
    dst.put("cluster/map", "{\"epoch\":2}");
    let (l1, l2) = (dst.lease(10_000), dst.lease(60_000));
    put_on_lease(&mut dst, "cluster/alive/a", "new-a", l1);
    put_on_lease(&mut dst, "cluster/alive/b", "new-b", l1);
    dst.run(Op::LockAcquire { name: "jobs".into(), owner: "live".into(), lease: l2 }).unwrap();
    // Sessions and the map are not data: no force needed.
    assert_eq!(dst.state.data_keys(), 0);
    let Outcome::Restored { revision, .. } = dst.run(restore_op(&src.state, false)).unwrap() else { panic!() };
    assert_eq!(dst.value("cluster/map").as_deref(), Some("{\"epoch\":2}"), "the running cluster's map stays");
    assert_eq!(dst.state.history("cluster/map").len(), 2, "after the backup's version of it");
    assert_eq!(dst.value("cluster/alive/a").as_deref(), Some("new-a"));
    assert_eq!(dst.value("cluster/alive/b").as_deref(), Some("new-b"));
    assert_eq!(dst.value("svc/gone"), None, "the backup's session keys end");
    let alive = dst.state.history("cluster/alive/a");
    assert_eq!(alive.iter().filter(|r| r.mod_revision == revision).count(), 1, "one version per key at the restore revision");
    assert_eq!(dst.state.lock_status("jobs").holder.as_deref(), Some("live"));
    assert_eq!(dst.state.leases().iter().map(|l| l.id).collect::<Vec<_>>(), vec![l1, l2]);
    // The kept leases still own their keys: when one ends, its keys go.
    dst.now += 10_000;
    dst.run(Op::ExpireLeases).unwrap();
    assert_eq!(dst.value("cluster/alive/a"), None);
    assert_eq!(dst.value("cluster/alive/b"), None);
    assert_eq!(dst.state.lock_status("jobs").holder.as_deref(), Some("live"));
    assert!(dst.state.verify_audit().ok);
}

#[test]
fn a_restored_state_survives_the_snapshot_encoding() {
    let src = restore_source();
    let mut dst = Harness::new();
    dst.run(restore_op(&src.state, false)).unwrap();
    let back: ConfigState = rmp_serde::from_slice(&rmp_serde::to_vec_named(&dst.state).unwrap()).unwrap();
    assert_eq!(back, dst.state);
    assert!(back.events_from(1, "").is_err(), "the restore point is part of the snapshot");
}
