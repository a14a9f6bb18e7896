//! Set family, end to end; expected replies were checked against
//! redis-server 7.0.15.

use std::collections::BTreeSet;

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{start, Conn, Frame};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn bulk_of(f: &Frame) -> String {
    String::from_utf8_lossy(f.as_bytes().expect("bulk")).into_owned()
}

/// The members of an array or set reply, sorted.
fn members(f: Frame) -> Vec<String> {
    let (Frame::Array(items) | Frame::Set(items)) = f else { panic!("not an array or set: {f:?}") };
    let mut out: Vec<String> = items.iter().map(bulk_of).collect();
    out.sort();
    out
}

fn encoding(c: &mut Conn, key: &str) -> Frame {
    c.cmd(&["OBJECT", "ENCODING", key])
}

#[test]
fn add_remove_members() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SADD", "s", "3", "1", "2", "1"]), int(3));
    assert_eq!(c.cmd(&["SADD", "s", "2", "4"]), int(1));
    // An intset lists its members in ascending order, as Redis does.
    assert_eq!(c.cmd(&["SMEMBERS", "s"]), bulks(&["1", "2", "3", "4"]));
    assert_eq!(c.cmd(&["SCARD", "s"]), int(4));
    assert_eq!(c.cmd(&["SISMEMBER", "s", "2"]), int(1));
    assert_eq!(c.cmd(&["SISMEMBER", "s", "02"]), int(0));
    assert_eq!(c.cmd(&["SMISMEMBER", "s", "2", "zz", "4"]), arr(vec![int(1), int(0), int(1)]));
    assert_eq!(c.cmd(&["SMISMEMBER", "nokey", "2"]), arr(vec![int(0)]));
    assert_eq!(c.cmd(&["SREM", "s", "1", "1", "9"]), int(1));
    assert_eq!(c.cmd(&["SREM", "nokey", "1"]), int(0));
    assert_eq!(c.cmd(&["SREM", "s", "2", "3", "4"]), int(3));
    assert_eq!(c.cmd(&["EXISTS", "s"]), int(0), "a set left empty is deleted");
    assert_eq!(c.cmd(&["SMEMBERS", "nokey"]), arr(vec![]));
    assert_eq!(c.cmd(&["SCARD", "nokey"]), int(0));
    assert_eq!(c.cmd(&["SISMEMBER", "nokey", "a"]), int(0));
    assert_eq!(c.cmd(&["SADD", "s"]), err("ERR wrong number of arguments for 'sadd' command"));
    assert_eq!(c.cmd(&["SREM", "s"]), err("ERR wrong number of arguments for 'srem' command"));
}

