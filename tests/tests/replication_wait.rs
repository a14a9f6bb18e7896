//! Synchronous acknowledgements and pauses on a primary: WAIT counts the replicas that
//! acknowledged the client's last write (asking them with REPLCONF GETACK through the stream);
//! min-replicas-to-write refuses writes without enough good replicas; INFO reports the loss
//! window; CLIENT PAUSE holds commands (writes only, or all) until it ends, with expiry stopped;
//! a transaction reaches the replicas as one MULTI/EXEC block, so they never show half of it.
//!
//! Most tests attach a *scripted* replica (a raw connection that sends PSYNC and then reads
//! the stream and acknowledges exactly what the test says), so offsets are deterministic.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::time::{Duration, Instant};

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{await_blocked, start, start_with, Conn, Frame, TestServer, READ_TIMEOUT};

fn field(c: &mut Conn, section: &str, name: &str) -> String {
    c.info_field(section, name)
}

fn num(c: &mut Conn, section: &str, name: &str) -> u64 {
    field(c, section, name).parse().expect("a number")
}

/// Waits until `check` holds (bounded).
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + Duration::from_secs(15);
    while !check() {
        assert!(Instant::now() < deadline, "never happened: {what}");
        std::thread::sleep(Duration::from_millis(10));
    }
}

/// Waits until the replica has applied everything the primary streamed.
fn caught_up(primary: &mut Conn, replica: &mut Conn) {
    eventually("replica caught up", || {
        field(replica, "replication", "master_link_status") == "up"
            && field(primary, "replication", "master_repl_offset") == field(replica, "replication", "slave_repl_offset")
    });
}

fn replicate(replica: &TestServer, primary: &TestServer) -> (Conn, Conn) {
    let (mut p, mut r) = (primary.conn(), replica.conn());
    assert_eq!(r.cmd(&["REPLICAOF", "127.0.0.1", &primary.addr.port().to_string()]), ok());
    caught_up(&mut p, &mut r);
    (p, r)
}

/// Asserts that no reply arrives on `c` for a while (the command is held or waiting).
fn no_reply_yet(c: &mut Conn) {
    let seen = c.drain(Duration::from_millis(250));
    assert!(seen.bytes.is_empty() && !seen.closed, "expected no reply yet, got {seen:?}");
    c.set_timeout(READ_TIMEOUT);
}

/// A replica played by the test: it takes the full copy, then reads the stream command by
/// command and acknowledges only when told to.
struct Scripted {
    stream: TcpStream,
    buf: Vec<u8>,
    /// Offset of the last stream byte read.
    offset: u64,
}

impl Scripted {
    fn attach(primary: &TestServer) -> Scripted {
        let before = primary.conn().cmd(&["ROLE"]);
        let Frame::Array(role) = before else { panic!("ROLE") };
        let Frame::Array(replicas) = &role[2] else { panic!("ROLE replicas") };
        let mut s = Scripted { stream: TcpStream::connect(primary.addr).expect("connect"), buf: Vec::new(), offset: 0 };
        s.stream.set_read_timeout(Some(READ_TIMEOUT)).expect("timeout");
        s.send(&["REPLCONF", "listening-port", "1"]);
        assert_eq!(s.line(), "+OK");
        s.send(&["PSYNC", "?", "-1"]);
        let line = s.line();
        let at = line.strip_prefix("+FULLRESYNC ").and_then(|l| l.split(' ').nth(1)).unwrap_or_else(|| panic!("PSYNC reply {line:?}"));
        s.offset = at.parse().expect("offset");
        // The copy: `$<length>` and that many bytes, or `$EOF:<mark>`, the bytes, the mark.
        let head = s.line();
        let head = head.strip_prefix('$').expect("copy header");
        let len = match head.strip_prefix("EOF:") {
            Some(mark) => loop {
                if let Some(at) = s.buf.windows(mark.len()).position(|w| w == mark.as_bytes()) {
                    break at + mark.len();
                }
                s.fill();
            },
            None => head.parse().expect("length"),
        };
        while s.buf.len() < len {
            s.fill();
        }
        s.buf.drain(..len);
        let n = replicas.len();
        let mut c = primary.conn();
        eventually("the scripted replica is attached", || num(&mut c, "replication", "connected_slaves") as usize == n + 1);
        s
    }

    fn send(&mut self, args: &[&str]) {
        let raw: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.stream.write_all(&Frame::command(&raw)).expect("write");
    }

