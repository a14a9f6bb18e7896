//! Generic key family, end to end. Expected replies were checked against
//! redis-server 7.0.15.

use std::collections::HashMap;
use std::thread::sleep;
use std::time::Duration;

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{start, Conn, Frame, TestServer};

fn sorted_bulks(f: Frame) -> Vec<String> {
    let Frame::Array(items) = f else { panic!("not an array: {f:?}") };
    let mut v: Vec<String> = items
        .into_iter()
        .map(|i| match i {
            Frame::Bulk(b) => String::from_utf8(b.to_vec()).expect("utf8"),
            other => panic!("not a bulk: {other:?}"),
        })
        .collect();
    v.sort();
    v
}

/// SET plus PEXPIRE (SET's own options belong to the string family).
fn set_px(c: &mut Conn, key: &str, value: &str, ms: u64) {
    assert_eq!(c.cmd(&["SET", key, value]), ok());
    assert_eq!(c.cmd(&["PEXPIRE", key, &ms.to_string()]), int(1));
}

fn set_all(c: &mut Conn, keys: &[&str]) {
    for k in keys {
        assert_eq!(c.cmd(&["SET", k, "1"]), ok());
    }
}

/// Makes `key` look idle for `secs` seconds (OBJECT IDLETIME) by setting
/// its access time in the server's keyspace.
fn age(server: &TestServer, key: &str, secs: u32) {
    let now = now_ms();
    let mut g = server.shared.dbs[0].lock(key.as_bytes(), now);
    g.get_mut(key.as_bytes()).expect("key exists").access = (now / 1000) as u32 - secs;
}

/// OBJECT IDLETIME (whole seconds, so a second may tick between calls).
fn idle(c: &mut Conn, key: &str) -> i64 {
    int_of(c.cmd(&["OBJECT", "IDLETIME", key]))
}

#[test]
fn del_unlink_exists_type_touch() {
    let server = start();
    let mut c = server.conn();
    set_all(&mut c, &["a", "b", "c", "d"]);
    assert_eq!(c.cmd(&["EXISTS", "a", "a", "b", "nope"]), int(3));
    assert_eq!(c.cmd(&["TOUCH", "a", "a", "nope"]), int(2));
    assert_eq!(c.cmd(&["TYPE", "a"]), simple("string"));
    assert_eq!(c.cmd(&["TYPE", "nope"]), simple("none"));
    assert_eq!(c.cmd(&["DEL", "a", "b", "nope", "a"]), int(2));
    assert_eq!(c.cmd(&["UNLINK", "c", "nope"]), int(1));
    assert_eq!(c.cmd(&["EXISTS", "a", "b", "c", "d"]), int(1));
    for name in ["del", "unlink", "exists", "touch"] {
        assert_eq!(c.cmd(&[name]), err(&format!("ERR wrong number of arguments for '{name}' command")));
    }
    assert_eq!(c.cmd(&["TYPE", "a", "b"]), err("ERR wrong number of arguments for 'type' command"));
}

