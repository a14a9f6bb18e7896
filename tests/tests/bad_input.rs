//! Hostile and broken clients: malformed frames, huge lengths, half
//! frames, unauthenticated floods, too many connections, clients that
//! read too much. Each gets Redis's exact error (checked against
//! redis-server 7.0.15) and is closed where Redis closes it, while a
//! well-behaved client on the same server keeps working throughout.

use std::net::IpAddr;
use std::time::{Duration, Instant};

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{start, start_with, Conn, Drained, TestServer};

/// How long a connection must stay quiet to count as "still open".
const QUIET: Duration = Duration::from_millis(300);

/// Sends `input` on a new connection and returns everything the server
/// sent back until it closed (or went quiet).
fn answer(server: &TestServer, input: &[u8]) -> Drained {
    let mut c = server.conn();
    c.send_raw(input);
    c.drain(QUIET)
}

/// The well-behaved client still gets correct answers.
fn still_serves(guard: &mut Conn) {
    assert_eq!(guard.cmd(&["PING"]), simple("PONG"));
    assert_eq!(guard.cmd(&["SET", "guard", "ok"]), ok());
    assert_eq!(guard.cmd(&["GET", "guard"]), bulk("ok"));
}

fn closed_with(reply: &str) -> Drained {
    Drained { bytes: reply.as_bytes().to_vec(), closed: true }
}

fn open_with(reply: &str) -> Drained {
    Drained { bytes: reply.as_bytes().to_vec(), closed: false }
}

#[test]
fn malformed_frames_get_a_protocol_error_and_are_closed() {
    let server = start();
    let mut guard = server.conn();
    let invalid_multibulk = "-ERR Protocol error: invalid multibulk length\r\n";
    let invalid_bulk = "-ERR Protocol error: invalid bulk length\r\n";
    let cases: &[(&[u8], &str)] = &[
        (b"*abc\r\n", invalid_multibulk),
        (b"*\r\n", invalid_multibulk),
        (b"*3000000000\r\n", invalid_multibulk),
        (b"*1\r\n$-5\r\n", invalid_bulk),
        (b"*1\r\n$x\r\n", invalid_bulk),
        (b"*1\r\n$2147483648\r\n", invalid_bulk),
        (b"*1\r\n$536870913\r\n", invalid_bulk),
        (b"*1\r\n+x\r\n", "-ERR Protocol error: expected '$', got '+'\r\n"),
        // Redis writes the offending CR as a space.
        (b"*1\r\n\r\n", "-ERR Protocol error: expected '$', got ' '\r\n"),
        (b"\"unbalanced\r\n", "-ERR Protocol error: unbalanced quotes in request\r\n"),
        // Commands before the bad frame run.
        (b"*1\r\n$4\r\nPING\r\n*2\r\n:1\r\n", "+PONG\r\n-ERR Protocol error: expected '$', got ':'\r\n"),
    ];
    for (input, reply) in cases {
        assert_eq!(answer(&server, input), closed_with(reply), "input {:?}", input.escape_ascii().to_string());
        still_serves(&mut guard);
    }
}

#[test]
fn inline_junk_is_an_unknown_command_and_the_connection_stays() {
    let server = start();
    let d = answer(&server, b"$-5\r\n");
    assert_eq!(d, open_with("-ERR unknown command '$-5', with args beginning with: \r\n"));
    assert_eq!(answer(&server, b"\r\n\r\nPING\r\n"), open_with("+PONG\r\n"));
}

/// Redis 7.0 accepts multibulk counts up to 2^31-1 from authenticated
/// clients (it then waits for the elements).
#[test]
fn multibulk_count_above_a_million_is_refused() {
    // Redis 7.0 raised its limit to INT_MAX; Ferrocache keeps the
    // 1,048,576 limit of Redis 6 (and of issue 2) as a safety bound.
    let server = start();
    assert_eq!(answer(&server, b"*1048576\r\n"), open_with(""));
    assert_eq!(answer(&server, b"*1048577\r\n"), closed_with("-ERR Protocol error: invalid multibulk length\r\n"));
}

