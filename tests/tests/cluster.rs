//! Cluster mode end to end: real `ferrocache server --cluster` processes formed with
//! `ferrocache cluster create`, used by real cluster-aware clients (`redis.cluster.RedisCluster`
//! in Python, `redis-cli -c`, `redis-benchmark --cluster`), and reshaped with `add-node` and
//! `remove-node`.

use std::process::Command;
use std::time::Duration;

use ferrocache_e2e::cluster::{text, LocalCluster, Writer};
use ferrocache_e2e::{run_bounded, wait_bounded, Frame};

const CLIENT_LIMIT: Duration = Duration::from_secs(120);

/// Set/get 10,000 keys across all slots, hash tags, multi-key commands in one slot and the
/// client-side and server-side CROSSSLOT errors, through redis-py's cluster client.
const PYTHON_CLUSTER: &str = r#"
import sys
try:
    from redis.cluster import RedisCluster
    from redis.exceptions import ClusterCrossSlotError, RedisClusterException
except ImportError:
    print("python module 'redis' (with redis.cluster) is missing: pip install redis")
    sys.exit(3)
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
assert len(rc.get_primaries()) == 3, rc.get_nodes()
for i in range(10000):
    rc.set(f"key:{i}", f"value:{i}")
for i in range(10000):
    assert rc.get(f"key:{i}") == f"value:{i}".encode(), i
assert rc.mset({"{user:1}:name": "ada", "{user:1}:lang": "rust"}) is True
assert rc.mget("{user:1}:name", "{user:1}:lang") == [b"ada", b"rust"]
assert rc.keyslot("{user:1}:name") == rc.keyslot("{user:1}:lang")
# redis-py refuses some cross-slot calls itself and sends others: the server must refuse those.
for call in (lambda: rc.mset({"a": "1", "b": "2"}), lambda: rc.execute_command("MSET", "a", "1", "b", "2", target_nodes=rc.get_node_from_key("a"))):
    try:
        call()
        raise AssertionError("a cross-slot MSET was accepted")
    except (ClusterCrossSlotError, RedisClusterException):
        pass
assert rc.get("a") is None and rc.get("b") is None
total = sum(rc.dbsize(target_nodes=n) for n in rc.get_primaries())
assert total == 10002, total
print("python cluster ok")
"#;

#[test]
fn a_three_shard_cluster_serves_real_cluster_clients() {
    let cluster = LocalCluster::create(3, 0);
    let port = cluster.nodes[0].port().to_string();

    let mut python = Command::new("python3");
    python.args(["-c", PYTHON_CLUSTER, &port]);
    let out = run_bounded(python, b"", CLIENT_LIMIT);
    assert_ne!(out.status.code(), Some(3), "{}", text(&out));
    assert!(out.status.success() && text(&out).contains("python cluster ok"), "redis-py cluster client failed:\n{}", text(&out));

    // Each shard holds about a third of the keys, and says so in `cluster status`.
    let status = cluster.cli(&["status", &cluster.addrs()[1]]);
    let shown = text(&status);
    assert!(status.status.success(), "{shown}");
    assert!(shown.contains("epoch 1, 3 shard(s), 16384 of 16384 slots assigned"), "{shown}");
    for (addr, slots) in cluster.addrs().iter().zip(["0-5460 (5461)", "5461-10922 (5462)", "10923-16383 (5461)"]) {
        let line = shown.lines().find(|l| l.contains(addr.as_str())).unwrap_or_else(|| panic!("{addr} missing in:\n{shown}"));
        assert!(line.contains("primary") && line.contains(slots), "{line}");
        let keys: u64 = line.split_whitespace().nth(5).and_then(|k| k.parse().ok()).unwrap_or_else(|| panic!("no key count in {line}"));
        assert!((3000..3700).contains(&keys), "{line}");
    }

    // redis-cli -c follows MOVED from any node.
    for (i, key) in ["foo", "bar", "hello", "{user:1}:name"].iter().enumerate() {
        let entry = &cluster.nodes[i % 3];
        let mut cli = Command::new("redis-cli");
        cli.args(["-c", "-h", "127.0.0.1", "-p", &entry.port().to_string(), "SET", key, "v"]);
        let out = run_bounded(cli, b"", CLIENT_LIMIT);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "OK", "{}", text(&out));
        let mut cli = Command::new("redis-cli");
        cli.args(["-c", "-h", "127.0.0.1", "-p", &cluster.nodes[(i + 1) % 3].port().to_string(), "GET", key]);
        let out = run_bounded(cli, b"", CLIENT_LIMIT);
        assert_eq!(String::from_utf8_lossy(&out.stdout).trim(), "v", "{}", text(&out));
    }

    // redis-benchmark in cluster mode finds the three primaries and runs without errors.
    let mut bench = Command::new("redis-benchmark");
    bench.args(["--cluster", "-h", "127.0.0.1", "-p", &port, "-t", "set,get", "-n", "20000", "-c", "6", "-q"]);
    let out = run_bounded(bench, b"", CLIENT_LIMIT);
    let shown = text(&out);
    assert!(out.status.success() && shown.contains("SET:") && shown.contains("GET:"), "{shown}");
    assert!(!shown.to_lowercase().contains("error"), "{shown}");
}

