//! DUMP, RESTORE and RESTORE-ASKING end to end. Our payloads are not
//! Redis's, so Redis is the reference for everything that does not depend
//! on the payload's bytes: error replies and their order, encodings after a
//! round trip, COMMAND INFO; each server is always handed its own payloads.

use bytes::Bytes;
use ferrocache_e2e::reply::*;
use ferrocache_e2e::{await_blocked, start, Conn, Frame, RedisServer};
use ferrocache_store::dump;

/// DUMP's payload (panics on nil).
fn dump(c: &mut Conn, key: &str) -> Bytes {
    match c.cmd(&["DUMP", key]) {
        Frame::Bulk(b) => b,
        other => panic!("DUMP {key}: {other:?}"),
    }
}

fn restore(c: &mut Conn, key: &str, ttl: &str, payload: &[u8], opts: &[&str]) -> Frame {
    let mut args: Vec<&[u8]> = vec![b"RESTORE", key.as_bytes(), ttl.as_bytes(), payload];
    args.extend(opts.iter().map(|o| o.as_bytes()));
    c.cmd_bytes(&args)
}

/// A command of `name key items...`.
fn with_items(name: &str, key: &str, items: impl Iterator<Item = String>) -> Vec<String> {
    [name.to_string(), key.to_string()].into_iter().chain(items).collect()
}

/// Keys of every type and encoding, each made by the commands that give
/// it that encoding: (key, commands).
fn fixtures() -> Vec<(&'static str, Vec<Vec<String>>)> {
    let cmd = |parts: &[&str]| parts.iter().map(|s| s.to_string()).collect::<Vec<_>>();
    let long = "v".repeat(100);
    vec![
        ("str:int", vec![cmd(&["SET", "str:int", "-12345"])]),
        ("str:embstr", vec![cmd(&["SET", "str:embstr", "hello"])]),
        ("str:raw", vec![cmd(&["SET", "str:raw", &long])]),
        ("str:big", vec![cmd(&["SET", "str:big", &"b".repeat(5000)])]),
        // APPEND leaves `raw`; a restored copy is `embstr`, in Redis too.
        ("str:appended", vec![cmd(&["SET", "str:appended", "ab"]), cmd(&["APPEND", "str:appended", "c"])]),
        ("str:float", vec![cmd(&["SET", "str:float", "1"]), cmd(&["INCRBYFLOAT", "str:float", "2.5"])]),
        ("hash:listpack", vec![cmd(&["HSET", "hash:listpack", "a", "1", "b", "2", "c", "x"])]),
        ("hash:hashtable", vec![cmd(&["HSET", "hash:hashtable", "a", "1", "long", &long])]),
        ("list", vec![with_items("RPUSH", "list", (0..300).map(|i| format!("e{i}")))]),
        ("set:intset", vec![cmd(&["SADD", "set:intset", "3", "-70000", "1", "9223372036854775807"])]),
        ("set:hashtable", vec![cmd(&["SADD", "set:hashtable", "a", "b", "1"])]),
        ("set:manyints", vec![with_items("SADD", "set:manyints", (0..600).map(|i| i.to_string()))]),
        ("zset:listpack", vec![cmd(&["ZADD", "zset:listpack", "1", "a", "-2.5", "b", "inf", "c", "0", "d"])]),
        ("zset:skiplist", vec![with_items("ZADD", "zset:skiplist", (0..200).flat_map(|i| [format!("{}", i as f64 / 3.0), format!("m{i}")]))]),
    ]
}

/// Everything a key holds, read back by type, in a comparable order.
fn contents(c: &mut Conn, key: &str) -> Frame {
    let sorted = |f: Frame| match f {
        Frame::Array(mut items) => {
            items.sort_by_key(|i| format!("{i:?}"));
            Frame::Array(items)
        }
        other => other,
    };
    let Frame::Simple(t) = c.cmd(&["TYPE", key]) else { panic!("TYPE") };
    match &t[..] {
        b"string" => c.cmd(&["GET", key]),
        b"hash" => sorted(c.cmd(&["HGETALL", key])),
        b"list" => c.cmd(&["LRANGE", key, "0", "-1"]),
        b"set" => sorted(c.cmd(&["SMEMBERS", key])),
        b"zset" => c.cmd(&["ZRANGE", key, "0", "-1", "WITHSCORES"]),
        other => panic!("type {other:?}"),
    }
}