#[test]
fn rename_and_renamenx() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["RENAME", "nope", "x"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["RENAME", "nope", "nope"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["RENAMENX", "nope", "x"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["RENAMENX", "nope", "nope"]), err("ERR no such key"));
    c.cmd(&["SET", "a", "1"]);
    assert_eq!(c.cmd(&["RENAME", "a", "a"]), ok());
    assert_eq!(c.cmd(&["RENAMENX", "a", "a"]), int(0));
    assert_eq!(c.cmd(&["GET", "a"]), bulk("1"));

    // RENAME keeps the source's TTL and replaces the destination's.
    set_px(&mut c, "s", "v", 100_000);
    c.cmd(&["SET", "d", "old"]);
    assert_eq!(c.cmd(&["PEXPIRE", "d", "5000"]), int(1));
    assert_eq!(c.cmd(&["RENAME", "s", "d"]), ok());
    assert_eq!(c.cmd(&["EXISTS", "s"]), int(0));
    assert_eq!(c.cmd(&["GET", "d"]), bulk("v"));
    assert!(int_of(c.cmd(&["PTTL", "d"])) > 90_000);
    // A persistent source leaves the destination persistent.
    c.cmd(&["SET", "p", "x"]);
    assert_eq!(c.cmd(&["RENAME", "p", "d"]), ok());
    assert_eq!(c.cmd(&["TTL", "d"]), int(-1));

    assert_eq!(c.cmd(&["RENAMENX", "a", "d"]), int(0));
    assert_eq!(c.cmd(&["GET", "a"]), bulk("1"));
    c.cmd(&["EXPIRE", "a", "100"]);
    assert_eq!(c.cmd(&["RENAMENX", "a", "n"]), int(1));
    assert_eq!(c.cmd(&["TTL", "n"]), int(100));
    assert_eq!(c.cmd(&["EXISTS", "a"]), int(0));
    assert_eq!(c.cmd(&["RENAME", "a"]), err("ERR wrong number of arguments for 'rename' command"));
}

