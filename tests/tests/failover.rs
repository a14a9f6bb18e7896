//! Failover of real cluster processes: a primary killed with SIGKILL, or paused with SIGSTOP
//! (a node cut off from the control plane), is replaced by its replica; writes to its slots
//! resume on the promoted replica; every write a replica acknowledged (WAIT 1) is still there;
//! the paused primary, once it runs again, refuses writes (its lease ended) and rejoins as a
//! replica of the new primary, holding its data. A primary cut off from the control plane by
//! a real network partition (a network namespace whose link goes down), with a client on its
//! side still talking to it, stops taking writes within its lease.

use std::io::{Read, Write};
use std::net::{SocketAddr, TcpStream};
use std::sync::atomic::{AtomicBool, Ordering};
use std::sync::{Arc, Mutex};
use std::time::{Duration, Instant};

use ferrocache_e2e::cluster::{LocalCluster, Place};
use ferrocache_e2e::netns::Netns;
use ferrocache_e2e::Frame;
use ferrocache_topology::map::ClusterMap;

/// How long a shard may stay without a primary before the test gives up.
const FAILOVER_LIMIT: Duration = Duration::from_secs(20);

/// One request on a fresh or kept connection; any I/O failure is an `Err`.
struct Link {
    addr: SocketAddr,
    stream: TcpStream,
    buf: Vec<u8>,
}

impl Link {
    fn open(addr: SocketAddr) -> std::io::Result<Link> {
        let stream = TcpStream::connect_timeout(&addr, Duration::from_millis(300))?;
        stream.set_read_timeout(Some(Duration::from_secs(2)))?;
        stream.set_nodelay(true)?;
        Ok(Link { addr, stream, buf: Vec::new() })
    }

    fn call(&mut self, args: &[&str]) -> std::io::Result<Frame> {
        let raw: Vec<&[u8]> = args.iter().map(|a| a.as_bytes()).collect();
        self.stream.write_all(&Frame::command(&raw))?;
        loop {
            if let Some((frame, used)) = ferrocache_resp::frame::parse(&self.buf).map_err(|e| std::io::Error::other(format!("{e:?}")))? {
                self.buf.drain(..used);
                return Ok(frame);
            }
            let mut chunk = [0u8; 4096];
            let n = self.stream.read(&mut chunk)?;
            if n == 0 {
                return Err(std::io::ErrorKind::UnexpectedEof.into());
            }
            self.buf.extend_from_slice(&chunk[..n]);
        }
    }
}

fn call(addr: SocketAddr, args: &[&str]) -> std::io::Result<Frame> {
    Link::open(addr)?.call(args)
}

fn error_text(f: &Frame) -> Option<String> {
    match f {
        Frame::Error(e) => Some(String::from_utf8_lossy(e).into_owned()),
        _ => None,
    }
}

/// The node serving `slot` according to the first of `seeds` that answers CLUSTER SLOTS.
fn owner(seeds: &[SocketAddr], slot: u16) -> Option<SocketAddr> {
    for seed in seeds {
        let Ok(Frame::Array(ranges)) = call(*seed, &["CLUSTER", "SLOTS"]) else { continue };
        for range in ranges {
            let Frame::Array(items) = range else { continue };
            let (Some(Frame::Integer(lo)), Some(Frame::Integer(hi)), Some(Frame::Array(primary))) = (items.first(), items.get(1), items.get(2)) else { continue };
            if (*lo..=*hi).contains(&i64::from(slot))
                && let (Some(Frame::Bulk(host)), Some(Frame::Integer(port))) = (primary.first(), primary.get(1))
            {
                return format!("{}:{port}", String::from_utf8_lossy(host)).parse().ok();
            }
        }
    }
    None
}

/// What the writer saw: each acknowledged key, whether a replica confirmed it (WAIT 1), and
/// when; and the longest stretch without any acknowledged write.
#[derive(Default)]
struct Written {
    acked: Vec<(String, bool)>,
    longest_gap: Duration,
}

