//! maxmemory and eviction, end to end: OOM under noeviction, volatile-*
//! sparing persistent keys, the limit holding under a write flood for
//! every policy, run-time changes, OBJECT FREQ/IDLETIME per policy,
//! S3-FIFO's scan resistance against LRU, and the MEMORY family. Error texts were checked
//! against redis-server 7.0.15.
//!
//! Used memory is the keyspace's own accounting (`evict::used_memory`), so
//! these tests are deterministic in what they assert.

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{start_with, Conn, Frame, TestServer};
use ferrocache_resp::frame::Frame as F;
use ferrocache_server::evict;
use ferrocache_store::evict::Policy;

const OOM: &str = "OOM command not allowed when used memory > 'maxmemory'.";
/// How far above maxmemory one write may leave the dataset: the write
/// itself plus a table resize.
const TOLERANCE: usize = 64 * 1024;

fn server(maxmemory: u64, policy: Policy) -> TestServer {
    start_with(|c| {
        c.maxmemory = maxmemory;
        c.maxmemory_policy = policy;
    })
}

/// Sends all `cmds` at once and reads their replies.
fn pipeline(conn: &mut Conn, cmds: &[Vec<String>]) -> Vec<Frame> {
    let mut raw = Vec::new();
    for c in cmds {
        let args: Vec<&[u8]> = c.iter().map(|a| a.as_bytes()).collect();
        raw.extend_from_slice(&F::command(&args));
    }
    conn.send_raw(&raw);
    cmds.iter().map(|_| conn.read_frame().expect("reply")).collect()
}

fn set_cmds(prefix: &str, range: std::ops::Range<usize>, value_len: usize, ttl: Option<u64>) -> Vec<Vec<String>> {
    let value = "v".repeat(value_len);
    range
        .map(|i| {
            let mut c = vec!["SET".to_string(), format!("{prefix}:{i}"), value.clone()];
            if let Some(t) = ttl {
                c.extend(["EX".to_string(), t.to_string()]);
            }
            c
        })
        .collect()
}

/// CONFIG SET over the wire; it takes effect for the next command.
fn config_set(conn: &mut Conn, name: &str, value: &str) {
    assert_eq!(conn.cmd(&["CONFIG", "SET", name, value]), Frame::Simple("OK".into()), "CONFIG SET {name} {value}");
}

fn used(server: &TestServer) -> usize {
    evict::used_memory(&server.shared)
}

fn keys(server: &TestServer) -> usize {
    server.shared.dbs[0].len()
}

/// Dataset bytes with `n` keys of `value_len` bytes, to size limits.
fn footprint(n: usize, value_len: usize) -> u64 {
    let s = server(0, Policy::NoEviction);
    let mut c = s.conn();
    pipeline(&mut c, &set_cmds("k", 0..n, value_len, None));
    used(&s) as u64
}

#[test]
fn noeviction_refuses_writes_but_keeps_data_and_reads() {
    let max = footprint(1000, 100);
    let s = server(max, Policy::NoEviction);
    let mut c = s.conn();
    let replies = pipeline(&mut c, &set_cmds("k", 0..2000, 100, None));
    let stored = replies.iter().filter(|r| **r == ok()).count();
    assert!(replies.iter().all(|r| *r == ok() || *r == err(OOM)), "{:?}", replies.iter().find(|r| **r != ok()));
    // Writes run while used <= maxmemory, so the limit may be passed by one.
    assert!((900..=1001).contains(&stored), "{stored} writes accepted");
    assert_eq!(keys(&s), stored);
    assert!(used(&s) <= max as usize + TOLERANCE);
    // Every accepted key is still there and readable; deletes still work.
    let gets: Vec<Vec<String>> = (0..stored).map(|i| vec!["GET".into(), format!("k:{i}")]).collect();
    assert!(pipeline(&mut c, &gets).iter().all(|r| *r == bulk(&"v".repeat(100))));
    assert_eq!(c.cmd(&["SET", "new", "x"]), err(OOM));
    assert_eq!(c.cmd(&["APPEND", "k:0", "x"]), err(OOM));
    assert_eq!(c.cmd(&["DEL", "k:0", "k:1", "k:2"]), int(3));
    assert_eq!(c.cmd(&["SET", "new", "x"]), ok());
    assert_eq!(evict::evicted_keys(&s.shared), 0);
    // A refused command inside MULTI dooms the transaction.
    pipeline(&mut c, &set_cmds("more", 0..100, 100, None));
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "t", "x"]), err(OOM));
    assert_eq!(c.cmd(&["EXEC"]), err("EXECABORT Transaction discarded because of previous errors."));
}

