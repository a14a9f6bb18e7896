//! Three in-process nodes on loopback: join, write through a follower, lose the leader, elect a
//! new one, keep every acknowledged write, and let the old leader rejoin from its disk.

mod common;

use common::{Client, config, eventually, read_events, start, wait_leader};
use ferrocache_control::ControlHandle;

/// Puts `key` = `value` through `client`; true when acknowledged.
async fn put(client: &Client, key: &str, value: &str) -> bool {
    client.put(&format!("/v1/kv/{key}"), value.as_bytes(), "text/plain").await.0 == 200
}

async fn value_of(client: &Client, key: &str, consistency: &str) -> Option<String> {
    let (status, body) = client.get(&format!("/v1/kv/{key}?consistency={consistency}")).await;
    (status == 200).then(|| body["value"].as_str().unwrap_or_default().to_string())
}

/// A first node, leader of its own cluster, that snapshots every 20 entries and keeps no log
/// behind its snapshots (so a later member must start from a snapshot).
async fn start_snapshotting(dir: &std::path::Path) -> ControlHandle {
    let mut c = config(1, dir);
    c.snapshot_every = 20;
    c.keep_logs_after_snapshot = 0;
    let node = start(c).await;
    wait_leader(&node).await;
    node
}

/// Starts node `id` joining the cluster of `via`.
async fn join(id: u64, dir: &std::path::Path, via: &ControlHandle) -> ControlHandle {
    let mut c = config(id, dir);
    c.join = Some(via.url().to_string());
    start(c).await
}

