//! List family and blocking pops, end to end; expected replies were
//! checked against redis-server 7.0.15.

use std::time::{Duration, Instant};

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{await_blocked, start, start_with, Conn, Frame};

const WRONGTYPE: &str = "WRONGTYPE Operation against a key holding the wrong kind of value";

fn ints(v: &[i64]) -> Frame {
    arr(v.iter().map(|&n| int(n)).collect())
}

fn range(c: &mut Conn, key: &str) -> Frame {
    c.cmd(&["LRANGE", key, "0", "-1"])
}

#[test]
fn push_pop_and_lengths() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["LPUSH", "l", "a", "b"]), int(2));
    assert_eq!(c.cmd(&["RPUSH", "l", "c"]), int(3));
    assert_eq!(range(&mut c, "l"), bulks(&["b", "a", "c"]));
    assert_eq!(c.cmd(&["LPUSHX", "nokey", "a"]), int(0));
    assert_eq!(c.cmd(&["RPUSHX", "l", "d", "e"]), int(5));
    assert_eq!(c.cmd(&["LPUSHX", "l", "z"]), int(6));
    assert_eq!(c.cmd(&["LLEN", "l"]), int(6));
    assert_eq!(c.cmd(&["LLEN", "nokey"]), int(0));
    assert_eq!(c.cmd(&["LPOP", "l"]), bulk("z"));
    assert_eq!(c.cmd(&["RPOP", "l"]), bulk("e"));
    assert_eq!(c.cmd(&["LPOP", "l", "0"]), arr(vec![]));
    assert_eq!(c.cmd(&["LPOP", "l", "2"]), bulks(&["b", "a"]));
    assert_eq!(c.cmd(&["RPOP", "l", "9223372036854775807"]), bulks(&["d", "c"]));
    assert_eq!(c.cmd(&["EXISTS", "l"]), int(0));
    assert_eq!(c.cmd(&["LPOP", "l"]), nil());
    assert_eq!(c.cmd(&["LPOP", "l", "2"]), Frame::NullArray);
    assert_eq!(c.cmd(&["LPOP", "l", "0"]), Frame::NullArray);
    assert_eq!(c.cmd(&["LPOP", "l", "-1"]), err("ERR value is out of range, must be positive"));
    assert_eq!(c.cmd(&["LPOP", "l", "abc"]), err("ERR value is out of range, must be positive"));
    assert_eq!(c.cmd(&["LPOP", "l", "1", "2"]), err("ERR wrong number of arguments for 'lpop' command"));
    assert_eq!(c.cmd(&["LPUSH", "l"]), err("ERR wrong number of arguments for 'lpush' command"));
    assert_eq!(c.cmd(&["SET", "s", "x"]), ok());
    for cmd in [&["LPUSH", "s", "a"][..], &["LPUSHX", "s", "a"], &["LPOP", "s"], &["LLEN", "s"], &["LRANGE", "s", "0", "1"]] {
        assert_eq!(c.cmd(cmd), err(WRONGTYPE), "{cmd:?}");
    }
    assert_eq!(c.cmd(&["RPUSH", "l", "x"]), int(1));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "l"]), bulk("quicklist"));
    assert_eq!(c.cmd(&["TYPE", "l"]), simple("list"));
}

#[test]
fn resp3_null_shapes() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["HELLO", "3"]);
    assert_eq!(c.cmd(&["LPOP", "nokey"]), Frame::Null);
    assert_eq!(c.cmd(&["LPOP", "nokey", "2"]), Frame::Null);
    assert_eq!(c.cmd(&["LMPOP", "1", "nokey", "LEFT"]), Frame::Null);
    assert_eq!(c.cmd(&["BLPOP", "nokey", "0.01"]), Frame::Null);
    assert_eq!(c.cmd(&["BLMOVE", "nokey", "d", "LEFT", "LEFT", "0.01"]), Frame::Null);
    assert_eq!(c.cmd(&["LINDEX", "nokey", "0"]), Frame::Null);
    assert_eq!(c.cmd(&["RPUSH", "l", "a"]), int(1));
    assert_eq!(c.cmd(&["LPOP", "l", "5"]), bulks(&["a"]));
}

