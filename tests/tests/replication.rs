//! Replication between two servers: REPLICAOF takes a full copy, then follows the stream;
//! after any mix of writes the replica holds exactly the primary's data (every key's DUMP
//! payload and expiry compared); a dropped link resumes from the backlog, or copies again when
//! the backlog no longer holds what it missed; a replica refuses writes until REPLICAOF NO ONE.

use std::collections::BTreeMap;
use std::time::{Duration, Instant};

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{start, start_with, Conn, Frame, TestServer};

fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("not a bulk string: {other:?}"),
    }
}

fn field(c: &mut Conn, section: &str, name: &str) -> String {
    let info = text(&c.cmd(&["INFO", section]));
    info.lines().find_map(|l| l.strip_prefix(&format!("{name}:"))).unwrap_or_else(|| panic!("no {name} in {info}")).to_string()
}

/// Waits until the replica has applied everything the primary streamed.
fn caught_up(primary: &mut Conn, replica: &mut Conn) {
    let deadline = Instant::now() + Duration::from_secs(15);
    loop {
        let up = field(replica, "replication", "master_link_status") == "up";
        let (theirs, mine) = (field(primary, "replication", "master_repl_offset"), field(replica, "replication", "slave_repl_offset"));
        if up && theirs == mine {
            return;
        }
        assert!(Instant::now() < deadline, "replica not caught up: link up {up}, primary at {theirs}, replica at {mine}");
        std::thread::sleep(Duration::from_millis(20));
    }
}

/// Every key of every database: (db, key) -> (DUMP payload, whether it has an expiry, its PTTL).
fn dataset(c: &mut Conn) -> BTreeMap<(usize, Vec<u8>), (Vec<u8>, i64)> {
    let mut all = BTreeMap::new();
    for db in 0..16 {
        assert_eq!(c.cmd(&["SELECT", &db.to_string()]), ok());
        let Frame::Array(keys) = c.cmd(&["KEYS", "*"]) else { panic!("KEYS") };
        for key in keys {
            let Frame::Bulk(key) = key else { panic!("key") };
            let Frame::Bulk(payload) = c.cmd_bytes(&[&b"DUMP"[..], &key]) else { continue };
            let Frame::Integer(pttl) = c.cmd_bytes(&[&b"PTTL"[..], &key]) else { panic!("PTTL") };
            all.insert((db, key.to_vec()), (payload.to_vec(), pttl));
        }
    }
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    all
}

/// The replica holds what the primary holds: same payloads, same expiries (give or take the
/// time between the two reads).
fn same_data(primary: &mut Conn, replica: &mut Conn) -> usize {
    let (p, r) = (dataset(primary), dataset(replica));
    let missing: Vec<_> = p.keys().filter(|k| !r.contains_key(*k)).take(5).collect();
    let extra: Vec<_> = r.keys().filter(|k| !p.contains_key(*k)).take(5).collect();
    assert!(missing.is_empty() && extra.is_empty(), "missing on the replica {missing:?}, only on the replica {extra:?}");
    for (k, (payload, pttl)) in &p {
        let (their_payload, their_pttl) = &r[k];
        assert_eq!(payload, their_payload, "value of {k:?}");
        assert_eq!(*pttl < 0, *their_pttl < 0, "expiry of {k:?}: {pttl} vs {their_pttl}");
        assert!((pttl - their_pttl).abs() < 3000, "expiry of {k:?}: {pttl} vs {their_pttl}");
    }
    p.len()
}

fn replicate(replica: &TestServer, primary: &TestServer) -> (Conn, Conn) {
    let (mut p, mut r) = (primary.conn(), replica.conn());
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &primary.addr.port().to_string()]), ok());
    caught_up(&mut p, &mut r);
    (p, r)
}

