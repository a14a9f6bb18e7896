//! String family, end to end; expected replies were checked against
//! redis-server 7.0.15.

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{start, Frame};

#[test]
fn set_options() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SET", "k", "v", "EX", "10", "EX", "20"]), ok());
    assert_eq!(c.cmd(&["SET", "k", "w", "NX", "GET"]), bulk("v"));
    assert_eq!(c.cmd(&["SET", "k", "w", "XX", "NX"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SET", "k", "w", "EX", "0"]), err("ERR invalid expire time in 'set' command"));
    assert_eq!(c.cmd(&["SET", "k", "w", "EX", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["SET", "k", "w", "EX", "9223372036854775807"]), err("ERR invalid expire time in 'set' command"));
    assert_eq!(c.cmd(&["SET", "k", "w", "KEEPTTL", "EX", "5"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SET", "k", "w", "EX"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["SET", "k", "w", "XX", "GET"]), bulk("v"));
    assert_eq!(c.cmd(&["SET", "nokey", "w", "XX"]), nil());
    assert_eq!(c.cmd(&["SET", "nokey", "w", "XX", "GET"]), nil());
    assert_eq!(c.cmd(&["SET", "k", "x", "EXAT", "1"]), ok());
    assert_eq!(c.cmd(&["GET", "k"]), nil());
    assert_eq!(c.cmd(&["SET", "t", "1", "PX", "100000"]), ok());
    assert_eq!(c.cmd(&["SET", "t", "2", "KEEPTTL"]), ok());
    assert_eq!(c.cmd(&["SET", "t", "3"]), ok());
    assert_eq!(c.cmd(&["GET", "t"]), bulk("3"));
}

#[test]
fn expiry_variants() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SETEX", "k", "0", "v"]), err("ERR invalid expire time in 'setex' command"));
    assert_eq!(c.cmd(&["PSETEX", "k", "-1", "v"]), err("ERR invalid expire time in 'psetex' command"));
    assert_eq!(c.cmd(&["PSETEX", "k", "50", "v"]), ok());
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    std::thread::sleep(std::time::Duration::from_millis(120));
    assert_eq!(c.cmd(&["GET", "k"]), nil());
    assert_eq!(c.cmd(&["SET", "s", "hello"]), ok());
    assert_eq!(c.cmd(&["GETEX", "s", "PERSIST", "EX", "1"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["GETEX", "nokey", "EX", "abc"]), nil());
    assert_eq!(c.cmd(&["GETEX", "s", "EX", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["GETEX", "s", "PX", "40"]), bulk("hello"));
    std::thread::sleep(std::time::Duration::from_millis(100));
    assert_eq!(c.cmd(&["GETEX", "s"]), nil());
}

#[test]
fn multi_key_and_getset() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["MSET", "a"]), err("ERR wrong number of arguments for 'mset' command"));
    assert_eq!(c.cmd(&["MSET", "a", "1", "b"]), err("ERR wrong number of arguments for 'mset' command"));
    assert_eq!(c.cmd(&["MSETNX", "a", "1", "b", "2"]), int(1));
    assert_eq!(c.cmd(&["MSETNX", "a", "1", "c", "2"]), int(0));
    assert_eq!(c.cmd(&["MGET", "a", "b", "c"]), arr(vec![bulk("1"), bulk("2"), nil()]));
    assert_eq!(c.cmd(&["GETDEL", "a"]), bulk("1"));
    assert_eq!(c.cmd(&["GETDEL", "a"]), nil());
    assert_eq!(c.cmd(&["GETSET", "b", "5"]), bulk("2"));
    assert_eq!(c.cmd(&["GETSET", "new", "5"]), nil());
    assert_eq!(c.cmd(&["SETNX", "b", "9"]), int(0));
    assert_eq!(c.cmd(&["SETNX", "z", "9"]), int(1));
    assert_eq!(c.cmd(&["STRLEN", "b"]), int(1));
    assert_eq!(c.cmd(&["STRLEN", "nokey"]), int(0));
}

#[test]
fn counters() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["INCR", "n"]), int(1));
    assert_eq!(c.cmd(&["INCRBY", "n", "41"]), int(42));
    assert_eq!(c.cmd(&["DECR", "n"]), int(41));
    assert_eq!(c.cmd(&["DECRBY", "n", "1"]), int(40));
    assert_eq!(c.cmd(&["DECRBY", "n", "-9223372036854775808"]), err("ERR decrement would overflow"));
    assert_eq!(c.cmd(&["INCRBY", "n", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["SET", "n", "9223372036854775807"]), ok());
    assert_eq!(c.cmd(&["INCR", "n"]), err("ERR increment or decrement would overflow"));
    assert_eq!(c.cmd(&["SET", "n", " 1"]), ok());
    assert_eq!(c.cmd(&["INCR", "n"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "1.5"]), bulk("1.5"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "2"]), bulk("3.5"));
    assert_eq!(c.cmd(&["INCRBYFLOAT", "f", "abc"]), err("ERR value is not a valid float"));
    assert_eq!(c.cmd(&["SET", "t", "10"]), ok());
    assert_eq!(c.cmd(&["PEXPIRE", "t", "100000"]), int(1));
    assert_eq!(c.cmd(&["INCR", "t"]), int(11));
    assert!(matches!(c.cmd(&["PTTL", "t"]), Frame::Integer(n) if n > 90_000), "INCR keeps the TTL");
}

#[test]
fn ranges_and_bits() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SET", "s", "hello"]), ok());
    assert_eq!(c.cmd(&["GETRANGE", "s", "-3", "-1"]), bulk("llo"));
    assert_eq!(c.cmd(&["GETRANGE", "s", "-100", "-200"]), bulk(""));
    assert_eq!(c.cmd(&["GETRANGE", "s", "5", "2"]), bulk(""));
    assert_eq!(c.cmd(&["GETRANGE", "s", "0", "100"]), bulk("hello"));
    assert_eq!(c.cmd(&["SETRANGE", "s", "-1", "x"]), err("ERR offset is out of range"));
    assert_eq!(c.cmd(&["SETRANGE", "new", "3", "ab"]), int(5));
    assert_eq!(c.cmd_bytes(&[b"GET", b"new"]), Frame::Bulk(bytes::Bytes::from_static(b"\0\0\0ab")));
    assert_eq!(c.cmd(&["SETRANGE", "new2", "3", ""]), int(0));
    assert_eq!(c.cmd(&["EXISTS", "new2"]), int(0));
    assert_eq!(c.cmd(&["SETRANGE", "s", "0", "H"]), int(5));
    assert_eq!(c.cmd(&["APPEND", "s", "123"]), int(8));
    assert_eq!(c.cmd(&["GET", "s"]), bulk("Hello123"));
    assert_eq!(c.cmd(&["SETRANGE", "s", "536870911", "xx"]), err("ERR string exceeds maximum allowed size (proto-max-bulk-len)"));
    assert_eq!(c.cmd(&["SETBIT", "b", "4294967296", "1"]), err("ERR bit offset is not an integer or out of range"));
    assert_eq!(c.cmd(&["SETBIT", "b", "1", "2"]), err("ERR bit is not an integer or out of range"));
    assert_eq!(c.cmd(&["SETBIT", "b", "7", "1"]), int(0));
    assert_eq!(c.cmd(&["SETBIT", "b", "7", "0"]), int(1));
    assert_eq!(c.cmd(&["SETBIT", "b", "1", "1"]), int(0));
    assert_eq!(c.cmd(&["GET", "b"]), bulk("@"));
    assert_eq!(c.cmd(&["GETBIT", "b", "1"]), int(1));
    assert_eq!(c.cmd(&["GETBIT", "b", "100"]), int(0));
    assert_eq!(c.cmd(&["GETBIT", "nokey", "a"]), err("ERR bit offset is not an integer or out of range"));
    assert_eq!(c.cmd(&["BITCOUNT", "nokey", "a", "b"]), int(0));
    assert_eq!(c.cmd(&["BITCOUNT", "nokey", "1"]), int(0));
    assert_eq!(c.cmd(&["SET", "s", "hello"]), ok());
    assert_eq!(c.cmd(&["BITCOUNT", "s"]), int(21));
    assert_eq!(c.cmd(&["BITCOUNT", "s", "1"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["BITCOUNT", "s", "a", "b"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["BITCOUNT", "s", "1", "2", "foo"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["BITCOUNT", "s", "1", "1"]), int(4));
    assert_eq!(c.cmd(&["BITCOUNT", "s", "0", "-1", "BIT"]), int(21));
    assert_eq!(c.cmd(&["BITCOUNT", "s", "5", "30", "BIT"]), int(12));
}
