//! Fault tests on three (and one on five) control-plane processes on loopback (see
//! `support::cluster`).
//!
//! The register tests record every client operation and, once the faults are over, check that
//! the history is linearizable, every acknowledged write is on every member at the revision it
//! was acknowledged with, every member holds the same history with increasing revisions, and
//! every watcher saw each event exactly once in revision order (`support::register`). The lock
//! test checks fencing: a holder that stops renewing its lease loses the lock no earlier than
//! its lease allows, and the next holder's token is higher.
//!
//! The tests run one at a time: each starts three or five processes, and timing assertions (a new
//! leader within a few seconds) should not compete with another test's cluster for two cores.

mod support;

use std::sync::Mutex;
use std::time::{Duration, Instant};

use serde_json::{Value as Json, json};
use support::cluster::{Cluster, eventually};
use support::history::Ret;
use support::register::{self, Workload};

/// The ignored test that child processes run.
const CHILD: &str = "child_node";

#[test]
#[ignore = "a control-plane node process for the other tests; does nothing when run directly"]
fn child_node() {
    support::cluster::run_child_node();
}

static SERIAL: Mutex<()> = Mutex::new(());

/// Runs one test's body on its own runtime, one test at a time.
fn run(body: impl std::future::Future<Output = ()>) {
    let _serial = SERIAL.lock().unwrap_or_else(|e| e.into_inner());
    let runtime = tokio::runtime::Builder::new_multi_thread().worker_threads(2).enable_all().build().unwrap();
    runtime.block_on(body);
}

/// A new leader must be agreed on within this long after the old one is lost.
const ELECTION_BOUND: Duration = Duration::from_secs(5);

/// The longest stretch without an acknowledged write, in nanoseconds of the recorder's clock.
fn longest_write_gap(work: &Workload) -> Duration {
    let mut acks: Vec<u64> = work.recorder.ops().iter().filter(|op| matches!(op.ret, Ret::Written { .. })).map(|op| op.complete).collect();
    acks.sort_unstable();
    Duration::from_nanos(acks.windows(2).map(|w| w[1] - w[0]).max().unwrap_or(0))
}

/// Writes acknowledged by any node that were invoked in `[from, to]` (recorder times).
fn writes_invoked_between(work: &Workload, from: u64, to: u64) -> usize {
    work.recorder.ops().iter().filter(|op| matches!(op.ret, Ret::Written { .. }) && op.invoke >= from && op.invoke <= to && op.complete <= to).count()
}

/// kill -9 the leader of `all`; the others must elect a new one within [`ELECTION_BOUND`] and
/// each acknowledge a write. Returns (old leader, new leader, time to elect).
async fn kill_leader(cluster: &mut Cluster, work: &Workload, all: &[usize]) -> (u64, u64, Duration) {
    let (old, _) = cluster.wait_leader_among(all, 10).await;
    let killed = cluster.index_of(old);
    cluster.kill(killed);
    let survivors: Vec<usize> = all.iter().copied().filter(|i| *i != killed).collect();
    let (new, election) = cluster.wait_leader_among(&survivors, 10).await;
    assert_ne!(new, old);
    assert!(election < ELECTION_BOUND, "electing a new leader took {election:?}");
    for &i in &survivors {
        work.wait_probe_acked(cluster, i, 10).await;
    }
    (old, new, election)
}

#[test]
fn leader_killed_during_reads_and_writes() {
    run(async {
        let mut cluster = Cluster::start(3, CHILD).await;
        let all = [0, 1, 2];
        let work = Workload::start(&cluster, 4);
        tokio::time::sleep(Duration::from_millis(1500)).await;

        let (old, new, election) = kill_leader(&mut cluster, &work, &all).await;
        let killed = cluster.index_of(old);

        // The killed member restarts from its disk and catches up (checked by the final history).
        cluster.restart(killed);
        tokio::time::sleep(Duration::from_millis(1500)).await;
        let gap = longest_write_gap(&work);
        let summary = work.finish_and_check(&cluster).await;
        eprintln!("leader {old} killed, {new} elected in {election:?}, longest pause between acknowledged writes {gap:?}; {summary:?}");
        assert!(summary.written >= 20, "too few writes to mean anything: {summary:?}");
    });
}

