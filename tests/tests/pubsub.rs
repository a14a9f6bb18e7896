//! Pub/sub end to end: exact RESP2/RESP3 frames of every command (as Redis
//! 7.0 sends them), RESP2 subscribed-mode restrictions, pattern matching,
//! delivery across event-loop threads in publish order, clean-up on
//! disconnect/KILL/RESET, the slow-subscriber output limit, and redis-py.

use std::process::Command;
use std::time::{Duration, Instant};

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{run_bounded, start, start_with, Conn, Frame, TestServer};

fn push(items: Vec<Frame>) -> Frame {
    Frame::Push(items)
}

/// A subscribe/unsubscribe confirmation: `[kind, name, count]`.
fn confirm(kind: &str, name: &str, count: i64) -> Frame {
    arr(vec![bulk(kind), bulk(name), int(count)])
}

fn message(channel: &str, payload: &str) -> Frame {
    bulks(&["message", channel, payload])
}

fn pmessage(pattern: &str, channel: &str, payload: &str) -> Frame {
    bulks(&["pmessage", pattern, channel, payload])
}

/// RESP3 form of a RESP2 array frame.
fn as_push(frame: Frame) -> Frame {
    match frame {
        Frame::Array(items) => push(items),
        other => other,
    }
}

/// Sends a command and reads `n` frames.
fn cmd_n(c: &mut Conn, args: &[&str], n: usize) -> Vec<Frame> {
    c.send(args);
    (0..n).map(|_| c.read_frame().expect("reply")).collect()
}

/// Confirmations of an unsubscribe-from-all: one per name in any order
/// (Redis goes in hash order), counts falling from `first` one by one.
fn check_unsubscribed_all(frames: Vec<Frame>, kind: &str, names: &[&str], first: i64) {
    let mut seen = Vec::new();
    for (i, f) in frames.iter().enumerate() {
        let name = names.iter().find(|n| *f == confirm(kind, n, first - i as i64));
        seen.push(*name.unwrap_or_else(|| panic!("unexpected confirmation {f:?} in {frames:?}")));
    }
    seen.sort();
    assert_eq!(seen, names, "{frames:?}");
}