#[test]
fn ranges_indexes_and_edits() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["RPUSH", "l", "a", "b", "c", "a", "b", "c"]);
    assert_eq!(c.cmd(&["LRANGE", "l", "-100", "100"]), bulks(&["a", "b", "c", "a", "b", "c"]));
    assert_eq!(c.cmd(&["LRANGE", "l", "-2", "-1"]), bulks(&["b", "c"]));
    assert_eq!(c.cmd(&["LRANGE", "l", "2", "1"]), arr(vec![]));
    assert_eq!(c.cmd(&["LRANGE", "l", "6", "10"]), arr(vec![]));
    assert_eq!(c.cmd(&["LRANGE", "nokey", "0", "-1"]), arr(vec![]));
    assert_eq!(c.cmd(&["LRANGE", "l", "a", "1"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["LINDEX", "l", "-1"]), bulk("c"));
    assert_eq!(c.cmd(&["LINDEX", "l", "6"]), nil());
    assert_eq!(c.cmd(&["LINDEX", "l", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["LINDEX", "nokey", "abc"]), nil());
    assert_eq!(c.cmd(&["LSET", "l", "-1", "z"]), ok());
    assert_eq!(c.cmd(&["LSET", "l", "6", "z"]), err("ERR index out of range"));
    assert_eq!(c.cmd(&["LSET", "nokey", "0", "z"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["LSET", "nokey", "x", "z"]), err("ERR no such key"));
    assert_eq!(c.cmd(&["LSET", "l", "x", "z"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["LREM", "l", "-1", "a"]), int(1));
    assert_eq!(range(&mut c, "l"), bulks(&["a", "b", "c", "b", "z"]));
    assert_eq!(c.cmd(&["LREM", "l", "0", "b"]), int(2));
    assert_eq!(c.cmd(&["LREM", "nokey", "0", "b"]), int(0));
    assert_eq!(c.cmd(&["LINSERT", "l", "BEFORE", "c", "x"]), int(4));
    assert_eq!(c.cmd(&["LINSERT", "l", "after", "z", "y"]), int(5));
    assert_eq!(c.cmd(&["LINSERT", "l", "AFTER", "nope", "y"]), int(-1));
    assert_eq!(c.cmd(&["LINSERT", "nokey", "AFTER", "a", "y"]), int(0));
    assert_eq!(c.cmd(&["LINSERT", "l", "MIDDLE", "a", "y"]), err("ERR syntax error"));
    assert_eq!(range(&mut c, "l"), bulks(&["a", "x", "c", "z", "y"]));
    assert_eq!(c.cmd(&["LTRIM", "l", "1", "-2"]), ok());
    assert_eq!(range(&mut c, "l"), bulks(&["x", "c", "z"]));
    assert_eq!(c.cmd(&["LTRIM", "l", "5", "10"]), ok());
    assert_eq!(c.cmd(&["EXISTS", "l"]), int(0));
    assert_eq!(c.cmd(&["LTRIM", "l", "1", "a"]), err("ERR value is not an integer or out of range"));
}

#[test]
fn lpos_options() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["RPUSH", "l", "a", "b", "c", "a", "b", "c"]);
    assert_eq!(c.cmd(&["LPOS", "l", "c"]), int(2));
    assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "-1"]), int(5));
    assert_eq!(c.cmd(&["LPOS", "l", "c", "RANK", "2", "MAXLEN", "3"]), nil());
    assert_eq!(c.cmd(&["LPOS", "l", "a", "COUNT", "0", "RANK", "-1"]), ints(&[3, 0]));
    assert_eq!(c.cmd(&["LPOS", "l", "b", "COUNT", "1"]), ints(&[1]));
    assert_eq!(c.cmd(&["LPOS", "l", "a", "RANK", "-9223372036854775808"]), int(3));
    assert_eq!(c.cmd(&["LPOS", "l", "a", "RANK", "1", "RANK", "3"]), nil());
    assert_eq!(c.cmd(&["LPOS", "nokey", "a"]), nil());
    assert_eq!(c.cmd(&["LPOS", "nokey", "a", "COUNT", "0"]), arr(vec![]));
    let rank0 = "ERR RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list";
    assert_eq!(c.cmd(&["LPOS", "l", "a", "RANK", "0"]), err(rank0));
    assert_eq!(c.cmd(&["LPOS", "l", "a", "RANK", "abc"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["LPOS", "l", "a", "COUNT", "-1"]), err("ERR COUNT can't be negative"));
    assert_eq!(c.cmd(&["LPOS", "l", "a", "COUNT", "abc"]), err("ERR COUNT can't be negative"));
    assert_eq!(c.cmd(&["LPOS", "l", "a", "MAXLEN", "9223372036854775808"]), err("ERR MAXLEN can't be negative"));
    assert_eq!(c.cmd(&["LPOS", "l", "a", "FOO", "1"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["LPOS", "l", "a", "RANK"]), err("ERR syntax error"));
    c.cmd(&["SET", "s", "x"]);
    assert_eq!(c.cmd(&["LPOS", "s", "a", "RANK", "0"]), err(rank0));
    assert_eq!(c.cmd(&["LPOS", "s", "a"]), err(WRONGTYPE));
}

#[test]
fn moves_and_multi_pops() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["RPUSH", "src", "a", "b", "c"]);
    assert_eq!(c.cmd(&["LMOVE", "src", "dst", "LEFT", "RIGHT"]), bulk("a"));
    assert_eq!(c.cmd(&["RPOPLPUSH", "src", "dst"]), bulk("c"));
    assert_eq!(range(&mut c, "dst"), bulks(&["c", "a"]));
    assert_eq!(c.cmd(&["LMOVE", "dst", "dst", "LEFT", "RIGHT"]), bulk("c"));
    assert_eq!(range(&mut c, "dst"), bulks(&["a", "c"]));
    assert_eq!(c.cmd(&["LMOVE", "nokey", "dst", "LEFT", "RIGHT"]), nil());
    assert_eq!(c.cmd(&["LMOVE", "src", "dst", "UP", "RIGHT"]), err("ERR syntax error"));
    c.cmd(&["SET", "s", "x"]);
    assert_eq!(c.cmd(&["LMOVE", "src", "s", "LEFT", "RIGHT"]), err(WRONGTYPE));
    assert_eq!(c.cmd(&["LMOVE", "nokey", "s", "LEFT", "RIGHT"]), nil());
    assert_eq!(range(&mut c, "src"), bulks(&["b"]));
    assert_eq!(c.cmd(&["LMPOP", "2", "nokey", "dst", "RIGHT", "COUNT", "10"]), arr(vec![bulk("dst"), bulks(&["c", "a"])]));
    assert_eq!(c.cmd(&["LMPOP", "1", "src", "LEFT"]), arr(vec![bulk("src"), bulks(&["b"])]));
    assert_eq!(c.cmd(&["LMPOP", "1", "src", "LEFT"]), Frame::NullArray);
    for (args, e) in [
        (&["LMPOP", "0", "l", "LEFT"][..], "ERR numkeys should be greater than 0"),
        (&["LMPOP", "abc", "l", "LEFT"], "ERR numkeys should be greater than 0"),
        (&["LMPOP", "2", "l", "LEFT"], "ERR syntax error"),
        (&["LMPOP", "1", "l", "MIDDLE"], "ERR syntax error"),
        (&["LMPOP", "1", "l", "LEFT", "COUNT", "0"], "ERR count should be greater than 0"),
        (&["LMPOP", "1", "l", "LEFT", "COUNT", "1", "COUNT", "2"], "ERR syntax error"),
        (&["LMPOP", "1", "l", "LEFT", "COUNT"], "ERR syntax error"),
        (&["LMPOP", "1", "s", "LEFT"], WRONGTYPE),
    ] {
        assert_eq!(c.cmd(args), err(e), "{args:?}");
    }
}

