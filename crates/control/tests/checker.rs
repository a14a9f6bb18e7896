//! The fault tests' history checker, on hand-made histories whose verdict is known, and on a
//! large simulated history (linearizable by construction, then with one stale read planted).

mod support;

use support::history::{Call, Op, Ret, Value, check_linearizable, check_revisions, check_watch};

fn op(client: usize, call: Call, ret: Ret, invoke: u64, complete: u64) -> Op {
    let complete = if ret == Ret::Unknown { u64::MAX } else { complete };
    Op { client, node: 0, call, ret, invoke, complete }
}

fn put(value: Value) -> Call {
    Call::Put { value }
}

fn read(value: Value, revision: u64) -> Ret {
    Ret::Read { value, revision }
}

fn written(revision: u64) -> Ret {
    Ret::Written { revision }
}

fn linearizable(ops: &[Op]) -> bool {
    check_linearizable(ops).is_ok()
}

#[test]
fn sequential_history_is_linearizable() {
    let ops = [
        op(0, Call::Get, read(0, 0), 0, 1),
        op(0, put(1), written(1), 2, 3),
        op(0, Call::Get, read(1, 1), 4, 5),
        op(0, Call::Cas { expect: 1, value: 2 }, written(2), 6, 7),
        op(0, Call::Cas { expect: 1, value: 3 }, Ret::Refused, 8, 9),
        op(0, Call::Get, read(2, 2), 10, 11),
    ];
    let order = check_linearizable(&ops).unwrap();
    assert_eq!(order, ops);
}

#[test]
fn stale_read_after_a_completed_write_is_not() {
    let ops = [op(0, put(1), written(1), 0, 10), op(0, put(2), written(2), 20, 30), op(1, Call::Get, read(1, 1), 40, 50)];
    let violation = check_linearizable(&ops).unwrap_err();
    assert_eq!(violation.stuck.call, Call::Get);
}

#[test]
fn reads_concurrent_with_a_write_may_see_either_value_but_not_go_back() {
    // Old value, then new value: fine.
    let forward = [op(0, put(1), written(1), 0, 100), op(1, Call::Get, read(0, 0), 10, 20), op(1, Call::Get, read(1, 1), 30, 40)];
    assert!(linearizable(&forward));
    // New value, then old value: the write cannot be undone.
    let back = [op(0, put(1), written(1), 0, 100), op(1, Call::Get, read(1, 1), 10, 20), op(2, Call::Get, read(0, 0), 30, 40)];
    assert!(!linearizable(&back));
}

#[test]
fn unknown_writes_may_apply_late_or_never_but_not_before_they_were_sent() {
    let never = [op(0, put(1), Ret::Unknown, 0, 0), op(1, Call::Get, read(0, 0), 50, 60)];
    assert!(linearizable(&never));
    let late = [op(0, put(1), Ret::Unknown, 0, 0), op(1, Call::Get, read(0, 0), 50, 60), op(1, Call::Get, read(1, 7), 70, 80)];
    assert!(linearizable(&late));
    let early = [op(1, Call::Get, read(1, 7), 0, 5), op(0, put(1), Ret::Unknown, 10, 0)];
    assert!(!linearizable(&early));
    // Seen, then gone again with no other write: not possible.
    let flicker = [op(0, put(1), Ret::Unknown, 0, 0), op(1, Call::Get, read(1, 7), 10, 20), op(1, Call::Get, read(0, 0), 30, 40)];
    assert!(!linearizable(&flicker));
}

#[test]
fn a_refused_cas_needs_a_different_value_at_its_point() {
    let alone = [op(0, put(1), written(1), 0, 10), op(1, Call::Cas { expect: 1, value: 2 }, Ret::Refused, 20, 30)];
    assert!(!linearizable(&alone));
    let raced = [
        op(0, put(1), written(1), 0, 10),
        op(1, Call::Cas { expect: 1, value: 2 }, Ret::Refused, 20, 30),
        op(2, put(3), written(2), 15, 35),
    ];
    assert!(linearizable(&raced));
    // An acknowledged CAS needs the expected value.
    let wrong = [op(0, put(1), written(1), 0, 10), op(1, Call::Cas { expect: 0, value: 2 }, written(2), 20, 30)];
    assert!(!linearizable(&wrong));
}

#[test]
fn revisions_must_grow_in_the_order_writes_take_effect() {
    let backwards = [op(0, put(1), written(5), 0, 10), op(1, put(2), written(3), 20, 30)];
    assert!(!linearizable(&backwards));
    // Concurrent writes: the revisions decide the order, and the reads must agree with it.
    let concurrent = [op(0, put(1), written(5), 0, 30), op(1, put(2), written(3), 0, 30), op(2, Call::Get, read(1, 5), 40, 50)];
    assert!(linearizable(&concurrent));
    let disagree = [op(0, put(1), written(5), 0, 30), op(1, put(2), written(3), 0, 30), op(2, Call::Get, read(2, 3), 40, 50)];
    assert!(!linearizable(&disagree));
}

