//! Hash family, end to end; expected replies were checked against
//! redis-server 7.0.15.

use std::collections::BTreeSet;

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{start, Conn, Frame};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn sorted(f: Frame) -> Vec<Frame> {
    let Frame::Array(mut items) = f else { panic!("not an array: {f:?}") };
    items.sort_by_key(|i| format!("{i:?}"));
    items
}

fn bulk_of(f: &Frame) -> String {
    String::from_utf8_lossy(f.as_bytes().expect("bulk")).into_owned()
}

fn encoding(c: &mut Conn, key: &str) -> Frame {
    c.cmd(&["OBJECT", "ENCODING", key])
}

#[test]
fn set_get_delete() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b", "2"]), int(2));
    assert_eq!(c.cmd(&["HSET", "h", "a", "3", "c", "4"]), int(1));
    assert_eq!(c.cmd(&["HMSET", "h", "d", "5"]), ok());
    assert_eq!(c.cmd(&["HSETNX", "h", "a", "x"]), int(0));
    assert_eq!(c.cmd(&["HSETNX", "h", "e", "6"]), int(1));
    assert_eq!(c.cmd(&["HGET", "h", "a"]), bulk("3"));
    assert_eq!(c.cmd(&["HGET", "h", "zz"]), nil());
    assert_eq!(c.cmd(&["HGET", "nokey", "a"]), nil());
    assert_eq!(c.cmd(&["HMGET", "h", "a", "zz", "b"]), arr(vec![bulk("3"), nil(), bulk("2")]));
    assert_eq!(c.cmd(&["HMGET", "nokey", "a"]), arr(vec![nil()]));
    // A listpack lists fields in insertion order, as Redis does.
    assert_eq!(c.cmd(&["HGETALL", "h"]), bulks(&["a", "3", "b", "2", "c", "4", "d", "5", "e", "6"]));
    assert_eq!(c.cmd(&["HKEYS", "h"]), bulks(&["a", "b", "c", "d", "e"]));
    assert_eq!(c.cmd(&["HVALS", "h"]), bulks(&["3", "2", "4", "5", "6"]));
    assert_eq!(c.cmd(&["HLEN", "h"]), int(5));
    assert_eq!(c.cmd(&["HEXISTS", "h", "a"]), int(1));
    assert_eq!(c.cmd(&["HEXISTS", "h", "zz"]), int(0));
    assert_eq!(c.cmd(&["HSTRLEN", "h", "a"]), int(1));
    assert_eq!(c.cmd(&["HSTRLEN", "h", "zz"]), int(0));
    assert_eq!(c.cmd(&["HDEL", "h", "zz", "a", "a"]), int(1));
    assert_eq!(c.cmd(&["HDEL", "nokey", "a"]), int(0));
    assert_eq!(c.cmd(&["HDEL", "h", "b", "c", "d", "e"]), int(4));
    assert_eq!(c.cmd(&["EXISTS", "h"]), int(0), "a hash left empty is deleted");
    for cmd in [&["HGETALL", "nokey"][..], &["HKEYS", "nokey"], &["HVALS", "nokey"]] {
        assert_eq!(c.cmd(cmd), arr(vec![]));
    }
    assert_eq!(c.cmd(&["HLEN", "nokey"]), int(0));
}

