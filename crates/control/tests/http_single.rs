//! One node over HTTP: the `/v1/` API end to end, watch over SSE, restart from disk.

mod common;

use std::time::Duration;

use common::{Client, config, eventually, read_events, start, wait_leader};
use serde_json::{Value, json};

async fn single() -> (tempfile::TempDir, ferrocache_control::ControlHandle, Client) {
    let dir = tempfile::tempdir().unwrap();
    let node = start(config(1, dir.path())).await;
    wait_leader(&node).await;
    let client = Client::new(node.url());
    (dir, node, client)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn kv_put_get_list_history_delete_and_errors() {
    let (_dir, node, c) = single().await;

    let (s, put) = c.put("/v1/kv/app/checkout/db.json", br#"{"url": "postgres://db"}"#, "application/json").await;
    assert_eq!(s, 200, "{put}");
    assert_eq!(put["revision"], 1);
    assert_eq!(put["prev"], Value::Null);
    let (s, got) = c.get("/v1/kv/app/checkout/db.json").await;
    assert_eq!(s, 200);
    assert_eq!(got["value"], r#"{"url": "postgres://db"}"#);
    assert_eq!(got["content_type"], "json");
    assert_eq!((got["create_revision"].as_u64(), got["mod_revision"].as_u64(), got["version"].as_u64()), (Some(1), Some(1), Some(1)));
    assert_eq!(got["author"], "test");
    assert_eq!(got["checksum"].as_str().unwrap().len(), 64);

    // CAS: a stale if_revision is a 409 and changes nothing; the right one succeeds.
    let (s, err) = c.put("/v1/kv/app/checkout/db.json?if_revision=7", b"{}", "application/json").await;
    assert_eq!(s, 409);
    assert_eq!(err["error"]["code"], "conflict");
    let (s, put) = c.put("/v1/kv/app/checkout/db.json?if_revision=1", br#"{"url": "x"}"#, "application/json").await;
    assert_eq!((s, put["revision"].as_u64()), (200, Some(2)));
    assert_eq!(put["prev"]["mod_revision"], 1);

    // Invalid JSON is refused before it reaches the log.
    let (s, err) = c.put("/v1/kv/bad", b"{nope", "application/json").await;
    assert_eq!(s, 400);
    assert!(err["error"]["message"].as_str().unwrap().contains("not valid json"), "{err}");
    let (s, _) = c.put("/v1/kv/t.toml", b"a = 1", "application/toml").await;
    assert_eq!(s, 200);
    let (s, _) = c.put("/v1/kv/blob", &[0, 159, 146, 150], "application/octet-stream").await;
    assert_eq!(s, 200);
    let (_, blob) = c.get("/v1/kv/blob").await;
    assert_eq!(blob["value_base64"], "AJ+Slg==");

    // Raw read returns the bytes with their content type.
    let resp = c.raw().get(c.url("/v1/kv/t.toml?raw=true")).send().await.unwrap();
    assert_eq!(resp.headers()["content-type"], "application/toml");
    assert_eq!(resp.bytes().await.unwrap().as_ref(), b"a = 1");

    // Old revisions stay readable; history lists every version.
    let (_, old) = c.get("/v1/kv/app/checkout/db.json?at_revision=1&consistency=stale").await;
    assert_eq!(old["value"], r#"{"url": "postgres://db"}"#);
    let (_, hist) = c.get("/v1/history/app/checkout/db.json").await;
    let revs: Vec<_> = hist["versions"].as_array().unwrap().iter().map(|v| v["mod_revision"].as_u64().unwrap()).collect();
    assert_eq!(revs, vec![1, 2]);

    // Listing by prefix, paginated.
    for k in ["svc/a", "svc/b", "svc/c"] {
        c.put(&format!("/v1/kv/{k}"), b"1", "text/plain").await;
    }
    let (_, page) = c.get("/v1/kv?prefix=svc/&limit=2").await;
    let keys: Vec<_> = page["items"].as_array().unwrap().iter().map(|i| i["key"].as_str().unwrap().to_string()).collect();
    assert_eq!((keys, page["more"].as_bool()), (vec!["svc/a".to_string(), "svc/b".to_string()], Some(true)));
    let (_, page) = c.get(&format!("/v1/kv?prefix=svc/&limit=2&start_after={}", page["next_start_after"].as_str().unwrap())).await;
    assert_eq!(page["items"][0]["key"], "svc/c");
    assert_eq!(page["more"], false);

    // Rollback writes a new revision with the old value.
    let (s, rb) = c.post("/v1/rollback", json!({"key": "app/checkout/db.json", "to_revision": 1})).await;
    assert_eq!(s, 200, "{rb}");
    let (_, got) = c.get("/v1/kv/app/checkout/db.json").await;
    assert_eq!((got["value"].as_str(), got["version"].as_u64()), (Some(r#"{"url": "postgres://db"}"#), Some(3)));

    // Delete, then 404 with a JSON error; unknown routes are JSON 404s too.
    let (s, del) = c.delete("/v1/kv/svc/?prefix=true").await;
    assert_eq!((s, del["deleted"].as_array().unwrap().len()), (200, 3));
    let (s, err) = c.get("/v1/kv/svc/a").await;
    assert_eq!((s, err["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, err) = c.get("/nope").await;
    assert_eq!((s, err["error"]["code"].as_str()), (404, Some("not_found")));
    let (s, err) = c.get("/v1/kv/x?at_revision=abc").await;
    assert_eq!((s, err["error"]["code"].as_str()), (400, Some("invalid_argument")));
    let (s, err) = c.get("/v1/lease/abc").await;
    assert_eq!((s, err["error"]["code"].as_str()), (400, Some("invalid_argument")));
    let (s, err) = c.send(c.raw().post(c.url("/v1/txn")).body("{")).await;
    assert_eq!((s, err["error"]["code"].as_str()), (415, Some("invalid_body")));

    // Values over the limit are a 413.
    let big = vec![b'x'; 1536 * 1024 + 1];
    let (s, err) = c.put("/v1/kv/big", &big, "application/octet-stream").await;
    assert_eq!(s, 413, "{err}");

    let (_, status) = c.get("/v1/status").await;
    assert_eq!(status["leader"], 1);
    assert_eq!(status["state"], "Leader");
    assert_eq!(status["members"][0]["voter"], true);
    assert!(status["commit_index"].as_u64().unwrap() >= status["applied_index"].as_u64().unwrap() - 1);
    node.shutdown().await;
}

/// Keys that look like other endpoints (`rollback`, `history/...`, `status`) are ordinary keys
/// under `/v1/kv/`: put, get, history, rollback and delete all reach them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn every_key_path_is_reachable_under_kv() {
    let (_dir, node, c) = single().await;
    for key in ["rollback", "history", "history/app/db", "kv/history/x", "status"] {
        let (s, first) = c.put(&format!("/v1/kv/{key}"), b"one", "text/plain").await;
        assert_eq!(s, 200, "put {key}: {first}");
        let (s, _) = c.put(&format!("/v1/kv/{key}"), b"two", "text/plain").await;
        assert_eq!(s, 200, "second put {key}");
        let (s, got) = c.get(&format!("/v1/kv/{key}")).await;
        assert_eq!((s, got["key"].as_str(), got["value"].as_str()), (200, Some(key), Some("two")), "get {key}");

        let (s, hist) = c.get(&format!("/v1/history/{key}")).await;
        assert_eq!((s, hist["key"].as_str()), (200, Some(key)), "history {key}: {hist}");
        assert_eq!(hist["versions"].as_array().map(Vec::len), Some(2), "history {key}: {hist}");

        let to = first["revision"].as_u64().unwrap();
        let (s, rb) = c.post("/v1/rollback", json!({"key": key, "to_revision": to})).await;
        assert_eq!((s, rb["changed"].as_array().map(Vec::len)), (200, Some(1)), "rollback {key}: {rb}");
        let (_, got) = c.get(&format!("/v1/kv/{key}")).await;
        assert_eq!(got["value"].as_str(), Some("one"), "after rollback {key}");

        let (s, del) = c.delete(&format!("/v1/kv/{key}")).await;
        assert_eq!((s, del["deleted"][0].as_str()), (200, Some(key)), "delete {key}: {del}");
        let (s, _) = c.get(&format!("/v1/kv/{key}")).await;
        assert_eq!(s, 404, "{key} after delete");
    }
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn txn_leases_locks_and_audit() {
    let (_dir, node, c) = single().await;
    c.put("/v1/kv/a", b"1", "text/plain").await;

    let txn = json!({
        "compare": [{"key": "a", "target": "value", "op": "eq", "value": "1"}],
        "success": [{"put": {"key": "a", "value": "2"}}, {"put": {"key": "b", "value_base64": "AQI="}}],
        "failure": [{"put": {"key": "failed", "value": "1"}}],
    });
    let (s, res) = c.post("/v1/txn", txn.clone()).await;
    assert_eq!((s, res["succeeded"].as_bool(), res["revision"].as_u64()), (200, Some(true), Some(2)));
    let (_, res) = c.post("/v1/txn", txn).await;
    assert_eq!(res["succeeded"], false);
    let (s, err) = c.post("/v1/txn", json!({"compare": [{"key": "a", "target": "size", "op": "eq", "value": 1}]})).await;
    assert_eq!((s, err["error"]["code"].as_str()), (400, Some("invalid_argument")));

    // A lease-bound key disappears when the lease expires (leader-driven expiry).
    let (s, lease) = c.post("/v1/lease", json!({"ttl_ms": 300})).await;
    assert_eq!(s, 200, "{lease}");
    let id = lease["id"].as_u64().unwrap();
    let (s, _) = c.put(&format!("/v1/kv/nodes/n1?lease={id}"), b"up", "text/plain").await;
    assert_eq!(s, 200);
    eventually(10, "the lease-bound key to vanish", || async {
        let (s, _) = c.get("/v1/kv/nodes/n1").await;
        (s == 404).then_some(())
    })
    .await;
    let (s, _) = c.post(&format!("/v1/lease/{id}/keepalive"), json!({})).await;
    assert_eq!(s, 404);

    // Locks: the second owner queues, then gets the lock with a bigger fencing token.
    let (_, l1) = c.post("/v1/lease", json!({"ttl_secs": 30})).await;
    let (_, l2) = c.post("/v1/lease", json!({"ttl_secs": 30})).await;
    let (s, first) = c.post("/v1/lock/jobs/nightly", json!({"owner": "alice", "lease": l1["id"]})).await;
    assert_eq!((s, first["acquired"].as_bool()), (200, Some(true)), "{first}");
    let waiter = {
        let c = c.clone();
        let lease = l2["id"].clone();
        tokio::spawn(async move { c.post("/v1/lock/jobs/nightly", json!({"owner": "bob", "lease": lease, "wait_ms": 10_000})).await })
    };
    eventually(10, "bob to queue", || async {
        let (_, st) = c.get("/v1/lock/jobs/nightly").await;
        (st["waiters"] == json!(["bob"])).then_some(())
    })
    .await;
    let (s, _) = c.delete("/v1/lock/jobs/nightly?owner=alice").await;
    assert_eq!(s, 200);
    let (s, second) = tokio::time::timeout(Duration::from_secs(15), waiter).await.unwrap().unwrap();
    assert_eq!((s, second["acquired"].as_bool()), (200, Some(true)), "{second}");
    assert!(second["token"].as_u64() > first["token"].as_u64());
    let (s, err) = c.delete("/v1/lock/jobs/nightly?owner=alice").await;
    assert_eq!((s, err["error"]["code"].as_str()), (409, Some("not_lock_owner")));

    // Every mutation is in the audit chain, which verifies.
    let (_, audit) = c.get("/v1/audit?limit=1000").await;
    let entries = audit["entries"].as_array().unwrap();
    assert!(entries.iter().any(|e| e["op"] == "lock.acquire" && e["key"] == "jobs/nightly"));
    assert!(entries.iter().any(|e| e["op"] == "lease.expire" && e["key"] == "nodes/n1"));
    assert!(entries.iter().any(|e| e["op"] == "membership" && e["actor"] == "raft"));
    let (_, verify) = c.get("/v1/audit/verify").await;
    assert_eq!(verify["ok"], true, "{verify}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_streams_history_then_live_events_over_sse() {
    let (_dir, node, c) = single().await;
    c.put("/v1/kv/cfg/a", b"1", "text/plain").await; // 1
    c.put("/v1/kv/other", b"x", "text/plain").await; // 2
    c.put("/v1/kv/cfg/b", b"2", "text/plain").await; // 3

    let mut resp = c.raw().get(c.url("/v1/watch?prefix=cfg/&from_revision=1")).send().await.unwrap();
    assert_eq!(resp.status(), 200);
    assert_eq!(resp.headers()["content-type"], "text/event-stream");
    let history = read_events(&mut resp, 2).await;
    assert_eq!(history.iter().map(|e| e.1.as_str()).collect::<Vec<_>>(), vec!["1", "3"]);
    assert_eq!(history[1].2["kv"]["key"], "cfg/b");

    c.put("/v1/kv/other", b"y", "text/plain").await; // 4, not watched
    c.delete("/v1/kv/cfg/a").await; // 5
    c.put("/v1/kv/cfg/c", b"3", "text/plain").await; // 6
    let live = read_events(&mut resp, 2).await;
    let got: Vec<_> = live.iter().map(|(ev, id, data)| (ev.as_str(), id.as_str(), data["kv"]["key"].as_str().unwrap())).collect();
    assert_eq!(got, vec![("delete", "5", "cfg/a"), ("put", "6", "cfg/c")]);

    // Resuming with Last-Event-ID continues right after the last seen revision.
    let mut resumed = c.raw().get(c.url("/v1/watch?key=cfg/c")).header("last-event-id", "5").send().await.unwrap();
    let again = read_events(&mut resumed, 1).await;
    assert_eq!((again[0].1.as_str(), again[0].2["revision"].as_u64()), ("6", Some(6)));

    // A compacted start revision is refused with the revision to resync from.
    let (s, _) = c.post("/v1/compact", json!({"revision": 4})).await;
    assert_eq!(s, 200);
    let (s, err) = c.get("/v1/watch?prefix=cfg/&from_revision=2").await;
    assert_eq!((s, err["error"]["code"].as_str()), (410, Some("compacted")));
    assert_eq!(err["error"]["message"], "compacted, resync from revision 4");
    assert_eq!(err["error"]["first_available"], 4);
    // Shutting down ends open watch streams instead of waiting for them.
    tokio::time::timeout(Duration::from_secs(10), node.shutdown()).await.expect("shutdown with open watches");
    let end = tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await.expect("stream end");
    assert!(matches!(end, Ok(None) | Err(_)), "{end:?}");
    drop(resumed);
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn watch_long_poll_returns_events_and_the_next_revision() {
    let (_dir, node, c) = single().await;
    c.put("/v1/kv/lp/a", b"1", "text/plain").await; // 1
    c.put("/v1/kv/zz", b"1", "text/plain").await; // 2
    let (s, res) = c.get("/v1/watch?prefix=lp/&from_revision=1&poll_ms=1000").await;
    assert_eq!(s, 200, "{res}");
    assert_eq!(res["events"].as_array().unwrap().len(), 1);
    assert_eq!((res["events"][0]["kv"]["key"].as_str(), res["next_revision"].as_u64()), (Some("lp/a"), Some(2)));
    // Nothing new: the poll times out empty and says where to continue.
    let (_, res) = c.get("/v1/watch?prefix=lp/&from_revision=2&poll_ms=100").await;
    assert_eq!((res["events"].as_array().unwrap().len(), res["next_revision"].as_u64()), (0, Some(3)));
    // A write during the wait ends it.
    let writer = {
        let c = c.clone();
        tokio::spawn(async move {
            tokio::time::sleep(Duration::from_millis(200)).await;
            c.put("/v1/kv/lp/b", b"2", "text/plain").await
        })
    };
    let (_, res) = c.get("/v1/watch?key=lp/b&from_revision=3&poll_ms=10000").await;
    assert_eq!((res["events"][0]["revision"].as_u64(), res["next_revision"].as_u64()), (Some(3), Some(4)));
    writer.await.unwrap();
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn export_then_import_moves_a_prefix_atomically() {
    let (_dir, node, c) = single().await;
    c.put("/v1/kv/app/a.json", br#"{"x": 1}"#, "application/json").await;
    c.put("/v1/kv/app/bin", &[0xff, 0x00], "application/octet-stream").await;
    c.put("/v1/kv/other", b"no", "text/plain").await;
    let (s, doc) = c.get("/v1/export?prefix=app/").await;
    assert_eq!(s, 200, "{doc}");
    assert_eq!(doc["items"].as_array().unwrap().len(), 2);

    let (_dir2, node2, c2) = single().await;
    let (s, res) = c2.post("/v1/import", json!({ "items": doc["items"] })).await;
    assert_eq!((s, res["imported"].as_u64(), res["revision"].as_u64()), (200, Some(2), Some(1)), "{res}");
    let (_, a) = c2.get("/v1/kv/app/a.json").await;
    assert_eq!((a["value"].as_str(), a["content_type"].as_str()), (Some(r#"{"x": 1}"#), Some("json")));
    let (_, bin) = c2.get("/v1/kv/app/bin").await;
    assert_eq!(bin["value_base64"], "/wA=");
    // One invalid item refuses the whole import.
    let bad = json!({ "items": [{"key": "n/ok", "value": "1"}, {"key": "n/bad", "value": "{", "content_type": "json"}] });
    let (s, _) = c2.post("/v1/import", bad).await;
    assert_eq!(s, 400);
    let (s, _) = c2.get("/v1/kv/n/ok").await;
    assert_eq!(s, 404);
    node.shutdown().await;
    node2.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn schemas_on_a_prefix_reject_bad_values_with_the_reason() {
    let (_dir, node, c) = single().await;
    let schema = json!({"type": "object", "required": ["replicas"], "properties": {"replicas": {"type": "integer", "minimum": 1}}});
    let (s, res) = c.put("/v1/kv/_schema/deploy/", schema.to_string().as_bytes(), "application/json").await;
    assert_eq!(s, 200, "{res}");
    let (s, err) = c.put("/v1/kv/deploy/web", br#"{"replicas": 0}"#, "application/json").await;
    assert_eq!((s, err["error"]["code"].as_str()), (422, Some("schema_violation")));
    assert!(err["error"]["message"].as_str().unwrap().contains("/replicas"), "{err}");
    let (s, _) = c.put("/v1/kv/deploy/web", b"replicas = 3", "application/toml").await;
    assert_eq!(s, 200);
    let (s, err) = c.put("/v1/kv/_schema/bad/", br#"{"patternProperties": {}}"#, "application/json").await;
    assert_eq!(s, 400, "{err}");
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_leader_compacts_history_beyond_the_retention() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1, dir.path());
    cfg.retain_revisions = 10;
    cfg.timers.compaction_check_ms = 50;
    let node = start(cfg).await;
    wait_leader(&node).await;
    let c = Client::new(node.url());
    for i in 0..30 {
        c.put("/v1/kv/hot", format!("{i}").as_bytes(), "text/plain").await;
    }
    // Retention keeps 10 revisions and compacts in batches of a tenth of that, so
    // depending on when the timer fired the cut lands anywhere from 18 to 20.
    let first = eventually(10, "automatic compaction", || async { Some(node.status().first_revision).filter(|f| *f >= 18) }).await;
    let (s, err) = c.get("/v1/kv/hot?at_revision=5").await;
    assert_eq!((s, err["error"]["first_available"].as_u64()), (410, Some(first)));
    let (_, audit) = c.get("/v1/audit?limit=1000").await;
    assert!(audit["entries"].as_array().unwrap().iter().any(|e| e["op"] == "compact" && e["actor"] == "system"));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn restart_recovers_from_disk_with_snapshots_and_a_bounded_log() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1, dir.path());
    cfg.snapshot_every = 20;
    cfg.keep_logs_after_snapshot = 5;
    let node = start(cfg.clone()).await;
    wait_leader(&node).await;
    let c = Client::new(node.url());
    for i in 0..60 {
        let (s, _) = c.put(&format!("/v1/kv/k{}", i % 7), format!("v{i}").as_bytes(), "text/plain").await;
        assert_eq!(s, 200);
    }
    let status = eventually(10, "a snapshot and a purged log", || async {
        let st = node.status();
        (st.snapshot_index.is_some() && st.purged_index.is_some()).then_some(st)
    })
    .await;
    assert!(status.purged_index.unwrap() + 30 >= status.last_log_index.unwrap(), "log kept short: {status:?}");
    node.shutdown().await;

    let node = start(cfg).await;
    wait_leader(&node).await;
    let c = Client::new(node.url());
    let (_, got) = c.get("/v1/kv/k5").await;
    assert_eq!(got["value"], "v54");
    assert_eq!(got["version"], 8, "{got}");
    let (_, status) = c.get("/v1/status").await;
    assert_eq!(status["revision"], 60);
    let (_, verify) = c.get("/v1/audit/verify").await;
    assert_eq!(verify["ok"], true);
    node.shutdown().await;
}

/// Snapshots follow writes and bytes applied, not only log entries (one entry may batch many
/// writes): with the entry rule out of reach, a node snapshots once either rule is met, and
/// not at all without them.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn snapshots_follow_writes_and_bytes_applied() {
    async fn snapshot_after(writes: u64, bytes: u64, puts: usize, value_len: usize) -> Option<u64> {
        let dir = tempfile::tempdir().unwrap();
        let mut cfg = config(1, dir.path());
        cfg.snapshot_every = 1_000_000;
        (cfg.snapshot_writes, cfg.snapshot_bytes) = (writes, bytes);
        let node = start(cfg).await;
        wait_leader(&node).await;
        let c = Client::new(node.url());
        for i in 0..puts {
            let (s, _) = c.put(&format!("/v1/kv/k{i}"), &vec![b'x'; value_len], "text/plain").await;
            assert_eq!(s, 200);
        }
        // The check runs on the lease timer (50 ms here): give it a few rounds.
        let snapshot = tokio::time::timeout(std::time::Duration::from_secs(3), async {
            loop {
                if let Some(index) = node.status().snapshot_index {
                    return index;
                }
                tokio::time::sleep(std::time::Duration::from_millis(20)).await;
            }
        })
        .await
        .ok();
        node.shutdown().await;
        snapshot
    }
    assert!(snapshot_after(10, 0, 12, 10).await.is_some(), "12 writes with a 10-write rule");
    assert!(snapshot_after(0, 8 * 1024, 10, 1024).await.is_some(), "10 KiB with an 8 KiB rule");
    assert_eq!(snapshot_after(0, 0, 12, 1024).await, None, "no rule met, no snapshot");
    assert_eq!(snapshot_after(100, 1 << 20, 12, 1024).await, None, "rules not reached, no snapshot");
}

/// A backup larger than the ordinary request limit (several values near the value limit)
/// still restores: `/v1/restore` has a limit of its own.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn a_backup_larger_than_the_request_limit_restores() {
    let (_dir1, source, c1) = single().await;
    let big = vec![b'x'; 1200 * 1024];
    for i in 0..3 {
        let (s, err) = c1.put(&format!("/v1/kv/blob/{i}"), &big, "application/octet-stream").await;
        assert_eq!(s, 200, "{err}");
    }
    let backup = c1.raw().get(c1.url("/v1/backup")).send().await.unwrap().bytes().await.unwrap();
    assert!(backup.len() > 4 * 1024 * 1024, "{} bytes", backup.len());
    let (_dir2, target, c2) = single().await;
    let (s, res) = c2.send(c2.raw().post(c2.url("/v1/restore")).body(backup.to_vec())).await;
    assert_eq!(s, 200, "{res}");
    assert_eq!((res["backup_revision"].as_u64(), res["keys"].as_u64()), (Some(3), Some(3)));
    let (s, blob) = c2.get("/v1/kv/blob/2?raw=true").await;
    assert_eq!((s, blob.as_str().map(str::len)), (200, Some(big.len())));
    // Garbage of that size is read and refused as not a backup, not cut off by a limit.
    let (s, err) = c2.send(c2.raw().post(c2.url("/v1/restore")).body(vec![b' '; 5 * 1024 * 1024])).await;
    assert_eq!((s, err["error"]["code"].as_str()), (400, Some("invalid_backup")), "{err}");
    source.shutdown().await;
    target.shutdown().await;
}