#[test]
fn volatile_policies_never_evict_keys_without_ttl() {
    let persistent = 500;
    let max = footprint(1000, 100);
    for policy in [Policy::VolatileLru, Policy::VolatileLfu, Policy::VolatileRandom, Policy::VolatileTtl] {
        let s = server(max, policy);
        let mut c = s.conn();
        assert!(pipeline(&mut c, &set_cmds("p", 0..persistent, 100, None)).iter().all(|r| *r == ok()));
        let replies = pipeline(&mut c, &set_cmds("v", 0..2000, 100, Some(1000)));
        assert!(replies.iter().all(|r| *r == ok()), "{policy:?}: {:?}", replies.iter().find(|r| **r != ok()));
        assert!(evict::evicted_keys(&s.shared) >= 1000, "{policy:?}");
        assert!(used(&s) <= max as usize + TOLERANCE, "{policy:?}");
        let exists: Vec<String> = (0..persistent).map(|i| format!("p:{i}")).collect();
        let mut args = vec!["EXISTS"];
        args.extend(exists.iter().map(String::as_str));
        assert_eq!(c.cmd(&args), int(persistent as i64), "{policy:?} evicted a key without TTL");
        // With no volatile key left, writes past the limit are refused.
        let replies = pipeline(&mut c, &set_cmds("p2", 0..3000, 100, None));
        assert!(replies.contains(&err(OOM)), "{policy:?}");
        assert_eq!(c.cmd(&args), int(persistent as i64), "{policy:?}");
    }
}

#[test]
fn volatile_ttl_evicts_the_nearest_expiry_first() {
    let max = footprint(1000, 100);
    let s = server(max, Policy::VolatileTtl);
    let mut c = s.conn();
    pipeline(&mut c, &set_cmds("long", 0..500, 100, Some(100_000)));
    pipeline(&mut c, &set_cmds("short", 0..400, 100, Some(1000)));
    pipeline(&mut c, &set_cmds("fill", 0..200, 100, None));
    let long: Vec<String> = (0..500).map(|i| format!("long:{i}")).collect();
    let mut args = vec!["EXISTS"];
    args.extend(long.iter().map(String::as_str));
    let Frame::Integer(left) = c.cmd(&args) else { panic!() };
    assert!(left >= 490, "{left} of 500 long-TTL keys left");
}

#[test]
fn every_policy_holds_the_limit_under_a_write_flood() {
    let max = footprint(1000, 200);
    for policy in [Policy::AllkeysLru, Policy::AllkeysLfu, Policy::AllkeysRandom, Policy::AllkeysS3fifo, Policy::VolatileLru] {
        let s = server(max, policy);
        let mut c = s.conn();
        let ttl = (policy == Policy::VolatileLru).then_some(1000);
        for batch in 0..20 {
            let replies = pipeline(&mut c, &set_cmds("k", batch * 500..(batch + 1) * 500, 200, ttl));
            assert!(replies.iter().all(|r| *r == ok()), "{policy:?}: {:?} at {}", replies.iter().find(|r| **r != ok()), used(&s));
            assert!(used(&s) <= max as usize + TOLERANCE, "{policy:?}: {} > {max}", used(&s));
        }
        let n = keys(&s);
        // How many fit depends a little on which slots the survivors hash to.
        assert!((800..=1100).contains(&n), "{policy:?} keeps {n} keys");
        assert_eq!(evict::evicted_keys(&s.shared), 10_000 - n as u64, "{policy:?}");
    }
}