#[test]
fn copy_within_and_across_dbs() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["SET", "a", "1"]);
    assert_eq!(c.cmd(&["COPY", "a", "a"]), err("ERR source and destination objects are the same"));
    assert_eq!(c.cmd(&["COPY", "nope", "nope"]), err("ERR source and destination objects are the same"));
    assert_eq!(c.cmd(&["COPY", "a", "a", "DB", "0"]), err("ERR source and destination objects are the same"));
    assert_eq!(c.cmd(&["COPY", "a", "b", "DB", "16"]), err("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["COPY", "a", "b", "DB", "-1"]), err("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["COPY", "a", "b", "DB", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(
        c.cmd(&["COPY", "a", "b", "DB", "99999999999"]),
        err("ERR value is out of range, value must between -2147483648 and 2147483647")
    );
    assert_eq!(c.cmd(&["COPY", "a", "b", "DB"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["COPY", "a", "b", "foo"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["COPY", "a"]), err("ERR wrong number of arguments for 'copy' command"));

    assert_eq!(c.cmd(&["COPY", "nope", "b"]), int(0));
    assert_eq!(c.cmd(&["COPY", "a", "b"]), int(1));
    assert_eq!(c.cmd(&["GET", "b"]), bulk("1"));
    c.cmd(&["SET", "a", "2"]);
    assert_eq!(c.cmd(&["COPY", "a", "b"]), int(0));
    assert_eq!(c.cmd(&["GET", "b"]), bulk("1"));
    assert_eq!(c.cmd(&["COPY", "a", "b", "REPLACE", "replace"]), int(1));
    assert_eq!(c.cmd(&["GET", "b"]), bulk("2"));

    // The TTL is copied, and REPLACE drops the destination's own TTL.
    set_px(&mut c, "v", "x", 100_000);
    assert_eq!(c.cmd(&["COPY", "v", "w"]), int(1));
    assert_eq!(c.cmd(&["TTL", "w"]), int(100));
    c.cmd(&["EXPIRE", "b", "50"]);
    assert_eq!(c.cmd(&["COPY", "a", "b", "REPLACE"]), int(1));
    assert_eq!(c.cmd(&["TTL", "b"]), int(-1));

    // Across databases; the last DB option wins; same name is fine there.
    assert_eq!(c.cmd(&["COPY", "v", "v", "DB", "1"]), int(1));
    assert_eq!(c.cmd(&["COPY", "a", "z", "DB", "0", "DB", "2"]), int(1));
    assert_eq!(c.cmd(&["COPY", "a", "v", "DB", "1"]), int(0));
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    assert_eq!(c.cmd(&["GET", "v"]), bulk("x"));
    assert_eq!(c.cmd(&["TTL", "v"]), int(100));
    // From db 1 into the lower-numbered db 0.
    c.cmd(&["SET", "up", "u"]);
    assert_eq!(c.cmd(&["COPY", "up", "down", "DB", "0"]), int(1));
    assert_eq!(c.cmd(&["SELECT", "2"]), ok());
    assert_eq!(c.cmd(&["GET", "z"]), bulk("2"));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    assert_eq!(c.cmd(&["GET", "down"]), bulk("u"));
    assert_eq!(c.cmd(&["GET", "v"]), bulk("x"));
}

#[test]
fn move_between_dbs() {
    let server = start();
    let mut c = server.conn();
    set_px(&mut c, "a", "1", 100_000);
    assert_eq!(c.cmd(&["MOVE", "a", "0"]), err("ERR source and destination objects are the same"));
    assert_eq!(c.cmd(&["MOVE", "nope", "0"]), err("ERR source and destination objects are the same"));
    assert_eq!(c.cmd(&["MOVE", "a", "16"]), err("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["MOVE", "a", "-1"]), err("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["MOVE", "a", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["MOVE", "a", "4294967296"]), err("ERR value is out of range, value must between -2147483648 and 2147483647"));
    assert_eq!(c.cmd(&["MOVE", "nope", "1"]), int(0));
    assert_eq!(c.cmd(&["MOVE", "a", "1"]), int(1));
    assert_eq!(c.cmd(&["EXISTS", "a"]), int(0));
    c.cmd(&["SET", "a", "2"]);
    assert_eq!(c.cmd(&["MOVE", "a", "1"]), int(0), "destination exists");
    assert_eq!(c.cmd(&["GET", "a"]), bulk("2"));
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    assert_eq!(c.cmd(&["GET", "a"]), bulk("1"));
    assert_eq!(c.cmd(&["TTL", "a"]), int(100));
    c.cmd(&["SET", "b", "3"]);
    assert_eq!(c.cmd(&["MOVE", "b", "0"]), int(1));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    assert_eq!(c.cmd(&["GET", "b"]), bulk("3"));
}

#[test]
fn keys_patterns() {
    let server = start();
    let mut c = server.conn();
    set_all(&mut c, &["hello", "hallo", "hxllo", "hllo", "heeello", "h*llo", "foo:1", "foo:2", "foo:10", "a[b"]);
    let keys = |c: &mut Conn, p: &str| sorted_bulks(c.cmd(&["KEYS", p]));
    assert_eq!(keys(&mut c, "*").len(), 10);
    assert_eq!(keys(&mut c, "h?llo"), ["h*llo", "hallo", "hello", "hxllo"]);
    assert_eq!(keys(&mut c, "h*llo"), ["h*llo", "hallo", "heeello", "hello", "hllo", "hxllo"]);
    assert_eq!(keys(&mut c, "h[ae]llo"), ["hallo", "hello"]);
    assert_eq!(keys(&mut c, "h[^e]llo"), ["h*llo", "hallo", "hxllo"]);
    assert_eq!(keys(&mut c, "h[a-b]llo"), ["hallo"]);
    assert_eq!(keys(&mut c, "h\\*llo"), ["h*llo"]);
    assert_eq!(keys(&mut c, "foo:?"), ["foo:1", "foo:2"]);
    assert_eq!(keys(&mut c, "foo:*"), ["foo:1", "foo:10", "foo:2"]);
    assert!(keys(&mut c, "a[b").is_empty());
    assert_eq!(keys(&mut c, "a\\[b"), ["a[b"]);
    assert!(keys(&mut c, "").is_empty());
    assert_eq!(c.cmd(&["KEYS"]), err("ERR wrong number of arguments for 'keys' command"));
    // Expired keys are not listed.
    set_px(&mut c, "gone", "1", 50);
    sleep(Duration::from_millis(120));
    assert!(keys(&mut c, "gone").is_empty());
}

/// Runs a full SCAN iteration with `opts`; returns how often each key came back.
fn scan_all(c: &mut Conn, opts: &[&str]) -> HashMap<String, usize> {
    let mut seen = HashMap::new();
    let mut cursor = "0".to_string();
    loop {
        let mut args = vec!["SCAN", cursor.as_str()];
        args.extend_from_slice(opts);
        let Frame::Array(mut parts) = c.cmd(&args) else { panic!("SCAN reply not an array") };
        assert_eq!(parts.len(), 2);
        let keys = parts.pop().expect("keys");
        let Some(Frame::Bulk(next)) = parts.pop() else { panic!("cursor not a bulk") };
        for k in sorted_bulks(keys) {
            *seen.entry(k).or_insert(0) += 1;
        }
        cursor = String::from_utf8(next.to_vec()).expect("utf8");
        if cursor == "0" {
            return seen;
        }
    }
}

#[test]
fn scan_iterates_everything() {
    let server = start();
    let mut c = server.conn();
    for i in 0..600 {
        c.cmd(&["SET", &format!("user:{i}"), "1"]);
        if i % 3 == 0 {
            c.cmd(&["SET", &format!("item:{i}"), "1"]);
        }
    }
    let all = scan_all(&mut c, &[]);
    assert_eq!(all.len(), 800);
    assert!(all.values().all(|&n| n >= 1));
    let small = scan_all(&mut c, &["COUNT", "3"]);
    assert_eq!(small.len(), 800);
    let items = scan_all(&mut c, &["MATCH", "item:*", "COUNT", "50"]);
    assert_eq!(items.len(), 200);
    assert!(items.keys().all(|k| k.starts_with("item:")));
    assert_eq!(scan_all(&mut c, &["TYPE", "STRING", "MATCH", "user:1?"]).len(), 10);
    assert!(scan_all(&mut c, &["TYPE", "list"]).is_empty());
    assert!(scan_all(&mut c, &["TYPE", "nosuchtype"]).is_empty());
    // Repeated options: the last one wins.
    assert_eq!(scan_all(&mut c, &["MATCH", "nothing", "MATCH", "item:3"]).len(), 1);
}

#[test]
fn scan_cursor_and_option_errors() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["SET", "a", "1"]);
    // A COUNT this large walks the whole (sparse) table in one call.
    let whole = arr(vec![bulk("0"), bulks(&["a"])]);
    // Redis reads the cursor with strtoul: sign allowed, empty is 0.
    for cursor in ["0", "00", "+0", "-0", ""] {
        assert_eq!(c.cmd(&["SCAN", cursor, "COUNT", "20000"]), whole, "cursor {cursor:?}");
    }
    for cursor in ["abc", " 0", "0 ", "-", "+", "1.5", "18446744073709551616"] {
        assert_eq!(c.cmd(&["SCAN", cursor]), err("ERR invalid cursor"), "cursor {cursor:?}");
    }
    assert_eq!(c.cmd(&["SCAN", "abc", "COUNT", "0"]), err("ERR invalid cursor"));
    assert_eq!(c.cmd(&["SCAN", "18446744073709551615"]), arr(vec![bulk("0"), arr(vec![])]));
    assert_eq!(c.cmd(&["SCAN", "0", "COUNT", "0"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SCAN", "0", "COUNT", "-1"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SCAN", "0", "COUNT", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["SCAN", "0", "COUNT", "9223372036854775807"]), whole);
    assert_eq!(c.cmd(&["SCAN", "0", "MATCH"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SCAN", "0", "TYPE"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SCAN", "0", "foo", "bar"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SCAN", "0", "COUNT", "5", "MATCH"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SCAN"]), err("ERR wrong number of arguments for 'scan' command"));
}

#[test]
fn randomkey() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["RANDOMKEY"]), nil());
    set_all(&mut c, &["x", "y", "z"]);
    for _ in 0..10 {
        let Frame::Bulk(k) = c.cmd(&["RANDOMKEY"]) else { panic!("not a bulk") };
        assert!([&b"x"[..], b"y", b"z"].contains(&&k[..]));
    }
    assert_eq!(c.cmd(&["RANDOMKEY", "x"]), err("ERR wrong number of arguments for 'randomkey' command"));
}

#[test]
fn object_subcommands() {
    let server = start();
    let mut c = server.conn();
    let long = "a".repeat(45);
    c.cmd(&["SET", "int", "12345"]);
    c.cmd(&["SET", "emb", "hello"]);
    c.cmd(&["SET", "raw", &long]);
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "int"]), bulk("int"));
    assert_eq!(c.cmd(&["object", "encoding", "emb"]), bulk("embstr"));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "raw"]), bulk("raw"));
    for sub in ["ENCODING", "FREQ", "IDLETIME", "REFCOUNT"] {
        assert_eq!(c.cmd(&["OBJECT", sub, "nope"]), nil(), "{sub}");
        let lower = sub.to_lowercase();
        assert_eq!(c.cmd(&["OBJECT", sub]), err(&format!("ERR wrong number of arguments for 'object|{lower}' command")));
        assert_eq!(c.cmd(&["OBJECT", sub, "a", "b"]), err(&format!("ERR wrong number of arguments for 'object|{lower}' command")));
    }
    assert_eq!(
        c.cmd(&["OBJECT", "FREQ", "emb"]),
        err("ERR An LFU maxmemory policy is not selected, access frequency not tracked. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust.")
    );
    // Small integers are shared objects in Redis.
    for (value, refcount) in [("0", 2147483647), ("9999", 2147483647), ("10000", 1), ("-1", 1), ("01", 1), ("abc", 1)] {
        c.cmd(&["SET", "r", value]);
        assert_eq!(c.cmd(&["OBJECT", "REFCOUNT", "r"]), int(refcount), "value {value}");
    }
    assert!(idle(&mut c, "emb") <= 1);
    assert_eq!(c.cmd(&["OBJECT"]), err("ERR wrong number of arguments for 'object' command"));
    assert_eq!(c.cmd(&["OBJECT", "foo"]), err("ERR unknown subcommand 'foo'. Try OBJECT HELP."));
    assert_eq!(c.cmd(&["OBJECT", "HELP", "x"]), err("ERR wrong number of arguments for 'object|help' command"));
    let Frame::Array(help) = c.cmd(&["OBJECT", "HELP"]) else { panic!("help not an array") };
    assert_eq!(help.len(), 15);
    assert_eq!(help[0], simple("OBJECT <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    assert_eq!(help[14], simple("    Prints this help."));
}

/// Which lookups refresh the access time (OBJECT IDLETIME) and which count
/// as keyspace hits and misses, as in Redis.
#[test]
fn idle_time_and_keyspace_stats() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["SET", "k", "v"]);
    age(&server, "k", 100);
    let db = &server.shared.dbs[0];
    db.reset_stats();
    for no_touch in [&["EXISTS", "k"][..], &["TYPE", "k"], &["TTL", "k"], &["PTTL", "k"], &["EXPIRETIME", "k"], &["PEXPIRETIME", "k"], &["OBJECT", "ENCODING", "k"]] {
        c.cmd(no_touch);
    }
    assert!((100..=101).contains(&idle(&mut c, "k")));
    let stats = db.stats();
    assert_eq!((stats.hits, stats.misses), (8, 0));
    for missing in [&["EXISTS", "x"][..], &["TYPE", "x"], &["TTL", "x"], &["OBJECT", "ENCODING", "x"], &["TOUCH", "x"], &["COPY", "x", "y"]] {
        c.cmd(missing);
    }
    assert_eq!(db.stats().misses, 6);
    for write in [&["EXPIRE", "x", "10"][..], &["PERSIST", "x"], &["MOVE", "x", "1"], &["DEL", "x"]] {
        c.cmd(write);
    }
    assert_eq!(db.stats().misses, 6, "write lookups count nothing");

    assert_eq!(c.cmd(&["TOUCH", "k"]), int(1));
    assert!(idle(&mut c, "k") <= 1);
    age(&server, "k", 100);
    assert_eq!(c.cmd(&["EXPIRE", "k", "100"]), int(1));
    assert!(idle(&mut c, "k") <= 1);
    age(&server, "k", 100);
    assert_eq!(c.cmd(&["COPY", "k", "k2"]), int(1));
    assert!(idle(&mut c, "k") <= 1);
}

