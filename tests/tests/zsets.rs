//! Sorted-set family, end to end; expected replies were checked against
//! redis-server 7.0.15 (RESP2 and RESP3).

use std::collections::BTreeSet;

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{start, Frame};

fn d(x: f64) -> Frame {
    Frame::Double(x)
}

fn pair(m: &str, s: f64) -> Frame {
    arr(vec![bulk(m), d(s)])
}

#[test]
fn zadd_flags_and_errors() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["ZADD", "z", "1", "a", "2", "b"]), int(2));
    assert_eq!(c.cmd(&["ZADD", "z", "CH", "5", "a", "2", "b", "3", "c"]), int(2));
    assert_eq!(c.cmd(&["ZADD", "z", "NX", "9", "a", "4", "d"]), int(1));
    assert_eq!(c.cmd(&["ZADD", "z", "XX", "CH", "9", "a", "4", "e"]), int(1));
    assert_eq!(c.cmd(&["EXISTS", "e"]), int(0));
    assert_eq!(c.cmd(&["ZADD", "z", "GT", "CH", "1", "a", "10", "b"]), int(1));
    assert_eq!(c.cmd(&["ZADD", "z", "LT", "CH", "1", "a", "20", "b"]), int(1));
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), bulk("1"));
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "2.5", "a"]), bulk("3.5"));
    assert_eq!(c.cmd(&["ZADD", "z", "GT", "INCR", "-1", "a"]), nil());
    assert_eq!(c.cmd(&["ZADD", "z", "XX", "INCR", "1", "nope"]), nil());
    assert_eq!(c.cmd(&["ZADD", "nokey", "XX", "1", "a"]), int(0));
    assert_eq!(c.cmd(&["EXISTS", "nokey"]), int(0));
    assert_eq!(c.cmd(&["ZADD", "z", "0x10", "hex", "infinity", "i"]), int(2));
    assert_eq!(c.cmd(&["ZSCORE", "z", "hex"]), bulk("16"));
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "-inf", "i"]), err("ERR resulting score is not a number (NaN)"));
    assert_eq!(c.cmd(&["ZINCRBY", "z", "-inf", "i"]), err("ERR resulting score is not a number (NaN)"));
    assert_eq!(c.cmd(&["ZINCRBY", "z", "0.1", "a"]), bulk("3.6000000000000001"));
    assert_eq!(c.cmd(&["ZINCRBY", "z", "NX", "a"]), err("ERR syntax error"));
    for bad in ["nan", "1e400", "1e-400", " 1", "", "abc"] {
        assert_eq!(c.cmd(&["ZADD", "z", bad, "x"]), err("ERR value is not a valid float"), "{bad:?}");
    }
    assert_eq!(c.cmd(&["ZADD", "z", "NX", "XX", "1", "a"]), err("ERR XX and NX options at the same time are not compatible"));
    assert_eq!(c.cmd(&["ZADD", "z", "GT", "LT", "1", "a"]), err("ERR GT, LT, and/or NX options at the same time are not compatible"));
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "1", "a", "2", "b"]), err("ERR INCR option supports a single increment-element pair"));
    assert_eq!(c.cmd(&["ZADD", "z", "1", "a", "2"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZADD", "z", "NX", "foo", "1", "q"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZADD", "z"]), err("ERR wrong number of arguments for 'zadd' command"));
    assert_eq!(c.cmd(&["SET", "s", "v"]), ok());
    assert_eq!(c.cmd(&["ZADD", "s", "1", "a"]), err("WRONGTYPE Operation against a key holding the wrong kind of value"));
    assert_eq!(c.cmd(&["ZADD", "s", "x", "a"]), err("ERR value is not a valid float"));
}

#[test]
fn negative_zero_is_zero_when_compact_and_kept_in_a_skiplist() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["ZADD", "z", "INCR", "-0", "a"]), bulk("-0"));
    assert_eq!(c.cmd(&["ZSCORE", "z", "a"]), bulk("0"));
    assert_eq!(c.cmd(&["ZADD", "big", "-0", "a", "1", &"x".repeat(65)]), int(2));
    // Created compact by its first member, converted by the long one.
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "big"]), bulk("skiplist"));
    assert_eq!(c.cmd(&["ZSCORE", "big", "a"]), bulk("0"));
    let mut big = server.conn();
    assert_eq!(big.cmd(&["ZADD", "sk", "1", &"x".repeat(65)]), int(1));
    assert_eq!(big.cmd(&["ZADD", "sk", "-0", "a"]), int(1));
    assert_eq!(big.cmd(&["ZSCORE", "sk", "a"]), bulk("-0"));
    assert_eq!(big.cmd(&["ZINCRBY", "sk", "0", "a"]), bulk("0"));
    assert_eq!(big.cmd(&["ZSCORE", "sk", "a"]), bulk("-0"));
}