fn leader_of(nodes: &[&ControlHandle]) -> Option<u64> {
    let leaders: Vec<_> = nodes.iter().filter_map(|n| n.status().leader).collect();
    let first = *leaders.first()?;
    (leaders.len() == nodes.len() && leaders.iter().all(|l| *l == first)).then_some(first)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_nodes_survive_losing_the_leader() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let n1 = start(config(1, dirs[0].path())).await;
    wait_leader(&n1).await;
    let mut c2 = config(2, dirs[1].path());
    c2.join = Some(n1.url().to_string());
    let n2 = start(c2).await;
    let mut c3 = config(3, dirs[2].path());
    c3.join = Some(n1.url().to_string());
    let n3 = start(c3).await;

    let members = eventually(10, "three voters", || async {
        let m = n1.status().members;
        (m.len() == 3 && m.iter().all(|m| m.voter)).then_some(m)
    })
    .await;
    assert_eq!(members.iter().map(|m| m.id).collect::<Vec<_>>(), vec![1, 2, 3]);

    let mut nodes = vec![n1, n2, n3];
    let leader = eventually(10, "agreement on a leader", || async { leader_of(&nodes.iter().collect::<Vec<_>>()) }).await;
    let clients: Vec<_> = nodes.iter().map(|n| Client::new(n.url())).collect();
    let follower = nodes.iter().position(|n| n.node_id() != leader).unwrap();

    // A watch on the other follower sees the writes made through this one, in order.
    let watcher = nodes.iter().rposition(|n| n.node_id() != leader).unwrap();
    assert_ne!(watcher, follower);
    let mut watch = clients[watcher].raw().get(clients[watcher].url("/v1/watch?prefix=k/")).send().await.unwrap();
    assert_eq!(watch.status(), 200);

    // Writes through a follower are forwarded; reads anywhere are linearizable.
    let mut acked = Vec::new();
    for i in 0..10 {
        let key = format!("k/{i}");
        if put(&clients[follower], &key, &format!("v{i}")).await {
            acked.push((key, format!("v{i}")));
        }
    }
    assert_eq!(acked.len(), 10, "every write through a follower is acknowledged");
    for (i, c) in clients.iter().enumerate() {
        assert_eq!(value_of(c, "k/9", "linearizable").await.as_deref(), Some("v9"), "node index {i}");
    }
    let events = read_events(&mut watch, 10).await;
    let keys: Vec<_> = events.iter().map(|e| e.2["kv"]["key"].as_str().unwrap().to_string()).collect();
    assert_eq!(keys, (0..10).map(|i| format!("k/{i}")).collect::<Vec<_>>());
    let revisions: Vec<u64> = events.iter().map(|e| e.1.parse().unwrap()).collect();
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    drop(watch);
    let (_, status) = clients[follower].get("/v1/status").await;
    assert_eq!(status["leader"], leader);
    assert_eq!(status["state"], "Follower");

    let (status, lease) = clients[follower].post("/v1/lease", serde_json::json!({"ttl_secs": 60})).await;
    assert_eq!(status, 200, "{lease}");

    // Lose the leader; the other two elect a new one and keep serving.
    let old_index = nodes.iter().position(|n| n.node_id() == leader).unwrap();
    let old = nodes.remove(old_index);
    let old_id = old.node_id();
    let old_addr = old.local_addr();
    old.shutdown().await;
    let clients: Vec<_> = nodes.iter().map(|n| Client::new(n.url())).collect();
    let new_leader = eventually(15, "a new leader", || async {
        leader_of(&nodes.iter().collect::<Vec<_>>()).filter(|l| *l != old_id)
    })
    .await;
    assert_ne!(new_leader, old_id);
    for i in 10..20 {
        let key = format!("k/{i}");
        let client = &clients[i % 2];
        let ok = tokio::time::timeout(std::time::Duration::from_secs(15), async {
            loop {
                if put(client, &key, &format!("v{i}")).await {
                    return;
                }
                tokio::time::sleep(std::time::Duration::from_millis(100)).await;
            }
        })
        .await;
        assert!(ok.is_ok(), "write {key} after failover");
        acked.push((key, format!("v{i}")));
    }
    // The new leader refreshed the leases once it took over.
    let refresh = eventually(10, "the new leader's lease refresh", || async {
        let (_, audit) = clients[0].get("/v1/audit?limit=1000").await;
        audit["entries"].as_array().unwrap().iter().find(|e| e["op"] == "lease.refresh").cloned()
    })
    .await;
    assert_eq!(refresh["actor"], "system");
    for c in &clients {
        for (key, value) in &acked {
            assert_eq!(value_of(c, key, "linearizable").await.as_deref(), Some(value.as_str()), "{key} on {}", c.base);
        }
    }

    // The old leader restarts from its disk, follows, and catches up.
    let mut restart = config(old_id, dirs[old_index].path());
    restart.admin_addr = old_addr; // the cluster knows it by this address
    let back = start(restart).await;
    let back_client = Client::new(back.url());
    eventually(15, "the restarted node to catch up", || async {
        (value_of(&back_client, "k/19", "stale").await.as_deref() == Some("v19")).then_some(())
    })
    .await;
    for (key, value) in &acked {
        assert_eq!(value_of(&back_client, key, "stale").await.as_deref(), Some(value.as_str()));
    }
    assert_eq!(back.status().leader, Some(new_leader));
    let (_, verify) = back_client.get("/v1/audit/verify?consistency=stale").await;
    assert_eq!(verify["ok"], true);

    // With two of three members gone, the last one refuses writes but serves stale reads.
    back.shutdown().await;
    let last = nodes.pop().unwrap();
    for n in nodes {
        n.shutdown().await;
    }
    let client = Client::new(last.url());
    let (status, err) = client.put("/v1/kv/k/lost", b"x", "text/plain").await;
    assert_eq!(status, 503, "{err}");
    assert_eq!(value_of(&client, "k/19", "stale").await.as_deref(), Some("v19"));
    let (status, _) = client.get("/v1/kv/k/19").await;
    assert_eq!(status, 503, "a linearizable read needs a quorum");
    last.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_node_joining_after_log_purge_gets_a_snapshot() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let n1 = start_snapshotting(dirs[0].path()).await;
    let client1 = Client::new(n1.url());
    for i in 0..50 {
        assert!(put(&client1, &format!("s/{}", i % 5), &format!("v{i}")).await);
    }
    eventually(10, "the log to be purged", || async { n1.status().purged_index.filter(|p| *p >= 20) }).await;

    let n2 = join(2, dirs[1].path(), &n1).await;
    let client2 = Client::new(n2.url());
    eventually(15, "the snapshot to reach the new node", || async {
        (value_of(&client2, "s/4", "stale").await.as_deref() == Some("v49")).then_some(())
    })
    .await;
    let status = n2.status();
    assert!(status.snapshot_index.is_some(), "{status:?}");
    assert_eq!(status.revision, 50);
    let (_, history) = client2.get("/v1/history/s/0?consistency=stale").await;
    assert_eq!(history["versions"].as_array().unwrap().len(), 10, "history travels with the snapshot");

    // Removing the new member (through itself: forwarded to the leader) leaves a single voter
    // that still accepts writes.
    let (status, res) = client2.delete("/v1/cluster/members/2").await;
    assert_eq!(status, 200, "{res}");
    assert_eq!(res["members"].as_array().unwrap().iter().map(|m| m["id"].as_u64().unwrap()).collect::<Vec<_>>(), vec![1]);
    n2.shutdown().await;
    assert!(put(&client1, "s/after", "x").await);
    n1.shutdown().await;
}