#[test]
fn replicas_are_placed_and_nodes_join_and_leave() {
    let mut cluster = LocalCluster::create(6, 1);
    let mut c = cluster.nodes[0].conn();
    let Frame::Bulk(nodes) = c.cmd(&["CLUSTER", "NODES"]) else { panic!("CLUSTER NODES is a bulk string") };
    let nodes = String::from_utf8_lossy(&nodes).into_owned();
    assert_eq!(nodes.lines().filter(|l| l.contains("master")).count(), 3, "{nodes}");
    assert_eq!(nodes.lines().filter(|l| l.contains("slave")).count(), 3, "{nodes}");
    let info = c.cmd(&["CLUSTER", "INFO"]);
    let info = String::from_utf8_lossy(info.as_bytes().expect("text")).into_owned();
    assert!(info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:6") && info.contains("cluster_size:3"), "{info}");

    // A fresh node joins as a primary without slots, at the next epoch.
    let new = cluster.spawn_node();
    let new_addr = cluster.addrs()[new].clone();
    let out = cluster.cli(&["add-node", &new_addr, &cluster.addrs()[0]]);
    assert!(out.status.success(), "{}", text(&out));
    assert!(text(&out).contains("joined at epoch 2"), "{}", text(&out));
    let mut fresh = cluster.nodes[new].conn();
    let info = fresh.cmd(&["CLUSTER", "INFO"]);
    assert!(String::from_utf8_lossy(info.as_bytes().unwrap()).contains("cluster_known_nodes:7"));
    assert!(matches!(fresh.cmd(&["GET", "foo"]), Frame::Error(e) if e.starts_with(b"MOVED 12182 ")), "it owns nothing yet");

    // A primary that owns slots cannot simply leave; the empty one can.
    let out = cluster.cli(&["remove-node", &cluster.addrs()[0], &cluster.addrs()[1]]);
    assert!(!out.status.success() && text(&out).contains("owns slots 0-5460"), "{}", text(&out));
    let out = cluster.cli(&["remove-node", &new_addr, &cluster.addrs()[1]]);
    assert!(out.status.success(), "{}", text(&out));
    let info = c.cmd(&["CLUSTER", "INFO"]);
    assert!(String::from_utf8_lossy(info.as_bytes().unwrap()).contains("cluster_known_nodes:6"));
    assert_eq!(c.cmd(&["CLUSTER", "MYID"]).as_bytes().map(<[u8]>::len), Some(40));
}

#[test]
fn a_node_started_with_join_enters_the_map_as_an_empty_primary() {
    let mut cluster = LocalCluster::create(3, 0);
    let url = cluster.admin_url(0);
    let joined = cluster.spawn_node_with(&["--join", &url]);
    let mut c = cluster.nodes[0].conn();
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    loop {
        let info = c.cmd(&["CLUSTER", "INFO"]);
        if String::from_utf8_lossy(info.as_bytes().unwrap()).contains("cluster_known_nodes:4") {
            break;
        }
        assert!(std::time::Instant::now() < deadline, "the joined node never entered the map");
        std::thread::sleep(Duration::from_millis(100));
    }
    let out = cluster.cli(&["rebalance", &cluster.addrs()[joined], "--dry-run"]);
    assert!(text(&out).contains("4096 slot(s) to move"), "{}", text(&out));
    let status = text(&cluster.cli(&["status", &cluster.addrs()[1]]));
    let line = status.lines().find(|l| l.contains(&cluster.addrs()[joined])).unwrap_or_else(|| panic!("{status}"));
    assert!(line.contains("primary") && line.contains(" - "), "{line}");
}

#[test]
fn weights_decide_each_primarys_share() {
    let cluster = LocalCluster::create(3, 0);
    let seed = cluster.addrs()[2].clone();
    let out = cluster.cli(&["set-weight", &cluster.addrs()[0], "2", &seed]);
    assert!(out.status.success(), "{}", text(&out));
    // 2:1:1 of 16384 is 8192/4096/4096: the others give 1366 and 1365 slots to the first.
    let plan = text(&cluster.cli(&["rebalance", &seed, "--dry-run"]));
    assert!(plan.starts_with("2731 slot(s) to move"), "{plan}");
    assert!(plan.contains(&format!("{} -> {}: 1366 slot(s)", cluster.addrs()[1], cluster.addrs()[0])), "{plan}");
    assert!(plan.contains(&format!("{} -> {}: 1365 slot(s)", cluster.addrs()[2], cluster.addrs()[0])), "{plan}");
    let out = cluster.cli(&["set-weight", "no-such-node", "1", &seed]);
    assert!(!out.status.success() && text(&out).contains("no node no-such-node in the cluster"), "{}", text(&out));
}

#[test]
fn create_refuses_bad_requests_with_what_to_do() {
    let cluster = LocalCluster::start(2);
    let addrs = cluster.addrs();
    let out = cluster.cli(&["create", "--replicas", "2", &addrs[0], &addrs[1]]);
    assert_eq!(out.status.code(), Some(2), "{}", text(&out));
    assert!(text(&out).contains("give at least 3 nodes or fewer --replicas"), "{}", text(&out));
    let out = cluster.cli(&["create", &addrs[0], &addrs[0]]);
    assert!(text(&out).contains("is listed twice"), "{}", text(&out));
    let out = cluster.cli(&["create", "127.0.0.1:1"]);
    assert!(!out.status.success() && text(&out).contains("is `ferrocache server --cluster` running there?"), "{}", text(&out));
    // Formed once, a node refuses to be formed again.
    let out = cluster.cli(&["create", &addrs[0], &addrs[1]]);
    assert!(out.status.success(), "{}", text(&out));
    let out = cluster.cli(&["create", &addrs[1]]);
    assert!(text(&out).contains("already belongs to a cluster"), "{}", text(&out));
}

#[test]
fn resharding_under_load_loses_no_acknowledged_write() {
    let mut cluster = LocalCluster::create(3, 0);
    let seed = cluster.addrs()[0].clone();
    let writer = Writer::start(cluster.nodes[1].port());

    // A fourth primary joins and takes its quarter of the slots, live.
    let new = cluster.spawn_node();
    let new_addr = cluster.addrs()[new].clone();
    let out = cluster.cli(&["add-node", &new_addr, &seed]);
    assert!(out.status.success(), "{}", text(&out));
    let out = cluster.cli(&["rebalance", &seed, "--dry-run"]);
    assert!(text(&out).contains("4096 slot(s) to move"), "{}", text(&out));
    let out = cluster.cli(&["rebalance", &seed]);
    assert!(out.status.success() && text(&out).contains("[OK] moved 4096 slot(s)"), "{}", text(&out));
    let sizes: Vec<i64> = cluster.nodes.iter().map(|n| match n.conn().cmd(&["DBSIZE"]) {
        Frame::Integer(k) => k,
        other => panic!("DBSIZE: {other:?}"),
    }).collect();
    let share = sizes[new] as f64 / sizes.iter().sum::<i64>() as f64;
    assert!((0.15..0.35).contains(&share), "the new node holds about a quarter of the keys: {sizes:?}");
    assert_eq!(cluster.cli(&["rebalance", &seed, "--dry-run"]).stdout, b"0 slot(s) to move\n", "balanced");

    // Then it leaves again: its slots drain to the others first.
    let out = cluster.cli(&["remove-node", &new_addr, &seed, "--drain"]);
    assert!(out.status.success(), "{}", text(&out));
    let status = text(&cluster.cli(&["status", &seed]));
    assert!(status.contains("3 shard(s), 16384 of 16384 slots assigned, 0 migration(s)"), "{status}");

    writer.finish();
}

/// `load N`: writes `key:i` = `value:i` for i < N. `check N SKIP_SLOTS...`: every such key
/// whose slot is not listed must be readable with its value; prints how many were checked.
const PYTHON_KEYS: &str = r#"
import sys
from redis.cluster import RedisCluster
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
mode, n = sys.argv[2], int(sys.argv[3])
if mode == "load":
    p = rc.pipeline()
    for i in range(n):
        p.set(f"key:{i}", f"value:{i}")
        if i % 1000 == 999:
            p.execute()
    p.execute()
    print("loaded")
else:
    skip = set(int(s) for s in sys.argv[4].split(",") if s)
    keys = [i for i in range(n) if rc.keyslot(f"key:{i}") not in skip]
    lost = [i for i in keys if rc.get(f"key:{i}") != f"value:{i}".encode()]
    print(f"checked {len(keys)} lost {len(lost)} first {lost[:5]}")
    assert not lost
    print("keys ok")
"#;

fn python_keys(cluster: &LocalCluster, entry: usize, args: &[&str]) -> String {
    let mut python = Command::new("python3");
    python.args(["-c", PYTHON_KEYS, &cluster.nodes[entry].port().to_string()]).args(args);
    let out = run_bounded(python, b"", CLIENT_LIMIT);
    assert!(out.status.success(), "python: {}", text(&out));
    text(&out)
}


/// Adds a fourth primary and rebalances (4096 slots move to it) while `victim(new)` names the
/// node that is killed with SIGKILL once migrations are under way, and restarted 2 s later. The rebalance must
/// finish with every slot owned once and nothing left migrating, and every key outside the
/// slots of `lost_slots(cluster, new)` (what was in the killed node's memory only: keeping it
/// needs replicas) must be readable.
fn rebalance_through_a_crash(victim: impl Fn(usize) -> usize, lost_slots: impl Fn(&LocalCluster, usize) -> Vec<u16>) {
    rebalance_through_a_crash_with(0, victim, lost_slots);
}

/// [`rebalance_through_a_crash`] on shards of a primary and `replicas` replicas each (nodes
/// 0-2 are the first primaries; the fourth primary gets its replicas too).
fn rebalance_through_a_crash_with(replicas: usize, victim: impl Fn(usize) -> usize, lost_slots: impl Fn(&LocalCluster, usize) -> Vec<u16>) {
    let mut cluster = LocalCluster::create(3 * (replicas + 1), replicas);
    let seed = cluster.addrs()[1].clone();
    assert!(python_keys(&cluster, 1, &["load", "30000"]).contains("loaded"));
    let new = cluster.spawn_node();
    let out = cluster.cli(&["add-node", &cluster.addrs()[new], &seed]);
    assert!(out.status.success(), "{}", text(&out));
    for _ in 0..replicas {
        let replica = cluster.spawn_node();
        let out = cluster.cli(&["add-node", &cluster.addrs()[replica], &seed, "--replica", "--primary", &cluster.addrs()[new]]);
        assert!(out.status.success(), "{}", text(&out));
    }
    let skip = lost_slots(&cluster, new).iter().map(u16::to_string).collect::<Vec<_>>().join(",");

    let mut rebalance = Command::new(ferrocache_e2e::ferrocache_bin());
    rebalance.args(["cluster", "rebalance", &seed]);
    rebalance.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let running = rebalance.spawn().expect("ferrocache cluster rebalance runs");
    // Kill in the middle: once migrations are under way.
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    while text(&cluster.cli(&["status", &seed])).contains(" 0 migration(s)") {
        assert!(std::time::Instant::now() < deadline, "the rebalance never started migrating");
        std::thread::sleep(Duration::from_millis(20));
    }
    let killed = victim(new);
    cluster.kill(killed);
    std::thread::sleep(Duration::from_secs(2));
    cluster.restart(killed);
    let out = wait_bounded(running, CLIENT_LIMIT);
    assert!(out.status.success() && text(&out).contains("[OK] moved 4096 slot(s)"), "{}", text(&out));

    let status = text(&cluster.cli(&["status", &seed]));
    assert!(status.contains("4 shard(s), 16384 of 16384 slots assigned, 0 migration(s)"), "{status}");
    assert!(python_keys(&cluster, 2, &["check", "30000", &skip]).contains("keys ok"));
}

#[test]
fn with_replicas_a_rebalance_loses_no_key_when_its_target_is_killed() {
    rebalance_through_a_crash_with(1, |new| new, |_, _| Vec::new());
}

#[test]
fn with_replicas_a_rebalance_loses_no_key_when_a_source_is_killed() {
    // Node 2 is a source, neither the control plane's leader (node 0) nor the node the
    // rebalance talks to (node 1).
    rebalance_through_a_crash_with(1, |_| 2, |_, _| Vec::new());
}

#[test]
fn a_rebalance_survives_kill_9_of_the_control_plane_leader_which_is_also_a_source() {
    // The first node formed the control plane, so it leads it; it also gives slots away.
    rebalance_through_a_crash(|_| 0, |cluster, _| cluster.slots_of(0));
}

#[test]
fn a_rebalance_survives_kill_9_of_the_target() {
    // Whatever the target had received is gone with it; every other key must remain. The plan
    // gives it the top 1365 or 1366 slots of each old primary's range: skip the top 1400.
    rebalance_through_a_crash(|new| new, |cluster, _| {
        (0..3).flat_map(|i| {
            let mine = cluster.slots_of(i);
            mine[mine.len().saturating_sub(1400)..].to_vec()
        }).collect()
    });
}

/// The last rebalance's progress as `cluster status --output json` reports it: (started_ms,
/// slots moved, slots planned), if a plan was recorded.
fn rebalance_progress(cluster: &LocalCluster, seed: &str) -> Option<(u64, u64, u64)> {
    let out = cluster.cli(&["status", seed, "--output", "json"]);
    assert!(out.status.success(), "{}", text(&out));
    let status: serde_json::Value = serde_json::from_slice(&out.stdout).expect("status is JSON");
    let plan = status.get("rebalance").filter(|r| !r.is_null())?;
    let sum = |field: &str| plan["moves"].as_array().expect("moves").iter().map(|g| g[field].as_u64().expect("a count")).sum();
    Some((plan["started_ms"].as_u64().expect("started_ms"), sum("moved"), sum("slots")))
}

#[test]
fn a_rebalance_killed_and_run_again_reports_one_continuing_plan() {
    let mut cluster = LocalCluster::create(2, 0);
    let seed = cluster.addrs()[0].clone();
    let new = cluster.spawn_node();
    let out = cluster.cli(&["add-node", &cluster.addrs()[new], &seed]);
    assert!(out.status.success(), "{}", text(&out));
    assert_eq!(rebalance_progress(&cluster, &seed), None, "no rebalance yet");

    let mut rebalance = Command::new(ferrocache_e2e::ferrocache_bin());
    rebalance.args(["cluster", "rebalance", &seed, "--parallel", "32"]);
    rebalance.stdout(std::process::Stdio::piped()).stderr(std::process::Stdio::piped());
    let mut running = rebalance.spawn().expect("ferrocache cluster rebalance runs");
    let deadline = std::time::Instant::now() + Duration::from_secs(30);
    let (started, moved) = loop {
        assert!(std::time::Instant::now() < deadline, "the rebalance moved no slot in 30 s");
        if let Some((started, moved, 5461)) = rebalance_progress(&cluster, &seed).filter(|p| p.1 > 0) {
            break (started, moved);
        }
        std::thread::sleep(Duration::from_millis(20));
    };
    running.kill().expect("kill -9 the rebalance");
    let _ = running.wait();
    let status = text(&cluster.cli(&["status", &seed]));
    assert!(status.contains("rebalance started ") && status.contains(" of 5461 slots moved"), "{status}");

    // Run again: it moves what is left, and the plan stays the first one's, now finished.
    let out = cluster.cli(&["rebalance", &seed]);
    assert!(out.status.success() && text(&out).contains("[OK] moved"), "{}", text(&out));
    assert!(!text(&out).contains("moved 5461 slot(s)"), "the second run moved only what was left (the first had moved {moved}): {}", text(&out));
    assert_eq!(rebalance_progress(&cluster, &seed), Some((started, 5461, 5461)));
    let status = text(&cluster.cli(&["status", &seed]));
    assert!(!status.contains("rebalance started"), "a finished rebalance is not listed: {status}");
}