#[test]
fn each_value_has_one_revision_and_each_revision_one_value() {
    let ok = [op(0, put(1), written(1), 0, 1), op(1, Call::Get, read(1, 1), 2, 3)];
    assert_eq!(check_revisions(&ok), Ok(()));
    let twice = [op(0, put(1), written(1), 0, 1), op(1, Call::Get, read(1, 4), 2, 3)];
    assert!(check_revisions(&twice).unwrap_err().contains("value 1 seen at revisions 1 and 4"));
    let shared = [op(0, put(1), written(1), 0, 1), op(1, put(2), written(1), 2, 3)];
    assert!(check_revisions(&shared).unwrap_err().contains("revision 1 holds values 1 and 2"));
}

#[test]
fn watchers_must_see_every_event_once_in_order() {
    let history = [(1, 10), (2, 20), (5, 50)];
    assert_eq!(check_watch(&history, &history), Ok(()));
    assert!(check_watch(&history, &[(1, 10), (5, 50)]).unwrap_err().contains("1 events missing"));
    assert!(check_watch(&history, &[(1, 10), (2, 20), (2, 20), (5, 50)]).unwrap_err().contains("repeated"));
    assert!(check_watch(&history, &[(2, 20), (1, 10), (5, 50)]).unwrap_err().contains("out of order"));
    assert!(check_watch(&history, &[(1, 10), (2, 20), (3, 30), (5, 50)]).unwrap_err().contains("1 unexpected"));
}

/// A register run by `clients` concurrent clients: each operation takes effect at a point
/// inside its interval, so the history is linearizable by construction; some writes end
/// with an unknown outcome (applied or not).
fn simulated(clients: usize, per_client: usize) -> Vec<Op> {
    let mut seed = 0x2545_F491_4F6C_DD1Du64;
    let mut rand = move |n: u64| {
        seed ^= seed << 13;
        seed ^= seed >> 7;
        seed ^= seed << 17;
        seed % n
    };
    // (effect time, client, call, unknown): effects are spread so that intervals overlap.
    let mut effects = Vec::new();
    let mut free_at = vec![0u64; clients];
    for _ in 0..per_client {
        for (c, free) in free_at.iter_mut().enumerate() {
            let invoke = *free + rand(20);
            let effect = invoke + 1 + rand(50);
            let complete = effect + 1 + rand(50);
            *free = complete + 1;
            let value = effects.len() as Value + 1;
            let call = match rand(10) {
                0..=3 => Call::Get,
                4..=7 => Call::Put { value },
                _ => Call::Cas { expect: 0, value },
            };
            effects.push((effect, invoke, complete, c, call, rand(25) == 0));
        }
    }
    effects.sort_by_key(|e| e.0);
    let (mut current, mut revision, mut ops) = ((0, 0), 0, Vec::new());
    let mut last_read = vec![(0, 0); clients];
    for (_, invoke, complete, client, call, unknown) in effects {
        let call = match call {
            Call::Cas { value, .. } => Call::Cas { expect: last_read[client].0, value },
            other => other,
        };
        let ret = match call {
            Call::Get => {
                last_read[client] = current;
                read(current.0, current.1)
            }
            Call::Put { value } => {
                revision += 1;
                current = (value, revision);
                written(revision)
            }
            Call::Cas { expect, value } if expect == current.0 => {
                revision += 1;
                current = (value, revision);
                written(revision)
            }
            Call::Cas { .. } => Ret::Refused,
        };
        let ret = if unknown && !matches!(ret, Ret::Read { .. }) { Ret::Unknown } else { ret };
        ops.push(op(client, call, ret, invoke, complete));
    }
    ops
}

#[test]
fn large_simulated_history_checks_quickly_and_a_planted_stale_read_is_found() {
    let ops = simulated(6, 150);
    assert_eq!(ops.len(), 900);
    let started = std::time::Instant::now();
    assert_eq!(check_revisions(&ops), Ok(()));
    let order = check_linearizable(&ops).expect("linearizable by construction");
    assert!(started.elapsed() < std::time::Duration::from_secs(5), "took {:?}", started.elapsed());
    assert!(order.len() >= ops.iter().filter(|o| o.ret != Ret::Unknown).count());

    // Turn a late read into one of a value overwritten long before it started.
    let mut bad = ops.clone();
    let old = bad.iter().find_map(|o| match (o.call, o.ret) {
        (Call::Put { value }, Ret::Written { revision }) => Some((value, revision, o.complete)),
        _ => None,
    });
    let (value, revision, written_at) = old.unwrap();
    let stale = bad.iter_mut().rev().find(|o| o.call == Call::Get && o.invoke > written_at + 1_000).unwrap();
    stale.ret = read(value, revision);
    assert!(check_linearizable(&bad).is_err());
}