#[test]
fn expire_options() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["SET", "a", "1"]);
    let nx_err = err("ERR NX and XX, GT or LT options at the same time are not compatible");
    assert_eq!(c.cmd(&["EXPIRE", "a", "100", "NX", "XX"]), nx_err);
    assert_eq!(c.cmd(&["EXPIRE", "a", "100", "nx", "gt"]), nx_err);
    assert_eq!(c.cmd(&["EXPIRE", "a", "100", "LT", "NX"]), nx_err);
    assert_eq!(c.cmd(&["EXPIRE", "a", "100", "GT", "LT"]), err("ERR GT and LT options at the same time are not compatible"));
    assert_eq!(c.cmd(&["EXPIRE", "a", "100", "foo"]), err("ERR Unsupported option foo"));
    // Options are checked before the time, and an unknown one before conflicts.
    assert_eq!(c.cmd(&["EXPIRE", "a", "abc", "foo"]), err("ERR Unsupported option foo"));
    assert_eq!(c.cmd(&["EXPIRE", "a", "100", "NX", "XX", "foo"]), err("ERR Unsupported option foo"));
    assert_eq!(c.cmd(&["EXPIRE", "a", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["EXPIRE", "a"]), err("ERR wrong number of arguments for 'expire' command"));

    // A persistent key has an infinite TTL for GT and LT.
    assert_eq!(c.cmd(&["EXPIRE", "a", "100", "XX"]), int(0));
    assert_eq!(c.cmd(&["EXPIRE", "a", "100", "GT"]), int(0));
    assert_eq!(c.cmd(&["EXPIRE", "a", "100", "XX", "GT"]), int(0));
    assert_eq!(c.cmd(&["TTL", "a"]), int(-1));
    assert_eq!(c.cmd(&["EXPIRE", "a", "100", "LT"]), int(1));
    assert_eq!(c.cmd(&["EXPIRE", "a", "200", "NX"]), int(0));
    assert_eq!(c.cmd(&["EXPIRE", "a", "50", "GT"]), int(0));
    assert_eq!(c.cmd(&["EXPIRE", "a", "200", "GT"]), int(1));
    assert_eq!(c.cmd(&["EXPIRE", "a", "300", "LT"]), int(0));
    assert_eq!(c.cmd(&["EXPIRE", "a", "50", "lt"]), int(1));
    assert_eq!(c.cmd(&["TTL", "a"]), int(50));
    assert_eq!(c.cmd(&["EXPIRE", "a", "70", "XX"]), int(1));
    assert_eq!(c.cmd(&["EXPIRE", "a", "70", "nx", "nx"]), int(0));
    assert_eq!(c.cmd(&["TTL", "a"]), int(70));
    assert_eq!(c.cmd(&["PERSIST", "a"]), int(1));
    assert_eq!(c.cmd(&["EXPIRE", "a", "70", "NX"]), int(1));
    assert_eq!(c.cmd(&["EXPIRE", "nope", "10"]), int(0));
    assert_eq!(c.cmd(&["EXPIRE", "nope", "-1"]), int(0));
}