/// A deterministic mix of writes over every type, with relative and absolute expiries,
/// several databases, FLUSHDB and SWAPDB.
fn writes(c: &mut Conn, round: usize) {
    for i in 0..200 {
        let k = format!("k{}", (i * 7 + round) % 50);
        let n = i.to_string();
        let cmd: Vec<String> = match i % 23 {
            0 => vec!["SET".into(), k, n],
            1 => vec!["INCR".into(), format!("counter{}", i % 3)],
            2 => vec!["RPUSH".into(), format!("list{}", i % 4), n.clone(), n],
            3 => vec!["LPOP".into(), format!("list{}", i % 4)],
            4 => vec!["HSET".into(), format!("hash{}", i % 4), n.clone(), n],
            5 => vec!["SADD".into(), format!("set{}", i % 4), n],
            6 => vec!["ZADD".into(), format!("zset{}", i % 4), n.clone(), n],
            7 => vec!["EXPIRE".into(), format!("hash{}", i % 4), "100".into()],
            8 => vec!["SETEX".into(), format!("ttl{}", i % 5), "200".into(), n],
            9 => vec!["SET".into(), format!("px{}", i % 5), n, "PX".into(), "50000".into()],
            10 => vec!["DEL".into(), k],
            11 => vec!["APPEND".into(), "log".into(), n],
            12 => vec!["PERSIST".into(), format!("ttl{}", i % 5)],
            13 => vec!["RENAME".into(), format!("set{}", i % 4), format!("set{}", (i + 1) % 4)],
            14 => vec!["SET".into(), format!("gone{i}"), n, "PX".into(), "1".into()],
            15 => vec!["ZINCRBY".into(), format!("zset{}", i % 4), "1.5".into(), "m".into()],
            16 => vec!["HINCRBY".into(), "hcount".into(), "f".into(), "3".into()],
            // Random or computed effects: replicated as what they did.
            17 => vec!["SPOP".into(), format!("set{}", i % 4)],
            18 => vec!["SPOP".into(), format!("set{}", (i + 2) % 4), "2".into()],
            19 => vec!["INCRBYFLOAT".into(), "float".into(), "0.1".into()],
            20 => vec!["HINCRBYFLOAT".into(), "hfloat".into(), "f".into(), "1.1e-3".into()],
            21 => vec!["BLPOP".into(), format!("list{}", i % 4), "list9".into(), "0.01".into()],
            _ => vec!["BZPOPMIN".into(), format!("zset{}", i % 4), "0.01".into()],
        };
        c.cmd(&cmd.iter().map(String::as_str).collect::<Vec<_>>());
    }
    for (db, key) in [("2", "a"), ("3", "b"), ("5", "c")] {
        c.cmd(&["SELECT", db]);
        c.cmd(&["SET", key, &round.to_string()]);
        c.cmd(&["LPUSH", "l", key]);
    }
    c.cmd(&["SELECT", "3"]);
    c.cmd(&["FLUSHDB"]);
    c.cmd(&["SWAPDB", "2", "5"]);
    c.cmd(&["SELECT", "0"]);
}

#[test]
fn a_replica_takes_a_copy_then_follows_the_stream() {
    let (primary, replica) = (start(), start());
    let mut p = primary.conn();
    writes(&mut p, 0);
    let (mut p, mut r) = replicate(&replica, &primary);
    assert!(same_data(&mut p, &mut r) > 30);
    assert_eq!(field(&mut p, "stats", "sync_full"), "1");
    writes(&mut p, 1);
    writes(&mut p, 2);
    caught_up(&mut p, &mut r);
    assert!(same_data(&mut p, &mut r) > 30);

    assert_eq!(r.cmd(&["SET", "x", "1"]), err("READONLY You can't write against a read only replica."));
    assert_eq!(r.cmd(&["GET", "log"]), p.cmd(&["GET", "log"]), "reads are served");
    assert_eq!(field(&mut r, "replication", "role"), "slave");
    assert_eq!(field(&mut r, "replication", "master_port"), primary.addr.port().to_string());
    assert_eq!(field(&mut p, "replication", "connected_slaves"), "1");
    let slave0 = field(&mut p, "replication", "slave0");
    assert!(slave0.starts_with(&format!("ip=127.0.0.1,port={},state=online,offset=", replica.addr.port())), "{slave0}");
    assert_eq!(field(&mut p, "replication", "master_replid"), field(&mut r, "replication", "master_replid"));
    let Frame::Array(role) = p.cmd(&["ROLE"]) else { panic!("ROLE") };
    assert_eq!(role[0], bulk("master"));
    let Frame::Array(role) = r.cmd(&["ROLE"]) else { panic!("ROLE") };
    assert_eq!((&role[0], &role[3]), (&bulk("slave"), &bulk("connected")));

    // Stopping: the data stays, writes are taken, the primary's later writes are not.
    assert_eq!(r.cmd(&["REPLICAOF", "NO", "ONE"]), ok());
    assert_eq!(r.cmd(&["SET", "x", "1"]), ok());
    p.cmd(&["SET", "after", "1"]);
    std::thread::sleep(Duration::from_millis(200));
    assert_eq!(r.cmd(&["EXISTS", "after"]), int(0));
    assert_eq!(field(&mut r, "replication", "role"), "master");
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", "notaport"]), err("ERR Invalid master port"));
}

