//! The register workload of the fault tests: clients that put unique values to one key (plain
//! or CAS) and read it back linearizably through any node, watchers on every node, and the
//! checks run once the faults are over.

use std::sync::Arc;
use std::sync::atomic::{AtomicBool, AtomicU32, Ordering};
use std::time::{Duration, Instant};

use parking_lot::Mutex;
use serde_json::Value as Json;
use tokio::task::JoinHandle;

use super::cluster::{Cluster, eventually};
use super::history::{self, Call, Op, Recorder, Ret, Value};

/// The register's key.
pub const KEY: &str = "faults/register";

/// Client id and first value of probe writes (clients' values are below).
const PROBE_CLIENT: usize = usize::MAX;
const PROBE_VALUES: Value = 900_000_000;

/// Pause between one client's operations, so a test of a few seconds records a few hundred.
const THINK: Duration = Duration::from_millis(15);

fn text(value: Value) -> String {
    format!("v{value}")
}

fn parse_value(kv: &Json) -> Option<Value> {
    kv["value"].as_str()?.strip_prefix('v')?.parse().ok()
}

/// A linearizable read; None when it failed (a read has no effect either way).
pub async fn get(http: &reqwest::Client, url: &str) -> Option<Ret> {
    let resp = http.get(format!("{url}/v1/kv/{KEY}")).send().await.ok()?;
    match resp.status().as_u16() {
        200 => {
            let kv: Json = resp.json().await.ok()?;
            Some(Ret::Read { value: parse_value(&kv)?, revision: kv["mod_revision"].as_u64()? })
        }
        404 => Some(Ret::Read { value: 0, revision: 0 }),
        _ => None,
    }
}

/// A put (CAS with `if_revision`); None when the request certainly had no effect.
pub async fn put(http: &reqwest::Client, url: &str, value: Value, if_revision: Option<u64>) -> Option<Ret> {
    let query = if_revision.map(|r| format!("?if_revision={r}")).unwrap_or_default();
    let resp = match http.put(format!("{url}/v1/kv/{KEY}{query}")).header("content-type", "text/plain").body(text(value)).send().await {
        Ok(resp) => resp,
        Err(e) if e.is_connect() => return None,
        Err(_) => return Some(Ret::Unknown),
    };
    match resp.status().as_u16() {
        200 => match resp.json::<Json>().await.ok().and_then(|b| b["revision"].as_u64()) {
            Some(revision) => Some(Ret::Written { revision }),
            None => Some(Ret::Unknown),
        },
        409 => Some(Ret::Refused),
        400..=499 => panic!("put refused: {}", resp.text().await.unwrap_or_default()),
        _ => {
            let body: Json = resp.json().await.unwrap_or_default();
            let message = body["error"]["message"].as_str().unwrap_or_default();
            (!NOT_PROPOSED.iter().any(|m| message.starts_with(m))).then_some(Ret::Unknown)
        }
    }
}

/// Starts of 503 messages given only when no node proposed the write (no leader was found, or
/// the call was passed on too often), so it certainly had no effect.
const NOT_PROPOSED: [&str; 2] = ["no leader elected", "leadership is changing"];

/// xorshift64: enough randomness to mix operations and nodes.
struct Rng(u64);

impl Rng {
    fn below(&mut self, n: u64) -> u64 {
        self.0 ^= self.0 << 13;
        self.0 ^= self.0 >> 7;
        self.0 ^= self.0 << 17;
        self.0 % n
    }
}

/// One client: 40% gets, 40% puts, 20% CAS against the value it read last, each through a
/// random node.
async fn client(id: usize, http: reqwest::Client, urls: Vec<String>, recorder: Arc<Recorder>, stop: Arc<AtomicBool>) {
    let mut rng = Rng(0x9E37_79B9_7F4A_7C15 ^ ((id as u64 + 1) * 0x1000_0001));
    let mut last_read = (0, 0);
    let mut next_value = (id as Value + 1) * 1_000_000;
    while !stop.load(Ordering::Relaxed) {
        let node = rng.below(urls.len() as u64) as usize;
        let url = &urls[node];
        let roll = rng.below(10);
        if roll < 4 {
            let pending = recorder.invoke(id, node, Call::Get);
            let ret = get(&http, url).await;
            if let Some(Ret::Read { value, revision }) = ret {
                last_read = (value, revision);
            }
            recorder.complete(pending, ret);
        } else {
            next_value += 1;
            let (call, if_revision) = if roll < 8 {
                (Call::Put { value: next_value }, None)
            } else {
                (Call::Cas { expect: last_read.0, value: next_value }, Some(last_read.1))
            };
            let pending = recorder.invoke(id, node, call);
            let ret = put(&http, url, next_value, if_revision).await;
            recorder.complete(pending, ret);
        }
        tokio::time::sleep(THINK).await;
    }
}