#[test]
fn paused_minority_and_paused_leader() {
    run(async {
        let cluster = Cluster::start(3, CHILD).await;
        let all = [0, 1, 2];
        let work = Workload::start(&cluster, 4);
        tokio::time::sleep(Duration::from_millis(1000)).await;

        // A paused follower: the other two keep acknowledging writes.
        let (leader, _) = cluster.wait_leader_among(&all, 10).await;
        let follower = (cluster.index_of(leader) + 1) % 3;
        cluster.signal(follower, "STOP");
        for i in all.into_iter().filter(|i| *i != follower) {
            work.wait_probe_acked(&cluster, i, 10).await;
        }
        cluster.signal(follower, "CONT");

        // A paused leader: the other two elect one of them and serve; the old leader steps down
        // when it resumes.
        let (leader, _) = cluster.wait_leader_among(&all, 10).await;
        let old = cluster.index_of(leader);
        let others: Vec<usize> = all.into_iter().filter(|i| *i != old).collect();
        cluster.signal(old, "STOP");
        let (new, election) = cluster.wait_leader_among(&others, 10).await;
        assert_ne!(new, leader);
        assert!(election < ELECTION_BOUND, "electing a new leader took {election:?}");
        for &i in &others {
            work.wait_probe_acked(&cluster, i, 10).await;
        }
        cluster.signal(old, "CONT");
        eventually(10, "the old leader to step down and follow", || async {
            let status = cluster.status(old).await?;
            let agreed = cluster.agreed_leader(&all).await?;
            (status["state"] == "Follower" && agreed != leader).then_some(())
        })
        .await;

        // A leader whose followers are both paused is a minority of one: nothing invoked while
        // they are paused may be acknowledged (it cannot commit), and its linearizable reads fail.
        let (lone, _) = cluster.wait_leader_among(&all, 10).await;
        let lone = cluster.index_of(lone);
        let followers: Vec<usize> = all.into_iter().filter(|i| *i != lone).collect();
        followers.iter().for_each(|&i| cluster.signal(i, "STOP"));
        let isolated_at = work.recorder.now();
        let ret = work.probe_put(&cluster, lone).await;
        assert!(!matches!(ret, Some(Ret::Written { .. })), "a leader without a quorum acknowledged a write");
        let read = register::get(&cluster.http, &cluster.url(lone)).await;
        assert_eq!(read, None, "a leader without a quorum served a linearizable read");
        let resumed_at = work.recorder.now();
        followers.iter().for_each(|&i| cluster.signal(i, "CONT"));
        assert_eq!(writes_invoked_between(&work, isolated_at, resumed_at), 0, "writes acknowledged without a quorum");

        tokio::time::sleep(Duration::from_millis(1000)).await;
        let gap = longest_write_gap(&work);
        let summary = work.finish_and_check(&cluster).await;
        eprintln!("follower {} paused, then leader {leader} (replaced by {new} in {election:?}), then both followers of {}; longest pause between acknowledged writes {gap:?}; {summary:?}", follower + 1, lone + 1);
        assert!(summary.written >= 20, "too few writes to mean anything: {summary:?}");
    });
}