#[test]
fn large_lists_span_many_nodes() {
    let server = start();
    let mut c = server.conn();
    let items: Vec<String> = (0..3000).map(|i| format!("element-{i}")).collect();
    let mut args = vec!["RPUSH", "big"];
    args.extend(items.iter().map(String::as_str));
    assert_eq!(c.cmd(&args), int(3000));
    assert_eq!(c.cmd(&["LINDEX", "big", "1500"]), bulk("element-1500"));
    assert_eq!(c.cmd(&["LINDEX", "big", "-1"]), bulk("element-2999"));
    assert_eq!(c.cmd(&["LRANGE", "big", "2998", "-1"]), bulks(&["element-2998", "element-2999"]));
    assert_eq!(c.cmd(&["LINSERT", "big", "BEFORE", "element-2000", "x"]), int(3001));
    assert_eq!(c.cmd(&["LPOS", "big", "x"]), int(2000));
    assert_eq!(c.cmd(&["LTRIM", "big", "1000", "-1000"]), ok());
    assert_eq!(c.cmd(&["LLEN", "big"]), int(1002));
    assert_eq!(c.cmd(&["LINDEX", "big", "0"]), bulk("element-1000"));
}

#[test]
fn blocking_pops_serve_waiters_in_order() {
    let server = start();
    let (mut a, mut b, mut p) = (server.conn(), server.conn(), server.conn());
    a.send(&["BLPOP", "q", "other", "0"]);
    await_blocked(&mut p, 1);
    b.send(&["BRPOP", "q", "0"]);
    await_blocked(&mut p, 2);
    assert_eq!(p.cmd(&["RPUSH", "q", "1", "2", "3"]), int(3));
    assert_eq!(a.read_frame(), Some(bulks(&["q", "1"])));
    assert_eq!(b.read_frame(), Some(bulks(&["q", "3"])));
    assert_eq!(range(&mut p, "q"), bulks(&["2"]));
    assert_eq!(p.cmd(&["BLPOP", "nokey", "q", "0"]), bulks(&["q", "2"]));
    a.send(&["BLMPOP", "0", "2", "x", "y", "RIGHT", "COUNT", "5"]);
    await_blocked(&mut p, 1);
    p.cmd(&["RPUSH", "y", "1", "2"]);
    assert_eq!(a.read_frame(), Some(arr(vec![bulk("y"), bulks(&["2", "1"])])));
    await_blocked(&mut p, 0);
}