#[test]
fn arity_and_wrong_type() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["HSET", "h", "a"]), err("ERR wrong number of arguments for 'hset' command"));
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b"]), err("ERR wrong number of arguments for 'hset' command"));
    assert_eq!(c.cmd(&["hmset", "h", "a", "1", "b"]), err("ERR wrong number of arguments for 'hmset' command"));
    assert_eq!(c.cmd(&["HSETNX", "h", "a", "2", "3"]), err("ERR wrong number of arguments for 'hsetnx' command"));
    assert_eq!(c.cmd(&["HDEL", "h"]), err("ERR wrong number of arguments for 'hdel' command"));
    assert_eq!(c.cmd(&["SET", "s", "x"]), ok());
    let wrong: &[&[&str]] = &[
        &["HSET", "s", "a", "1"],
        &["HSETNX", "s", "a", "1"],
        &["HMSET", "s", "a", "1"],
        &["HGET", "s", "a"],
        &["HMGET", "s", "a"],
        &["HGETALL", "s"],
        &["HDEL", "s", "a"],
        &["HEXISTS", "s", "a"],
        &["HLEN", "s"],
        &["HKEYS", "s"],
        &["HVALS", "s"],
        &["HSTRLEN", "s", "a"],
        &["HINCRBY", "s", "a", "1"],
        &["HINCRBYFLOAT", "s", "a", "1"],
        &["HRANDFIELD", "s"],
        &["HRANDFIELD", "s", "2"],
        &["HSCAN", "s", "0"],
    ];
    for cmd in wrong {
        assert_eq!(c.cmd(cmd), err(WRONGTYPE), "{cmd:?}");
    }
    // Argument errors come before the type check.
    assert_eq!(c.cmd(&["HINCRBY", "s", "a", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "s", "a", "abc"]), err("ERR value is not a valid float"));
    assert_eq!(c.cmd(&["HRANDFIELD", "s", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["HSCAN", "s", "abc"]), err("ERR invalid cursor"));
    assert_eq!(c.cmd(&["GET", "s"]), bulk("x"));
}

#[test]
fn increments() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "5"]), int(5));
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "-7"]), int(-2));
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", " 1"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["HINCRBY", "h", "n", "-9223372036854775807"]), err("ERR increment or decrement would overflow"));
    assert_eq!(c.cmd(&["HSET", "h", "s", "abc", "f", "2.5"]), int(2));
    assert_eq!(c.cmd(&["HINCRBY", "h", "s", "1"]), err("ERR hash value is not an integer"));
    assert_eq!(c.cmd(&["HINCRBY", "h", "f", "1"]), err("ERR hash value is not an integer"));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "s", "1"]), err("ERR hash value is not a float"));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "1.5"]), bulk("4"));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "inf"]), err("ERR value is NaN or Infinity"));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "f", "abc"]), err("ERR value is not a valid float"));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "new", "1e3"]), bulk("1000"));
    // The same long-double arithmetic and formatting as INCRBYFLOAT.
    assert_eq!(c.cmd(&["HSET", "h", "big", "10000000000"]), int(1));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h", "big", "0.1"]), bulk("10000000000.09999999962747097"));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "new", "f", "-0.25"]), bulk("-0.25"));
    assert_eq!(c.cmd(&["HGET", "h", "n"]), bulk("-2"));
}

#[test]
fn random_fields() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b", "2", "c", "3"]), int(3));
    let fields = ["a", "b", "c"];
    assert!(fields.contains(&bulk_of(&c.cmd(&["HRANDFIELD", "h"])).as_str()));
    assert_eq!(c.cmd(&["HRANDFIELD", "nokey"]), nil());
    assert_eq!(c.cmd(&["HRANDFIELD", "nokey", "3"]), arr(vec![]));
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "0"]), arr(vec![]));
    assert_eq!(sorted(c.cmd(&["HRANDFIELD", "h", "10"])), sorted(bulks(&fields)));
    assert_eq!(sorted(c.cmd(&["HRANDFIELD", "h", "3", "WITHVALUES"])), sorted(bulks(&["a", "1", "b", "2", "c", "3"])));
    // Distinct fields below the size; repeats allowed for negative counts.
    let two = sorted(c.cmd(&["HRANDFIELD", "h", "2"]));
    assert!(two.len() == 2 && two[0] != two[1]);
    let Frame::Array(many) = c.cmd(&["HRANDFIELD", "h", "-50", "WITHVALUES"]) else { panic!() };
    assert_eq!(many.len(), 100);
    for pair in many.chunks(2) {
        let (f, v) = (bulk_of(&pair[0]), bulk_of(&pair[1]));
        assert_eq!(c.cmd(&["HGET", "h", &f]), bulk(&v));
    }
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "2", "WITHVALUE"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "2", "WITHVALUES", "x"]), err("ERR syntax error"));
    let range = "ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807";
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "-9223372036854775808"]), err(range));
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "-9223372036854775808", "x"]), err(range));
    assert_eq!(c.cmd(&["HRANDFIELD", "h", "-4611686018427387904", "WITHVALUES"]), err("ERR value is out of range"));
}