    fn fill(&mut self) {
        let mut chunk = [0u8; 16 * 1024];
        let n = self.stream.read(&mut chunk).expect("the primary sent nothing within the timeout");
        assert!(n > 0, "the primary closed the stream");
        self.buf.extend_from_slice(&chunk[..n]);
    }

    fn line(&mut self) -> String {
        loop {
            if let Some(end) = self.buf.windows(2).position(|w| w == b"\r\n") {
                let line = String::from_utf8_lossy(&self.buf[..end]).into_owned();
                self.buf.drain(..end + 2);
                return line;
            }
            self.fill();
        }
    }

    /// The stream's next command, as text.
    fn next(&mut self) -> String {
        loop {
            if let Some((frame, used)) = ferrocache_resp::frame::parse(&self.buf).expect("valid stream") {
                self.buf.drain(..used);
                self.offset += used as u64;
                let Frame::Array(args) = frame else { panic!("not a command: {frame:?}") };
                return args.iter().map(text).collect::<Vec<_>>().join(" ");
            }
            self.fill();
        }
    }

    /// Reads commands until one equals `want`; returns those read before it.
    fn until(&mut self, want: &str) -> Vec<String> {
        let mut before = Vec::new();
        loop {
            let cmd = self.next();
            if cmd == want {
                return before;
            }
            before.push(cmd);
        }
    }

    fn ack(&mut self, offset: u64) {
        self.send(&["REPLCONF", "ACK", &offset.to_string()]);
    }
}

#[test]
fn wait_counts_replicas_that_acknowledged_the_clients_last_write() {
    let primary = start();
    let mut replica = Scripted::attach(&primary);
    let mut c = primary.conn();
    assert_eq!(c.cmd(&["WAIT", "1", "0"]), int(1), "no write yet: every attached replica counts at once");
    assert_eq!(c.cmd(&["WAIT", "0", "0"]), int(1));
    assert_eq!(c.cmd(&["GET", "k"]), nil());
    assert_eq!(c.cmd(&["WAIT", "1", "0"]), int(1), "reads do not move the last write offset");

    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    c.send(&["WAIT", "1", "0"]);
    // The request for an ACK follows the write in the stream, so its answer covers the write.
    assert_eq!(replica.until("REPLCONF GETACK *"), ["SELECT 0", "SET k v"]);
    no_reply_yet(&mut c);
    let mut other = primary.conn();
    assert_eq!(other.cmd(&["PING"]), simple("PONG"), "the server goes on while WAIT waits");
    await_blocked(&mut other, 1);
    replica.ack(replica.offset - 40);
    no_reply_yet(&mut c);
    replica.ack(replica.offset);
    assert_eq!(c.read_frame(), Some(int(1)));
    await_blocked(&mut other, 0);

    // Another client's write does not make this one wait.
    assert_eq!(other.cmd(&["SET", "other", "1"]), ok());
    assert_eq!(c.cmd(&["WAIT", "1", "0"]), int(1));
    // Not enough replicas: the count once the timeout passed.
    let started = Instant::now();
    assert_eq!(c.cmd(&["WAIT", "2", "200"]), int(1));
    assert!(started.elapsed() >= Duration::from_millis(150), "WAIT returned before its timeout");
}

#[test]
fn wait_with_real_replicas_and_with_none() {
    let primary = start();
    let mut c = primary.conn();
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(c.cmd(&["WAIT", "1", "100"]), int(0), "no replica");
    let (r1, r2) = (start(), start());
    let (_p1, _c1) = replicate(&r1, &primary);
    let (_p2, _c2) = replicate(&r2, &primary);
    for i in 0..20 {
        assert_eq!(c.cmd(&["INCR", "n"]), int(i + 1));
        assert_eq!(c.cmd(&["WAIT", "2", "0"]), int(2));
    }
    drop(r2);
    eventually("the stopped replica is gone", || num(&mut c, "replication", "connected_slaves") == 1);
    assert_eq!(c.cmd(&["SET", "k", "w"]), ok());
    assert_eq!(c.cmd(&["WAIT", "2", "300"]), int(1));
}

#[test]
fn wait_waits_for_ever_with_timeout_zero_until_a_replica_attaches() {
    let primary = start();
    let mut c = primary.conn();
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    c.send(&["WAIT", "1", "0"]);
    no_reply_yet(&mut c);
    // A replica that took a copy holds everything up to its offset.
    let _replica = Scripted::attach(&primary);
    assert_eq!(c.read_frame(), Some(int(1)));
}

