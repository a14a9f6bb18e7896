//! The sorted set against a simple model (a sorted Vec), in both
//! encodings: contents, ranks, select by rank, range starts and counts,
//! removal by range, pops, heap accounting recounted from scratch, and
//! ZSCAN's guarantee while the set grows and shrinks.

use std::collections::BTreeSet;

use proptest::prelude::*;

use super::*;

#[derive(Debug, Clone)]
enum Op {
    Add(u8, f64, AddFlags),
    Remove(u8),
    RemoveRange(usize, usize),
    Pop(usize, bool),
}

fn score() -> impl Strategy<Value = f64> {
    prop_oneof![
        (-5i32..5).prop_map(f64::from),
        (-50i32..50).prop_map(|i| f64::from(i) / 4.0),
        Just(f64::INFINITY),
        Just(f64::NEG_INFINITY),
        Just(-0.0),
        Just(1e300),
    ]
}

fn flags() -> impl Strategy<Value = AddFlags> {
    (0u8..8).prop_map(|f| AddFlags { nx: f == 1, xx: f == 2, gt: f == 3, lt: f == 4, incr: f >= 5 })
}

fn op(pool: u8) -> impl Strategy<Value = Op> {
    prop_oneof![
        6 => (0..pool, score(), flags()).prop_map(|(m, s, f)| Op::Add(m, s, f)),
        2 => (0..pool).prop_map(Op::Remove),
        1 => (0usize..50, 0usize..8).prop_map(|(a, n)| Op::RemoveRange(a, a + n)),
        1 => (0usize..5, any::<bool>()).prop_map(|(n, max)| Op::Pop(n, max)),
    ]
}

fn name(m: u8) -> Vec<u8> {
    // Some long members, so a compact set converts on length too.
    if m % 37 == 36 { vec![b'L'; 70 + m as usize] } else { format!("m{m}").into_bytes() }
}

type Model = Vec<(Vec<u8>, f64)>;

fn model_add(model: &mut Model, member: &[u8], score: f64, f: AddFlags, compact: bool) -> Result<Added, NotANumber> {
    let pos = model.iter().position(|(m, _)| m == member);
    let result = match pos.map(|i| model[i].1) {
        None if f.xx => return Ok(Added::Skipped),
        None => Added::New(score),
        Some(_) if f.nx => return Ok(Added::Skipped),
        Some(cur) => {
            let new = if f.incr { cur + score } else { score };
            if new.is_nan() {
                return Err(NotANumber);
            }
            if (f.lt && new >= cur) || (f.gt && new <= cur) {
                return Ok(Added::Skipped);
            }
            if new == cur {
                return Ok(Added::Same(new));
            }
            Added::Changed(new)
        }
    };
    if let Some(i) = pos {
        model.remove(i);
    }
    let s = match result {
        Added::New(s) | Added::Changed(s) if compact => s + 0.0,
        Added::New(s) | Added::Changed(s) => s,
        _ => unreachable!(),
    };
    model.push((member.to_vec(), s));
    model.sort_by(|a, b| if before(a.1, &a.0, b.1, &b.0) { std::cmp::Ordering::Less } else { std::cmp::Ordering::Greater });
    Ok(result)
}

fn apply(z: &mut ZSet, model: &mut Model, op: &Op) {
    match op {
        Op::Add(m, s, f) => {
            let fits = z.score(&name(*m)).is_some() || (z.len() < 128 && name(*m).len() <= 64);
            let compact = z.encoding() == "listpack" && fits;
            let expect = model_add(model, &name(*m), *s, *f, compact);
            assert_eq!(z.add(&name(*m), *s, *f), expect);
        }
        Op::Remove(m) => {
            let had = model.iter().position(|(x, _)| *x == name(*m)).map(|i| model.remove(i)).is_some();
            assert_eq!(z.remove(&name(*m)), had);
        }
        Op::RemoveRange(a, b) => {
            let (a, b) = ((*a).min(model.len()), (*b).min(model.len()));
            let n = model.drain(a..b.max(a)).count();
            assert_eq!(z.remove_range(a, b), n);
        }
        Op::Pop(n, max) => {
            let n = (*n).min(model.len());
            let mut expect: Model = if *max { model.drain(model.len() - n..).collect() } else { model.drain(..n).collect() };
            if *max {
                expect.reverse();
            }
            assert_eq!(z.pop(n, *max), expect);
        }
    }
}