fn wait_until(what: &str, mut cond: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(10);
    while !cond() {
        assert!(Instant::now() < deadline, "timed out waiting for {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

fn numsub(c: &mut Conn, channel: &str) -> Frame {
    c.cmd(&["PUBSUB", "NUMSUB", channel])
}

const RESTRICTED: &str = "only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context";

#[test]
fn resp2_frames_of_every_command() {
    let server = start();
    let (mut a, mut b) = (server.conn(), server.conn());
    assert_eq!(a.cmd(&["UNSUBSCRIBE"]), arr(vec![bulk("unsubscribe"), nil(), int(0)]));
    assert_eq!(a.cmd(&["PUNSUBSCRIBE"]), arr(vec![bulk("punsubscribe"), nil(), int(0)]));
    assert_eq!(a.cmd(&["SUNSUBSCRIBE"]), arr(vec![bulk("sunsubscribe"), nil(), int(0)]));
    assert_eq!(cmd_n(&mut a, &["UNSUBSCRIBE", "x", "y"], 2), vec![confirm("unsubscribe", "x", 0), confirm("unsubscribe", "y", 0)]);
    assert_eq!(
        cmd_n(&mut a, &["SUBSCRIBE", "c1", "c2", "c1"], 3),
        vec![confirm("subscribe", "c1", 1), confirm("subscribe", "c2", 2), confirm("subscribe", "c1", 2)]
    );
    assert_eq!(cmd_n(&mut a, &["PSUBSCRIBE", "c*", "d?"], 2), vec![confirm("psubscribe", "c*", 3), confirm("psubscribe", "d?", 4)]);
    // Shard channels are counted on their own.
    assert_eq!(a.cmd(&["SSUBSCRIBE", "s1"]), confirm("ssubscribe", "s1", 1));

    assert_eq!(b.cmd(&["PUBLISH", "c1", "m1"]), int(2));
    assert_eq!(a.read_frame(), Some(message("c1", "m1")));
    assert_eq!(a.read_frame(), Some(pmessage("c*", "c1", "m1")));
    assert_eq!(b.cmd(&["PUBLISH", "cx", "m2"]), int(1));
    assert_eq!(a.read_frame(), Some(pmessage("c*", "cx", "m2")));
    assert_eq!(b.cmd(&["PUBLISH", "s1", "m3"]), int(0), "shard channels are a separate namespace");
    assert_eq!(b.cmd(&["SPUBLISH", "s1", "m4"]), int(1));
    assert_eq!(a.read_frame(), Some(bulks(&["smessage", "s1", "m4"])));
    assert_eq!(b.cmd(&["SPUBLISH", "c1", "m5"]), int(0));
    assert_eq!(b.cmd(&["PUBLISH", "nobody", "m"]), int(0));

    assert_eq!(a.cmd(&["PING"]), bulks(&["pong", ""]));
    assert_eq!(a.cmd(&["PING", "hi"]), bulks(&["pong", "hi"]));
    // Unsubscribing from all goes in hash order; the counts fall one by one.
    check_unsubscribed_all(cmd_n(&mut a, &["UNSUBSCRIBE"], 2), "unsubscribe", &["c1", "c2"], 3);
    check_unsubscribed_all(cmd_n(&mut a, &["PUNSUBSCRIBE"], 2), "punsubscribe", &["c*", "d?"], 1);
    assert_eq!(a.cmd(&["PING"]), bulks(&["pong", ""]), "still subscribed to a shard channel");
    assert_eq!(a.cmd(&["SUNSUBSCRIBE"]), confirm("sunsubscribe", "s1", 0));
    assert_eq!(a.cmd(&["PING"]), simple("PONG"), "out of pub/sub mode");
    assert_eq!(a.cmd(&["GET", "x"]), nil());
}

#[test]
fn resp2_subscribed_mode_allows_only_pubsub_commands() {
    let server = start();
    let mut a = server.conn();
    assert_eq!(a.cmd(&["SUBSCRIBE", "c"]), confirm("subscribe", "c", 1));
    for (args, name) in [
        (&["GET", "x"][..], "get"),
        (&["CONFIG", "GET", "x"], "config|get"),
        (&["PUBSUB", "NUMPAT"], "pubsub|numpat"),
        (&["PUBLISH", "a", "b"], "publish"),
        (&["MULTI"], "multi"),
        (&["HELLO", "3"], "hello"),
    ] {
        assert_eq!(a.cmd(args), err(&format!("ERR Can't execute '{name}': {RESTRICTED}")), "{args:?}");
    }
    // Unknown commands and wrong arity are reported first, as in Redis.
    assert_eq!(a.cmd(&["FOO"]), err("ERR unknown command 'FOO', with args beginning with: "));
    assert_eq!(a.cmd(&["GET"]), err("ERR wrong number of arguments for 'get' command"));
    assert_eq!(a.cmd(&["PING", "a", "b"]), err("ERR wrong number of arguments for 'ping' command"));
    assert_eq!(a.cmd(&["PSUBSCRIBE", "p*"]), confirm("psubscribe", "p*", 2));
    assert_eq!(a.cmd(&["SSUBSCRIBE", "s"]), confirm("ssubscribe", "s", 1));
    assert_eq!(a.cmd(&["SUNSUBSCRIBE", "s"]), confirm("sunsubscribe", "s", 0));
    assert_eq!(a.cmd(&["PUNSUBSCRIBE", "p*"]), confirm("punsubscribe", "p*", 1));
    assert_eq!(a.cmd(&["RESET"]), simple("RESET"));
    assert_eq!(a.cmd(&["GET", "x"]), nil(), "RESET leaves pub/sub mode");
    assert_eq!(a.cmd(&["SUBSCRIBE", "c"]), confirm("subscribe", "c", 1));
    assert_eq!(a.cmd(&["QUIT"]), ok());
    assert!(a.is_closed());
}

#[test]
fn resp3_push_frames_and_any_command_while_subscribed() {
    let server = start();
    let (mut a, mut b) = (server.conn(), server.conn());
    a.cmd(&["HELLO", "3"]);
    assert_eq!(a.cmd(&["UNSUBSCRIBE"]), push(vec![bulk("unsubscribe"), Frame::Null, int(0)]));
    assert_eq!(a.cmd(&["SUBSCRIBE", "c1"]), as_push(confirm("subscribe", "c1", 1)));
    assert_eq!(a.cmd(&["PSUBSCRIBE", "c*"]), as_push(confirm("psubscribe", "c*", 2)));
    assert_eq!(a.cmd(&["PING"]), simple("PONG"));
    assert_eq!(a.cmd(&["PING", "x"]), bulk("x"));
    assert_eq!(a.cmd(&["SET", "k", "v"]), ok());
    // A client's own messages come before its PUBLISH reply.
    assert_eq!(
        cmd_n(&mut a, &["PUBLISH", "c1", "self"], 3),
        vec![as_push(message("c1", "self")), as_push(pmessage("c*", "c1", "self")), int(2)]
    );
    assert_eq!(a.cmd(&["PUBSUB", "NUMSUB", "c1"]), arr(vec![bulk("c1"), int(1)]), "a flat array in RESP3 too");
    assert_eq!(b.cmd(&["PUBLISH", "c1", "other"]), int(2));
    assert_eq!(a.read_frame(), Some(as_push(message("c1", "other"))));
    assert_eq!(a.read_frame(), Some(as_push(pmessage("c*", "c1", "other"))));
    // Inside EXEC the messages land where PUBLISH ran, inside the EXEC
    // array (whose header does not count them): Redis 7.0's exact bytes.
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["PUBLISH", "c1", "tx"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["GET", "k"]), simple("QUEUED"));
    assert_eq!(
        cmd_n(&mut a, &["EXEC"], 3),
        vec![arr(vec![as_push(message("c1", "tx")), as_push(pmessage("c*", "c1", "tx"))]), int(2), bulk("v")]
    );
    // Back to RESP2 while subscribed: restricted, messages as arrays.
    a.cmd(&["HELLO", "2"]);
    assert_eq!(a.cmd(&["GET", "k"]), err(&format!("ERR Can't execute 'get': {RESTRICTED}")));
    assert_eq!(b.cmd(&["PUBLISH", "c2", "late"]), int(1));
    assert_eq!(a.read_frame(), Some(pmessage("c*", "c2", "late")));
    assert_eq!(a.cmd(&["RESET"]), simple("RESET"));
    assert_eq!(numsub(&mut b, "c1"), arr(vec![bulk("c1"), int(0)]));
    assert_eq!(b.cmd(&["PUBSUB", "NUMPAT"]), int(0));
}

#[test]
fn introspection_info_and_client_list() {
    let server = start();
    let (mut a, mut b, mut c) = (server.conn(), server.conn(), server.conn());
    cmd_n(&mut a, &["SUBSCRIBE", "news.tech", "news.art", "sport"], 3);
    cmd_n(&mut b, &["SUBSCRIBE", "news.tech"], 1);
    cmd_n(&mut b, &["PSUBSCRIBE", "news.*", "news.*", "sp?rt"], 3);
    cmd_n(&mut a, &["PSUBSCRIBE", "news.*"], 1);
    cmd_n(&mut a, &["SSUBSCRIBE", "shard1", "shard2"], 2);

    let mut channels = match c.cmd(&["PUBSUB", "CHANNELS"]) {
        Frame::Array(v) => v,
        other => panic!("{other:?}"),
    };
    channels.sort_by_key(|f| format!("{f:?}"));
    assert_eq!(channels, vec![bulk("news.art"), bulk("news.tech"), bulk("sport")]);
    let mut news = c.cmd(&["PUBSUB", "CHANNELS", "news.*"]);
    if let Frame::Array(v) = &mut news {
        v.sort_by_key(|f| format!("{f:?}"));
    }
    assert_eq!(news, bulks(&["news.art", "news.tech"]));
    assert_eq!(c.cmd(&["PUBSUB", "CHANNELS", "sp[o]rt"]), bulks(&["sport"]));
    assert_eq!(c.cmd(&["PUBSUB", "CHANNELS", "none*"]), arr(vec![]));
    assert_eq!(
        c.cmd(&["PUBSUB", "NUMSUB", "news.tech", "sport", "zz"]),
        arr(vec![bulk("news.tech"), int(2), bulk("sport"), int(1), bulk("zz"), int(0)])
    );
    assert_eq!(c.cmd(&["PUBSUB", "NUMSUB"]), arr(vec![]));
    assert_eq!(c.cmd(&["PUBSUB", "NUMPAT"]), int(2), "distinct patterns");
    let mut shard = c.cmd(&["PUBSUB", "SHARDCHANNELS"]);
    if let Frame::Array(v) = &mut shard {
        v.sort_by_key(|f| format!("{f:?}"));
    }
    assert_eq!(shard, bulks(&["shard1", "shard2"]));
    assert_eq!(c.cmd(&["PUBSUB", "SHARDCHANNELS", "*2"]), bulks(&["shard2"]));
    assert_eq!(
        c.cmd(&["PUBSUB", "SHARDNUMSUB", "shard1", "news.tech"]),
        arr(vec![bulk("shard1"), int(1), bulk("news.tech"), int(0)])
    );
    // news.tech: 2 channel subscribers + news.* (a, b) = 4.
    assert_eq!(c.cmd(&["PUBLISH", "news.tech", "x"]), int(4));
    assert_eq!(c.cmd(&["PUBLISH", "sport", "x"]), int(2));

    assert_eq!(
        c.cmd(&["PUBSUB", "CHANNELS", "a", "b"]),
        err("ERR unknown subcommand or wrong number of arguments for 'CHANNELS'. Try PUBSUB HELP.")
    );
    assert_eq!(
        c.cmd(&["PUBSUB", "shardchannels", "a", "b"]),
        err("ERR unknown subcommand or wrong number of arguments for 'shardchannels'. Try PUBSUB HELP.")
    );
    assert_eq!(c.cmd(&["PUBSUB", "NUMPAT", "x"]), err("ERR wrong number of arguments for 'pubsub|numpat' command"));
    assert_eq!(c.cmd(&["PUBSUB", "FOO"]), err("ERR unknown subcommand 'FOO'. Try PUBSUB HELP."));
    assert_eq!(c.cmd(&["PUBSUB"]), err("ERR wrong number of arguments for 'pubsub' command"));
    assert_eq!(c.cmd(&["PUBLISH", "a"]), err("ERR wrong number of arguments for 'publish' command"));
    assert_eq!(c.cmd(&["SUBSCRIBE"]), err("ERR wrong number of arguments for 'subscribe' command"));
    match c.cmd(&["PUBSUB", "HELP"]) {
        Frame::Array(lines) => {
            assert_eq!(lines.len(), 14);
            assert_eq!(lines[0], simple("PUBSUB <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
            assert_eq!(lines[1], simple("CHANNELS [<pattern>]"));
        }
        other => panic!("{other:?}"),
    }

    let info = text(c.cmd(&["INFO", "stats"]));
    for field in ["pubsub_channels:3\r\n", "pubsub_patterns:2\r\n", "pubsubshard_channels:2\r\n"] {
        assert!(info.contains(field), "{field} missing in {info}");
    }
    let list = text(c.cmd(&["CLIENT", "LIST"]));
    assert!(list.contains(" flags=P db=0 sub=3 psub=1 ssub=2 "), "{list}");
    assert!(list.contains(" flags=P db=0 sub=1 psub=2 ssub=0 "), "{list}");
    assert!(list.contains(" flags=N db=0 sub=0 psub=0 ssub=0 "), "{list}");
}

/// The text of a bulk or verbatim reply.
fn text(f: Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("not text: {other:?}"),
    }
}

#[test]
fn glob_patterns_match_like_redis() {
    let server = start();
    let (mut sub, mut publisher) = (server.conn(), server.conn());
    let patterns = ["h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "h\\*llo", "*"];
    cmd_n(&mut sub, &[&["PSUBSCRIBE"][..], &patterns].concat(), patterns.len());
    for (channel, expected) in [
        ("hello", vec!["h?llo", "h*llo", "h[ae]llo", "*"]),
        ("hallo", vec!["h?llo", "h*llo", "h[ae]llo", "h[^e]llo", "h[a-b]llo", "*"]),
        ("hxxllo", vec!["h*llo", "*"]),
        ("h*llo", vec!["h?llo", "h*llo", "h[^e]llo", "h\\*llo", "*"]),
        ("other", vec!["*"]),
    ] {
        assert_eq!(publisher.cmd(&["PUBLISH", channel, "m"]), int(expected.len() as i64), "{channel}");
        let mut got: Vec<Frame> = (0..expected.len()).map(|_| sub.read_frame().expect("pmessage")).collect();
        got.sort_by_key(|f| format!("{f:?}"));
        let mut want: Vec<Frame> = expected.iter().map(|p| pmessage(p, channel, "m")).collect();
        want.sort_by_key(|f| format!("{f:?}"));
        assert_eq!(got, want, "{channel}");
    }
}

#[test]
fn subscriptions_are_removed_on_disconnect_kill_and_reset() {
    let server = start();
    let mut admin = server.conn();
    let gone = |admin: &mut Conn| {
        numsub(admin, "ch") == arr(vec![bulk("ch"), int(0)])
            && admin.cmd(&["PUBSUB", "NUMPAT"]) == int(0)
            && admin.cmd(&["PUBSUB", "SHARDCHANNELS"]) == arr(vec![])
    };
    // A subscribed client and its id.
    let subscribe = |s: &TestServer| {
        let mut c = s.conn();
        let id = c.cmd(&["CLIENT", "ID"]);
        c.cmd(&["SUBSCRIBE", "ch"]);
        c.cmd(&["PSUBSCRIBE", "p*"]);
        c.cmd(&["SSUBSCRIBE", "sh"]);
        (c, id)
    };

    let (dropped, _) = subscribe(&server);
    assert_eq!(numsub(&mut admin, "ch"), arr(vec![bulk("ch"), int(1)]));
    drop(dropped);
    wait_until("a closed connection's subscriptions to go", || gone(&mut admin));

    let (mut killed, id) = subscribe(&server);
    let Frame::Integer(id) = id else { panic!("{id:?}") };
    assert_eq!(admin.cmd(&["CLIENT", "KILL", "ID", &id.to_string()]), int(1));
    assert!(killed.is_closed());
    wait_until("a killed client's subscriptions to go", || gone(&mut admin));

    let (mut reset, _) = subscribe(&server);
    assert_eq!(reset.cmd(&["RESET"]), simple("RESET"));
    assert!(gone(&mut admin), "RESET drops subscriptions at once");
    assert_eq!(admin.cmd(&["PUBLISH", "ch", "m"]), int(0));
    assert!(text(admin.cmd(&["INFO", "stats"])).contains("pubsub_channels:0\r\n"));
}

#[test]
fn delivery_across_threads_keeps_each_publishers_order() {
    let server = start_with(|c| c.io_threads = 2);
    const PUBLISHERS: usize = 4;
    const MESSAGES: usize = 2000;
    // Several connections of each kind: the kernel spreads them over both
    // event-loop threads, so publishers and subscribers meet across threads.
    let mut subscribers: Vec<Conn> = (0..4).map(|_| server.conn()).collect();
    for (i, s) in subscribers.iter_mut().enumerate() {
        if i % 2 == 0 {
            s.cmd(&["SUBSCRIBE", "ordered"]);
        } else {
            s.cmd(&["PSUBSCRIBE", "ord*"]);
        }
    }
    let publishers: Vec<_> = (0..PUBLISHERS)
        .map(|p| {
            let mut c = server.conn();
            std::thread::spawn(move || {
                for batch in (0..MESSAGES).collect::<Vec<_>>().chunks(100) {
                    let mut raw = Vec::new();
                    for n in batch {
                        let payload = format!("{p}:{n}");
                        raw.extend_from_slice(&Frame::command(&[b"PUBLISH", b"ordered", payload.as_bytes()]));
                    }
                    c.send_raw(&raw);
                    for _ in batch {
                        assert_eq!(c.read_frame(), Some(int(4)));
                    }
                }
            })
        })
        .collect();
    for (i, s) in subscribers.iter_mut().enumerate() {
        let mut next = [0usize; PUBLISHERS];
        for _ in 0..PUBLISHERS * MESSAGES {
            let frame = s.read_frame().expect("message");
            let Frame::Array(items) = frame else { panic!("{frame:?}") };
            let Some(Frame::Bulk(payload)) = items.last() else { panic!("{items:?}") };
            let payload = String::from_utf8_lossy(payload);
            let (p, n) = payload.split_once(':').expect("p:n");
            let (p, n): (usize, usize) = (p.parse().unwrap(), n.parse().unwrap());
            assert_eq!(n, next[p], "subscriber {i}: publisher {p}'s messages out of order");
            next[p] += 1;
        }
    }
    for p in publishers {
        p.join().expect("publisher");
    }
}

/// Bytes the server's CLIENT LIST shows pending for the client `id` (omem).
fn omem(admin: &mut Conn, id: i64) -> Option<u64> {
    let list = text(admin.cmd(&["CLIENT", "LIST", "ID", &id.to_string()]));
    list.split_whitespace().find_map(|f| f.strip_prefix("omem=")).map(|v| v.parse().expect("omem"))
}

/// A server with a pubsub output limit, a subscriber to `channel` that
/// never reads, and clients to publish and watch.
struct Flood {
    _server: TestServer,
    admin: Conn,
    slow: Conn,
    /// The slow subscriber's client id.
    id: i64,
    publisher: Conn,
}

fn flood(limit: &str, channel: &str) -> Flood {
    let server = start();
    let mut admin = server.conn();
    assert_eq!(admin.cmd(&["CONFIG", "SET", "client-output-buffer-limit", limit]), ok());
    let mut slow = server.conn();
    let Frame::Integer(id) = slow.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
    slow.cmd(&["SUBSCRIBE", channel]);
    let publisher = server.conn();
    Flood { _server: server, admin, slow, id, publisher }
}

#[test]
fn slow_subscriber_is_cut_off_at_its_hard_limit() {
    let Flood { _server, mut admin, mut slow, id, mut publisher } = flood("pubsub 1mb 0 0", "flood");
    let payload = "x".repeat(16 * 1024);
    let mut cut_off = false;
    let mut peak = 0;
    for _ in 0..4000 {
        publisher.cmd(&["PUBLISH", "flood", &payload]);
        match omem(&mut admin, id) {
            Some(bytes) => peak = peak.max(bytes),
            None => {
                cut_off = true;
                break;
            }
        }
    }
    assert!(cut_off, "a subscriber that never reads must be disconnected");
    assert!(peak <= (1 << 20) + 64 * 1024, "queued bytes stayed bounded: peak {peak}");
    assert_eq!(numsub(&mut admin, "flood"), arr(vec![bulk("flood"), int(0)]));
    let stats = text(admin.cmd(&["INFO", "stats"]));
    assert!(stats.contains("client_output_buffer_limit_disconnections:1\r\n"), "{stats}");
    assert!(slow.drain(Duration::from_secs(5)).closed, "the slow subscriber's connection is closed");
    assert_eq!(publisher.cmd(&["PUBLISH", "flood", "after"]), int(0), "the server stays healthy");
}

#[test]
fn slow_subscriber_is_cut_off_after_soft_limit_seconds() {
    let Flood { _server, mut admin, mut slow, id, mut publisher } = flood("pubsub 0 256kb 1", "trickle");
    let payload = "x".repeat(32 * 1024);
    let start = Instant::now();
    let mut over_since = None;
    while let Some(bytes) = omem(&mut admin, id) {
        assert!(start.elapsed() < Duration::from_secs(30), "soft limit never enforced");
        if bytes > 256 * 1024 {
            over_since.get_or_insert_with(Instant::now);
        }
        publisher.cmd(&["PUBLISH", "trickle", &payload]);
        std::thread::sleep(Duration::from_millis(20));
    }
    let over = over_since.expect("the subscriber passed the soft limit before being cut off").elapsed();
    assert!(over >= Duration::from_millis(900), "cut off only after the soft limit's seconds ({over:?} over it)");
    assert!(slow.drain(Duration::from_secs(5)).closed);
}

#[test]
fn pubsub_output_limit_setting() {
    let server = start();
    let mut c = server.conn();
    let get = |c: &mut Conn| c.cmd(&["CONFIG", "GET", "client-output-buffer-limit"]);
    assert_eq!(
        get(&mut c),
        bulks(&["client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 33554432 8388608 60"])
    );
    assert_eq!(c.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 1mb 512kb 5"]), ok());
    assert_eq!(
        get(&mut c),
        bulks(&["client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 5"])
    );
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "pubsub 1 2 3 foo 1 2 3"]),
        err("ERR CONFIG SET failed (possibly related to argument 'client-output-buffer-limit') - Invalid client class specified in buffer limit configuration.")
    );
    assert_eq!(
        get(&mut c),
        bulks(&["client-output-buffer-limit", "normal 0 0 0 slave 268435456 67108864 60 pubsub 1048576 524288 5"]),
        "a rejected setting changes nothing"
    );
}

/// redis-py's PubSub object: subscribe, psubscribe, get_message, listen.
const PYTHON_PUBSUB: &str = r#"
import sys, time
import redis
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
p = r.pubsub()
p.subscribe("news")
p.psubscribe("sp*")
def next_message():
    deadline = time.time() + 10
    while time.time() < deadline:
        m = p.get_message(timeout=1.0)
        if m is not None:
            return m
    raise AssertionError("no message")
assert next_message() == {"type": "subscribe", "pattern": None, "channel": b"news", "data": 1}
assert next_message() == {"type": "psubscribe", "pattern": None, "channel": b"sp*", "data": 2}
assert r.publish("news", "hello") == 1
assert r.publish("sport", "goal") == 1
assert next_message() == {"type": "message", "pattern": None, "channel": b"news", "data": b"hello"}
assert next_message() == {"type": "pmessage", "pattern": b"sp*", "channel": b"sport", "data": b"goal"}
assert r.pubsub_numsub("news") == [(b"news", 1)]
assert r.pubsub_numpat() == 1
assert r.pubsub_channels() == [b"news"]
for i in range(3):
    r.publish("news", str(i))
got = []
for m in p.listen():
    if m["type"] == "message":
        got.append(m["data"])
        if len(got) == 3:
            break
assert got == [b"0", b"1", b"2"], got
p.unsubscribe("news")
assert next_message() == {"type": "unsubscribe", "pattern": None, "channel": b"news", "data": 1}
p.punsubscribe()
assert next_message() == {"type": "punsubscribe", "pattern": None, "channel": b"sp*", "data": 0}
p.close()
print("pubsub ok")
"#;

#[test]
fn python_redis_pubsub() {
    let server = start();
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PYTHON_PUBSUB, &server.addr.port().to_string()]);
    let out = run_bounded(cmd, b"", Duration::from_secs(60));
    let (stdout, stderr) = (String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success() && stdout.contains("pubsub ok"), "redis-py pubsub failed:\n{stdout}\n{stderr}");
}