/// Writes `{tag}:i` = i, one after another, following MOVED and looking the owner up again
/// after errors, until `stop`; each acknowledged write is followed by WAIT 1 200
/// (which waits the whole 200 ms while the shard has no live replica).
fn write_until(seeds: Vec<SocketAddr>, tag: String, slot: u16, stop: Arc<AtomicBool>, out: Arc<Mutex<Written>>) {
    let mut link: Option<Link> = None;
    let mut target = owner(&seeds, slot).expect("the slot has an owner");
    let mut last_ack = Instant::now();
    let mut i = 0u64;
    while !stop.load(Ordering::Relaxed) {
        i += 1;
        let key = format!("{{{tag}}}:{i}");
        let value = i.to_string();
        let started = Instant::now();
        loop {
            assert!(started.elapsed() < FAILOVER_LIMIT, "no primary took {key} for {FAILOVER_LIMIT:?}");
            if link.as_ref().is_none_or(|l| l.addr != target) {
                link = Link::open(target).ok();
            }
            let reply = link.as_mut().map(|l| l.call(&["SET", &key, &value]));
            match reply {
                Some(Ok(Frame::Simple(ok))) if &ok[..] == b"OK" => {
                    let waited = matches!(link.as_mut().map(|l| l.call(&["WAIT", "1", "200"])), Some(Ok(Frame::Integer(n))) if n >= 1);
                    let mut w = out.lock().unwrap();
                    w.acked.push((key, waited));
                    w.longest_gap = w.longest_gap.max(last_ack.elapsed());
                    last_ack = Instant::now();
                    break;
                }
                Some(Ok(reply)) => {
                    let e = error_text(&reply).unwrap_or_else(|| panic!("SET answered {reply:?}"));
                    if let Some(addr) = e.strip_prefix("MOVED ").and_then(|m| m.split(' ').nth(1)) {
                        target = addr.parse().expect("MOVED names an address");
                        continue;
                    }
                    assert!(e.starts_with("CLUSTERDOWN") || e.starts_with("TRYAGAIN"), "SET answered {e}");
                }
                Some(Err(_)) | None => link = None,
            }
            std::thread::sleep(Duration::from_millis(20));
            target = owner(&seeds, slot).unwrap_or(target);
        }
    }
}

/// A hash tag whose slot node `primary` owns, and that slot.
fn tag_on(primary: SocketAddr, seeds: &[SocketAddr]) -> (String, u16) {
    (0..10_000)
        .map(|n| format!("t{n}"))
        .find_map(|tag| {
            let slot = match call(primary, &["CLUSTER", "KEYSLOT", &tag]) {
                Ok(Frame::Integer(s)) => s as u16,
                other => panic!("CLUSTER KEYSLOT: {other:?}"),
            };
            (owner(seeds, slot) == Some(primary)).then_some((tag, slot))
        })
        .expect("some tag hashes to each shard")
}

/// `ROLE` of a node: ("master", None) or ("slave", Some(its primary's port)).
fn role(addr: SocketAddr) -> Option<(String, Option<u16>)> {
    let Ok(Frame::Array(items)) = call(addr, &["ROLE"]) else { return None };
    let Some(Frame::Bulk(name)) = items.first() else { return None };
    let name = String::from_utf8_lossy(name).into_owned();
    let port = match items.get(2) {
        Some(Frame::Integer(p)) if name == "slave" => Some(*p as u16),
        _ => None,
    };
    Some((name, port))
}