/// Makes the fixtures on `c`, round-trips each through DUMP / RESTORE,
/// and returns (key, encoding before, encoding after) after checking the
/// contents came back.
fn round_trip(c: &mut Conn) -> Vec<(String, Frame, Frame)> {
    let mut seen = Vec::new();
    for (key, cmds) in fixtures() {
        for args in cmds {
            let args: Vec<&str> = args.iter().map(String::as_str).collect();
            assert!(!matches!(c.cmd(&args), Frame::Error(_)), "{args:?}");
        }
        let payload = dump(c, key);
        let copy = format!("{key}:copy");
        assert_eq!(restore(c, &copy, "0", &payload, &[]), ok(), "{key}");
        assert_eq!(contents(c, &copy), contents(c, key), "{key}");
        assert_eq!(c.cmd(&["PTTL", &copy]), int(-1));
        seen.push((key.to_string(), c.cmd(&["OBJECT", "ENCODING", key]), c.cmd(&["OBJECT", "ENCODING", &copy])));
    }
    seen
}

#[test]
fn every_type_and_encoding_round_trips_as_in_redis() {
    let server = start();
    let ours = round_trip(&mut server.conn());
    let redis = RedisServer::start();
    let theirs = round_trip(&mut redis.conn());
    assert_eq!(ours, theirs, "(key, encoding, encoding after RESTORE) differ from Redis's");
    for (key, before, after) in &ours {
        if key != "str:appended" {
            assert_eq!(before, after, "{key}");
        }
    }
}

#[test]
fn ttl_replace_and_absttl() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SET", "k", "v", "PX", "100000"]), ok());
    let payload = dump(&mut c, "k");
    let pttl = int_of(c.cmd(&["PTTL", "k"]));
    assert_eq!(restore(&mut c, "k2", &pttl.to_string(), &payload, &[]), ok());
    let copied = int_of(c.cmd(&["PTTL", "k2"]));
    assert!((pttl - 1000..=pttl).contains(&copied), "{copied} vs {pttl}");

    let at = now_ms() + 50_000;
    assert_eq!(restore(&mut c, "k3", &at.to_string(), &payload, &["ABSTTL"]), ok());
    assert_eq!(c.cmd(&["PEXPIRETIME", "k3"]), int(at as i64));

    // An absolute time already past stores nothing, and with REPLACE
    // deletes what was there.
    assert_eq!(restore(&mut c, "gone", "1000", &payload, &["ABSTTL"]), ok());
    assert_eq!(c.cmd(&["EXISTS", "gone"]), int(0));
    assert_eq!(restore(&mut c, "k3", "1000", &payload, &["ABSTTL", "REPLACE"]), ok());
    assert_eq!(c.cmd(&["EXISTS", "k3"]), int(0));

    // BUSYKEY, then REPLACE over a key of another type.
    assert_eq!(c.cmd(&["RPUSH", "l", "a"]), int(1));
    assert_eq!(restore(&mut c, "l", "0", &payload, &[]), err("BUSYKEY Target key name already exists."));
    assert_eq!(c.cmd(&["TYPE", "l"]), simple("list"));
    assert_eq!(restore(&mut c, "l", "0", &payload, &["REPLACE"]), ok());
    assert_eq!((c.cmd(&["TYPE", "l"]), c.cmd(&["GET", "l"]), c.cmd(&["PTTL", "l"])), (simple("string"), bulk("v"), int(-1)));
    assert_eq!(c.cmd_bytes(&[&b"RESTORE-ASKING"[..], b"l", b"0", &payload, b"REPLACE"]), ok());
    assert_eq!(c.cmd(&["DUMP", "nosuch"]), nil());
}

#[test]
fn restoring_a_list_serves_a_blocked_pop() {
    let server = start();
    let (mut c, mut waiter) = (server.conn(), server.conn());
    assert_eq!(c.cmd(&["RPUSH", "src", "a", "b"]), int(2));
    let payload = dump(&mut c, "src");
    waiter.send(&["BLPOP", "q", "0"]);
    await_blocked(&mut c, 1);
    assert_eq!(restore(&mut c, "q", "0", &payload, &[]), ok());
    assert_eq!(waiter.read_frame(), Some(bulks(&["q", "a"])));
    assert_eq!(c.cmd(&["LRANGE", "q", "0", "-1"]), bulks(&["b"]));
}

#[test]
fn idletime_and_freq_set_what_object_reads() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    let payload = dump(&mut c, "k");
    assert_eq!(restore(&mut c, "idle", "0", &payload, &["IDLETIME", "1000"]), ok());
    let idle = int_of(c.cmd(&["OBJECT", "IDLETIME", "idle"]));
    assert!((1000..=1001).contains(&idle), "{idle}");
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxmemory-policy", "allkeys-lfu"]), ok());
    assert_eq!(restore(&mut c, "freq", "0", &payload, &["FREQ", "100"]), ok());
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "freq"]), int(100));
    // Under LFU, IDLETIME is accepted and ignored, as in Redis.
    assert_eq!(restore(&mut c, "idle2", "0", &payload, &["IDLETIME", "5"]), ok());
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "idle2"]), int(5), "a new key's LFU counter");
}