#[test]
fn wrong_type_and_argument_errors() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SET", "str", "x"]), ok());
    assert_eq!(c.cmd(&["SADD", "s", "a", "b"]), int(2));
    let wrong: &[&[&str]] = &[
        &["SADD", "str", "a"],
        &["SREM", "str", "a"],
        &["SMEMBERS", "str"],
        &["SISMEMBER", "str", "a"],
        &["SMISMEMBER", "str", "a"],
        &["SCARD", "str"],
        &["SPOP", "str"],
        &["SPOP", "str", "2"],
        &["SRANDMEMBER", "str"],
        &["SRANDMEMBER", "str", "2"],
        &["SMOVE", "str", "s", "a"],
        &["SMOVE", "s", "str", "a"],
        &["SMOVE", "s", "str", "zz"],
        &["SINTER", "nokey", "str"],
        &["SINTER", "str", "nokey"],
        &["SUNION", "nokey", "str"],
        &["SDIFF", "nokey", "str"],
        &["SDIFF", "s", "str"],
        &["SINTERSTORE", "d", "nokey", "str"],
        &["SUNIONSTORE", "d", "s", "str"],
        &["SDIFFSTORE", "d", "s", "str"],
        &["SINTERCARD", "2", "nokey", "str"],
        &["SSCAN", "str", "0"],
    ];
    for cmd in wrong {
        assert_eq!(c.cmd(cmd), err(WRONGTYPE), "{cmd:?}");
    }
    assert_eq!(c.cmd(&["SMOVE", "nokey", "str", "a"]), int(0), "a missing source wins over a wrong destination");
    assert_eq!(c.cmd(&["SPOP", "s", "-1"]), err("ERR value is out of range, must be positive"));
    assert_eq!(c.cmd(&["SPOP", "str", "abc"]), err("ERR value is out of range, must be positive"));
    assert_eq!(c.cmd(&["SPOP", "s", "1", "2"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SRANDMEMBER", "s", "1", "2"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SRANDMEMBER", "str", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(
        c.cmd(&["SRANDMEMBER", "s", "-9223372036854775808"]),
        err("ERR value is out of range, value must between -9223372036854775807 and 9223372036854775807")
    );
    assert_eq!(c.cmd(&["SSCAN", "str", "abc"]), err("ERR invalid cursor"));
    assert_eq!(c.cmd(&["SINTERCARD", "0", "s"]), err("ERR numkeys should be greater than 0"));
    assert_eq!(c.cmd(&["SINTERCARD", "abc", "s"]), err("ERR numkeys should be greater than 0"));
    assert_eq!(c.cmd(&["SINTERCARD", "2", "s"]), err("ERR Number of keys can't be greater than number of args"));
    assert_eq!(c.cmd(&["SINTERCARD", "1", "s", "LIMIT", "-1"]), err("ERR LIMIT can't be negative"));
    assert_eq!(c.cmd(&["SINTERCARD", "1", "s", "LIMIT", "abc"]), err("ERR LIMIT can't be negative"));
    assert_eq!(c.cmd(&["SINTERCARD", "1", "s", "LIMIT"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SINTERCARD", "1", "s", "foo", "1"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SINTERCARD", "1", "nokey", "str"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SINTERCARD", "1"]), err("ERR wrong number of arguments for 'sintercard' command"));
    assert_eq!(c.cmd(&["GET", "str"]), bulk("x"));
}

#[test]
fn algebra_and_store() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SADD", "a", "1", "2", "3", "4"]), int(4));
    assert_eq!(c.cmd(&["SADD", "b", "2", "3", "x"]), int(3));
    assert_eq!(members(c.cmd(&["SINTER", "a", "b"])), ["2", "3"]);
    assert_eq!(members(c.cmd(&["SINTER", "a", "nokey"])), Vec::<String>::new());
    assert_eq!(members(c.cmd(&["SUNION", "a", "b", "nokey"])), ["1", "2", "3", "4", "x"]);
    assert_eq!(members(c.cmd(&["SDIFF", "a", "b"])), ["1", "4"]);
    assert_eq!(members(c.cmd(&["SDIFF", "a", "nokey"])), ["1", "2", "3", "4"]);
    assert_eq!(members(c.cmd(&["SDIFF", "nokey", "a"])), Vec::<String>::new());
    assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "b"]), int(2));
    assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "b", "LIMIT", "1"]), int(1));
    assert_eq!(c.cmd(&["SINTERCARD", "2", "a", "b", "limit", "0"]), int(2));
    assert_eq!(c.cmd(&["SINTERCARD", "1", "nokey"]), int(0));
    // The destination is replaced whatever its type, and loses its TTL.
    assert_eq!(c.cmd(&["SET", "d", "x", "EX", "100"]), ok());
    assert_eq!(c.cmd(&["SINTERSTORE", "d", "a", "b"]), int(2));
    assert_eq!(c.cmd(&["TTL", "d"]), int(-1));
    assert_eq!(encoding(&mut c, "d"), bulk("intset"));
    assert_eq!(c.cmd(&["SUNIONSTORE", "d", "a", "b"]), int(5));
    assert_eq!(encoding(&mut c, "d"), bulk("hashtable"));
    assert_eq!(c.cmd(&["SDIFFSTORE", "d", "b", "a"]), int(1));
    assert_eq!(encoding(&mut c, "d"), bulk("hashtable"));
    assert_eq!(c.cmd(&["SMEMBERS", "d"]), bulks(&["x"]));
    assert_eq!(c.cmd(&["SDIFFSTORE", "a", "a"]), int(4), "a source may be the destination");
    assert_eq!(c.cmd(&["SINTERSTORE", "d", "nokey", "a"]), int(0));
    assert_eq!(c.cmd(&["EXISTS", "d"]), int(0), "an empty result deletes the destination");
    assert_eq!(c.cmd(&["SET", "z", "1"]), ok());
    assert_eq!(c.cmd(&["SDIFFSTORE", "z", "a", "a"]), int(0));
    assert_eq!(c.cmd(&["EXISTS", "z"]), int(0));
}

#[test]
fn smove() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SADD", "src", "1", "a"]), int(2));
    assert_eq!(c.cmd(&["SMOVE", "src", "dst", "1"]), int(1));
    assert_eq!(encoding(&mut c, "dst"), bulk("intset"), "created for its first member");
    assert_eq!(c.cmd(&["SMOVE", "src", "dst", "zz"]), int(0));
    assert_eq!(c.cmd(&["SMOVE", "src", "src", "a"]), int(1));
    assert_eq!(c.cmd(&["SMOVE", "src", "src", "zz"]), int(0));
    assert_eq!(c.cmd(&["SMOVE", "src", "dst", "a"]), int(1));
    assert_eq!(c.cmd(&["EXISTS", "src"]), int(0));
    assert_eq!(members(c.cmd(&["SMEMBERS", "dst"])), ["1", "a"]);
    assert_eq!(encoding(&mut c, "dst"), bulk("hashtable"));
    assert_eq!(c.cmd(&["SADD", "other", "a"]), int(1));
    assert_eq!(c.cmd(&["SMOVE", "other", "dst", "a"]), int(1), "moving a member the destination has");
    assert_eq!(c.cmd(&["SCARD", "dst"]), int(2));
}