#[test]
fn wait_errors_and_wait_inside_a_transaction() {
    let (primary, replica) = (start(), start());
    let mut c = primary.conn();
    assert_eq!(c.cmd(&["WAIT", "x", "0"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["WAIT", "1", "-1"]), err("ERR timeout is negative"));
    assert_eq!(c.cmd(&["WAIT", "1", "soon"]), err("ERR timeout is not an integer or out of range"));
    assert_eq!(c.cmd(&["WAIT", "1"]), err("ERR wrong number of arguments for 'wait' command"));
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "k", "v"]), simple("QUEUED"));
    assert_eq!(c.cmd(&["WAIT", "5", "0"]), simple("QUEUED"));
    assert_eq!(c.cmd(&["EXEC"]), arr(vec![ok(), int(0)]), "a transaction cannot block: WAIT answers at once");
    let (_p, mut r) = replicate(&replica, &primary);
    let Frame::Error(e) = r.cmd(&["WAIT", "0", "0"]) else { panic!("WAIT on a replica must fail") };
    assert!(e.starts_with(b"ERR WAIT cannot be used with replica instances."), "{}", String::from_utf8_lossy(&e));
}

#[test]
fn min_replicas_to_write_refuses_writes_without_enough_good_replicas() {
    let primary = start();
    let mut c = primary.conn();
    assert_eq!(c.cmd(&["CONFIG", "GET", "min-replicas-to-write"]), bulks(&["min-replicas-to-write", "0"]));
    assert_eq!(c.cmd(&["CONFIG", "GET", "min-slaves-max-lag"]), bulks(&["min-slaves-max-lag", "10"]));
    assert_eq!(c.cmd(&["CONFIG", "SET", "min-slaves-to-write", "1"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "GET", "min-replicas-to-write"]), bulks(&["min-replicas-to-write", "1"]));
    let refused = err("NOREPLICAS Not enough good replicas to write.");
    assert_eq!(c.cmd(&["SET", "k", "v"]), refused);
    assert_eq!(c.cmd(&["GET", "k"]), nil(), "reads go on");
    assert_eq!(field(&mut c, "replication", "min_slaves_good_slaves"), "0");
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SET", "k", "v"]), refused);
    assert_eq!(c.cmd(&["EXEC"]), err("EXECABORT Transaction discarded because of previous errors."));

    let mut replica = Scripted::attach(&primary);
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(field(&mut c, "replication", "min_slaves_good_slaves"), "1");
    assert_eq!(c.cmd(&["CONFIG", "SET", "min-replicas-to-write", "2"]), ok());
    assert_eq!(c.cmd(&["DEL", "k"]), refused);
    assert_eq!(c.cmd(&["CONFIG", "SET", "min-replicas-to-write", "1", "min-replicas-max-lag", "1"]), ok());
    // A replica that stops acknowledging stops being good once its last ACK is older than the lag.
    std::thread::sleep(Duration::from_millis(2100));
    assert_eq!(c.cmd(&["SET", "k", "v"]), refused);
    replica.ack(replica.offset);
    eventually("the fresh ACK makes the replica good", || c.cmd(&["SET", "k", "v"]) == ok());
    assert_eq!(c.cmd(&["CONFIG", "SET", "min-replicas-to-write", "0"]), ok());
    let info = text(&c.cmd(&["INFO", "replication"]));
    assert!(!info.contains("min_slaves_good_slaves"), "shown only while min-replicas-to-write is on");
}

#[test]
fn the_loss_window_is_the_stream_no_replica_acknowledged() {
    let primary = start();
    let mut c = primary.conn();
    let window = |c: &mut Conn| num(c, "replication", "ferrocache_repl_loss_window_bytes");
    assert_eq!(window(&mut c), num(&mut c, "replication", "master_repl_offset"), "no replica: all of it");
    let mut replica = Scripted::attach(&primary);
    assert_eq!(window(&mut c), 0, "the copy covers everything so far");
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    let end = num(&mut c, "replication", "master_repl_offset");
    assert!(end > replica.offset);
    assert_eq!(window(&mut c), end - replica.offset);
    replica.until("SET k v");
    replica.ack(replica.offset);
    eventually("the ACK closes the window", || window(&mut c) == 0);
    let mut second = Scripted::attach(&primary);
    assert_eq!(c.cmd(&["SET", "k", "w"]), ok());
    second.until("SET k w");
    second.ack(second.offset);
    eventually("the most advanced replica counts", || window(&mut c) == 0);
}