#[test]
fn resp3_shapes() {
    let server = start();
    let mut c = server.conn();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Frame::Map(_)));
    assert_eq!(c.cmd(&["HSET", "h", "a", "1", "b", "2"]), int(2));
    assert_eq!(c.cmd(&["HGETALL", "h"]), Frame::Map(vec![(bulk("a"), bulk("1")), (bulk("b"), bulk("2"))]));
    assert_eq!(c.cmd(&["HGETALL", "nokey"]), Frame::Map(vec![]));
    assert_eq!(c.cmd(&["HGET", "h", "zz"]), Frame::Null);
    assert_eq!(c.cmd(&["HMGET", "nokey", "a"]), arr(vec![Frame::Null]));
    assert_eq!(c.cmd(&["HRANDFIELD", "nokey"]), Frame::Null);
    let pairs = sorted(c.cmd(&["HRANDFIELD", "h", "5", "WITHVALUES"]));
    assert_eq!(pairs, vec![bulks(&["a", "1"]), bulks(&["b", "2"])]);
    let Frame::Array(repeats) = c.cmd(&["HRANDFIELD", "h", "-3", "WITHVALUES"]) else { panic!() };
    assert_eq!(repeats.len(), 3);
    assert!(repeats.iter().all(|p| *p == bulks(&["a", "1"]) || *p == bulks(&["b", "2"])));
    assert_eq!(c.cmd(&["HSCAN", "h", "0"]), arr(vec![bulk("0"), bulks(&["a", "1", "b", "2"])]));
}

#[test]
fn encodings_follow_the_listpack_limits() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["CONFIG", "SET", "hash-max-listpack-entries", "3", "hash-max-listpack-value", "5"]), ok());
    assert_eq!(c.cmd(&["HSET", "h1", "a", "1", "b", "2", "c", "3"]), int(3));
    assert_eq!(encoding(&mut c, "h1"), bulk("listpack"));
    assert_eq!(c.cmd(&["HSET", "h1", "d", "4"]), int(1));
    assert_eq!(encoding(&mut c, "h1"), bulk("hashtable"));
    assert_eq!(c.cmd(&["HDEL", "h1", "a", "b", "c"]), int(3));
    assert_eq!(encoding(&mut c, "h1"), bulk("hashtable"), "never converts back");
    assert_eq!(c.cmd(&["HSET", "h2", "abcde", "12345"]), int(1));
    assert_eq!(encoding(&mut c, "h2"), bulk("listpack"));
    assert_eq!(c.cmd(&["HSET", "h2", "abcdef", "1"]), int(1));
    assert_eq!(encoding(&mut c, "h2"), bulk("hashtable"));
    assert_eq!(c.cmd(&["HSET", "h3", "a", "1"]), int(1));
    assert_eq!(c.cmd(&["HINCRBYFLOAT", "h3", "a", "0.123456"]), bulk("1.123456"));
    assert_eq!(encoding(&mut c, "h3"), bulk("hashtable"));
    assert_eq!(c.cmd(&["HINCRBY", "h4", "abcdefghijk", "1"]), int(1));
    assert_eq!(encoding(&mut c, "h4"), bulk("hashtable"));
    assert_eq!(c.cmd(&["HSETNX", "h5", "abcdefgh", "1"]), int(1));
    assert_eq!(encoding(&mut c, "h5"), bulk("hashtable"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "hash-max-ziplist-entries", "128", "hash-max-ziplist-value", "64"]), ok());
    assert_eq!(c.cmd(&["HSET", "h6", "a", "1"]), int(1));
    assert_eq!(encoding(&mut c, "h6"), bulk("listpack"));
}