/// Concurrent writes share log entries (group commit) and still behave one by one: each gets
/// its own acknowledged revision, every member holds every write, and a watcher sees each
/// write once, in revision order.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn concurrent_writes_are_batched_and_each_acknowledged() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let n1 = start(config(1, dirs[0].path())).await;
    wait_leader(&n1).await;
    let mut nodes = vec![n1];
    for id in 2..=3 {
        let mut c = config(id, dirs[id as usize - 1].path());
        c.join = Some(nodes[0].url().to_string());
        nodes.push(start(c).await);
    }
    eventually(10, "three voters", || async {
        let m = nodes[0].status().members;
        (m.len() == 3 && m.iter().all(|m| m.voter)).then_some(())
    })
    .await;
    let leader = eventually(10, "agreement on a leader", || async { leader_of(&nodes.iter().collect::<Vec<_>>()) }).await;
    let leader_node = nodes.iter().find(|n| n.node_id() == leader).unwrap();
    let clients: Vec<_> = nodes.iter().map(|n| Client::new(n.url())).collect();
    let watcher = clients.iter().position(|c| c.base != leader_node.url().trim_end_matches('/')).unwrap();
    let mut watch = clients[watcher].raw().get(clients[watcher].url("/v1/watch?prefix=c/")).send().await.unwrap();
    assert_eq!(watch.status(), 200);
    let index_before = leader_node.status().last_log_index.unwrap_or(0);

    const WRITES: usize = 200;
    let tasks: Vec<_> = (0..WRITES)
        .map(|i| {
            // Most through the leader, some through followers (forwarded, batched there too).
            let client = clients[if i % 4 == 0 { (i / 4) % 3 } else { nodes.iter().position(|n| n.node_id() == leader).unwrap() }].clone();
            tokio::spawn(async move {
                let (status, body) = client.put(&format!("/v1/kv/c/{i}"), format!("v{i}").as_bytes(), "text/plain").await;
                assert_eq!(status, 200, "put c/{i}: {body}");
                body["revision"].as_u64().unwrap()
            })
        })
        .collect();
    let mut revisions = Vec::new();
    for task in tasks {
        revisions.push(task.await.unwrap());
    }
    revisions.sort_unstable();
    assert_eq!(revisions, (1..=WRITES as u64).collect::<Vec<_>>(), "one revision per write, no gaps, no repeats");

    let entries = leader_node.status().last_log_index.unwrap_or(0) - index_before;
    assert!(entries < WRITES as u64, "{WRITES} concurrent writes took {entries} log entries: they were not batched");

    for (n, client) in clients.iter().enumerate() {
        let (_, page) = client.get("/v1/kv?prefix=c/&limit=1000").await;
        assert_eq!(page["items"].as_array().map(Vec::len), Some(WRITES), "node index {n}: {page}");
    }
    let events = read_events(&mut watch, WRITES).await;
    let seen: Vec<u64> = events.iter().map(|e| e.1.parse().unwrap()).collect();
    assert_eq!(seen, (1..=WRITES as u64).collect::<Vec<_>>(), "the watcher sees every write once, in order");
    drop(watch);
    for node in nodes {
        node.shutdown().await;
    }
}

/// A restore goes through the Raft log: every member replaces its state at the same position,
/// and a member that joins later gets the restored state (with its restore point) in a snapshot.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_restore_reaches_every_member_and_travels_in_snapshots() {
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let n1 = start_snapshotting(dirs[0].path()).await;
    let n2 = join(2, dirs[1].path(), &n1).await;
    let (client1, client2) = (Client::new(n1.url()), Client::new(n2.url()));
    for v in ["v1", "v2", "v3"] {
        assert!(put(&client1, "app/db", v).await);
    }
    let typed = ferrocache_control::client::Client::new(n2.url(), None).unwrap();
    let backup = typed.backup().await.expect("a backup");
    for i in 0..5 {
        assert!(put(&client1, &format!("later/{i}"), "x").await);
    }
    // Through the follower, over data written since: forced.
    let refused = typed.restore(backup.clone(), false).await.unwrap_err();
    assert_eq!(refused.code(), Some("not_empty"), "{refused}");
    let restored = typed.restore(backup, true).await.expect("the restore");
    assert_eq!((restored.backup_revision, restored.revision), (3, 9));
    for (client, node) in [(&client1, &n1), (&client2, &n2)] {
        eventually(10, "the restore on every member", || async { (node.status().revision == 9).then_some(()) }).await;
        assert_eq!(value_of(client, "app/db", "stale").await.as_deref(), Some("v3"));
        assert_eq!(value_of(client, "later/0", "stale").await, None);
        let (_, chain) = client.get("/v1/audit/verify?consistency=stale").await;
        assert_eq!(chain["ok"], true, "{chain}");
    }

    // Enough writes for a snapshot and a purge; a new member starts from that snapshot.
    for i in 0..30 {
        assert!(put(&client1, &format!("after/{}", i % 3), &format!("{i}")).await);
    }
    eventually(10, "the log to be purged past the restore", || async { n1.status().purged_index.filter(|p| *p >= 20) }).await;
    let n3 = join(3, dirs[2].path(), &n1).await;
    let client3 = Client::new(n3.url());
    eventually(15, "the snapshot on the new member", || async { (n3.status().revision == 39).then_some(()) }).await;
    assert!(n3.status().snapshot_index.is_some());
    assert_eq!(value_of(&client3, "app/db", "stale").await.as_deref(), Some("v3"));
    let (_, chain) = client3.get("/v1/audit/verify?consistency=stale").await;
    assert_eq!(chain["ok"], true, "{chain}");
    let (status, err) = client3.get("/v1/watch?prefix=app/&from_revision=5").await;
    assert_eq!((status, err["error"]["first_available"].as_u64()), (410, Some(10)), "{err}");
    for node in [n3, n2, n1] {
        node.shutdown().await;
    }
}