/// A watcher of the register from revision 1 that moves to the next node (resuming after the
/// last revision it saw) whenever its stream breaks.
async fn watcher(first_node: usize, urls: Vec<String>, seen: Seen, stop: Arc<AtomicBool>) {
    let http = reqwest::Client::builder().connect_timeout(Duration::from_millis(500)).build().unwrap();
    let mut node = first_node;
    while !stop.load(Ordering::Relaxed) {
        let from = seen.lock().last().map_or(1, |(r, _)| r + 1);
        let url = format!("{}/v1/watch?key={KEY}&from_revision={from}", urls[node]);
        if let Ok(resp) = http.get(url).timeout(Duration::from_secs(3600)).send().await
            && resp.status() == 200
        {
            follow(resp, &seen, &stop).await;
        }
        node = (node + 1) % urls.len();
        tokio::time::sleep(Duration::from_millis(100)).await;
    }
}

/// Appends the stream's events to `seen` until it breaks, sends an error or `stop` is set.
async fn follow(mut resp: reqwest::Response, seen: &Mutex<Vec<(u64, Value)>>, stop: &AtomicBool) {
    let mut buf = String::new();
    while !stop.load(Ordering::Relaxed) {
        let chunk = match tokio::time::timeout(Duration::from_millis(200), resp.chunk()).await {
            Err(_) => continue,
            Ok(Ok(Some(chunk))) => chunk,
            Ok(_) => return,
        };
        buf.push_str(&String::from_utf8_lossy(&chunk));
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let field = |name: &str| frame.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
            match field("event:") {
                Some("put") => {
                    let data: Json = serde_json::from_str(field("data:").unwrap_or_default()).expect("event data");
                    let revision = data["revision"].as_u64().expect("event revision");
                    seen.lock().push((revision, parse_value(&data["kv"]).expect("event value")));
                }
                Some("error") => return,
                _ => {}
            }
        }
    }
}

/// The (revision, value) events one watcher has seen.
type Seen = Arc<Mutex<Vec<(u64, Value)>>>;

/// Clients and watchers running against a cluster.
pub struct Workload {
    pub recorder: Arc<Recorder>,
    /// The next value a probe writes (clients write below it).
    next_probe: AtomicU32,
    stop_clients: Arc<AtomicBool>,
    stop_watchers: Arc<AtomicBool>,
    clients: Vec<JoinHandle<()>>,
    watchers: Vec<(JoinHandle<()>, Seen)>,
}

impl Workload {
    /// `clients` clients and one watcher per node.
    pub fn start(cluster: &Cluster, clients: usize) -> Workload {
        let urls: Vec<String> = (0..cluster.len()).map(|i| cluster.url(i)).collect();
        let recorder = Arc::new(Recorder::default());
        let (stop_clients, stop_watchers) = (Arc::new(AtomicBool::new(false)), Arc::new(AtomicBool::new(false)));
        let watchers = (0..urls.len())
            .map(|node| {
                let seen = Arc::new(Mutex::new(Vec::new()));
                (tokio::spawn(watcher(node, urls.clone(), seen.clone(), stop_watchers.clone())), seen)
            })
            .collect();
        let clients = (0..clients)
            .map(|id| tokio::spawn(client(id, cluster.http.clone(), urls.clone(), recorder.clone(), stop_clients.clone())))
            .collect();
        Workload { recorder, next_probe: AtomicU32::new(PROBE_VALUES), stop_clients, stop_watchers, clients, watchers }
    }

    /// A put through node `node` outside the clients, recorded in the history like theirs.
    pub async fn probe_put(&self, cluster: &Cluster, node: usize) -> Option<Ret> {
        let value = self.next_probe.fetch_add(1, Ordering::Relaxed);
        let pending = self.recorder.invoke(PROBE_CLIENT, node, Call::Put { value });
        let ret = put(&cluster.http, &cluster.url(node), value, None).await;
        self.recorder.complete(pending, ret);
        ret
    }