#[test]
fn reads_ranks_and_counts() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "-inf", "m", "inf", "p"]);
    assert_eq!(c.cmd(&["ZCARD", "z"]), int(5));
    assert_eq!(c.cmd(&["ZCARD", "nokey"]), int(0));
    assert_eq!(c.cmd(&["ZSCORE", "z", "m"]), bulk("-inf"));
    assert_eq!(c.cmd(&["ZSCORE", "z", "x"]), nil());
    assert_eq!(c.cmd(&["ZMSCORE", "z", "a", "x", "p"]), arr(vec![bulk("1"), nil(), bulk("inf")]));
    assert_eq!(c.cmd(&["ZMSCORE", "nokey", "a"]), arr(vec![nil()]));
    assert_eq!(c.cmd(&["ZRANK", "z", "a"]), int(1));
    assert_eq!(c.cmd(&["ZREVRANK", "z", "a"]), int(3));
    assert_eq!(c.cmd(&["ZRANK", "z", "x"]), nil());
    // WITHSCORE as Redis 7.2 has it (7.0 refuses it with an arity error).
    assert_eq!(c.cmd(&["ZRANK", "z", "a", "WITHSCORE", "x"]), err("ERR wrong number of arguments for 'zrank' command"));
    assert_eq!(c.cmd(&["ZRANK", "z", "a", "WITHSCORES"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZRANK", "nokey", "a", "withscore"]), Frame::NullArray);
    assert_eq!(c.cmd(&["ZRANK", "z", "a", "WITHSCORE"]), arr(vec![int(1), bulk("1")]));
    assert_eq!(c.cmd(&["ZREVRANK", "z", "m", "WITHSCORE"]), arr(vec![int(4), bulk("-inf")]));
    assert_eq!(c.cmd(&["ZCOUNT", "z", "(1", "3"]), int(2));
    assert_eq!(c.cmd(&["ZCOUNT", "z", "-inf", "+inf"]), int(5));
    assert_eq!(c.cmd(&["ZCOUNT", "z", "3", "1"]), int(0));
    assert_eq!(c.cmd(&["ZCOUNT", "z", "(", "3"]), int(3));
    assert_eq!(c.cmd(&["ZCOUNT", "z", "x", "3"]), err("ERR min or max is not a float"));
    assert_eq!(c.cmd(&["ZREM", "z", "m", "p", "m", "x"]), int(2));
    assert_eq!(c.cmd(&["ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d"]), int(4));
    assert_eq!(c.cmd(&["ZLEXCOUNT", "l", "[b", "(d"]), int(2));
    assert_eq!(c.cmd(&["ZLEXCOUNT", "l", "-", "+"]), int(4));
    assert_eq!(c.cmd(&["ZLEXCOUNT", "l", "+", "-"]), int(0));
    assert_eq!(c.cmd(&["ZLEXCOUNT", "l", "a", "+"]), err("ERR min or max not valid string range item"));
    assert_eq!(c.cmd(&["ZREM", "l", "a", "b", "c", "d"]), int(4));
    assert_eq!(c.cmd(&["EXISTS", "l"]), int(0));
}

#[test]
fn ranges_in_both_protocols() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "0.1", "t"]);
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "-1"]), bulks(&["t", "a", "b", "c"]));
    assert_eq!(c.cmd(&["ZRANGE", "z", "-2", "100", "WITHSCORES"]), bulks(&["b", "2", "c", "3"]));
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "0", "WITHSCORES"]), bulks(&["t", "0.10000000000000001"]));
    assert_eq!(c.cmd(&["ZREVRANGE", "z", "0", "1"]), bulks(&["c", "b"]));
    assert_eq!(c.cmd(&["ZRANGE", "z", "(1", "+inf", "BYSCORE", "LIMIT", "1", "5"]), bulks(&["c"]));
    assert_eq!(c.cmd(&["ZRANGE", "z", "+inf", "(1", "BYSCORE", "REV", "WITHSCORES"]), bulks(&["c", "3", "b", "2"]));
    assert_eq!(c.cmd(&["ZRANGEBYSCORE", "z", "-inf", "inf", "LIMIT", "-1", "1"]), bulks(&[]));
    assert_eq!(c.cmd(&["ZRANGEBYSCORE", "z", "-inf", "inf", "LIMIT", "1", "-1"]), bulks(&["a", "b", "c"]));
    assert_eq!(c.cmd(&["ZREVRANGEBYSCORE", "z", "3", "1", "WITHSCORES", "LIMIT", "1", "5"]), bulks(&["b", "2", "a", "1"]));
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "1", "LIMIT", "0", "1"]), err("ERR syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
    assert_eq!(c.cmd(&["ZRANGE", "z", "-", "+", "BYLEX", "WITHSCORES"]), err("ERR syntax error, WITHSCORES not supported in combination with BYLEX"));
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "1", "REV", "REV"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZRANGEBYSCORE", "z", "0", "1", "REV"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZRANGE", "z", "a", "1"]), err("ERR value is not an integer or out of range"));
    c.cmd(&["ZADD", "l", "0", "a", "0", "b", "0", "c", "0", "d"]);
    assert_eq!(c.cmd(&["ZRANGEBYLEX", "l", "[b", "+"]), bulks(&["b", "c", "d"]));
    assert_eq!(c.cmd(&["ZREVRANGEBYLEX", "l", "(d", "-", "LIMIT", "1", "1"]), bulks(&["b"]));
    assert_eq!(c.cmd(&["ZRANGE", "l", "+", "[c", "BYLEX", "REV"]), bulks(&["d", "c"]));
    assert_eq!(c.cmd(&["ZRANGE", "nokey", "0", "-1"]), bulks(&[]));
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "1", "WITHSCORES"]), arr(vec![pair("t", 0.1), pair("a", 1.0)]));
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "1"]), bulks(&["t", "a"]));
    assert_eq!(c.cmd(&["ZSCORE", "z", "b"]), d(2.0));
    assert_eq!(c.cmd(&["ZMSCORE", "z", "b", "x"]), arr(vec![d(2.0), Frame::Null]));
    assert_eq!(c.cmd(&["ZINCRBY", "z", "1", "b"]), d(3.0));
}