#[test]
fn client_pause_write_holds_writes_and_lets_reads_run() {
    let primary = start();
    let (mut admin, mut writer, mut reader) = (primary.conn(), primary.conn(), primary.conn());
    assert_eq!(writer.cmd(&["SET", "k", "1"]), ok());
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "20000", "WRITE"]), ok());
    writer.send_raw(b"*3\r\n$3\r\nSET\r\n$1\r\nk\r\n$1\r\n2\r\n*2\r\n$3\r\nGET\r\n$1\r\nk\r\n");
    no_reply_yet(&mut writer);
    assert_eq!(reader.cmd(&["GET", "k"]), bulk("1"), "reads are not held");
    assert_eq!(field(&mut reader, "server", "redis_version"), "7.0.15");
    await_blocked(&mut reader, 1);
    reader.send(&["PUBLISH", "ch", "m"]);
    no_reply_yet(&mut reader);
    assert_eq!(admin.cmd(&["GET", "k"]), bulk("1"));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(writer.read_frame(), Some(ok()), "the held write runs once the pause ends");
    assert_eq!(writer.read_frame(), Some(bulk("2")), "and what was pipelined behind it");
    assert_eq!(reader.read_frame(), Some(int(0)));
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok(), "unpausing twice is fine");
}

#[test]
fn client_pause_all_holds_everything_but_the_pausing_clients_admin_commands() {
    let primary = start();
    let (mut admin, mut other) = (primary.conn(), primary.conn());
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "20000"]), ok());
    other.send(&["PING"]);
    no_reply_yet(&mut other);
    let Frame::Bulk(list) = admin.cmd(&["CLIENT", "LIST"]) else { panic!("CLIENT LIST") };
    assert!(String::from_utf8_lossy(&list).contains("flags=b"), "the held client shows as blocked");
    // A looser, shorter pause asked meanwhile keeps the stricter mode and the later end.
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "10", "WRITE"]), ok());
    std::thread::sleep(Duration::from_millis(50));
    no_reply_yet(&mut other);
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(other.read_frame(), Some(simple("PONG")));
}

#[test]
fn a_pause_ends_by_itself_and_bad_arguments_are_refused() {
    let primary = start();
    let (mut admin, mut writer) = (primary.conn(), primary.conn());
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "abc"]), err("ERR timeout is not an integer or out of range"));
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "-1"]), err("ERR timeout is negative"));
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "10", "READS"]), err("ERR CLIENT PAUSE mode must be WRITE or ALL"));
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "300", "WRITE"]), ok());
    let started = Instant::now();
    assert_eq!(writer.cmd(&["SET", "k", "v"]), ok());
    assert!(started.elapsed() >= Duration::from_millis(200), "the write was not held");
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "0"]), ok(), "a zero pause is over at once");
    assert_eq!(writer.cmd(&["SET", "k", "w"]), ok());
}

#[test]
fn a_write_pause_stops_expiry_so_the_stream_stands_still() {
    let primary = start_with(|c| c.hz = 100);
    let _replica = Scripted::attach(&primary);
    let mut c = primary.conn();
    assert_eq!(c.cmd(&["SET", "short", "v", "PX", "100"]), ok());
    assert_eq!(c.cmd(&["CLIENT", "PAUSE", "20000", "WRITE"]), ok());
    let offset = num(&mut c, "replication", "master_repl_offset");
    std::thread::sleep(Duration::from_millis(300));
    assert_eq!(c.cmd(&["GET", "short"]), nil(), "an expired key reads as absent");
    assert_eq!(c.cmd(&["DBSIZE"]), int(1), "but is not deleted during the pause");
    assert_eq!(num(&mut c, "replication", "master_repl_offset"), offset, "nothing was appended");
    assert_eq!(c.cmd(&["CLIENT", "UNPAUSE"]), ok());
    eventually("expiry resumes", || c.cmd(&["DBSIZE"]) == int(0));
    assert!(num(&mut c, "replication", "master_repl_offset") > offset, "the DEL is replicated after the pause");
}

#[test]
fn a_transaction_reaches_the_stream_as_one_block() {
    let primary = start();
    let mut replica = Scripted::attach(&primary);
    let mut c = primary.conn();
    for cmd in [&["MULTI"][..], &["INCR", "a"], &["GET", "a"], &["INCR", "b"]] {
        c.cmd(cmd);
    }
    assert_eq!(c.cmd(&["EXEC"]), arr(vec![int(1), bulk("1"), int(1)]));
    assert_eq!(replica.until("EXEC"), ["SELECT 0", "MULTI", "INCR a", "INCR b"]);
    // A transaction that wrote once needs no wrapping (as Redis 7).
    for cmd in [&["MULTI"][..], &["INCR", "a"], &["GET", "b"]] {
        c.cmd(cmd);
    }
    c.cmd(&["EXEC"]);
    assert_eq!(c.cmd(&["SET", "marker", "1"]), ok());
    assert_eq!(replica.until("SET marker 1"), ["INCR a"]);
    // With WAIT on top: the block counts as the client's write.
    for cmd in [&["MULTI"][..], &["INCR", "a"], &["INCR", "b"]] {
        c.cmd(cmd);
    }
    c.cmd(&["EXEC"]);
    c.send(&["WAIT", "1", "0"]);
    assert_eq!(replica.until("REPLCONF GETACK *"), ["MULTI", "INCR a", "INCR b", "EXEC"]);
    replica.ack(replica.offset);
    assert_eq!(c.read_frame(), Some(int(1)));
}

