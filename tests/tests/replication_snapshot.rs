//! A replica's full copy is a point-in-time snapshot taken while the primary keeps serving:
//! a primary holding a million keys answers PING and GET quickly all through a replica's full
//! sync (a copy taken with every command stopped would stall it for seconds), writes complete
//! while the copy is being taken (INFO `rdb_bgsave_in_progress:1` before and after them), and
//! the replica ends with exactly the primary's data: the same key counts, and the same value
//! and expiry for every key written, deleted or expired during the copy and for a sample of
//! the others.

use std::collections::BTreeSet;
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{start, Conn, Frame, TestServer};
use ferrocache_store::{StrValue, Value};

/// Keys put straight into the primary's keyspace (64-byte values), before any replica.
const BULK: usize = 1_000_000;
/// The slowest PING or GET reply the primary may give during the copy. Replies take a few ms
/// (99%) and rarely 30-150 ms here: a debug build on a machine whose cores the replica, the
/// writers and the copy share. A copy taken with commands stopped stalls for seconds.
const STALL_MAX: Duration = Duration::from_millis(250);

fn bulk_key(i: usize) -> String {
    format!("bulk:{i}")
}

/// The million keys, written directly (a pipeline of a million SETs into a debug build would
/// take most of the test's time), then a few thousand keys of every type and expiry by RESP.
fn fill(primary: &TestServer, c: &mut Conn) {
    let db = &primary.shared.dbs[0];
    for i in 0..BULK {
        let key = bulk_key(i);
        let value = format!("{i:064}");
        db.lock(key.as_bytes(), now_ms()).set(key.as_bytes(), Value::Str(StrValue::new(value.as_bytes())));
    }
    let mut commands = Vec::new();
    for i in 0..5_000 {
        let n = i.to_string();
        commands.push(args(&["SET", &format!("s:{i}"), &format!("value-{i}"), "EX", "100000"]));
        // Expire while the copy is taken or soon after.
        commands.push(args(&["SET", &format!("brief:{i}"), "v", "PX", &(200 + i % 1500).to_string()]));
        commands.push(args(&["HSET", &format!("h:{i}"), "a", &n, "b", "2"]));
        commands.push(args(&["RPUSH", &format!("l:{i}"), &n, "x", "y"]));
        commands.push(args(&["SADD", &format!("set:{i}"), &n, "m1", "m2"]));
        commands.push(args(&["ZADD", &format!("z:{i}"), "1", &n, "2.5", "b"]));
    }
    for db in 1..4 {
        commands.push(args(&["SELECT", &db.to_string()]));
        commands.extend((0..500).map(|i| args(&["SET", &format!("small:{db}:{i}"), "v"])));
    }
    commands.push(args(&["SELECT", "0"]));
    pipeline(c, &commands);
}

/// Sends `commands` pipelined, a batch at a time; returns the replies.
fn pipeline(c: &mut Conn, commands: &[Vec<Vec<u8>>]) -> Vec<Frame> {
    let mut replies = Vec::with_capacity(commands.len());
    for batch in commands.chunks(1000) {
        for args in batch {
            c.send(args);
        }
        for _ in batch {
            replies.push(c.read_frame().expect("a reply"));
        }
    }
    replies
}

fn args(words: &[&str]) -> Vec<Vec<u8>> {
    words.iter().map(|w| w.as_bytes().to_vec()).collect()
}