#[test]
fn rangestore_and_removal_by_range() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d", "5", "e"]);
    assert_eq!(c.cmd(&["SET", "dst", "string"]), ok());
    assert_eq!(c.cmd(&["ZRANGESTORE", "dst", "z", "(1", "4", "BYSCORE", "LIMIT", "0", "2"]), int(2));
    assert_eq!(c.cmd(&["ZRANGE", "dst", "0", "-1", "WITHSCORES"]), bulks(&["b", "2", "c", "3"]));
    assert_eq!(c.cmd(&["ZRANGESTORE", "dst", "z", "0", "-1", "WITHSCORES"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZRANGESTORE", "dst", "nokey", "0", "-1"]), int(0));
    assert_eq!(c.cmd(&["EXISTS", "dst"]), int(0));
    assert_eq!(c.cmd(&["ZRANGESTORE", "z", "z", "0", "0"]), int(1));
    assert_eq!(c.cmd(&["ZRANGE", "z", "0", "-1"]), bulks(&["a"]));
    c.cmd(&["ZADD", "z", "2", "b", "3", "c", "4", "d", "5", "e"]);
    assert_eq!(c.cmd(&["ZREMRANGEBYRANK", "z", "-2", "-1"]), int(2));
    assert_eq!(c.cmd(&["ZREMRANGEBYSCORE", "z", "(1", "2"]), int(1));
    assert_eq!(c.cmd(&["ZREMRANGEBYSCORE", "z", "x", "2"]), err("ERR min or max is not a float"));
    assert_eq!(c.cmd(&["ZREMRANGEBYRANK", "z", "a", "2"]), err("ERR value is not an integer or out of range"));
    c.cmd(&["ZADD", "l", "0", "a", "0", "b", "0", "c"]);
    assert_eq!(c.cmd(&["ZREMRANGEBYLEX", "l", "-", "[b"]), int(2));
    assert_eq!(c.cmd(&["ZREMRANGEBYLEX", "l", "a", "b"]), err("ERR min or max not valid string range item"));
    assert_eq!(c.cmd(&["ZREMRANGEBYRANK", "z", "0", "-1"]), int(2));
    assert_eq!(c.cmd(&["EXISTS", "z"]), int(0));
}

#[test]
fn pops_and_zmpop() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c", "4", "d"]);
    assert_eq!(c.cmd(&["ZPOPMIN", "z"]), bulks(&["a", "1"]));
    assert_eq!(c.cmd(&["ZPOPMAX", "z", "2"]), bulks(&["d", "4", "c", "3"]));
    assert_eq!(c.cmd(&["ZPOPMIN", "z", "0"]), bulks(&[]));
    assert_eq!(c.cmd(&["ZPOPMIN", "z", "-1"]), err("ERR value is out of range, must be positive"));
    assert_eq!(c.cmd(&["ZPOPMIN", "z", "1", "2"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZPOPMIN", "nokey"]), bulks(&[]));
    assert_eq!(c.cmd(&["ZMPOP", "2", "nokey", "z", "MIN", "COUNT", "5"]), arr(vec![bulk("z"), arr(vec![bulks(&["b", "2"])])]));
    assert_eq!(c.cmd(&["EXISTS", "z"]), int(0));
    assert_eq!(c.cmd(&["ZMPOP", "1", "z", "MIN"]), Frame::NullArray);
    assert_eq!(c.cmd(&["ZMPOP", "0", "z", "MIN"]), err("ERR numkeys should be greater than 0"));
    assert_eq!(c.cmd(&["ZMPOP", "1", "z", "MIN", "COUNT", "0"]), err("ERR count should be greater than 0"));
    assert_eq!(c.cmd(&["ZMPOP", "1", "z", "MIN", "COUNT", "1", "COUNT", "1"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZMPOP", "2", "z", "MIN"]), err("ERR syntax error"));
    c.cmd(&["SET", "s", "v"]);
    assert_eq!(c.cmd(&["ZMPOP", "1", "s", "MAX"]), err("WRONGTYPE Operation against a key holding the wrong kind of value"));
    c.cmd(&["HELLO", "3"]);
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert_eq!(c.cmd(&["ZPOPMIN", "z"]), arr(vec![bulk("a"), d(1.0)]));
    assert_eq!(c.cmd(&["ZPOPMIN", "z", "1"]), arr(vec![pair("b", 2.0)]));
    assert_eq!(c.cmd(&["ZMPOP", "1", "z", "MAX"]), arr(vec![bulk("z"), arr(vec![pair("c", 3.0)])]));
    assert_eq!(c.cmd(&["ZMPOP", "1", "z", "MAX"]), Frame::Null);
}

#[test]
fn set_operations() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["ZADD", "a", "1", "x", "2", "y"]);
    c.cmd(&["ZADD", "b", "3", "y", "4", "z"]);
    assert_eq!(c.cmd(&["ZUNION", "2", "a", "b", "WITHSCORES"]), bulks(&["x", "1", "z", "4", "y", "5"]));
    assert_eq!(c.cmd(&["ZINTER", "2", "a", "b", "WITHSCORES", "AGGREGATE", "MAX"]), bulks(&["y", "3"]));
    assert_eq!(c.cmd(&["ZUNION", "2", "a", "b", "WEIGHTS", "0", "inf", "WITHSCORES"]), bulks(&["x", "0", "y", "inf", "z", "inf"]));
    assert_eq!(c.cmd(&["ZDIFF", "2", "a", "b", "WITHSCORES"]), bulks(&["x", "1"]));
    assert_eq!(c.cmd(&["ZINTERCARD", "2", "a", "b"]), int(1));
    assert_eq!(c.cmd(&["ZINTERCARD", "2", "a", "b", "LIMIT", "-1"]), err("ERR LIMIT can't be negative"));
    assert_eq!(c.cmd(&["ZUNIONSTORE", "d", "2", "a", "b", "WEIGHTS", "2", "1"]), int(3));
    assert_eq!(c.cmd(&["ZRANGE", "d", "0", "-1", "WITHSCORES"]), bulks(&["x", "2", "z", "4", "y", "7"]));
    assert_eq!(c.cmd(&["ZINTERSTORE", "d", "2", "a", "nokey"]), int(0));
    assert_eq!(c.cmd(&["EXISTS", "d"]), int(0));
    assert_eq!(c.cmd(&["ZDIFFSTORE", "d", "2", "b", "a"]), int(1));
    assert_eq!(c.cmd(&["ZUNIONSTORE", "d", "0", "a"]), err("ERR at least 1 input key is needed for 'zunionstore' command"));
    assert_eq!(c.cmd(&["ZUNION", "3", "a", "b"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZUNION", "2", "a", "b", "WEIGHTS", "1", "x"]), err("ERR weight value is not a float"));
    assert_eq!(c.cmd(&["ZDIFF", "2", "a", "b", "WEIGHTS", "1", "1"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZUNIONSTORE", "d", "2", "a", "b", "WITHSCORES"]), err("ERR syntax error"));
    c.cmd(&["SET", "s", "v"]);
    // WRONGTYPE comes before option errors, as in Redis.
    assert_eq!(c.cmd(&["ZUNION", "2", "a", "s", "BOGUS"]), err("WRONGTYPE Operation against a key holding the wrong kind of value"));
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.cmd(&["ZUNION", "2", "a", "b", "WITHSCORES"]), arr(vec![pair("x", 1.0), pair("z", 4.0), pair("y", 5.0)]));
}

#[test]
fn zrandmember_shapes() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    assert!(matches!(c.cmd(&["ZRANDMEMBER", "z"]), Frame::Bulk(_)));
    assert_eq!(c.cmd(&["ZRANDMEMBER", "nokey"]), nil());
    assert_eq!(c.cmd(&["ZRANDMEMBER", "nokey", "3"]), bulks(&[]));
    assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "0"]), bulks(&[]));
    let Frame::Array(all) = c.cmd(&["ZRANDMEMBER", "z", "10"]) else { panic!("array") };
    assert_eq!(all.len(), 3);
    let Frame::Array(two) = c.cmd(&["ZRANDMEMBER", "z", "2", "WITHSCORES"]) else { panic!("array") };
    assert_eq!(two.len(), 4);
    assert_ne!(two[0], two[2]);
    let Frame::Array(rep) = c.cmd(&["ZRANDMEMBER", "z", "-7"]) else { panic!("array") };
    assert_eq!(rep.len(), 7);
    assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "1", "foo"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(
        c.cmd(&["ZRANDMEMBER", "z", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(c.cmd(&["ZRANDMEMBER", "z", "4611686018427387904", "WITHSCORES"]), err("ERR value is out of range"));
    c.cmd(&["HELLO", "3"]);
    let Frame::Array(pairs) = c.cmd(&["ZRANDMEMBER", "z", "-2", "WITHSCORES"]) else { panic!("array") };
    assert!(pairs.iter().all(|p| matches!(p, Frame::Array(x) if x.len() == 2 && matches!(x[1], Frame::Double(_)))));
}

#[test]
fn encodings_convert_at_the_thresholds() {
    let server = start();
    let mut c = server.conn();
    let mut args: Vec<String> = vec!["ZADD".into(), "z".into()];
    for i in 0..128 {
        args.push(i.to_string());
        args.push(format!("m{i}"));
    }
    let refs: Vec<&str> = args.iter().map(String::as_str).collect();
    assert_eq!(c.cmd(&refs), int(128));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("listpack"));
    assert_eq!(c.cmd(&["ZADD", "z", "1000", "one-more"]), int(1));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    c.cmd(&["ZPOPMIN", "z", "120"]);
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "z"]), bulk("skiplist"));
    assert_eq!(c.cmd(&["ZRANK", "z", "one-more"]), int(8));
    assert_eq!(c.cmd(&["ZADD", "long", "1", &"x".repeat(65)]), int(1));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "long"]), bulk("skiplist"));
    // Stores pick the encoding by the result's size.
    assert_eq!(c.cmd(&["ZRANGESTORE", "small", "z", "0", "2"]), int(3));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "small"]), bulk("listpack"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", "2"]), ok());
    assert_eq!(c.cmd(&["ZADD", "t", "1", "a", "1", "a", "1", "a"]), int(1));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "t"]), bulk("listpack"));
    assert_eq!(c.cmd(&["ZADD", "t", "2", "b", "3", "c"]), int(2));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "t"]), bulk("skiplist"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "zset-max-listpack-entries", "128"]), ok());
}