#[test]
fn a_replica_never_shows_half_a_transaction() {
    let (primary, replica) = (start(), start());
    let (mut p, mut r) = replicate(&replica, &primary);
    let done = std::sync::Arc::new(std::sync::atomic::AtomicBool::new(false));
    let reader = {
        let (done, mut r) = (done.clone(), replica.conn());
        std::thread::spawn(move || {
            let mut reads = 0;
            while !done.load(std::sync::atomic::Ordering::Relaxed) {
                let got = r.cmd(&["MGET", "a", "b"]);
                let Frame::Array(v) = &got else { panic!("MGET") };
                assert_eq!(v[0], v[1], "the replica showed half a transaction: {got:?}");
                reads += 1;
            }
            reads
        })
    };
    let mut writers: Vec<_> = (0..2)
        .map(|_| {
            let mut c = primary.conn();
            std::thread::spawn(move || {
                for _ in 0..300 {
                    c.send(&["MULTI"]);
                    c.send(&["INCR", "a"]);
                    c.send(&["INCR", "b"]);
                    c.send(&["EXEC"]);
                    for _ in 0..4 {
                        c.read_frame().expect("reply");
                    }
                }
            })
        })
        .collect();
    for w in writers.drain(..) {
        w.join().expect("writer");
    }
    caught_up(&mut p, &mut r);
    done.store(true, std::sync::atomic::Ordering::Relaxed);
    assert!(reader.join().expect("reader") > 0);
    assert_eq!(r.cmd(&["MGET", "a", "b"]), bulks(&["600", "600"]));
}

/// A planned failover's switch: writes held by CLIENT PAUSE WRITE on the old owner of a slot
/// are routed once released, so after the map moved the slot they get MOVED, not run here.
#[test]
fn held_writes_are_routed_by_the_map_in_force_when_the_pause_ends() {
    use ferrocache_topology::map::{ClusterMap, Node, NodeId, NodeState, Shard};
    use ferrocache_topology::placement::SlotRange;
    let nodes: Vec<TestServer> = (0..2).map(|_| start_with(|c| c.cluster_enabled = true)).collect();
    let id = |i: usize| NodeId::try_from(format!("{:040x}", 0xa1 + i)).unwrap();
    let map = |epoch: u64, split: u16| {
        let node = |i: usize| Node { id: id(i), addr: nodes[i].addr.to_string(), admin: String::new(), zone: None, weight: 1, boot: None, state: NodeState::Up };
        let shard = |i: usize, start: u16, end: u16| Shard { primary: id(i), replicas: Vec::new(), slots: vec![SlotRange { start, end }] };
        ClusterMap { epoch, nodes: vec![node(0), node(1)], shards: vec![shard(0, 0, split), shard(1, split + 1, 16383)], migrations: Vec::new() }
    };
    let install = |m: &ClusterMap| nodes.iter().for_each(|n| n.shared.cluster.as_ref().expect("cluster mode").install(m.clone()));
    for (i, n) in nodes.iter().enumerate() {
        n.shared.cluster.as_ref().expect("cluster mode").set_identity(id(i));
    }
    install(&map(1, 16000)); // node 0 owns foo (slot 12182)
    let (mut admin, mut writer) = (nodes[0].conn(), nodes[0].conn());
    assert_eq!(writer.cmd(&["SET", "foo", "1"]), ok());
    assert_eq!(admin.cmd(&["CLIENT", "PAUSE", "20000", "WRITE"]), ok());
    writer.send(&["SET", "foo", "2"]);
    no_reply_yet(&mut writer);
    assert_eq!(admin.cmd(&["GET", "foo"]), bulk("1"), "reads are still served by the old owner");
    install(&map(2, 10000)); // foo's slot now belongs to node 1
    assert_eq!(admin.cmd(&["CLIENT", "UNPAUSE"]), ok());
    assert_eq!(writer.read_frame(), Some(err(&format!("MOVED 12182 {}", nodes[1].addr))));
}