fn heap_recount(z: &ZSet) -> usize {
    match &z.repr {
        Repr::Pack(p) => p.heap_bytes(),
        Repr::Skip(l) => {
            l.check();
            crate::db::alloc_size(size_of::<Skiplist>()) + l.recount_heap()
        }
    }
}

fn check(z: &ZSet, model: &Model) {
    let items: Model = z.iter().map(|(m, s)| (m.to_vec(), s)).collect();
    assert_eq!(&items, model);
    assert_eq!(z.len(), model.len());
    let mut back: Model = z.iter_from(model.len().saturating_sub(1), true).map(|(m, s)| (m.to_vec(), s)).collect();
    back.reverse();
    assert_eq!(&back, model);
    for (i, (m, s)) in model.iter().enumerate() {
        assert_eq!(z.rank(m), Some(i));
        assert_eq!(z.score(m), Some(*s));
        assert_eq!(z.iter_from(i, false).next().map(|(m, s)| (m.to_vec(), s)), Some((m.clone(), *s)));
    }
    assert_eq!(z.heap_bytes(), heap_recount(z));
}

fn check_ranges(z: &ZSet, model: &Model, r: &ScoreRange, lex: &LexRange) {
    let in_score: Vec<usize> = (0..model.len()).filter(|&i| r.gte_min(model[i].1) && r.lte_max(model[i].1)).collect();
    assert_eq!(z.count_score(r), in_score.len());
    assert_eq!(z.score_start(r, false), in_score.first().copied());
    assert_eq!(z.score_start(r, true), in_score.last().copied());
    // Lexicographic queries are specified for equal scores only: compare
    // on a copy of the members that all have score 0.
    let mut flat = ZSet::with_hint(if matches!(z.repr, Repr::Skip(_)) { usize::MAX } else { 0 }, 0);
    model.iter().for_each(|(m, _)| {
        flat.add(m, 0.0, AddFlags::default()).unwrap();
    });
    let mut members: Vec<&Vec<u8>> = model.iter().map(|(m, _)| m).collect();
    members.sort();
    let in_lex: Vec<usize> = (0..members.len()).filter(|&i| lex.gte_min(members[i]) && lex.lte_max(members[i])).collect();
    assert_eq!(flat.count_lex(lex), in_lex.len());
    assert_eq!(flat.lex_start(lex, false), in_lex.first().copied());
    assert_eq!(flat.lex_start(lex, true), in_lex.last().copied());
}

fn score_range() -> impl Strategy<Value = ScoreRange> {
    (score(), any::<bool>(), score(), any::<bool>()).prop_map(|(min, min_ex, max, max_ex)| ScoreRange { min, min_ex, max, max_ex })
}

fn lex_bound() -> impl Strategy<Value = Lex> {
    prop_oneof![
        Just(Lex::Min),
        Just(Lex::Max),
        (0u8..60).prop_map(|m| Lex::Incl(name(m))),
        (0u8..60).prop_map(|m| Lex::Excl(name(m))),
    ]
}

proptest! {
    #![proptest_config(ProptestConfig { cases: 64, ..ProptestConfig::default() })]

    #[test]
    fn matches_the_model(
        skip in any::<bool>(),
        pool in prop_oneof![Just(20u8), Just(200u8)],
        ops in prop::collection::vec(op(200), 1..400),
        r in score_range(),
        lex in (lex_bound(), lex_bound()).prop_map(|(min, max)| LexRange { min, max }),
    ) {
        let mut z = if skip { ZSet::with_hint(usize::MAX, 0) } else { ZSet::new() };
        let mut model = Model::new();
        for op in &ops {
            let op = match op.clone() {
                Op::Add(m, s, f) => Op::Add(m % pool, s, f),
                Op::Remove(m) => Op::Remove(m % pool),
                other => other,
            };
            apply(&mut z, &mut model, &op);
        }
        check(&z, &model);
        check_ranges(&z, &model, &r, &lex);
    }
}