#[test]
fn random_members_and_pop() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SADD", "s", "a", "b", "c"]), int(3));
    let all = ["a", "b", "c"];
    assert!(all.contains(&bulk_of(&c.cmd(&["SRANDMEMBER", "s"])).as_str()));
    assert_eq!(c.cmd(&["SRANDMEMBER", "nokey"]), nil());
    assert_eq!(c.cmd(&["SRANDMEMBER", "nokey", "2"]), arr(vec![]));
    assert_eq!(c.cmd(&["SRANDMEMBER", "nokey", "-2"]), arr(vec![]));
    assert_eq!(c.cmd(&["SRANDMEMBER", "s", "0"]), arr(vec![]));
    assert_eq!(members(c.cmd(&["SRANDMEMBER", "s", "3"])), all);
    assert_eq!(members(c.cmd(&["SRANDMEMBER", "s", "30"])), all);
    let two = members(c.cmd(&["SRANDMEMBER", "s", "2"]));
    assert!(two.len() == 2 && two[0] != two[1]);
    let many = members(c.cmd(&["SRANDMEMBER", "s", "-40"]));
    assert!(many.len() == 40 && many.iter().all(|m| all.contains(&m.as_str())));
    assert_eq!(c.cmd(&["SPOP", "nokey"]), nil());
    assert_eq!(c.cmd(&["SPOP", "nokey", "2"]), arr(vec![]));
    assert_eq!(c.cmd(&["SPOP", "s", "0"]), arr(vec![]));
    let popped = bulk_of(&c.cmd(&["SPOP", "s"]));
    assert_eq!(c.cmd(&["SISMEMBER", "s", &popped]), int(0));
    let rest = members(c.cmd(&["SPOP", "s", "1"]));
    assert_eq!(rest.len(), 1);
    assert_eq!(c.cmd(&["SCARD", "s"]), int(1));
    assert_eq!(members(c.cmd(&["SPOP", "s", "5"])).len(), 1);
    assert_eq!(c.cmd(&["EXISTS", "s"]), int(0));
    // Intsets and hashtables of every size pop distinct members.
    for n in [10, 600] {
        let items: Vec<String> = (0..n).map(|i| i.to_string()).collect();
        let mut cmd = vec!["SADD", "big"];
        cmd.extend(items.iter().map(String::as_str));
        assert_eq!(c.cmd(&cmd), int(n));
        let popped: BTreeSet<String> = members(c.cmd(&["SPOP", "big", &(n - 3).to_string()])).into_iter().collect();
        assert_eq!(popped.len() as i64, n - 3);
        let left = members(c.cmd(&["SMEMBERS", "big"]));
        assert!(left.len() == 3 && left.iter().all(|m| !popped.contains(m)));
        c.cmd(&["DEL", "big"]);
    }
}

#[test]
fn resp3_shapes() {
    let server = start();
    let mut c = server.conn();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Frame::Map(_)));
    assert_eq!(c.cmd(&["SADD", "s", "1", "2"]), int(2));
    assert_eq!(c.cmd(&["SMEMBERS", "s"]), Frame::Set(vec![bulk("1"), bulk("2")]));
    assert_eq!(c.cmd(&["SMEMBERS", "nokey"]), Frame::Set(vec![]));
    assert_eq!(c.cmd(&["SINTER", "s", "nokey"]), Frame::Set(vec![]));
    assert!(matches!(c.cmd(&["SUNION", "s"]), Frame::Set(v) if v.len() == 2));
    assert!(matches!(c.cmd(&["SDIFF", "s"]), Frame::Set(v) if v.len() == 2));
    assert!(matches!(c.cmd(&["SRANDMEMBER", "s", "5"]), Frame::Array(v) if v.len() == 2));
    assert_eq!(c.cmd(&["SRANDMEMBER", "nokey"]), Frame::Null);
    assert_eq!(c.cmd(&["SPOP", "nokey"]), Frame::Null);
    assert_eq!(c.cmd(&["SPOP", "nokey", "2"]), Frame::Set(vec![]));
    assert!(matches!(c.cmd(&["SPOP", "s", "1"]), Frame::Set(v) if v.len() == 1));
    assert_eq!(c.cmd(&["SSCAN", "nokey", "0"]), arr(vec![bulk("0"), bulks(&[])]));
}