#[test]
fn blocking_timeouts() {
    let server = start();
    let mut c = server.conn();
    let t = Instant::now();
    assert_eq!(c.cmd(&["BLPOP", "nokey", "0.2"]), Frame::NullArray);
    let took = t.elapsed();
    assert!(took >= Duration::from_millis(200) && took < Duration::from_millis(1500), "{took:?}");
    assert_eq!(c.cmd(&["BRPOPLPUSH", "nokey", "d", "0.01"]), Frame::NullArray);
    assert_eq!(c.cmd(&["BLMOVE", "nokey", "d", "LEFT", "LEFT", "0.001"]), Frame::NullArray);
    assert_eq!(c.cmd(&["BLMPOP", "0.0001", "1", "nokey", "LEFT"]), Frame::NullArray);
    assert_eq!(c.cmd(&["BLPOP", "k", "-1"]), err("ERR timeout is negative"));
    assert_eq!(c.cmd(&["BLPOP", "k", "-0.9"]), err("ERR timeout is negative"));
    assert_eq!(c.cmd(&["BLPOP", "k", "inf"]), err("ERR timeout is negative"));
    assert_eq!(c.cmd(&["BLPOP", "k", "1e30"]), err("ERR timeout is negative"));
    assert_eq!(c.cmd(&["BLPOP", "k", "abc"]), err("ERR timeout is not a float or out of range"));
    assert_eq!(c.cmd(&["BLPOP", "nokey", "0x1p-4"]), Frame::NullArray, "hex floats, as C's strtold reads them");
    assert_eq!(c.cmd(&["BLPOP", "k", "0xg"]), err("ERR timeout is not a float or out of range"));
    assert_eq!(c.cmd(&["BLPOP", "k", "nan"]), err("ERR timeout is not a float or out of range"));
    assert_eq!(c.cmd(&["BLMPOP", "-1", "1", "k", "LEFT"]), err("ERR timeout is negative"));
    assert_eq!(c.cmd(&["BLMPOP", "0", "0", "k", "LEFT"]), err("ERR numkeys should be greater than 0"));
    assert_eq!(c.cmd(&["BLMPOP", "abc", "0", "k", "LEFT"]), err("ERR numkeys should be greater than 0"), "the timeout is read last");
    assert_eq!(c.cmd(&["BLMPOP", "abc", "1", "k", "UP"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["BLPOP", "k"]), err("ERR wrong number of arguments for 'blpop' command"));
    c.cmd(&["SET", "s", "x"]);
    assert_eq!(c.cmd(&["BLPOP", "s", "0"]), err(WRONGTYPE));
    assert_eq!(c.cmd(&["BRPOPLPUSH", "s", "d", "0"]), err(WRONGTYPE));
    // A zero timeout waits for good: still blocked after a while.
    let mut p = server.conn();
    c.send(&["BLPOP", "forever", "0"]);
    await_blocked(&mut p, 1);
    let Frame::Bulk(list) = p.cmd(&["CLIENT", "LIST"]) else { panic!() };
    assert_eq!(String::from_utf8_lossy(&list).matches("flags=b ").count(), 1, "CLIENT LIST flags a blocked client: {list:?}");
    std::thread::sleep(Duration::from_millis(300));
    await_blocked(&mut p, 1);
    p.cmd(&["LPUSH", "forever", "x"]);
    assert_eq!(c.read_frame(), Some(bulks(&["forever", "x"])));
}

#[test]
fn blocking_inside_multi_answers_at_once() {
    let server = start();
    let mut c = server.conn();
    c.cmd(&["MULTI"]);
    for cmd in [&["BLPOP", "x", "0"][..], &["BRPOPLPUSH", "x", "y", "0"], &["BLMOVE", "x", "y", "LEFT", "RIGHT", "0"], &["BLMPOP", "0", "1", "x", "LEFT"]] {
        assert_eq!(c.cmd(cmd), simple("QUEUED"));
    }
    assert_eq!(c.cmd(&["EXEC"]), arr(vec![Frame::NullArray, nil(), nil(), Frame::NullArray]));
    // Waiters are served after EXEC, with what the transaction left.
    let mut w = server.conn();
    w.send(&["BLPOP", "k", "0"]);
    await_blocked(&mut c, 1);
    c.cmd(&["MULTI"]);
    c.cmd(&["LPUSH", "k", "a"]);
    c.cmd(&["LPOP", "k"]);
    c.cmd(&["LPUSH", "k", "b", "c"]);
    assert_eq!(c.cmd(&["EXEC"]), arr(vec![int(1), bulk("a"), int(2)]));
    assert_eq!(w.read_frame(), Some(bulks(&["k", "c"])));
    assert_eq!(range(&mut c, "k"), bulks(&["b"]));
}

#[test]
fn pipelined_commands_wait_for_the_blocked_one() {
    let server = start();
    let (mut c, mut p) = (server.conn(), server.conn());
    let mut raw = Vec::new();
    for cmd in [&["BLPOP", "k", "0"][..], &["SET", "after", "1"], &["GET", "after"]] {
        raw.extend(Frame::command(&cmd.iter().map(|s| s.as_bytes()).collect::<Vec<_>>()));
    }
    c.send_raw(&raw);
    await_blocked(&mut p, 1);
    assert_eq!(p.cmd(&["GET", "after"]), nil());
    p.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(c.read_frame(), Some(bulks(&["k", "v"])));
    assert_eq!(c.read_frame(), Some(ok()));
    assert_eq!(c.read_frame(), Some(bulk("1")));
}

#[test]
fn unblock_kill_and_disconnect_release_waiters() {
    let server = start();
    let (mut a, mut p) = (server.conn(), server.conn());
    let id = match a.cmd(&["CLIENT", "ID"]) {
        Frame::Integer(n) => n.to_string(),
        other => panic!("{other:?}"),
    };
    a.send(&["BLPOP", "k", "0"]);
    await_blocked(&mut p, 1);
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id]), int(1));
    assert_eq!(a.read_frame(), Some(Frame::NullArray));
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id]), int(0));
    a.send(&["BLMOVE", "k", "d", "LEFT", "LEFT", "0"]);
    await_blocked(&mut p, 1);
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id, "ERROR"]), int(1));
    assert_eq!(a.read_frame(), Some(err("UNBLOCKED client unblocked via CLIENT UNBLOCK")));
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", &id, "FOO"]), err("ERR CLIENT UNBLOCK reason should be TIMEOUT or ERROR"));
    assert_eq!(p.cmd(&["CLIENT", "UNBLOCK", "abc"]), err("ERR value is not an integer or out of range"));
    // Killed and disconnected waiters leave the queue: the push goes to the next one.
    let mut b = server.conn();
    a.send(&["BLPOP", "k", "0"]);
    await_blocked(&mut p, 1);
    let mut gone = server.conn();
    gone.send(&["BLPOP", "k", "0"]);
    await_blocked(&mut p, 2);
    b.send(&["BLPOP", "k", "0"]);
    await_blocked(&mut p, 3);
    assert_eq!(p.cmd(&["CLIENT", "KILL", "ID", &id]), int(1));
    assert!(a.is_closed());
    drop(gone);
    await_blocked(&mut p, 1);
    p.cmd(&["RPUSH", "k", "v"]);
    assert_eq!(b.read_frame(), Some(bulks(&["k", "v"])));
    assert_eq!(p.cmd(&["EXISTS", "k"]), int(0));
}