#[test]
fn expire_variants_and_overflow() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["SET", "a", "1"]);
    // Overflow in the unit conversion, or in adding the current time.
    for (name, time) in [("expire", "9223372036854775"), ("expire", "9223372036854776"), ("expire", "-9223372036854776"), ("pexpire", "9223372036854775807"), ("expireat", "9223372036854775807"), ("expireat", "-9223372036854775808")] {
        let upper = name.to_uppercase();
        assert_eq!(c.cmd(&[&upper, "a", time]), err(&format!("ERR invalid expire time in '{name}' command")), "{name} {time}");
    }
    assert_eq!(c.cmd(&["EXPIRE", "a", "9223372036854"]), int(1));
    assert_eq!(c.cmd(&["EXPIREAT", "a", "9223372036854775"]), int(1));
    assert_eq!(c.cmd(&["PEXPIRETIME", "a"]), int(9223372036854775000));
    assert_eq!(c.cmd(&["PEXPIREAT", "a", "9223372036854775807"]), int(1));
    assert_eq!(c.cmd(&["PEXPIRETIME", "a"]), int(9223372036854775807));
    assert_eq!(c.cmd(&["EXPIRETIME", "a"]), int(9223372036854776));
    assert_eq!(c.cmd(&["PEXPIREAT", "a", "4102444800123"]), int(1));
    assert_eq!(c.cmd(&["EXPIRETIME", "a"]), int(4102444800));
    assert_eq!(c.cmd(&["PEXPIREAT", "a", "4102444800500"]), int(1));
    assert_eq!(c.cmd(&["EXPIRETIME", "a"]), int(4102444801));
    assert_eq!(c.cmd(&["EXPIREAT", "a", "4102444800"]), int(1));
    assert_eq!(c.cmd(&["PEXPIRETIME", "a"]), int(4102444800000));
    let ttl = int_of(c.cmd(&["TTL", "a"]));
    let expected = (4102444800000 - now_ms() as i64) / 1000;
    assert!((expected - 2..=expected + 2).contains(&ttl), "ttl {ttl}");

    // A time in the past deletes the key and answers 1.
    for (cmd, time) in [("EXPIRE", "-1"), ("EXPIRE", "0"), ("PEXPIRE", "-9223372036854775808"), ("EXPIREAT", "1"), ("PEXPIREAT", "1")] {
        c.cmd(&["SET", "p", "1"]);
        assert_eq!(c.cmd(&[cmd, "p", time]), int(1), "{cmd} {time}");
        assert_eq!(c.cmd(&["EXISTS", "p"]), int(0), "{cmd} {time}");
    }
}