#[test]
fn encodings_follow_the_intset_limit() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SADD", "i", "1", "-9223372036854775808", "9223372036854775807"]), int(3));
    assert_eq!(encoding(&mut c, "i"), bulk("intset"));
    assert_eq!(c.cmd(&["SMEMBERS", "i"]), bulks(&["-9223372036854775808", "1", "9223372036854775807"]));
    assert_eq!(c.cmd(&["SADD", "t", "5", "007"]), int(2));
    assert_eq!(encoding(&mut c, "t"), bulk("hashtable"));
    assert_eq!(c.cmd(&["SADD", "w", "a"]), int(1));
    assert_eq!(c.cmd(&["SREM", "w", "a"]), int(1));
    assert_eq!(c.cmd(&["SADD", "w", "1"]), int(1));
    assert_eq!(encoding(&mut c, "w"), bulk("intset"), "a new key starts over");
    assert_eq!(c.cmd(&["CONFIG", "SET", "set-max-intset-entries", "2"]), ok());
    assert_eq!(c.cmd(&["SADD", "x", "1", "2"]), int(2));
    assert_eq!(encoding(&mut c, "x"), bulk("intset"));
    assert_eq!(c.cmd(&["SADD", "x", "3"]), int(1));
    assert_eq!(encoding(&mut c, "x"), bulk("hashtable"));
    assert_eq!(c.cmd(&["SREM", "x", "3", "2"]), int(2));
    assert_eq!(encoding(&mut c, "x"), bulk("hashtable"), "never converts back");
    assert_eq!(c.cmd(&["SUNIONSTORE", "y", "i"]), int(3));
    assert_eq!(encoding(&mut c, "y"), bulk("hashtable"));
    assert_eq!(c.cmd(&["CONFIG", "SET", "set-max-intset-entries", "512"]), ok());
}

/// SSCAN over a hashtable returns every member present for the whole
/// iteration, while other members come and go between calls.
#[test]
fn scan_while_the_set_changes() {
    let server = start();
    let mut c = server.conn();
    let stable: Vec<String> = (0..300).map(|i| format!("stable:{i}")).collect();
    for m in &stable {
        c.cmd(&["SADD", "s", m]);
    }
    let (mut cursor, mut seen, mut round) = ("0".to_string(), BTreeSet::new(), 0);
    loop {
        let Frame::Array(page) = c.cmd(&["SSCAN", "s", &cursor, "COUNT", "7"]) else { panic!() };
        seen.extend(members(page[1].clone()));
        cursor = bulk_of(&page[0]);
        for i in 0..40 {
            if round < 20 {
                c.cmd(&["SADD", "s", &format!("churn:{round}:{i}")]);
            } else {
                c.cmd(&["SREM", "s", &format!("churn:{}:{i}", round % 20)]);
            }
        }
        round += 1;
        if cursor == "0" {
            break;
        }
    }
    assert!(round > 3, "the walk took several calls");
    assert!(stable.iter().all(|m| seen.contains(m)), "SSCAN missed members");
    let Frame::Array(page) = c.cmd(&["SSCAN", "s", "0", "MATCH", "stable:1?", "COUNT", "100000"]) else { panic!() };
    assert_eq!((page[0].clone(), members(page[1].clone()).len()), (bulk("0"), 10));
    // A small intset comes back whole, with cursor 0.
    assert_eq!(c.cmd(&["SADD", "i", "3", "1", "2"]), int(3));
    assert_eq!(c.cmd(&["SSCAN", "i", "0", "COUNT", "1"]), arr(vec![bulk("0"), bulks(&["1", "2", "3"])]));
    assert_eq!(c.cmd(&["SSCAN", "i", "0", "MATCH", "2"]), arr(vec![bulk("0"), bulks(&["2"])]));
}

#[test]
fn scan_checks_cursor_then_key_then_options() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SSCAN", "nokey", "0", "foo"]), arr(vec![bulk("0"), bulks(&[])]));
    assert_eq!(c.cmd(&["HSCAN", "nokey", "0", "COUNT", "0"]), arr(vec![bulk("0"), bulks(&[])]));
    assert_eq!(c.cmd(&["SSCAN", "nokey", "abc", "foo"]), err("ERR invalid cursor"));
    assert_eq!(c.cmd(&["SET", "str", "x"]), ok());
    assert_eq!(c.cmd(&["SSCAN", "str", "0", "foo"]), err(WRONGTYPE));
    assert_eq!(c.cmd(&["SADD", "s", "1"]), int(1));
    assert_eq!(c.cmd(&["SSCAN", "s", "0", "foo"]), err("ERR syntax error"));
}
