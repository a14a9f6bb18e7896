//! Connection family and dispatch errors, end to end.

use ferrocache_e2e::reply::*;
use ferrocache_e2e::start;

#[test]
fn ping_echo_and_errors() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
    assert_eq!(c.cmd(&["ping", "hi"]), bulk("hi"));
    assert_eq!(c.cmd(&["PING", "a", "b"]), err("ERR wrong number of arguments for 'ping' command"));
    assert_eq!(c.cmd(&["ECHO", "x"]), bulk("x"));
    assert_eq!(c.cmd(&["FOO", "a", "b"]), err("ERR unknown command 'FOO', with args beginning with: 'a' 'b' "));
    assert_eq!(c.cmd(&["CLIENT", "NOPE"]), err("ERR unknown subcommand 'NOPE'. Try CLIENT HELP."));
    assert_eq!(c.cmd(&["CLIENT", "SETNAME"]), err("ERR wrong number of arguments for 'client|setname' command"));
    assert_eq!(c.cmd(&["SELECT", "99"]), err("ERR DB index is out of range"));
    assert_eq!(c.cmd(&["QUIT"]), ok());
    assert!(c.is_closed());
}

#[test]
fn auth_is_required_when_configured() {
    let server = ferrocache_e2e::start_with(|c| c.requirepass = Some("s3cret".into()));
    let mut c = server.conn();
    assert_eq!(c.cmd(&["GET", "a"]), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "wrong"]), err("WRONGPASS invalid username-password pair or user is disabled."));
    assert_eq!(c.cmd(&["AUTH", "s3cret"]), ok());
    assert_eq!(c.cmd(&["GET", "a"]), nil());
    let mut c2 = server.conn();
    let hello = c2.cmd(&["HELLO", "3", "AUTH", "default", "s3cret"]);
    assert!(matches!(hello, ferrocache_e2e::Frame::Map(_)), "{hello:?}");
    assert_eq!(c2.cmd(&["GET", "a"]), ferrocache_e2e::Frame::Null);
}

#[test]
fn transactions_and_watch() {
    let server = start();
    let mut a = server.conn();
    let mut b = server.conn();
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "k", "1"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["GET", "k"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["EXEC"]), arr(vec![ok(), bulk("1")]));

    assert_eq!(a.cmd(&["WATCH", "k"]), ok());
    assert_eq!(b.cmd(&["SET", "k", "2"]), ok());
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["SET", "k", "3"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["EXEC"]), ferrocache_e2e::Frame::NullArray);
    assert_eq!(a.cmd(&["GET", "k"]), bulk("2"));

    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["NOSUCH"]), err("ERR unknown command 'NOSUCH', with args beginning with: "));
    assert_eq!(a.cmd(&["EXEC"]), err("EXECABORT Transaction discarded because of previous errors."));
    assert_eq!(a.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(a.cmd(&["DISCARD"]), err("ERR DISCARD without MULTI"));
}

fn text_of(f: ferrocache_e2e::Frame) -> String {
    match f {
        ferrocache_e2e::Frame::Bulk(b) => String::from_utf8_lossy(&b).into_owned(),
        ferrocache_e2e::Frame::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("expected text, got {other:?}"),
    }
}

#[test]
fn client_subcommands() {
    let server = start();
    let mut a = server.conn();
    let mut b = server.conn();
    let ferrocache_e2e::Frame::Integer(id_a) = a.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
    let ferrocache_e2e::Frame::Integer(id_b) = b.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
    assert_ne!(id_a, id_b);
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), nil());
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "has space"]), err("ERR Client names cannot contain spaces, newlines or special characters."));
    assert_eq!(a.cmd(&["CLIENT", "SETNAME", "worker-1"]), ok());
    assert_eq!(a.cmd(&["CLIENT", "GETNAME"]), bulk("worker-1"));
    assert_eq!(a.cmd(&["SELECT", "3"]), ok());
    let list = text_of(b.cmd(&["CLIENT", "LIST"]));
    let line = list.lines().find(|l| l.starts_with(&format!("id={id_a} "))).expect("a listed");
    assert!(line.contains(" name=worker-1 ") && line.contains(" db=3 ") && line.contains(" cmd=select "), "{line}");
    let info = text_of(a.cmd(&["CLIENT", "INFO"]));
    assert!(info.starts_with(&format!("id={id_a} ")) && info.contains("cmd=client|info"), "{info}");
    let only_b = text_of(a.cmd(&["CLIENT", "LIST", "ID", &id_b.to_string()]));
    assert_eq!(only_b.lines().count(), 1, "{only_b}");
    assert_eq!(a.cmd(&["CLIENT", "NO-EVICT", "on"]), ok());
    assert_eq!(a.cmd(&["CLIENT", "NO-EVICT", "maybe"]), err("ERR syntax error"));
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &id_a.to_string()]), int(0), "SKIPME yes by default");
    assert_eq!(a.cmd(&["CLIENT", "KILL", "1.2.3.4:5"]), err("ERR No such client"));
    assert_eq!(a.cmd(&["CLIENT", "KILL", "ID", &id_b.to_string()]), int(1));
    assert!(b.is_closed(), "killed client is disconnected");
    assert_eq!(a.cmd(&["PING"]), simple("PONG"));
}