    /// Waits (at most `secs`) for a probe put through `node` to be acknowledged.
    pub async fn wait_probe_acked(&self, cluster: &Cluster, node: usize, secs: u64) {
        let what = format!("a write acknowledged through node {}", node + 1);
        eventually(secs, &what, || async { matches!(self.probe_put(cluster, node).await, Some(Ret::Written { .. })).then_some(()) }).await;
    }

    /// Stops the clients, waits for every member to hold the same history, and checks it:
    /// every acknowledged write on every member, revisions increasing, the history
    /// linearizable, and every watcher's events exactly the key's history.
    pub async fn finish_and_check(self, cluster: &Cluster) -> Summary {
        self.stop_clients.store(true, Ordering::Relaxed);
        for client in self.clients {
            client.await.unwrap();
        }
        let ops = self.recorder.ops();
        let history = converged_history(cluster).await;
        check_acknowledged(&ops, &history);

        let last = history.last().map_or(0, |(r, _)| *r);
        for (i, (_, seen)) in self.watchers.iter().enumerate() {
            let what = format!("watcher {i} to reach revision {last}");
            eventually(15, &what, || async { (seen.lock().last().map_or(0, |(r, _)| *r) >= last).then_some(()) }).await;
        }
        self.stop_watchers.store(true, Ordering::Relaxed);
        for (i, (task, seen)) in self.watchers.into_iter().enumerate() {
            task.await.unwrap();
            let seen: Vec<_> = seen.lock().iter().copied().filter(|(r, _)| *r <= last).collect();
            if let Err(e) = history::check_watch(&history, &seen) {
                panic!("watcher {i}: {e}");
            }
        }

        history::check_revisions(&ops).unwrap_or_else(|e| panic!("revisions: {e}"));
        let started = Instant::now();
        if let Err(v) = history::check_linearizable(&ops) {
            panic!("history of {} operations is not linearizable: {v:#?}\nfull history: {ops:#?}", ops.len());
        }
        Summary::new(&ops, history.len(), started.elapsed())
    }
}

/// Waits until every member reports the same revision and returns the register's history as
/// (revision, value) pairs, after checking every member holds the same one.
async fn converged_history(cluster: &Cluster) -> Vec<(u64, Value)> {
    let nodes: Vec<usize> = (0..cluster.len()).collect();
    eventually(20, "all members at the same revision", || async {
        let mut revisions = Vec::new();
        for &i in &nodes {
            revisions.push(cluster.status(i).await?["revision"].as_u64()?);
        }
        revisions.windows(2).all(|w| w[0] == w[1]).then_some(())
    })
    .await;
    let mut histories = Vec::new();
    for &i in &nodes {
        let body = cluster.get_json(i, &format!("/v1/history/{KEY}?consistency=stale")).await.expect("history");
        let versions = body["versions"].as_array().expect("versions");
        let history: Vec<(u64, Value)> = versions.iter().map(|v| (v["mod_revision"].as_u64().unwrap(), parse_value(v).unwrap())).collect();
        assert!(history.windows(2).all(|w| w[0].0 < w[1].0), "node {} history revisions must increase: {history:?}", i + 1);
        histories.push(history);
    }
    for (i, h) in histories.iter().enumerate().skip(1) {
        assert_eq!(h, &histories[0], "node {} and node 1 hold different histories", i + 1);
    }
    histories.swap_remove(0)
}

/// Every acknowledged write is in the history at the revision it was acknowledged with.
fn check_acknowledged(ops: &[Op], history: &[(u64, Value)]) {
    for op in ops {
        if let (Call::Put { value } | Call::Cas { value, .. }, Ret::Written { revision }) = (op.call, op.ret) {
            assert!(history.contains(&(revision, value)), "acknowledged write of {value} at revision {revision} is missing: {op:?}");
        }
    }
}

/// Counts reported by a test.
#[derive(Debug)]
pub struct Summary {
    pub ops: usize,
    pub reads: usize,
    pub written: usize,
    pub refused: usize,
    pub unknown: usize,
    pub versions: usize,
    pub check_time: Duration,
}

impl Summary {
    fn new(ops: &[Op], versions: usize, check_time: Duration) -> Summary {
        let count = |f: fn(&Ret) -> bool| ops.iter().filter(|op| f(&op.ret)).count();
        Summary {
            ops: ops.len(),
            reads: count(|r| matches!(r, Ret::Read { .. })),
            written: count(|r| matches!(r, Ret::Written { .. })),
            refused: count(|r| *r == Ret::Refused),
            unknown: count(|r| *r == Ret::Unknown),
            versions,
            check_time,
        }
    }
}