/// ZSCAN of a skip-list set returns every member present throughout,
/// while members are added and removed between calls (the table grows
/// and shrinks); a compact set comes back whole with cursor 0.
#[test]
fn zscan_guarantee_under_growth_and_shrink() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["ZADD", "small", "1", "a", "2", "b", "1.5", "ab"]);
    assert_eq!(c.cmd(&["ZSCAN", "small", "0", "MATCH", "a*"]), arr(vec![bulk("0"), bulks(&["a", "1", "ab", "1.5"])]));
    assert_eq!(c.cmd(&["ZSCAN", "nokey", "0", "COUNT", "x"]), arr(vec![bulk("0"), bulks(&[])]));
    assert_eq!(c.cmd(&["ZSCAN", "small", "x"]), err("ERR invalid cursor"));
    assert_eq!(c.cmd(&["ZSCAN", "small", "0", "COUNT", "0"]), err("ERR syntax error"));
    let stable: BTreeSet<String> = (0..300).map(|i| format!("s{i}")).collect();
    for m in &stable {
        c.cmd(&["ZADD", "z", "1", m]);
    }
    let mut seen = BTreeSet::new();
    let mut cursor = "0".to_string();
    let mut step = 0;
    loop {
        let Frame::Array(page) = c.cmd(&["ZSCAN", "z", &cursor, "COUNT", "20"]) else { panic!("page") };
        let (Some(Frame::Bulk(next)), Some(Frame::Array(items))) = (page.first(), page.get(1)) else { panic!("page shape") };
        for m in items.iter().step_by(2) {
            seen.insert(String::from_utf8_lossy(m.as_bytes().expect("member")).into_owned());
        }
        cursor = String::from_utf8_lossy(next).into_owned();
        for i in 0..100 {
            let t = format!("t{step}-{i}");
            if step % 4 < 2 {
                c.cmd(&["ZADD", "z", "2", &t]);
            } else {
                c.cmd(&["ZREMRANGEBYSCORE", "z", "2", "2"]);
                break;
            }
        }
        step += 1;
        if cursor == "0" {
            break;
        }
    }
    assert!(stable.is_subset(&seen), "missing {:?}", stable.difference(&seen).collect::<Vec<_>>());
}