#[test]
fn subscribers_are_exempt_from_the_idle_timeout() {
    let server = start_with(|c| c.timeout = 1);
    let (mut sub, mut idle) = (server.conn(), server.conn());
    sub.cmd(&["SUBSCRIBE", "quiet"]);
    idle.cmd(&["PING"]);
    std::thread::sleep(Duration::from_millis(2500));
    assert!(idle.is_closed(), "an idle normal client times out");
    assert_eq!(server.conn().cmd(&["PUBLISH", "quiet", "still here"]), int(1));
    assert_eq!(sub.read_frame(), Some(message("quiet", "still here")));
}

/// A RESP3 subscriber parked in a blocking pop still gets its messages
/// while it waits, then the pop's reply.
#[test]
fn resp3_subscriber_gets_messages_while_blocked() {
    let server = start();
    let (mut a, mut b) = (server.conn(), server.conn());
    a.cmd(&["HELLO", "3"]);
    assert_eq!(a.cmd(&["SUBSCRIBE", "news"]), as_push(confirm("subscribe", "news", 1)));
    a.send(&["BLPOP", "jobs", "0"]);
    wait_until("the client to block", || text(b.cmd(&["INFO", "clients"])).contains("blocked_clients:1"));
    assert_eq!(b.cmd(&["PUBLISH", "news", "hello"]), int(1));
    assert_eq!(a.read_frame(), Some(as_push(message("news", "hello"))), "delivered while blocked");
    b.cmd(&["RPUSH", "jobs", "j1"]);
    assert_eq!(a.read_frame(), Some(arr(vec![bulk("jobs"), bulk("j1")])));
}

/// SSUBSCRIBE inside MULTI/EXEC is refused as redis-server 7.0.15 does.
#[test]
fn ssubscribe_inside_exec_is_refused() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SSUBSCRIBE", "x"]), simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]), arr(vec![err("ERR SSUBSCRIBE isn't allowed for a DENY BLOCKING client")]));
    assert_eq!(c.cmd(&["PUBSUB", "SHARDNUMSUB", "x"]), arr(vec![bulk("x"), int(0)]));
}