/// Keeps changing the primary until `stop`, noting every key of database 0 it touches:
/// overwrites and deletions of bulk keys, in-place changes of every type, new keys, brief
/// keys, expiries, and (writer 0) FLUSHDB of database 2 and SWAPDB of 1 and 3.
fn writer(addr: std::net::SocketAddr, w: usize, stop: Arc<AtomicBool>, done: Arc<AtomicUsize>, touched: Arc<Mutex<BTreeSet<String>>>) {
    let mut c = Conn::connect(addr);
    let mut i = w * 7919;
    while !stop.load(Ordering::Relaxed) {
        let n = i % 5_000;
        let b = bulk_key((i * 104_729) % BULK);
        let cmd: Vec<String> = match i % 12 {
            0 => vec!["SET".into(), b, format!("new-{i}")],
            1 => vec!["APPEND".into(), b, "+".into()],
            2 => vec!["DEL".into(), b],
            3 => vec!["HSET".into(), format!("h:{n}"), "a".into(), i.to_string()],
            4 => vec!["LPUSH".into(), format!("l:{n}"), i.to_string()],
            5 => vec!["RPOP".into(), format!("l:{n}")],
            6 => vec!["SREM".into(), format!("set:{n}"), "m1".into()],
            7 => vec!["ZINCRBY".into(), format!("z:{n}"), "1.5".into(), "b".into()],
            8 => vec!["SET".into(), format!("added:{w}:{i}"), i.to_string()],
            9 => vec!["PEXPIRE".into(), b, "300".into()],
            10 => vec!["SET".into(), format!("brief:{w}:{i}"), "v".into(), "PX".into(), "200".into()],
            _ if w == 0 && i % 600 == 11 => vec!["SWAPDB".into(), "1".into(), "3".into()],
            _ if w == 0 && i % 900 == 23 => vec!["FLUSHDB".into()],
            _ => vec!["INCR".into(), format!("counter:{}", i % 100)],
        };
        if cmd[0] == "FLUSHDB" {
            c.cmd(&["SELECT", "2"]);
            c.cmd(&["FLUSHDB"]);
            c.cmd(&["SET", "refilled", &i.to_string()]);
            c.cmd(&["SELECT", "0"]);
        } else {
            if cmd[0] != "SWAPDB" {
                touched.lock().unwrap().insert(cmd[1].clone());
            }
            let reply = c.cmd(&cmd.iter().map(String::as_str).collect::<Vec<_>>());
            assert!(!matches!(reply, Frame::Error(_)), "{cmd:?}: {reply:?}");
        }
        done.fetch_add(1, Ordering::Relaxed);
        i += 1;
    }
}

/// PINGs and GETs the primary until `stop`; returns every reply's latency.
fn prober(addr: std::net::SocketAddr, stop: Arc<AtomicBool>) -> Vec<Duration> {
    let mut c = Conn::connect(addr);
    let mut took = Vec::new();
    while !stop.load(Ordering::Relaxed) {
        let key = bulk_key(took.len() * 7 % BULK);
        for cmd in [vec!["PING"], vec!["GET", &key]] {
            let t = Instant::now();
            assert!(!matches!(c.cmd(&cmd), Frame::Error(_)));
            took.push(t.elapsed());
        }
        std::thread::sleep(Duration::from_millis(1));
    }
    took
}