/// HSCAN over a hashtable returns every field present for the whole
/// iteration, while other fields come and go between calls.
#[test]
fn scan_while_the_hash_changes() {
    let server = start();
    let mut c = server.conn();
    let stable: Vec<String> = (0..600).map(|i| format!("stable:{i}")).collect();
    for f in &stable {
        c.cmd(&["HSET", "h", f, "v"]);
    }
    assert_eq!(encoding(&mut c, "h"), bulk("hashtable"));
    let (mut cursor, mut seen, mut round) = ("0".to_string(), BTreeSet::new(), 0);
    loop {
        let Frame::Array(page) = c.cmd(&["HSCAN", "h", &cursor, "COUNT", "7"]) else { panic!() };
        let Frame::Array(items) = &page[1] else { panic!() };
        for pair in items.chunks(2) {
            assert_eq!(bulk_of(&pair[1]), "v");
            seen.insert(bulk_of(&pair[0]));
        }
        cursor = bulk_of(&page[0]);
        // Grow for a while (rehashing to larger tables), then shrink.
        for i in 0..40 {
            if round < 20 {
                c.cmd(&["HSET", "h", &format!("churn:{round}:{i}"), "v"]);
            } else {
                c.cmd(&["HDEL", "h", &format!("churn:{}:{i}", round % 20)]);
            }
        }
        round += 1;
        if cursor == "0" {
            break;
        }
    }
    assert!(round > 3, "the walk took several calls");
    assert!(stable.iter().all(|f| seen.contains(f)), "HSCAN missed fields");
    let Frame::Array(page) = c.cmd(&["HSCAN", "h", "0", "MATCH", "stable:1?", "COUNT", "100000"]) else { panic!() };
    assert_eq!((page[0].clone(), sorted(page[1].clone()).len()), (bulk("0"), 20));
    assert_eq!(c.cmd(&["HSCAN", "h", "0", "COUNT", "0"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["HSCAN", "nokey", "0"]), arr(vec![bulk("0"), bulks(&[])]));
}

#[test]
fn big_hashes_and_watch() {
    let server = start();
    let mut c = server.conn();
    for i in 0..1000 {
        assert_eq!(c.cmd(&["HSET", "big", &format!("f{i}"), &i.to_string()]), int(1));
    }
    assert_eq!(c.cmd(&["HLEN", "big"]), int(1000));
    assert_eq!(c.cmd(&["HGET", "big", "f777"]), bulk("777"));
    let Frame::Array(all) = c.cmd(&["HGETALL", "big"]) else { panic!() };
    assert_eq!(all.len(), 2000);
    for i in 0..1000 {
        c.cmd(&["HDEL", "big", &format!("f{i}")]);
    }
    assert_eq!(c.cmd(&["EXISTS", "big"]), int(0));
    // WATCH sees an in-place change; a no-op HSETNX or HDEL is no change.
    let mut other = server.conn();
    c.cmd(&["HSET", "w", "a", "1"]);
    assert_eq!(c.cmd(&["WATCH", "w"]), ok());
    assert_eq!(other.cmd(&["HSETNX", "w", "a", "2"]), int(0));
    assert_eq!(other.cmd(&["HDEL", "w", "zz"]), int(0));
    c.cmd(&["MULTI"]);
    c.cmd(&["HGET", "w", "a"]);
    assert_eq!(c.cmd(&["EXEC"]), arr(vec![bulk("1")]));
    assert_eq!(c.cmd(&["WATCH", "w"]), ok());
    assert_eq!(other.cmd(&["HINCRBY", "w", "a", "1"]), int(2));
    c.cmd(&["MULTI"]);
    c.cmd(&["HGET", "w", "a"]);
    assert_eq!(c.cmd(&["EXEC"]), Frame::NullArray);
}