/// Five voters: the leader is killed during the workload, then restarted and caught up; two
/// members (the leader among them) are paused and the other three keep serving; three are
/// paused and the two left neither acknowledge writes nor serve linearizable reads until the
/// three resume.
#[test]
fn five_voters_lose_the_leader_then_a_minority_then_a_majority() {
    run(async {
        let started = Instant::now();
        let mut cluster = Cluster::start(5, CHILD).await;
        let all: Vec<usize> = (0..5).collect();
        let work = Workload::start(&cluster, 4);
        tokio::time::sleep(Duration::from_millis(1000)).await;

        // kill -9 the leader: the four others elect one of them and keep acknowledging writes.
        let (old, new, election) = kill_leader(&mut cluster, &work, &all).await;
        let killed = cluster.index_of(old);

        // The killed member restarts from its disk and catches up with a write made without it.
        cluster.restart(killed);
        let Some(Ret::Written { revision }) = work.probe_put(&cluster, cluster.index_of(new)).await else {
            panic!("a write through the new leader failed");
        };
        eventually(15, "the restarted member to catch up", || async {
            (cluster.status(killed).await?["revision"].as_u64()? >= revision).then_some(())
        })
        .await;
        work.wait_probe_acked(&cluster, killed, 10).await;

        // A paused minority of two, the leader among them: the other three elect and serve.
        let (leader, _) = cluster.wait_leader_among(&all, 10).await;
        let leader = cluster.index_of(leader);
        let minority = [leader, (leader + 1) % 5];
        let majority: Vec<usize> = all.iter().copied().filter(|i| !minority.contains(i)).collect();
        minority.iter().for_each(|&i| cluster.signal(i, "STOP"));
        let (replacement, took) = cluster.wait_leader_among(&majority, 10).await;
        assert!(took < ELECTION_BOUND, "electing a new leader took {took:?}");
        for &i in &majority {
            work.wait_probe_acked(&cluster, i, 10).await;
        }
        minority.iter().for_each(|&i| cluster.signal(i, "CONT"));
        cluster.wait_leader_among(&all, 10).await;

        // A paused majority of three: the two left cannot commit, so nothing invoked while the
        // three are paused is acknowledged, and linearizable reads fail.
        let paused: Vec<usize> = all[..3].to_vec();
        let left = [3, 4];
        paused.iter().for_each(|&i| cluster.signal(i, "STOP"));
        let isolated_at = work.recorder.now();
        for &i in &left {
            let ret = work.probe_put(&cluster, i).await;
            assert!(!matches!(ret, Some(Ret::Written { .. })), "node {} acknowledged a write without a quorum", i + 1);
            let read = register::get(&cluster.http, &cluster.url(i)).await;
            assert_eq!(read, None, "node {} served a linearizable read without a quorum", i + 1);
        }
        let resumed_at = work.recorder.now();
        paused.iter().for_each(|&i| cluster.signal(i, "CONT"));
        assert_eq!(writes_invoked_between(&work, isolated_at, resumed_at), 0, "writes acknowledged without a quorum");

        // Service resumes everywhere.
        cluster.wait_leader_among(&all, 10).await;
        for &i in &all {
            work.wait_probe_acked(&cluster, i, 10).await;
        }
        let gap = longest_write_gap(&work);
        let summary = work.finish_and_check(&cluster).await;
        eprintln!(
            "5 voters: leader {old} killed, {new} elected in {election:?}; then nodes {} and {} paused, {replacement} led after {took:?}; then nodes 1-3 paused; longest pause between acknowledged writes {gap:?}; {summary:?}; {:?} in all",
            minority[0] + 1,
            minority[1] + 1,
            started.elapsed()
        );
        assert!(summary.written >= 20, "too few writes to mean anything: {summary:?}");
    });
}

/// Sends a JSON request; returns (status, body).
async fn call(http: &reqwest::Client, method: reqwest::Method, url: String, body: Option<Json>) -> (u16, Json) {
    let mut req = http.request(method, url);
    if let Some(body) = body {
        req = req.json(&body);
    }
    let resp = req.send().await.expect("request");
    let status = resp.status().as_u16();
    (status, resp.json().await.unwrap_or(Json::Null))
}

async fn grant(http: &reqwest::Client, url: &str, ttl_ms: u64) -> u64 {
    let (status, lease) = call(http, reqwest::Method::POST, format!("{url}/v1/lease"), Some(json!({ "ttl_ms": ttl_ms }))).await;
    assert_eq!(status, 200, "{lease}");
    lease["id"].as_u64().unwrap()
}

async fn acquire(http: &reqwest::Client, url: &str, owner: &str, lease: u64, wait_ms: u64) -> Json {
    let body = json!({ "owner": owner, "lease": lease, "wait_ms": wait_ms });
    let (status, reply) = call(http, reqwest::Method::POST, format!("{url}/v1/lock/{LOCK}"), Some(body)).await;
    assert_eq!(status, 200, "{reply}");
    reply
}