#[test]
fn config_changes_take_effect_immediately() {
    let s = server(0, Policy::NoEviction);
    let mut c = s.conn();
    // Values big enough for the data to outweigh the fixed table headers.
    pipeline(&mut c, &set_cmds("k", 0..2000, 1000, None));
    let half = used(&s) / 2;
    config_set(&mut c, "maxmemory", &half.to_string());
    assert_eq!(c.cmd(&["SET", "x", "1"]), err(OOM));
    assert_eq!(c.cmd(&["GET", "k:1"]), bulk(&"v".repeat(1000)));
    config_set(&mut c, "maxmemory-policy", "allkeys-random");
    // Each write evicts for a bounded time; a few writes get under the limit.
    let writes = (0..100).take_while(|i| {
        assert_eq!(c.cmd(&["SET", &format!("x{i}"), "1"]), ok());
        used(&s) > half + TOLERANCE
    });
    assert!(writes.count() < 100, "still at {} > {half}", used(&s));
    assert!(keys(&s) < 1200);
    config_set(&mut c, "maxmemory", "0");
    let before = keys(&s);
    pipeline(&mut c, &set_cmds("more", 0..1000, 100, None));
    assert_eq!(keys(&s), before + 1000);
}

#[test]
fn object_freq_and_idletime_follow_the_policy() {
    let s = server(0, Policy::AllkeysLfu);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "k", "hello"]), ok());
    // New keys start at 5; OBJECT itself does not count as an access.
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "k"]), int(5));
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "k"]), int(5));
    // Nor do EXISTS, TYPE and TTL (no-touch reads, as in Redis).
    assert_eq!(c.cmd(&["EXISTS", "k", "k"]), int(2));
    assert_eq!(c.cmd(&["TYPE", "k"]), simple("string"));
    assert_eq!(c.cmd(&["TTL", "k"]), int(-1));
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "k"]), int(5));
    assert_eq!(c.cmd(&["GET", "k"]), bulk("hello"));
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "k"]), int(6));
    assert_eq!(c.cmd(&["OBJECT", "FREQ", "missing"]), nil());
    assert_eq!(
        c.cmd(&["OBJECT", "IDLETIME", "k"]),
        err("ERR An LFU maxmemory policy is selected, idle time not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );
    config_set(&mut c, "maxmemory-policy", "allkeys-s3fifo");
    assert_eq!(c.cmd(&["OBJECT", "IDLETIME", "k"]), int(0));
    assert_eq!(
        c.cmd(&["OBJECT", "FREQ", "k"]),
        err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );
}

/// Hot keys read a few times, then a one-time scan of twice the cache's
/// size, then the hot keys again: how many are still cached (counted as
/// keyspace hits).
fn hot_hits_after_scan(policy: Policy) -> u64 {
    let (hot, fill) = (400, 1600);
    let s = server(0, policy);
    let mut c = s.conn();
    pipeline(&mut c, &set_cmds("hot", 0..hot, 100, None));
    let reads: Vec<Vec<String>> = (0..hot).map(|i| vec!["GET".into(), format!("hot:{i}")]).collect();
    for _ in 0..3 {
        pipeline(&mut c, &reads);
    }
    pipeline(&mut c, &set_cmds("fill", 0..fill, 100, None));
    config_set(&mut c, "maxmemory", &used(&s).to_string());
    for batch in 0..8 {
        pipeline(&mut c, &set_cmds("scan", batch * 500..(batch + 1) * 500, 100, None));
    }
    let before = s.shared.dbs[0].stats().hits;
    let found = pipeline(&mut c, &reads).iter().filter(|r| **r != nil()).count() as u64;
    let hits = s.shared.dbs[0].stats().hits - before;
    assert_eq!(hits, found);
    hits
}

#[test]
fn s3fifo_resists_a_scan_that_flushes_lru() {
    let lru = hot_hits_after_scan(Policy::AllkeysLru);
    let s3 = hot_hits_after_scan(Policy::AllkeysS3fifo);
    assert!(lru <= 40, "LRU kept {lru} of 400 hot keys through the scan");
    assert!(s3 >= 360, "S3-FIFO kept only {s3} of 400 hot keys through the scan");
}

#[test]
fn memory_usage_estimates_a_key() {
    let s = server(0, Policy::NoEviction);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "missing"]), nil());
    c.cmd(&["SET", "key:00000001", &"v".repeat(32)]);
    c.cmd(&["SET", "big", &"v".repeat(10_000)]);
    let small = int_of(c.cmd(&["MEMORY", "USAGE", "key:00000001"]));
    assert!((44..=160).contains(&small), "{small}");
    assert!(int_of(c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES", "0"])) >= 10_000);
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "big", "samples", "5", "SAMPLES", "2"]), int(int_of(c.cmd(&["MEMORY", "USAGE", "big"]))));
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES", "-1"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["MEMORY", "USAGE", "big", "SAMPLES", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["MEMORY", "USAGE"]), err("ERR wrong number of arguments for 'memory|usage' command"));
    assert_eq!(c.cmd(&["MEMORY", "STATS", "x"]), err("ERR wrong number of arguments for 'memory|stats' command"));
    assert_eq!(c.cmd(&["MEMORY", "foo"]), err("ERR unknown subcommand 'foo'. Try MEMORY HELP."));
}