#[test]
fn ttl_family() {
    let server = start();
    let mut c = server.conn();
    for name in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(c.cmd(&[name, "nope"]), int(-2), "{name}");
    }
    c.cmd(&["SET", "a", "1"]);
    for name in ["TTL", "PTTL", "EXPIRETIME", "PEXPIRETIME"] {
        assert_eq!(c.cmd(&[name, "a"]), int(-1), "{name}");
    }
    // TTL rounds to the nearest second: 2.4 s -> 2, 2.9 s -> 3.
    assert_eq!(c.cmd(&["PEXPIRE", "a", "2400"]), int(1));
    assert_eq!(c.cmd(&["TTL", "a"]), int(2));
    assert_eq!(c.cmd(&["PEXPIRE", "a", "2900"]), int(1));
    assert_eq!(c.cmd(&["TTL", "a"]), int(3));
    let pttl = int_of(c.cmd(&["PTTL", "a"]));
    assert!((2400..=2900).contains(&pttl), "pttl {pttl}");
    let at = int_of(c.cmd(&["PEXPIRETIME", "a"]));
    let now = now_ms() as i64;
    assert!((now + 2400..=now + 2900).contains(&at), "pexpiretime {at}");
    assert_eq!(c.cmd(&["EXPIRETIME", "a"]), int((at + 500) / 1000));

    assert_eq!(c.cmd(&["PERSIST", "a"]), int(1));
    assert_eq!(c.cmd(&["PERSIST", "a"]), int(0));
    assert_eq!(c.cmd(&["PERSIST", "nope"]), int(0));
    assert_eq!(c.cmd(&["TTL", "a"]), int(-1));
    assert_eq!(c.cmd(&["TTL"]), err("ERR wrong number of arguments for 'ttl' command"));
}