/// A payload body behind a valid footer.
fn signed(body: &[u8]) -> Vec<u8> {
    let mut out = body.to_vec();
    dump::seal(&mut out, 0);
    out
}

#[test]
fn bad_payloads_are_refused() {
    let server = start();
    let mut c = server.conn();
    let redis = RedisServer::start();
    let mut r = redis.conn();
    assert_eq!(r.cmd(&["SET", "k", "v"]), ok());
    let theirs = dump(&mut r, "k");
    let wrong = err("ERR DUMP payload version or checksum are wrong");
    assert_eq!(restore(&mut c, "k", "0", &theirs, &[]), wrong, "a Redis payload");
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    let ours = dump(&mut c, "k");
    assert_eq!(restore(&mut r, "k2", "0", &ours, &[]), wrong, "ours, in Redis");
    let mut flipped = ours.to_vec();
    flipped[2] ^= 0x20;
    for bad in [&b""[..], b"x", &flipped, &ours[..ours.len() - 1]] {
        assert_eq!(restore(&mut c, "k2", "0", bad, &[]), wrong, "{bad:?}");
    }
    let bad_data = err("ERR Bad data format");
    for body in [&[200u8][..], &[0, 5, b'a'], &[2, 0], &[]] {
        assert_eq!(restore(&mut c, "k2", "0", &signed(body), &[]), bad_data, "{body:?}");
    }
    assert_eq!(c.cmd(&["EXISTS", "k2"]), int(0));
}

/// The error replies that do not depend on the payload's bytes, compared
/// with Redis's: each server gets a valid payload of its own.
#[test]
fn errors_match_redis() {
    let server = start();
    let redis = RedisServer::start();
    let mut replies = Vec::new();
    for mut c in [server.conn(), redis.conn()] {
        assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
        let p = dump(&mut c, "k");
        let cases = [
            "RESTORE k 0 $P",
            "RESTORE k -1 $P",
            "RESTORE new -1 $P",
            "RESTORE new x $P",
            "RESTORE new 1.5 $P",
            "RESTORE new -1 junk",
            "RESTORE k x junk",
            "RESTORE new 0 $P IDLETIME -1",
            "RESTORE new 0 $P IDLETIME x",
            "RESTORE new 0 $P IDLETIME",
            "RESTORE new 0 $P FREQ 256",
            "RESTORE new 0 $P FREQ -1",
            "RESTORE new 0 $P IDLETIME 1 FREQ 1",
            "RESTORE new 0 $P FREQ 1 IDLETIME 1",
            "RESTORE new 0 $P NOPE",
            "RESTORE k 0 $P NOPE",
            "RESTORE new 0",
            "RESTORE-ASKING new",
            "DUMP",
            "DUMP a b",
            "DUMP nosuch",
            "RESTORE new 0 $P replace absttl freq 5",
            "EXISTS new",
        ];
        let args = |case: &str| case.split(' ').map(|a| if a == "$P" { p.to_vec() } else { a.as_bytes().to_vec() }).collect::<Vec<_>>();
        replies.push(cases.iter().map(|case| (case.to_string(), c.cmd_bytes(&args(case)))).collect::<Vec<_>>());
    }
    assert_eq!(replies[0], replies[1]);
}

#[test]
fn command_info_matches_redis() {
    let server = start();
    let redis = RedisServer::start();
    for resp3 in [false, true] {
        let mut info = Vec::new();
        for mut c in [server.conn(), redis.conn()] {
            if resp3 {
                assert!(matches!(c.cmd(&["HELLO", "3"]), Frame::Map(_)));
            }
            info.push(c.cmd(&["COMMAND", "INFO", "dump", "restore", "restore-asking"]));
        }
        assert_eq!(info[0], info[1], "resp3: {resp3}");
    }
}

/// Sends `cmds` `depth` at a time and reads every reply.
fn pipelined(c: &mut Conn, cmds: &[Vec<Vec<u8>>], depth: usize) -> Vec<Frame> {
    let mut replies = Vec::with_capacity(cmds.len());
    for chunk in cmds.chunks(depth) {
        let mut raw = Vec::new();
        for args in chunk {
            let parts: Vec<&[u8]> = args.iter().map(Vec::as_slice).collect();
            raw.extend_from_slice(&Frame::command(&parts));
        }
        c.send_raw(&raw);
        replies.extend((0..chunk.len()).map(|_| c.read_frame().expect("reply")));
    }
    replies
}

fn env_or(name: &str, default: usize) -> usize {
    std::env::var(name).ok().and_then(|v| v.parse().ok()).unwrap_or(default)
}