#[test]
fn blmove_chains_and_wrong_types() {
    let server = start();
    let (mut a, mut b, mut p) = (server.conn(), server.conn(), server.conn());
    a.send(&["BLMOVE", "k1", "k2", "LEFT", "RIGHT", "0"]);
    await_blocked(&mut p, 1);
    b.send(&["BLPOP", "k2", "0"]);
    await_blocked(&mut p, 2);
    assert_eq!(p.cmd(&["RPUSH", "k1", "x"]), int(1));
    assert_eq!(a.read_frame(), Some(bulk("x")));
    assert_eq!(b.read_frame(), Some(bulks(&["k2", "x"])));
    assert_eq!(p.cmd(&["EXISTS", "k1", "k2"]), int(0));
    // A destination of another type: the waiter gets WRONGTYPE, the element stays.
    a.send(&["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]);
    await_blocked(&mut p, 1);
    p.cmd(&["SET", "dst", "str"]);
    assert_eq!(p.cmd(&["LPUSH", "src", "a"]), int(1));
    assert_eq!(a.read_frame(), Some(err(WRONGTYPE)));
    assert_eq!(range(&mut p, "src"), bulks(&["a"]));
    // The awaited key replaced by another type: the waiter keeps waiting.
    p.cmd(&["DEL", "src"]);
    a.send(&["BLPOP", "k", "0"]);
    await_blocked(&mut p, 1);
    p.cmd(&["MULTI"]);
    p.cmd(&["LPUSH", "k", "a"]);
    p.cmd(&["DEL", "k"]);
    p.cmd(&["SET", "k", "x"]);
    p.cmd(&["EXEC"]);
    await_blocked(&mut p, 1);
    p.cmd(&["DEL", "k"]);
    p.cmd(&["RPUSH", "k", "z"]);
    assert_eq!(a.read_frame(), Some(bulks(&["k", "z"])));
    // A list renamed onto an awaited key serves it.
    a.send(&["BRPOP", "target", "0"]);
    await_blocked(&mut p, 1);
    p.cmd(&["RPUSH", "tmp", "1", "2"]);
    assert_eq!(p.cmd(&["RENAME", "tmp", "target"]), ok());
    assert_eq!(a.read_frame(), Some(bulks(&["target", "2"])));
}

#[test]
fn serving_a_waiter_touches_watched_keys() {
    let server = start();
    let (mut a, mut w, mut p) = (server.conn(), server.conn(), server.conn());
    a.send(&["BLMOVE", "src", "dst", "LEFT", "LEFT", "0"]);
    await_blocked(&mut p, 1);
    assert_eq!(w.cmd(&["WATCH", "dst"]), ok());
    w.cmd(&["MULTI"]);
    w.cmd(&["LLEN", "dst"]);
    p.cmd(&["RPUSH", "src", "v"]);
    assert_eq!(a.read_frame(), Some(bulk("v")));
    assert_eq!(w.cmd(&["EXEC"]), Frame::NullArray);
    assert_eq!(range(&mut p, "dst"), bulks(&["v"]));
}

#[test]
fn waiters_and_pushers_on_different_event_loops() {
    let server = start_with(|c| c.io_threads = 4);
    let mut p = server.conn();
    let mut waiters: Vec<Conn> = (0..8).map(|_| server.conn()).collect();
    for (i, w) in waiters.iter_mut().enumerate() {
        w.send(&["BLPOP", "q", "0"]);
        await_blocked(&mut p, i + 1);
    }
    let pushers: Vec<_> = (0..4)
        .map(|i| {
            let mut c = server.conn();
            std::thread::spawn(move || {
                c.cmd(&["RPUSH", "q", &format!("{}", 2 * i)]);
                c.cmd(&["RPUSH", "q", &format!("{}", 2 * i + 1)]);
                c.cmd(&["LPOP", "q"]);
            })
        })
        .collect();
    pushers.into_iter().for_each(|t| t.join().expect("pusher"));
    // The pushers' own LPOPs never steal from a waiter: each waiter got one element.
    let mut got: Vec<String> = waiters
        .iter_mut()
        .map(|w| match w.read_frame() {
            Some(Frame::Array(v)) => format!("{:?}", v[1]),
            other => panic!("{other:?}"),
        })
        .collect();
    got.sort();
    got.dedup();
    assert_eq!(got.len(), 8);
    assert_eq!(p.cmd(&["EXISTS", "q"]), int(0));
}

#[test]
fn redis_py_queue() {
    let server = start();
    let script = format!(
        r#"
import redis, threading
r = redis.Redis(port={port})
got = []
def worker():
    while True:
        item = r.blpop(["jobs"], timeout=5)
        if item is None or item[1] == b"stop":
            return
        got.append(item[1])
t = threading.Thread(target=worker)
t.start()
p = redis.Redis(port={port})
for i in range(100):
    p.rpush("jobs", str(i))
p.rpush("jobs", "stop")
t.join()
assert got == [str(i).encode() for i in range(100)], got
print("ok")
"#,
        port = server.addr.port()
    );
    let out = std::process::Command::new("python3").args(["-c", &script]).output().expect("python3");
    assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "ok", "{}", String::from_utf8_lossy(&out.stderr));
}

/// A key arriving by MOVE or SWAPDB serves the clients waiting on it.
#[test]
fn move_and_swapdb_wake_waiters() {
    let server = start();
    let (mut a, mut p) = (server.conn(), server.conn());
    a.cmd(&["SELECT", "1"]);
    a.send(&["BLPOP", "q", "0"]);
    await_blocked(&mut p, 1);
    p.cmd(&["RPUSH", "q", "x", "y"]);
    assert_eq!(p.cmd(&["MOVE", "q", "1"]), int(1));
    assert_eq!(a.read_frame(), Some(bulks(&["q", "x"])));
    a.cmd(&["SELECT", "2"]);
    a.send(&["BRPOP", "w", "0"]);
    await_blocked(&mut p, 1);
    p.cmd(&["RPUSH", "w", "1", "2"]);
    assert_eq!(p.cmd(&["SWAPDB", "0", "2"]), ok());
    assert_eq!(a.read_frame(), Some(bulks(&["w", "2"])));
    await_blocked(&mut p, 0);
}