#[test]
fn concurrent_writers_on_the_same_keys_replicate_in_the_order_they_ran() {
    let (primary, replica) = (start(), start());
    let (mut p, mut r) = replicate(&replica, &primary);
    let writers: Vec<_> = (0..4)
        .map(|w| {
            let addr = primary.addr;
            std::thread::spawn(move || {
                let mut c = Conn::connect(addr);
                for i in 0..500 {
                    let v = format!("{w}-{i}");
                    c.cmd(&["SET", "same", &v]);
                    c.cmd(&["APPEND", "joined", &v]);
                    c.cmd(&["RPUSH", "pushed", &v]);
                    c.cmd(&["INCRBY", "sum", "1"]);
                }
            })
        })
        .collect();
    for w in writers {
        w.join().unwrap();
    }
    caught_up(&mut p, &mut r);
    same_data(&mut p, &mut r);
    assert_eq!(r.cmd(&["GET", "sum"]), bulk("2000"));
}

#[test]
fn pops_served_to_blocked_clients_reach_the_replica() {
    let (primary, replica) = (start(), start());
    let (mut p, mut r) = replicate(&replica, &primary);
    let mut waiters: Vec<Conn> = (0..3).map(|_| primary.conn()).collect();
    // One at a time: clients blocked on a key are served in the order they blocked, and
    // three connections sending at once may block in any order.
    waiters[0].send(&["BLPOP", "queue", "0"]);
    ferrocache_e2e::await_blocked(&mut p, 1);
    waiters[1].send(&["BLMOVE", "queue", "moved", "LEFT", "RIGHT", "0"]);
    ferrocache_e2e::await_blocked(&mut p, 2);
    waiters[2].send(&["BZPOPMAX", "scores", "0"]);
    ferrocache_e2e::await_blocked(&mut p, 3);
    assert_eq!(p.cmd(&["RPUSH", "queue", "a", "b", "c"]), int(3));
    assert_eq!(p.cmd(&["ZADD", "scores", "1", "x", "2", "y"]), int(2));
    assert_eq!(waiters[0].read_frame(), Some(arr(vec![bulk("queue"), bulk("a")])));
    assert_eq!(waiters[1].read_frame(), Some(bulk("b")));
    assert!(waiters[2].read_frame().is_some());
    caught_up(&mut p, &mut r);
    same_data(&mut p, &mut r);
    assert_eq!(r.cmd(&["LRANGE", "queue", "0", "-1"]), arr(vec![bulk("c")]));
    assert_eq!(r.cmd(&["LRANGE", "moved", "0", "-1"]), arr(vec![bulk("b")]));
    assert_eq!(r.cmd(&["ZRANGE", "scores", "0", "-1"]), arr(vec![bulk("x")]));
}

#[test]
fn a_dropped_link_resumes_from_the_backlog_or_copies_again() {
    let (primary, replica) = (start_with(|c| c.repl_backlog_size = 64 * 1024), start());
    let (mut p, mut r) = replicate(&replica, &primary);
    writes(&mut p, 0);
    caught_up(&mut p, &mut r);
    // A short outage: the replica missed a few writes that the backlog still holds.
    assert_eq!(p.cmd(&["CLIENT", "KILL", "TYPE", "replica"]), int(1));
    writes(&mut p, 1);
    caught_up(&mut p, &mut r);
    same_data(&mut p, &mut r);
    assert_eq!((field(&mut p, "stats", "sync_full").as_str(), field(&mut p, "stats", "sync_partial_ok").as_str()), ("1", "1"));
    // A long one: more than the backlog holds was written meanwhile.
    assert_eq!(p.cmd(&["CLIENT", "KILL", "TYPE", "slave"]), int(1));
    let big = "x".repeat(1000);
    for i in 0..100 {
        p.cmd(&["SET", &format!("big{i}"), &big]);
    }
    caught_up(&mut p, &mut r);
    same_data(&mut p, &mut r);
    assert_eq!(field(&mut p, "stats", "sync_full"), "2");
    assert_eq!(p.cmd(&["CLIENT", "KILL", "TYPE", "nonsense"]), err("ERR Unknown client type 'nonsense'"));
}