/// The replica of the shard whose primary is node `primary` (by the replicas' ROLE).
fn replica_of(cluster: &LocalCluster, primary: usize) -> usize {
    let port = cluster.nodes[primary].port();
    let deadline = Instant::now() + Duration::from_secs(10);
    loop {
        if let Some(i) = (0..cluster.nodes.len()).find(|&i| role(cluster.nodes[i].addr).is_some_and(|(_, p)| p == Some(port))) {
            return i;
        }
        assert!(Instant::now() < deadline, "no replica follows node {primary}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// Waits until `check` holds, or panics with `what` after [`FAILOVER_LIMIT`].
fn eventually(what: &str, mut check: impl FnMut() -> bool) {
    let deadline = Instant::now() + FAILOVER_LIMIT;
    while !check() {
        assert!(Instant::now() < deadline, "{what}: not within {FAILOVER_LIMIT:?}");
        std::thread::sleep(Duration::from_millis(50));
    }
}

/// A writer on one shard: stop it with `stop`, then join `thread`.
struct Writer {
    stop: Arc<AtomicBool>,
    written: Arc<Mutex<Written>>,
    thread: std::thread::JoinHandle<()>,
    /// The hash tag of its keys (they all live in one slot of the shard).
    tag: String,
}

/// Starts the writer on node `primary`'s shard.
fn start_writer(cluster: &LocalCluster, primary: usize) -> Writer {
    let seeds: Vec<SocketAddr> = cluster.nodes.iter().map(|n| n.addr).collect();
    let (tag, slot) = tag_on(cluster.nodes[primary].addr, &seeds);
    let stop = Arc::new(AtomicBool::new(false));
    let written = Arc::new(Mutex::new(Written::default()));
    let (s, w, t) = (stop.clone(), written.clone(), tag.clone());
    let thread = std::thread::spawn(move || write_until(seeds, t, slot, s, w));
    Writer { stop, written, thread, tag }
}

impl Writer {
    fn finish(self) -> Written {
        self.stop.store(true, Ordering::Relaxed);
        self.thread.join().expect("the writer saw only retryable errors");
        std::mem::take(&mut *self.written.lock().unwrap())
    }
}

/// Waits for `more` acknowledged writes beyond what the writer has now.
fn wait_for_writes(written: &Mutex<Written>, more: usize) {
    let target = written.lock().unwrap().acked.len() + more;
    eventually("writes to continue", || written.lock().unwrap().acked.len() >= target);
}

/// Every write a replica confirmed is on `node`; returns (confirmed, acknowledged only).
fn confirmed_writes_are_on(node: SocketAddr, written: &Written) -> (usize, usize) {
    let mut link = Link::open(node).expect("connect");
    let mut confirmed = 0;
    for (key, waited) in &written.acked {
        if *waited {
            confirmed += 1;
            let value = key.rsplit(':').next().unwrap();
            assert_eq!(link.call(&["GET", key]).unwrap(), Frame::Bulk(value.as_bytes().to_vec().into()), "{key} was confirmed by WAIT 1 and is lost");
        }
    }
    (confirmed, written.acked.len() - confirmed)
}

#[test]
fn kill_9_of_primaries_promotes_their_replicas_and_loses_no_confirmed_write() {
    let mut cluster = LocalCluster::create(6, 1);
    let (a, b) = (0, 1);
    let (ra, rb) = (replica_of(&cluster, a), replica_of(&cluster, b));
    let writer = start_writer(&cluster, a);
    wait_for_writes(&writer.written, 200);

    // Two primaries at once: both shards fail over.
    let killed_at = Instant::now();
    cluster.kill(a);
    cluster.kill(b);
    wait_for_writes(&writer.written, 1);
    let resumed = killed_at.elapsed();
    wait_for_writes(&writer.written, 10);
    let written = writer.finish();

    for (old, new) in [(a, ra), (b, rb)] {
        eventually("the replica is promoted", || role(cluster.nodes[new].addr).is_some_and(|(r, _)| r == "master"));
        let Ok(Frame::Bulk(nodes)) = call(cluster.nodes[new].addr, &["CLUSTER", "NODES"]) else { panic!("CLUSTER NODES") };
        let nodes = String::from_utf8_lossy(&nodes).into_owned();
        let line = |port: u16| nodes.lines().find(|l| l.contains(&format!(":{port}@"))).unwrap_or_default().to_string();
        assert!(line(cluster.nodes[new].port()).contains("master"), "{nodes}");
        assert!(line(cluster.nodes[old].port()).contains("slave") && line(cluster.nodes[old].port()).contains("fail"), "{nodes}");
    }
    every_map_in_the_history_is_valid(&cluster, ra, 2);
    let (confirmed, unconfirmed) = confirmed_writes_are_on(cluster.nodes[ra].addr, &written);
    assert!(confirmed > 100, "WAIT 1 confirmed only {confirmed} writes");
    eprintln!(
        "writes resumed {:.2} s after the kill (longest gap {:.2} s); {confirmed} confirmed writes all kept, {unconfirmed} acknowledged without confirmation",
        resumed.as_secs_f64(),
        written.longest_gap.as_secs_f64()
    );

    // The old primary comes back empty, as a replica of the new one, and copies its data.
    cluster.restart(a);
    let new_port = cluster.nodes[ra].port();
    eventually("the old primary rejoins as a replica", || role(cluster.nodes[a].addr) == Some(("slave".into(), Some(new_port))));
    let dbsize = |i: usize| call(cluster.nodes[i].addr, &["DBSIZE"]).ok();
    eventually("it holds the new primary's keys", || dbsize(a).is_some() && dbsize(a) == dbsize(ra));
}

#[test]
fn a_paused_primary_stops_taking_writes_and_rejoins_as_a_replica() {
    let cluster = LocalCluster::create(6, 1);
    let p = 2;
    let r = replica_of(&cluster, p);
    let writer = start_writer(&cluster, p);
    wait_for_writes(&writer.written, 100);
    let cut_off_key = format!("{{{}}}:written-while-cut-off", writer.tag);

    // A client that still reaches the primary sends a write while it is paused (cut off).
    let mut stale = Link::open(cluster.nodes[p].addr).expect("connect");
    let pid = cluster.nodes[p].pid().to_string();
    assert!(std::process::Command::new("kill").args(["-STOP", &pid]).status().unwrap().success());
    // kill(2) returns before every thread has stopped: a write sent at once could still be
    // taken, rightly, under the lease the primary held then.
    eventually("every thread of the primary is stopped", || all_threads_stopped(&pid));
    stale.stream.write_all(&Frame::command(&[b"SET", cut_off_key.as_bytes(), b"1"])).unwrap();
    wait_for_writes(&writer.written, 10);
    eventually("the replica is promoted", || role(cluster.nodes[r].addr).is_some_and(|(role, _)| role == "master"));
    assert!(std::process::Command::new("kill").args(["-CONT", &pid]).status().unwrap().success());

    // Its lease ended while it was paused: it refuses that write, then follows the new primary.
    stale.stream.set_read_timeout(Some(Duration::from_secs(10))).unwrap();
    let mut chunk = [0u8; 512];
    let n = stale.stream.read(&mut chunk).expect("a reply");
    let reply = String::from_utf8_lossy(&chunk[..n]).into_owned();
    assert!(reply.starts_with("-CLUSTERDOWN") || reply.starts_with("-MOVED"), "the cut-off primary answered {reply:?}");
    let new_port = cluster.nodes[r].port();
    eventually("the old primary becomes a replica of the new one", || role(cluster.nodes[p].addr) == Some(("slave".into(), Some(new_port))));
    let written = writer.finish();
    let last = written.acked.last().map(|(k, _)| k.clone()).expect("writes");
    eventually("it holds the new primary's data", || {
        let mut link = Link::open(cluster.nodes[p].addr).expect("connect");
        link.call(&["READONLY"]).is_ok() && matches!(link.call(&["GET", &last]), Ok(Frame::Bulk(_)))
    });
    assert_eq!(call(cluster.nodes[r].addr, &["EXISTS", &cut_off_key]).unwrap(), Frame::Integer(0));
    confirmed_writes_are_on(cluster.nodes[r].addr, &written);
}

#[test]
fn a_planned_failover_under_load_loses_no_write_at_all() {
    let cluster = LocalCluster::create(6, 1);
    let p = 1;
    let r = replica_of(&cluster, p);
    let writer = start_writer(&cluster, p);
    wait_for_writes(&writer.written, 200);
    let out = cluster.cli(&["failover", &cluster.addrs()[p]]);
    assert!(out.status.success(), "{}", ferrocache_e2e::cluster::text(&out));
    assert!(role(cluster.nodes[r].addr).is_some_and(|(role, _)| role == "master"));
    let new_port = cluster.nodes[r].port();
    eventually("the old primary follows the new one", || role(cluster.nodes[p].addr) == Some(("slave".into(), Some(new_port))));
    wait_for_writes(&writer.written, 200);
    let written = writer.finish();
    // Every acknowledged write, confirmed by a replica or not, is on the new primary.
    let mut link = Link::open(cluster.nodes[r].addr).expect("connect");
    for (key, _) in &written.acked {
        let value = key.rsplit(':').next().unwrap();
        assert_eq!(link.call(&["GET", key]).unwrap(), Frame::Bulk(value.as_bytes().to_vec().into()), "{key} was acknowledged and is lost");
    }
    eprintln!("planned failover: {} writes, longest gap {:.3} s", written.acked.len(), written.longest_gap.as_secs_f64());
}

/// Whether every thread of process `pid` is stopped (state `T` in /proc).
fn all_threads_stopped(pid: &str) -> bool {
    let Ok(tasks) = std::fs::read_dir(format!("/proc/{pid}/task")) else { return false };
    tasks.flatten().all(|task| {
        let stat = std::fs::read_to_string(task.path().join("stat")).unwrap_or_default();
        // The state follows the command name, which is in parentheses.
        stat.rsplit_once(") ").is_some_and(|(_, rest)| rest.starts_with('T'))
    })
}

/// Every version of the cluster map the control plane ever held (its history, from node
/// `via`) is valid: each slot had exactly one owning shard, each node served in one shard at
/// most, and epochs only grew, so at no moment did a key have two primaries in the map.
fn every_map_in_the_history_is_valid(cluster: &LocalCluster, via: usize, promotions: usize) {
    let out = cluster.ferrocache(&["config", "history", "cluster/map", "--output", "json", "--url", &cluster.admin_url(via)]);
    assert!(out.status.success(), "{}", ferrocache_e2e::cluster::text(&out));
    let history: serde_json::Value = serde_json::from_slice(&out.stdout).expect("JSON history");
    let versions = history["versions"].as_array().expect("versions");
    let mut epoch = 0;
    let mut primaries_changed = 0;
    let mut previous: Option<ClusterMap> = None;
    for v in versions {
        let map: ClusterMap = serde_json::from_str(v["value"].as_str().expect("a map")).expect("a valid map document");
        map.validate().unwrap_or_else(|e| panic!("epoch {}: {e}", map.epoch));
        assert!(map.epoch > epoch, "epochs grow: {} after {epoch}", map.epoch);
        epoch = map.epoch;
        if let Some(prev) = &previous {
            primaries_changed += map.shards.iter().zip(&prev.shards).filter(|(a, b)| a.primary != b.primary).count();
        }
        previous = Some(map);
    }
    assert!(primaries_changed >= promotions, "the history shows {promotions} promotion(s) ({primaries_changed} found)");
}

/// Runs inside the cut-off namespace: writes `{tag}:cut-off:i` to the primary at HOST:PORT
/// every 20 ms for 0.5 s, cuts the link itself (so the cut and every reply are timed on one
/// clock), and goes on writing for 3 s more. Prints `cut <t>`, then `<t> <reply>` per write.
const CUT_OFF_CLIENT: &str = r#"
import socket, subprocess, sys, time
host, port, tag, cut = sys.argv[1], int(sys.argv[2]), sys.argv[3], sys.argv[4]
s = socket.create_connection((host, port), timeout=5)
f = s.makefile("rb")
start, t_cut, i = time.monotonic(), None, 0
while t_cut is None or time.monotonic() - t_cut < 3.0:
    if t_cut is None and time.monotonic() - start >= 0.5:
        subprocess.run(cut, shell=True, check=True)
        t_cut = time.monotonic()
        print("cut %.3f" % (t_cut - start), flush=True)
    i += 1
    key = ("{%s}:cut-off:%d" % (tag, i)).encode()
    s.sendall(b"*3\r\n$3\r\nSET\r\n$%d\r\n%s\r\n$1\r\n1\r\n" % (len(key), key))
    print("%.3f %s" % (time.monotonic() - start, f.readline().decode().strip()), flush=True)
    time.sleep(0.02)
"#;

#[test]
fn a_primary_partitioned_from_the_control_plane_stops_taking_writes_within_its_lease() {
    let net = Netns::create();
    let host = Place { ip: net.host_ip, netns: None };
    let away = Place { ip: net.inner_ip, netns: Some(net.name.clone()) };
    // Nodes 0-2 become the primaries; node 2 (a control-plane follower: node 0 formed it) runs
    // on the far side of the link, with its replica on this side.
    let p = 2;
    let cluster = LocalCluster::create_at(vec![host.clone(), host.clone(), away, host.clone(), host.clone(), host], 1);
    let r = replica_of(&cluster, p);
    let writer = start_writer(&cluster, p);
    wait_for_writes(&writer.written, 50);

    // A client on the primary's side of the partition keeps writing to it across the cut.
    let mut client = std::process::Command::new("ip");
    let addr = cluster.nodes[p].addr;
    client.args(["netns", "exec", &net.name, "python3", "-c", CUT_OFF_CLIENT]);
    client.args([addr.ip().to_string(), addr.port().to_string(), writer.tag.clone(), net.cut_command()]);
    let out = ferrocache_e2e::run_bounded(client, b"", Duration::from_secs(30));
    assert!(out.status.success(), "{}", ferrocache_e2e::cluster::text(&out));
    let lines = String::from_utf8_lossy(&out.stdout).into_owned();
    let t_cut: f64 = lines.lines().find_map(|l| l.strip_prefix("cut ")).expect("the client cut the link").parse().unwrap();
    let replies: Vec<(f64, &str)> = lines.lines().filter_map(|l| l.split_once(' ').and_then(|(t, r)| Some((t.parse().ok()?, r)))).collect();
    let last_ok = replies.iter().filter(|(_, r)| *r == "+OK").map(|(t, _)| *t).fold(f64::NAN, f64::max);
    let first_refusal = replies.iter().find(|(_, r)| *r != "+OK").map(|(t, _)| *t).expect("the cut-off primary refused writes");
    assert!(last_ok > 0.0, "the primary took writes before the cut:\n{lines}");
    assert!(last_ok < first_refusal, "once it refused a write it took none:\n{lines}");
    assert!(last_ok - t_cut < 1.0, "it took writes for {:.3} s after the cut (the lease TTL is 1 s):\n{lines}", last_ok - t_cut);
    assert!(
        replies.iter().filter(|(t, _)| *t >= first_refusal).all(|(_, r)| r.starts_with("-CLUSTERDOWN") || r.starts_with("-TRYAGAIN")),
        "every write after that is refused with CLUSTERDOWN or TRYAGAIN:\n{lines}"
    );

    // This side promoted the replica and writes go on there.
    eventually("the replica is promoted", || role(cluster.nodes[r].addr).is_some_and(|(role, _)| role == "master"));
    wait_for_writes(&writer.written, 10);
    eprintln!("cut at {t_cut:.3} s; last write taken {:.3} s after it, first refused {:.3} s after it", last_ok - t_cut, first_refusal - t_cut);

    // After healing, the old primary is a replica of the new one and holds its data.
    net.heal();
    let new_port = cluster.nodes[r].port();
    eventually("the old primary becomes a replica of the new one", || role(cluster.nodes[p].addr) == Some(("slave".into(), Some(new_port))));
    let written = writer.finish();
    let last = written.acked.last().map(|(k, _)| k.clone()).expect("writes");
    eventually("it holds the new primary's data", || {
        let Ok(mut link) = Link::open(cluster.nodes[p].addr) else { return false };
        link.call(&["READONLY"]).is_ok() && matches!(link.call(&["GET", &last]), Ok(Frame::Bulk(_)))
    });
    confirmed_writes_are_on(cluster.nodes[r].addr, &written);
    every_map_in_the_history_is_valid(&cluster, r, 1);
}