#[test]
fn expired_keys_disappear() {
    let server = start();
    let mut c = server.conn();
    set_px(&mut c, "a", "1", 100);
    set_px(&mut c, "b", "1", 100);
    c.cmd(&["SET", "keep", "1"]);
    assert_eq!(c.cmd(&["EXISTS", "a", "b"]), int(2));
    sleep(Duration::from_millis(200));
    assert_eq!(c.cmd(&["EXISTS", "a", "b"]), int(0));
    assert_eq!(c.cmd(&["TTL", "a"]), int(-2));
    assert_eq!(c.cmd(&["TYPE", "b"]), simple("none"));
    assert_eq!(c.cmd(&["RENAME", "a", "x"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["EXPIRE", "b", "10"]), int(0));
    assert_eq!(c.cmd(&["KEYS", "*"]), bulks(&["keep"]));
    assert_eq!(scan_all(&mut c, &[]).into_keys().collect::<Vec<_>>(), ["keep"]);
    assert_eq!(c.cmd(&["RANDOMKEY"]), bulk("keep"));

    // An expired destination counts as absent.
    set_px(&mut c, "d", "old", 50);
    sleep(Duration::from_millis(100));
    assert_eq!(c.cmd(&["RENAMENX", "keep", "d"]), int(1));
    assert_eq!(c.cmd(&["GET", "d"]), bulk("1"));
}

/// Runs `act` on another connection between WATCH and EXEC; returns
/// whether EXEC ran the transaction.
fn exec_survives(server: &TestServer, setup: &[&[&str]], act: &[&str]) -> bool {
    let mut a = server.conn();
    let mut b = server.conn();
    for db in ["1", "0"] {
        assert_eq!(a.cmd(&["SELECT", db]), ok());
        a.cmd(&["DEL", "k", "j", "z"]);
    }
    for s in setup {
        a.cmd(s);
    }
    assert_eq!(a.cmd(&["WATCH", "k"]), ok());
    b.cmd(act);
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["PING"]), simple("QUEUED"));
    match a.cmd(&["EXEC"]) {
        Frame::NullArray => false,
        other => {
            assert_eq!(other, arr(vec![simple("PONG")]));
            true
        }
    }
}