#[test]
fn half_a_frame_then_disconnect() {
    let server = start();
    let mut guard = server.conn();
    let halves: &[&[u8]] = &[b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$5\r\nval", b"*2\r\n$3\r\nGET", b"*1\r\n$100000000\r\nabc", b"*5"];
    for half in halves {
        let mut c = server.conn();
        c.send_raw(half);
        drop(c);
        still_serves(&mut guard);
    }
    assert_eq!(guard.cmd(&["GET", "k"]), nil(), "the half SET did not run");
}

#[test]
fn unauthenticated_clients_may_not_send_big_frames() {
    let server = start_with(|c| c.requirepass = Some("pw".into()));
    let mut guard = server.conn();
    assert_eq!(guard.cmd(&["AUTH", "pw"]), ok());
    assert_eq!(answer(&server, b"*11\r\n"), closed_with("-ERR Protocol error: unauthenticated multibulk length\r\n"));
    assert_eq!(answer(&server, b"*1\r\n$16385\r\n"), closed_with("-ERR Protocol error: unauthenticated bulk length\r\n"));
    assert_eq!(answer(&server, b"*10\r\n"), open_with(""));
    assert_eq!(answer(&server, b"*1\r\n$16384\r\n"), open_with(""));
    still_serves(&mut guard);
    assert_eq!(answer(&server, b"*2\r\n$4\r\nAUTH\r\n$2\r\npw\r\n*11\r\n"), open_with("+OK\r\n"));
    let big = "x".repeat(100_000);
    assert_eq!(guard.cmd(&["SET", "big", &big]), ok());
}

#[test]
fn connections_beyond_maxclients_are_refused() {
    const MAX: usize = 50;
    const EXTRA: usize = 10_000;
    // Below the listen backlog, so no SYN waits in a full accept queue.
    const BATCH: usize = 100;
    let server = start_with(|c| c.maxclients = MAX);
    let mut guard = server.conn();
    still_serves(&mut guard);
    let mut fillers: Vec<Conn> = (1..MAX).map(|_| server.conn()).collect();
    for f in &mut fillers {
        assert_eq!(f.cmd(&["PING"]), simple("PONG"));
    }
    let refused = closed_with("-ERR max number of clients reached\r\n");
    for batch in 0..EXTRA / BATCH {
        // A source address per batch, so no local port is reused.
        let source = IpAddr::from([127, 0, 1 + (batch / 250) as u8, (batch % 250) as u8 + 1]);
        let mut extra: Vec<Conn> = (0..BATCH).map(|_| Conn::connect_from(source, server.addr).expect("connect")).collect();
        for (i, c) in extra.iter_mut().enumerate() {
            assert_eq!(c.drain(Duration::from_secs(10)), refused, "extra connection {}", batch * BATCH + i);
        }
        still_serves(&mut guard);
    }
    drop(fillers);
    assert!(eventually(|| Conn::connect(server.addr).cmd(&["PING"]) == simple("PONG")), "a slot frees up after clients leave");
    still_serves(&mut guard);
}

/// Whether `f` becomes true within a few seconds.
fn eventually(mut f: impl FnMut() -> bool) -> bool {
    let deadline = Instant::now() + Duration::from_secs(5);
    while Instant::now() < deadline {
        if f() {
            return true;
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    false
}

#[test]
fn a_client_over_its_output_buffer_limit_is_closed() {
    let server = start_with(|c| c.obuf_normal = (1024 * 1024, 0, 0));
    let mut guard = server.conn();
    let mut reader = server.conn();
    let big = "b".repeat(2 * 1024 * 1024);
    let half = "h".repeat(512 * 1024);
    assert_eq!(guard.cmd(&["SET", "big", &big]), ok());
    assert_eq!(guard.cmd(&["SET", "half", &half]), ok());
    assert_eq!(reader.cmd(&["GET", "half"]), bulk(&half), "a reply under the limit is fine");
    reader.send(&["GET", "big"]);
    assert!(reader.is_closed(), "a 2 MB reply with a 1 MB hard limit closes the client");
    still_serves(&mut guard);
}