#[test]
fn reset_and_resp3() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["HELLO", "4"]), err("NOPROTO unsupported protocol version"));
    let ferrocache_e2e::Frame::Map(fields) = c.cmd(&["HELLO", "3", "SETNAME", "r3"]) else { panic!("HELLO 3 map") };
    assert!(fields.contains(&(bulk("proto"), int(3))), "{fields:?}");
    assert!(fields.contains(&(bulk("version"), bulk("7.0.15"))), "{fields:?}");
    assert_eq!(c.cmd(&["GET", "missing"]), ferrocache_e2e::Frame::Null);
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), bulk("r3"));
    assert_eq!(c.cmd(&["SELECT", "2"]), ok());
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["RESET"]), simple("RESET"));
    assert_eq!(c.cmd(&["GET", "missing"]), nil(), "back to RESP2");
    assert_eq!(c.cmd(&["CLIENT", "GETNAME"]), nil());
    assert_eq!(c.cmd(&["EXEC"]), err("ERR EXEC without MULTI"));
    assert_eq!(c.cmd(&["SET", "k", "db0"]), ok());
    assert_eq!(c.cmd(&["SELECT", "2"]), ok());
    assert_eq!(c.cmd(&["GET", "k"]), nil(), "RESET selected db 0 again");
}

#[test]
fn idle_clients_time_out() {
    let server = ferrocache_e2e::start_with(|c| c.timeout = 1);
    let mut idle = server.conn();
    assert_eq!(idle.cmd(&["PING"]), simple("PONG"));
    std::thread::sleep(std::time::Duration::from_millis(1500));
    assert!(idle.is_closed(), "idle past `timeout` seconds is closed");
    assert_eq!(server.conn().cmd(&["PING"]), simple("PONG"));
}

/// The `io-thread` of every CLIENT LIST line.
fn io_threads(c: &mut ferrocache_e2e::Conn) -> Vec<String> {
    text_of(c.cmd(&["CLIENT", "LIST"]))
        .lines()
        .map(|l| l.split(' ').find_map(|f| f.strip_prefix("io-thread=")).expect("io-thread field").to_string())
        .collect()
}

/// Reads `n` INCR replies and checks that they increase.
fn read_increasing(c: &mut ferrocache_e2e::Conn, n: usize) {
    let mut last = 0;
    for _ in 0..n {
        let Some(ferrocache_e2e::Frame::Integer(v)) = c.read_frame() else { panic!("INCR answers an integer") };
        assert!(v > last, "replies in order: {v} after {last}");
        last = v;
    }
}

/// Clients that keep working on one key move to one event loop
/// (hot-shard affinity): a move between pipelined batches, even with half
/// a request read, loses and reorders nothing.
#[test]
fn clients_of_one_hot_key_gather_on_one_event_loop() {
    let server = ferrocache_e2e::start_with(|c| c.io_threads = 4);
    let mut conns: Vec<_> = (0..12).map(|_| server.conn()).collect();
    let incr = ferrocache_e2e::Frame::command(&[b"INCR".as_slice(), b"hot"]);
    let (head, tail) = incr.split_at(incr.len() - 3);
    for c in conns.iter_mut() {
        // Past the streak that moves a connection, then half a request.
        let mut batch = incr.repeat(100);
        batch.extend_from_slice(head);
        c.send_raw(&batch);
    }
    for c in conns.iter_mut() {
        read_increasing(c, 100);
    }
    std::thread::sleep(std::time::Duration::from_millis(50));
    for c in conns.iter_mut() {
        c.send_raw(tail);
        read_increasing(c, 1);
        for _ in 0..20 {
            c.send(&["INCR", "hot"]);
        }
        read_increasing(c, 20);
    }
    assert_eq!(conns[0].cmd(&["GET", "hot"]), bulk(&(12 * 121).to_string()));
    let threads = io_threads(&mut conns[0]);
    assert_eq!(threads.len(), 12);
    assert!(threads.iter().all(|t| *t == threads[0]), "one event loop serves them all: {threads:?}");
}