#[test]
fn wrong_type_everywhere() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["SET", "s", "v"]);
    let wrong = err("WRONGTYPE Operation against a key holding the wrong kind of value");
    for cmd in [
        vec!["ZSCORE", "s", "a"],
        vec!["ZCARD", "s"],
        vec!["ZRANK", "s", "a"],
        vec!["ZRANGE", "s", "0", "-1"],
        vec!["ZPOPMIN", "s"],
        vec!["ZREM", "s", "a"],
        vec!["ZINCRBY", "s", "1", "a"],
        vec!["ZCOUNT", "s", "0", "1"],
        vec!["ZRANGESTORE", "d", "s", "0", "-1"],
        vec!["ZRANDMEMBER", "s"],
        vec!["ZSCAN", "s", "0"],
        vec!["ZREMRANGEBYRANK", "s", "0", "1"],
    ] {
        assert_eq!(c.cmd(&cmd), wrong, "{cmd:?}");
    }
}

/// Plain sets take part in the set operations, every member scoring 1
/// (replies checked against redis-server 7.0.15).
#[test]
fn set_operations_accept_plain_sets() {
    let s = start();
    let mut c = s.conn();
    c.cmd(&["ZADD", "z", "1", "a", "2", "b", "3", "c"]);
    c.cmd(&["SADD", "s", "a", "x", "5"]);
    assert_eq!(c.cmd(&["ZUNION", "2", "z", "s", "WITHSCORES"]), bulks(&["5", "1", "x", "1", "a", "2", "b", "2", "c", "3"]));
    assert_eq!(c.cmd(&["ZINTER", "2", "z", "s", "WEIGHTS", "2", "3", "WITHSCORES"]), bulks(&["a", "5"]));
    assert_eq!(c.cmd(&["ZDIFF", "2", "s", "z", "WITHSCORES"]), bulks(&["5", "1", "x", "1"]));
    assert_eq!(c.cmd(&["ZUNIONSTORE", "d", "2", "s", "s"]), int(3));
    assert_eq!(c.cmd(&["ZRANGE", "d", "0", "-1", "WITHSCORES"]), bulks(&["5", "2", "a", "2", "x", "2"]));
    assert_eq!(c.cmd(&["ZINTERCARD", "2", "z", "s"]), int(1));
    c.cmd(&["SET", "str", "x"]);
    assert_eq!(c.cmd(&["ZUNION", "2", "z", "str"]), err("WRONGTYPE Operation against a key holding the wrong kind of value"));
}