/// DUMP of every key, then RESTORE ... REPLACE of every payload, pipelined
/// 100 deep, on `c`: (DUMP seconds, RESTORE seconds, payload bytes).
fn dump_restore_round(c: &mut Conn, keys: &[String]) -> (f64, f64, usize) {
    let dumps: Vec<Vec<Vec<u8>>> = keys.iter().map(|k| vec![b"DUMP".to_vec(), k.clone().into_bytes()]).collect();
    let t = std::time::Instant::now();
    let payloads = pipelined(c, &dumps, 100);
    let dump_s = t.elapsed().as_secs_f64();
    let mut bytes = 0;
    let restores: Vec<Vec<Vec<u8>>> = keys
        .iter()
        .zip(payloads)
        .map(|(k, p)| {
            let Frame::Bulk(p) = p else { panic!("DUMP {k}: {p:?}") };
            bytes += p.len();
            vec![b"RESTORE".to_vec(), k.clone().into_bytes(), b"0".to_vec(), p.to_vec(), b"REPLACE".to_vec()]
        })
        .collect();
    let t = std::time::Instant::now();
    let replies = pipelined(c, &restores, 100);
    let restore_s = t.elapsed().as_secs_f64();
    assert!(replies.iter().all(|r| *r == ok()));
    (dump_s, restore_s, bytes)
}

/// DUMP and RESTORE throughput beside redis-server: a benchmark, not a
/// test (`bench/dump-restore.sh` runs it in a release build and prints the
/// figures; nothing is asserted about time). Settings: `KEYS` (200000),
/// `SIZE` (value bytes, 64), `ROUNDS` (3; servers alternate going first,
/// and the median round is printed).
#[test]
#[ignore = "benchmark: run by bench/dump-restore.sh"]
fn dump_restore_throughput_beside_redis() {
    let (n, size, rounds) = (env_or("KEYS", 200_000), env_or("SIZE", 64), env_or("ROUNDS", 3));
    let keys: Vec<String> = (0..n).map(|i| format!("key:{i}")).collect();
    // Letters from a xorshift generator: Redis compresses a payload with
    // LZF when it can, so a run of one byte would flatter its MB/s.
    let mut state = 0x9e37_79b9_7f4a_7c15u64;
    let mut letter = move || {
        state ^= state << 13;
        state ^= state >> 7;
        state ^= state << 17;
        b'a' + (state % 26) as u8
    };
    let (redis, ferrocache) = (RedisServer::start(), ferrocache_e2e::ProcessServer::start());
    let servers = [("redis", redis.addr), ("ferrocache", ferrocache.addr)];
    let mut conns: Vec<Conn> = servers.iter().map(|(_, addr)| Conn::connect(*addr)).collect();
    let sets: Vec<Vec<Vec<u8>>> = keys.iter().map(|k| vec![b"SET".to_vec(), k.clone().into_bytes(), (0..size).map(|_| letter()).collect()]).collect();
    for c in &mut conns {
        assert!(pipelined(c, &sets, 100).iter().all(|r| *r == ok()));
    }
    // (server, dump keys/s, restore keys/s, payload MB/s both ways) per round.
    let mut results: Vec<[(f64, f64, f64); 2]> = Vec::new();
    for round in 0..rounds {
        let mut row = [(0.0, 0.0, 0.0); 2];
        for i in [round % 2, 1 - round % 2] {
            let (d, r, bytes) = dump_restore_round(&mut conns[i], &keys);
            row[i] = (n as f64 / d, n as f64 / r, 2.0 * bytes as f64 / (d + r) / 1e6);
        }
        results.push(row);
    }
    let ratio = |row: &[(f64, f64, f64); 2]| (row[1].0 / row[0].0 + row[1].1 / row[0].1) / 2.0;
    results.sort_by(|a, b| ratio(a).total_cmp(&ratio(b)));
    let median = &results[results.len() / 2];
    println!("{n} keys, {size}-byte values, pipeline 100, median of {rounds} rounds");
    println!("{:<12} {:>14} {:>16} {:>18}", "server", "DUMP keys/s", "RESTORE keys/s", "payload MB/s");
    for (i, (name, _)) in servers.iter().enumerate() {
        let (d, r, mb) = median[i];
        println!("{name:<12} {d:>14.0} {r:>16.0} {mb:>18.1}");
    }
    println!("ratio ferrocache/redis: DUMP {:.2}, RESTORE {:.2}", median[1].0 / median[0].0, median[1].1 / median[0].1);
    let all: Vec<String> = results.iter().map(|r| format!("{:.2}/{:.2}", r[1].0 / r[0].0, r[1].1 / r[0].1)).collect();
    println!("every round's DUMP/RESTORE ratios: {}", all.join(" "));
}