const LOCK: &str = "faults/lock";

#[test]
fn lock_holder_that_stops_renewing_is_fenced() {
    run(async {
        let mut cluster = Cluster::start(3, CHILD).await;
        let http = cluster.http.clone();
        let (a_url, b_url) = (cluster.url(0), cluster.url(1));
        const TTL_MS: u64 = 1000;

        let lease_a = grant(&http, &a_url, TTL_MS).await;
        let held = acquire(&http, &a_url, "A", lease_a, 0).await;
        assert_eq!(held["acquired"], true, "{held}");
        let token_a = held["token"].as_u64().unwrap();
        let lease_b = grant(&http, &b_url, 60_000).await;
        let queued = acquire(&http, &b_url, "B", lease_b, 0).await;
        assert_eq!(queued["acquired"], false, "B must wait while A holds the lock: {queued}");

        // A renews for twice its TTL: the lock stays A's.
        let mut last_renewal = Instant::now();
        let renew_until = Instant::now() + Duration::from_millis(2 * TTL_MS);
        while Instant::now() < renew_until {
            last_renewal = Instant::now();
            let (status, lease) = call(&http, reqwest::Method::POST, format!("{a_url}/v1/lease/{lease_a}/keepalive"), None).await;
            assert_eq!(status, 200, "keep-alive: {lease}");
            tokio::time::sleep(Duration::from_millis(TTL_MS / 4)).await;
        }
        let (_, lock) = call(&http, reqwest::Method::GET, format!("{b_url}/v1/lock/{LOCK}"), None).await;
        assert_eq!(lock["holder"], "A", "{lock}");

        // A stops renewing (as if paused): B gets the lock once A's lease has run out, not before.
        let granted = acquire(&http, &b_url, "B", lease_b, 10_000).await;
        let b_at = Instant::now();
        assert_eq!(granted["acquired"], true, "{granted}");
        let token_b = granted["token"].as_u64().unwrap();
        assert!(token_a < token_b, "fencing tokens must grow: A {token_a}, B {token_b}");
        // The leader stamps commands in whole milliseconds, hence the 1 ms of slack.
        let held_for = b_at - last_renewal;
        assert!(held_for >= Duration::from_millis(TTL_MS - 1), "B got the lock {held_for:?} after A's last renewal, before A's lease ran out");

        // A, back, is no longer the owner and its lease is gone.
        let (status, reply) = call(&http, reqwest::Method::DELETE, format!("{a_url}/v1/lock/{LOCK}?owner=A"), None).await;
        assert_eq!((status, reply["error"]["code"].as_str()), (409, Some("not_lock_owner")), "{reply}");
        let (status, _) = call(&http, reqwest::Method::POST, format!("{a_url}/v1/lease/{lease_a}/keepalive"), None).await;
        assert_eq!(status, 404);

        // The lock and its token survive losing the leader; the next holder's token is higher still.
        let (leader, _) = cluster.wait_leader_among(&[0, 1, 2], 10).await;
        cluster.kill(cluster.index_of(leader));
        let survivor = (0..3).find(|i| *i != cluster.index_of(leader)).unwrap();
        let url = cluster.url(survivor);
        let lock = eventually(15, "the lock state after the failover", || async { cluster.get_json(survivor, &format!("/v1/lock/{LOCK}")).await }).await;
        assert_eq!((lock["holder"].as_str(), lock["token"].as_u64()), (Some("B"), Some(token_b)), "{lock}");
        let (status, _) = call(&http, reqwest::Method::DELETE, format!("{url}/v1/lock/{LOCK}?owner=B"), None).await;
        assert_eq!(status, 200);
        let lease_c = grant(&http, &url, 60_000).await;
        let next = acquire(&http, &url, "C", lease_c, 0).await;
        assert!(next["token"].as_u64().unwrap() > token_b, "{next}");
        eprintln!("tokens: A {token_a}, B {token_b} (acquired {held_for:?} after A's last renewal), C {}", next["token"]);
    });
}
