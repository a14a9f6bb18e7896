//! Shared helpers for the control-plane integration tests: nodes on 127.0.0.1 free ports with
//! temp data dirs, a JSON client, and bounded waits.

#![allow(dead_code)]

use std::future::Future;
use std::path::Path;
use std::time::Duration;

use ferrocache_control::{ControlConfig, ControlHandle, ControlNode, Timers};
use serde_json::Value;

/// Settings for tests: timers a little faster than the defaults, no automatic compaction.
pub fn config(node_id: u64, dir: &Path) -> ControlConfig {
    let mut config = ControlConfig::new(node_id, dir, "127.0.0.1:0".parse().unwrap());
    config.timers = Timers { heartbeat_ms: 100, election_min_ms: 400, election_max_ms: 800, lease_check_ms: 50, compaction_check_ms: 60_000, request_timeout_ms: 3_000 };
    config.retain_revisions = 0;
    config
}

pub async fn start(config: ControlConfig) -> ControlHandle {
    tokio::time::timeout(Duration::from_secs(20), ControlNode::start(config)).await.expect("start timed out").expect("start")
}

/// Polls `check` every 50 ms until it returns `Some`, for at most `secs` seconds.
pub async fn eventually<T, F, Fut>(secs: u64, what: &str, mut check: F) -> T
where
    F: FnMut() -> Fut,
    Fut: Future<Output = Option<T>>,
{
    let deadline = tokio::time::Instant::now() + Duration::from_secs(secs);
    loop {
        if let Some(v) = check().await {
            return v;
        }
        assert!(tokio::time::Instant::now() < deadline, "timed out waiting for {what}");
        tokio::time::sleep(Duration::from_millis(50)).await;
    }
}

pub async fn wait_leader(handle: &ControlHandle) {
    eventually(10, "a leader", || async { handle.status().leader }).await;
}

/// A small JSON client that returns (status, body) and never panics on HTTP errors.
#[derive(Clone)]
pub struct Client {
    http: reqwest::Client,
    pub base: String,
}

impl Client {
    pub fn new(base: &str) -> Client {
        let http = reqwest::Client::builder().timeout(Duration::from_secs(20)).build().unwrap();
        Client { http, base: base.trim_end_matches('/').to_string() }
    }

    pub async fn send(&self, req: reqwest::RequestBuilder) -> (u16, Value) {
        let resp = req.send().await.expect("request");
        let status = resp.status().as_u16();
        let text = resp.text().await.expect("body");
        let body = serde_json::from_str(&text).unwrap_or(Value::String(text));
        (status, body)
    }

    pub fn url(&self, path: &str) -> String {
        format!("{}{path}", self.base)
    }

    pub async fn get(&self, path: &str) -> (u16, Value) {
        self.send(self.http.get(self.url(path))).await
    }

    pub async fn delete(&self, path: &str) -> (u16, Value) {
        self.send(self.http.delete(self.url(path))).await
    }

    pub async fn post(&self, path: &str, body: Value) -> (u16, Value) {
        self.send(self.http.post(self.url(path)).json(&body)).await
    }

    /// PUT a raw value with a content type.
    pub async fn put(&self, path: &str, value: &[u8], content_type: &str) -> (u16, Value) {
        let req = self.http.put(self.url(path)).header("content-type", content_type).header("x-ferrocache-actor", "test").body(value.to_vec());
        self.send(req).await
    }

    pub fn raw(&self) -> &reqwest::Client {
        &self.http
    }
}

/// Reads SSE frames from `resp` until `count` events (or an error event) arrived.
pub async fn read_events(resp: &mut reqwest::Response, count: usize) -> Vec<(String, String, Value)> {
    let mut buf = String::new();
    let mut events = Vec::new();
    while events.len() < count {
        let chunk = tokio::time::timeout(Duration::from_secs(10), resp.chunk()).await.expect("event timed out").unwrap();
        buf.push_str(std::str::from_utf8(&chunk.expect("stream ended")).unwrap());
        while let Some(end) = buf.find("\n\n") {
            let frame: String = buf.drain(..end + 2).collect();
            let field = |name: &str| frame.lines().find_map(|l| l.strip_prefix(name)).map(|v| v.trim().to_string());
            if let (Some(event), Some(data)) = (field("event:"), field("data:")) {
                events.push((event, field("id:").unwrap_or_default(), serde_json::from_str(&data).unwrap()));
            }
        }
    }
    events
}