/// Waits until INFO reports `n` blocked clients.
fn await_blocked(c: &mut ferrocache_e2e::Conn, n: usize) {
    let want = format!("blocked_clients:{n}\r\n");
    for _ in 0..500 {
        if let Frame::Bulk(b) = c.cmd(&["INFO", "clients"])
            && String::from_utf8_lossy(&b).contains(&want)
        {
            return;
        }
        std::thread::sleep(std::time::Duration::from_millis(5));
    }
    panic!("never saw {want}");
}

/// BZPOPMIN/BZPOPMAX/BZMPOP: served at once when they can, else in
/// arrival order by ZADD; timeouts, MULTI and errors as redis-server 7.0.15.
#[test]
fn blocking_pops() {
    let s = start();
    let (mut a, mut b, mut p) = (s.conn(), s.conn(), s.conn());
    p.cmd(&["ZADD", "z", "1", "a", "2", "b"]);
    assert_eq!(p.cmd(&["BZPOPMIN", "nokey", "z", "0"]), bulks(&["z", "a", "1"]));
    assert_eq!(p.cmd(&["BZMPOP", "0", "1", "z", "MAX", "COUNT", "5"]), arr(vec![bulk("z"), arr(vec![bulks(&["b", "2"])])]));
    assert_eq!(p.cmd(&["BZPOPMAX", "z", "0.01"]), Frame::NullArray);
    assert_eq!(p.cmd(&["BZMPOP", "0.01", "1", "z", "MIN"]), Frame::NullArray);

    a.send(&["BZPOPMAX", "z", "0"]);
    await_blocked(&mut p, 1);
    b.send(&["BZMPOP", "0", "2", "y", "z", "MIN", "COUNT", "2"]);
    await_blocked(&mut p, 2);
    assert_eq!(p.cmd(&["ZADD", "z", "1", "x", "2", "y", "3", "w"]), int(3));
    assert_eq!(a.read_frame(), Some(bulks(&["z", "w", "3"])), "first come, first served");
    assert_eq!(b.read_frame(), Some(arr(vec![bulk("z"), arr(vec![bulks(&["x", "1"]), bulks(&["y", "2"])])])));
    await_blocked(&mut p, 0);
    assert_eq!(p.cmd(&["EXISTS", "z"]), int(0));

    let mut r3 = s.conn();
    r3.cmd(&["HELLO", "3"]);
    r3.send(&["BZPOPMIN", "r", "0"]);
    await_blocked(&mut p, 1);
    p.cmd(&["ZINCRBY", "r", "1.5", "m"]);
    assert_eq!(r3.read_frame(), Some(arr(vec![bulk("r"), bulk("m"), Frame::Double(1.5)])));

    p.cmd(&["MULTI"]);
    p.cmd(&["BZPOPMIN", "none", "0"]);
    p.cmd(&["BZMPOP", "0", "1", "none", "MIN"]);
    assert_eq!(p.cmd(&["EXEC"]), arr(vec![Frame::NullArray, Frame::NullArray]), "no blocking inside MULTI");

    p.cmd(&["SET", "str", "x"]);
    assert_eq!(p.cmd(&["BZPOPMIN", "str", "0"]), err("WRONGTYPE Operation against a key holding the wrong kind of value"));
    assert_eq!(p.cmd(&["BZPOPMIN", "z", "abc"]), err("ERR timeout is not a float or out of range"));
    assert_eq!(p.cmd(&["BZPOPMIN", "z", "-1"]), err("ERR timeout is negative"));
    assert_eq!(p.cmd(&["BZMPOP", "abc", "0", "z", "MIN"]), err("ERR numkeys should be greater than 0"));
    assert_eq!(p.cmd(&["BZMPOP", "abc", "1", "z", "UP"]), err("ERR syntax error"));
    assert_eq!(p.cmd(&["BZMPOP", "0", "1", "z", "MIN", "COUNT", "0"]), err("ERR count should be greater than 0"));
}