/// MEMORY STATS as (name, integer) pairs, nested maps flattened as `db.0.name`.
fn memory_stats(c: &mut Conn) -> Vec<(String, Frame)> {
    let Frame::Array(items) = c.cmd(&["MEMORY", "STATS"]) else { panic!("not an array") };
    let mut out = Vec::new();
    for pair in items.chunks(2) {
        let Frame::Bulk(name) = &pair[0] else { panic!("field name {:?}", pair[0]) };
        let name = String::from_utf8_lossy(name).to_string();
        match &pair[1] {
            Frame::Array(inner) => {
                for p in inner.chunks(2) {
                    let Frame::Bulk(n) = &p[0] else { panic!() };
                    out.push((format!("{name}.{}", String::from_utf8_lossy(n)), p[1].clone()));
                }
            }
            v => out.push((name, v.clone())),
        }
    }
    out
}

#[test]
fn memory_stats_and_doctor() {
    let s = server(0, Policy::NoEviction);
    let mut c = s.conn();
    assert_eq!(
        c.cmd(&["MEMORY", "DOCTOR"]),
        bulk("Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting.")
    );
    pipeline(&mut c, &set_cmds("k", 0..1000, 32, None));
    let stats = memory_stats(&mut c);
    let get = |name: &str| stats.iter().find(|(n, _)| n == name).map(|(_, v)| v.clone()).unwrap_or_else(|| panic!("no {name}"));
    assert_eq!(get("keys.count"), int(1000));
    assert_eq!(get("total.allocated"), int(used(&s) as i64));
    let tables = int_of(get("db.0.overhead.hashtable.main"));
    assert_eq!(get("overhead.total"), int(tables));
    assert_eq!(get("dataset.bytes"), int(used(&s) as i64 - tables));
    assert_eq!(get("keys.bytes-per-key"), int(used(&s) as i64 / 1000));
    assert_eq!(get("db.0.overhead.hashtable.expires"), int(0));
    assert!(int_of(get("peak.allocated")) >= int_of(get("total.allocated")));
    let Frame::Array(help) = c.cmd(&["MEMORY", "HELP"]) else { panic!() };
    assert_eq!(help[0], simple("MEMORY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    assert_eq!(c.cmd(&["MEMORY", "PURGE"]), ok());
}

#[test]
fn evicting_a_watched_key_aborts_the_transaction() {
    let s = server(footprint(500, 100), Policy::VolatileTtl);
    let mut c = s.conn();
    assert_eq!(c.cmd(&["SET", "watched", "v", "EX", "10"]), ok());
    assert_eq!(c.cmd(&["WATCH", "watched"]), ok());
    // The key with the shortest TTL is the best candidate, but eviction
    // samples (like Redis), so keep writing until it has been chosen.
    let mut other = s.conn();
    for round in 0..50 {
        pipeline(&mut other, &set_cmds(&format!("v{round}-"), 0..1000, 100, Some(1000)));
        if c.cmd(&["EXISTS", "watched"]) == int(0) {
            break;
        }
    }
    assert_eq!(c.cmd(&["EXISTS", "watched"]), int(0), "the watched key was never evicted");
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "x", "1"]), simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]), Frame::NullArray);
}

#[test]
fn large_values_are_evicted_and_their_memory_returned() {
    let max = 8 << 20;
    let s = server(max, Policy::AllkeysLru);
    let mut c = s.conn();
    let big = "b".repeat(1 << 20);
    for i in 0..20 {
        assert_eq!(c.cmd(&["SET", &format!("big:{i}"), &big]), ok());
        assert!(used(&s) <= max as usize + (1 << 20) + TOLERANCE, "{} after {i}", used(&s));
    }
    assert!(evict::evicted_keys(&s.shared) >= 12);
    assert!(keys(&s) <= 8);
}