#[test]
fn watch_sees_key_changes() {
    let server = start();
    let set_k: &[&str] = &["SET", "k", "1"];
    let set_j: &[&str] = &["SET", "j", "1"];
    let expire_k: &[&str] = &["EXPIRE", "k", "100"];
    let invalidates: &[(&[&[&str]], &[&str])] = &[
        (&[set_k], &["EXPIRE", "k", "100"]),
        (&[set_k], &["PEXPIREAT", "k", "1"]),
        (&[set_k, expire_k], &["PERSIST", "k"]),
        (&[set_k], &["DEL", "k"]),
        (&[set_k], &["UNLINK", "k"]),
        (&[set_k], &["RENAME", "k", "z"]),
        (&[set_j], &["RENAME", "j", "k"]),
        (&[set_j], &["COPY", "j", "k"]),
        (&[set_k], &["MOVE", "k", "1"]),
    ];
    for (setup, act) in invalidates {
        assert!(!exec_survives(&server, setup, act), "{act:?} should abort EXEC");
    }
    let harmless: &[(&[&[&str]], &[&str])] = &[
        (&[set_k, expire_k], &["EXPIRE", "k", "50", "NX"]),
        (&[set_k], &["EXPIRE", "k", "50", "GT"]),
        (&[set_k], &["PERSIST", "k"]),
        (&[set_k], &["RENAME", "k", "k"]),
        (&[set_k, set_j], &["RENAMENX", "j", "k"]),
        (&[set_k, set_j], &["COPY", "j", "k"]),
        (&[set_k], &["TOUCH", "k"]),
        (&[set_k], &["OBJECT", "ENCODING", "k"]),
        (&[set_k], &["DEL", "other"]),
    ];
    for (setup, act) in harmless {
        assert!(exec_survives(&server, setup, act), "{act:?} should not abort EXEC");
    }
}