/// Waits until the replica has applied everything the primary streamed.
fn caught_up(p: &mut Conn, r: &mut Conn, within: Duration) -> String {
    let deadline = Instant::now() + within;
    loop {
        let up = r.info_field("replication", "master_link_status") == "up";
        let (theirs, mine) = (p.info_field("replication", "master_repl_offset"), r.info_field("replication", "slave_repl_offset"));
        if up && theirs == mine {
            return mine;
        }
        assert!(Instant::now() < deadline, "replica not caught up: link up {up}, primary at {theirs}, replica at {mine}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

fn dbsizes(c: &mut Conn) -> Vec<i64> {
    let sizes = (0..4).map(|db| {
        assert_eq!(c.cmd(&["SELECT", &db.to_string()]), ok());
        int_of(c.cmd(&["DBSIZE"]))
    });
    let sizes = sizes.collect();
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    sizes
}

/// The key counts of databases 0-3 on both sides, read with no stream in between (the
/// primary's active expiry may append DELs at any moment: read again until it did not).
fn same_sizes(p: &mut Conn, r: &mut Conn) -> Vec<i64> {
    for _ in 0..20 {
        let at = caught_up(p, r, Duration::from_secs(30));
        let (mine, theirs) = (dbsizes(p), dbsizes(r));
        if caught_up(p, r, Duration::from_secs(30)) == at {
            assert_eq!(mine, theirs, "DBSIZE of databases 0-3, primary vs replica");
            return mine;
        }
    }
    panic!("the stream never stood still");
}

/// DUMP (for a set, its members sorted: the order of a small set's members is not kept by
/// RESTORE) and PTTL of `keys` in database 0, pipelined.
fn read_keys(c: &mut Conn, keys: &[String]) -> Vec<(Frame, i64)> {
    let value = |k: &String| if k.starts_with("set:") { args(&["SORT", k, "ALPHA"]) } else { args(&["DUMP", k]) };
    let asks: Vec<_> = keys.iter().flat_map(|k| [value(k), args(&["PTTL", k])]).collect();
    let replies = pipeline(c, &asks);
    replies.chunks(2).map(|pair| (pair[0].clone(), int_of(pair[1].clone()))).collect()
}

#[test]
fn a_full_copy_is_a_snapshot_taken_without_stopping_the_primary() {
    let (primary, replica) = (start(), start());
    let (mut p, mut r) = (primary.conn(), replica.conn());
    fill(&primary, &mut p);
    assert_eq!(p.info_field("persistence", "rdb_bgsave_in_progress"), "0");
    let stop = Arc::new(AtomicBool::new(false));
    let done = Arc::new(AtomicUsize::new(0));
    let touched = Arc::new(Mutex::new(BTreeSet::new()));
    let writers: Vec<_> = (0..2)
        .map(|w| {
            let (addr, stop, done, touched) = (primary.addr, stop.clone(), done.clone(), touched.clone());
            std::thread::spawn(move || writer(addr, w, stop, done, touched))
        })
        .collect();
    let probe_stop = Arc::new(AtomicBool::new(false));
    let probe = {
        let (addr, stop) = (primary.addr, probe_stop.clone());
        std::thread::spawn(move || prober(addr, stop))
    };
    while done.load(Ordering::Relaxed) < 500 {
        std::thread::sleep(Duration::from_millis(5));
    }

    let started = Instant::now();
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &primary.addr.port().to_string()]), ok());
    // Until the copy is taken: a write that completes between two INFOs that both say the
    // copy is being taken ran while it was (a command that waits for the copy cannot).
    let mut c = primary.conn();
    let (mut seen_copying, mut written_during_copy) = (0, 0);
    loop {
        let copying = |c: &mut Conn| c.info_field("persistence", "rdb_bgsave_in_progress") == "1";
        if copying(&mut c) {
            seen_copying += 1;
            let before = done.load(Ordering::Relaxed);
            assert_eq!(c.cmd(&["SET", "probe", &seen_copying.to_string()]), ok());
            if copying(&mut c) && done.load(Ordering::Relaxed) > before {
                written_during_copy += 1;
            }
        } else if r.info_field("replication", "master_link_status") == "up" {
            break;
        }
        assert!(started.elapsed() < Duration::from_secs(60), "no copy within 60 s");
    }
    let copy_took = started.elapsed();
    probe_stop.store(true, Ordering::Relaxed);
    let mut took = probe.join().unwrap();
    took.sort();
    let (slowest, probes, p99) = (took[took.len() - 1], took.len(), took[took.len() * 99 / 100]);
    std::thread::sleep(Duration::from_millis(200));
    stop.store(true, Ordering::Relaxed);
    writers.into_iter().for_each(|w| w.join().unwrap());
    eprintln!("full sync of {BULK}+ keys took {copy_took:?}; {probes} PING/GET replies meanwhile, 99% within {p99:?}, slowest {slowest:?}, {:?}; {written_during_copy} writes seen completing during the copy", &took[took.len().saturating_sub(5)..]);
    assert!(written_during_copy > 0, "no write completed while the copy was taken ({seen_copying} looks at a copy in progress)");
    assert!(slowest < STALL_MAX, "the primary stalled {slowest:?} during the full sync");
    assert_eq!(p.info_field("stats", "sync_full"), "1", "one copy, no retry");

    // Brief keys are expired on both sides by now; then the replica holds what the primary holds.
    std::thread::sleep(Duration::from_millis(1500));
    let sizes = same_sizes(&mut p, &mut r);
    assert!(sizes[0] > BULK as i64 - 10_000, "{sizes:?}");
    let mut keys: Vec<String> = touched.lock().unwrap().iter().cloned().collect();
    let written = keys.len();
    keys.extend((0..BULK).step_by(97).map(bulk_key));
    keys.extend((0..5_000).flat_map(|i| ["s", "brief", "h", "l", "set", "z"].map(|t| format!("{t}:{i}"))));
    let (mine, theirs) = (read_keys(&mut p, &keys), read_keys(&mut r, &keys));
    for (k, ((payload, pttl), (their_payload, their_pttl))) in keys.iter().zip(mine.iter().zip(&theirs)) {
        assert_eq!(payload, their_payload, "value of {k}");
        assert_eq!(*pttl < 0, *their_pttl < 0, "expiry of {k}: {pttl} vs {their_pttl}");
        assert!((pttl - their_pttl).abs() < 3000, "expiry of {k}: {pttl} vs {their_pttl}");
    }
    let present = mine.iter().filter(|(_, pttl)| *pttl != -2).count();
    assert!(written > 1000 && present > 20_000, "{written} keys written during the test, {present} of {} compared present", keys.len());
    assert_eq!(p.info_field("persistence", "rdb_bgsave_in_progress"), "0");

    // The copy is over: writes are no longer captured, and replicate as usual.
    assert_eq!(p.cmd(&["SET", "after", "1"]), ok());
    caught_up(&mut p, &mut r, Duration::from_secs(10));
    assert_eq!(r.cmd(&["GET", "after"]), bulk("1"));
}