#[test]
fn converts_past_the_thresholds_and_never_back() {
    let mut z = ZSet::new();
    for i in 0..128 {
        z.add(format!("{i}").as_bytes(), i as f64, AddFlags::default()).unwrap();
    }
    assert_eq!(z.encoding(), "listpack");
    z.add(b"x", 0.0, AddFlags::default()).unwrap();
    assert_eq!(z.encoding(), "skiplist");
    z.pop(120, false);
    assert_eq!(z.encoding(), "skiplist");
    let mut long = ZSet::new();
    long.add(&[b'a'; 65], 1.0, AddFlags::default()).unwrap();
    assert_eq!(long.encoding(), "skiplist");
    assert_eq!(ZSet::with_hint(129, 1).encoding(), "skiplist");
    assert_eq!(ZSet::from_entries(vec![(b"a".to_vec(), 1.0)]).encoding(), "listpack");
}

/// Every member present from start to end of a ZSCAN is returned, while
/// other members come and go so the bucket table grows and shrinks.
#[test]
fn scan_returns_every_stable_member_while_resizing() {
    let mut z = ZSet::with_hint(usize::MAX, 0);
    let stable: BTreeSet<Vec<u8>> = (0..50).map(|i| format!("s{i}").into_bytes()).collect();
    for m in &stable {
        z.add(m, 1.0, AddFlags::default()).unwrap();
    }
    for round in 0..20 {
        let mut seen = BTreeSet::new();
        let mut cursor = 0;
        let mut step = 0usize;
        loop {
            cursor = z.scan(cursor, 5, |m, _| {
                seen.insert(m.to_vec());
            });
            // Grow to thousands, then shrink back, between calls.
            let phase = (step + round) % 40;
            for i in 0..200 {
                let m = format!("t{}", step * 200 + i).into_bytes();
                if phase < 20 {
                    z.add(&m, 2.0, AddFlags::default()).unwrap();
                }
            }
            if phase >= 20 {
                let extra: Vec<Vec<u8>> = z.iter().filter(|(m, _)| m[0] == b't').map(|(m, _)| m.to_vec()).take(1000).collect();
                extra.iter().for_each(|m| {
                    z.remove(m);
                });
            }
            step += 1;
            if cursor == 0 {
                break;
            }
        }
        assert!(stable.is_subset(&seen), "round {round}: missing {:?}", stable.difference(&seen).collect::<Vec<_>>());
    }
}

/// Rough cost at one million members (run with `--ignored --nocapture`).
#[test]
#[ignore]
fn bench_million() {
    use std::time::Instant;
    let n = 1_000_000usize;
    let mut z = ZSet::with_hint(usize::MAX, 0);
    let members: Vec<Vec<u8>> = (0..n).map(|i| format!("member:{}", (i * 7919) % n).into_bytes()).collect();
    let t = Instant::now();
    for (i, m) in members.iter().enumerate() {
        z.add(m, (i % 1000) as f64, AddFlags::default()).unwrap();
    }
    let add = t.elapsed().as_nanos() / n as u128;
    let t = Instant::now();
    let mut sum = 0;
    for m in &members {
        sum += z.rank(m).unwrap_or(0);
    }
    let rank = t.elapsed().as_nanos() / n as u128;
    let t = Instant::now();
    for i in 0..n {
        sum += z.iter_from((i * 31) % n, false).next().map_or(0, |(m, _)| m.len());
    }
    let select = t.elapsed().as_nanos() / n as u128;
    println!("1M members: ZADD {add} ns, ZRANK {rank} ns, select-by-rank {select} ns, {} heap bytes ({} per member) [{sum}]", z.heap_bytes(), z.heap_bytes() / n);
}
