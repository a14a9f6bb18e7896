//! A small typed async client for the `/v1/` admin API (what the `ferrocache` CLI uses).
//!
//! One method per endpoint, answers decoded into the types below (or the crate's own
//! [`Status`], [`Member`], [`LockStatus`], [`AuditEntry`], [`ChainReport`]). Failures are a
//! [`ClientError`] that keeps the server's [`ApiError`] (status, code, message) so callers can
//! tell a conflict from a missing key. [`Watch`] follows a watch stream (server-sent events)
//! and resumes after a dropped connection exactly where it stopped.
//!
//! Writes may be sent to any node: followers forward them to the leader.

use std::collections::VecDeque;
use std::time::Duration;

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use reqwest::{Method, RequestBuilder, Url};
use serde::de::DeserializeOwned;
use serde::{Deserialize, Serialize};
use serde_json::json;

use crate::command::{ContentType, KvMeta, LeaseInfo, LockStatus};
use crate::error::ApiError;
use crate::http::ACTOR_HEADER;
use crate::{Member, Status};
use crate::state::EventKind;
use crate::state::{AuditEntry, ChainReport};

/// How long an ordinary call may take.
const CALL_TIMEOUT: Duration = Duration::from_secs(30);
/// How long connecting may take.
const CONNECT_TIMEOUT: Duration = Duration::from_secs(5);
/// A watch stream that carries nothing (not even the server's keep-alive comments, sent every
/// 15 s) for this long is taken as dropped and reconnected.
const WATCH_IDLE: Duration = Duration::from_secs(45);
/// How long taking or restoring a backup may take (a large state is megabytes each way).
const BACKUP_TIMEOUT: Duration = Duration::from_secs(600);
/// Longest wait the server grants one lock request.
pub const MAX_LOCK_WAIT: Duration = Duration::from_secs(60);

#[derive(Debug, thiserror::Error)]
pub enum ClientError {
    #[error("invalid control-plane URL '{url}': {reason}")]
    InvalidUrl { url: String, reason: String },
    /// No answer: the node is down, the address is wrong, or the connection broke.
    #[error("cannot reach the control plane at {url}: {reason}")]
    Unreachable { url: String, reason: String },
    /// The server answered with an error.
    #[error("{0}")]
    Api(ApiError),
    /// The server answered something this client does not understand.
    #[error("unexpected answer from {url}: {reason}")]
    Protocol { url: String, reason: String },
    /// The CA file given to trust cannot be used.
    #[error("{0}")]
    Tls(String),
    /// A value in an answer is not valid base64.
    #[error("a value in the answer is not valid base64: {0}")]
    BadValue(String),
}

impl ClientError {
    /// The server's error code (`not_found`, `conflict`, ...), if the server answered.
    pub fn code(&self) -> Option<&str> {
        match self {
            ClientError::Api(e) => Some(&e.code),
            _ => None,
        }
    }
}

/// One version of a key, as the API shows it: a UTF-8 value in `value`, other bytes in
/// `value_base64`; no value for a deletion.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct KeyValue {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<ContentType>,
    pub deleted: bool,
    pub create_revision: u64,
    pub mod_revision: u64,
    pub version: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    pub author: String,
    pub timestamp_ms: u64,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub lease: Option<u64>,
}

impl KeyValue {
    /// The value's bytes (`None` for a deletion).
    pub fn bytes(&self) -> Result<Option<Vec<u8>>, ClientError> {
        value_bytes(&self.value, &self.value_base64)
    }
}

fn value_bytes(text: &Option<String>, b64: &Option<String>) -> Result<Option<Vec<u8>>, ClientError> {
    match (text, b64) {
        (Some(t), _) => Ok(Some(t.clone().into_bytes())),
        (None, Some(b)) => B64.decode(b).map(Some).map_err(|e| ClientError::BadValue(e.to_string())),
        (None, None) => Ok(None),
    }
}

/// Options of a put.
#[derive(Debug, Clone, Default)]
pub struct PutOptions {
    pub content_type: Option<ContentType>,
    /// Compare-and-swap: the key's current `mod_revision` (0 = the key must not exist).
    pub if_revision: Option<u64>,
    pub lease: Option<u64>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct PutResult {
    pub revision: u64,
    pub prev: Option<KvMeta>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct DeleteResult {
    pub revision: u64,
    pub deleted: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ListPage {
    /// The revision the listing was read at.
    pub revision: u64,
    pub items: Vec<KeyValue>,
    pub more: bool,
    pub next_start_after: Option<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct History {
    pub key: String,
    /// Oldest revision still kept (older ones were compacted).
    pub first_revision: u64,
    pub versions: Vec<KeyValue>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RollbackResult {
    pub revision: u64,
    pub changed: Vec<String>,
}

/// An export document; `import` takes the same shape (only `items` is read).
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportDoc {
    #[serde(default)]
    pub revision: u64,
    #[serde(default)]
    pub prefix: String,
    pub items: Vec<ExportItem>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ExportItem {
    pub key: String,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    #[serde(default, skip_serializing_if = "Option::is_none")]
    pub content_type: Option<ContentType>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct ImportResult {
    pub revision: u64,
    pub imported: usize,
}

/// What a restore did.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct RestoreResult {
    /// The restore's own revision (above every earlier one of either state).
    pub revision: u64,
    /// The revision the backup was taken at.
    pub backup_revision: u64,
    /// Live keys after the restore.
    pub keys: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Lease {
    #[serde(flatten)]
    pub info: LeaseInfo,
    /// Time left by the answering node's clock.
    pub remaining_ms: u64,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LeaseRevoked {
    pub id: u64,
    /// Keys that were attached to the lease and are now gone.
    pub deleted: Vec<String>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct LockAcquired {
    pub acquired: bool,
    /// The fencing token, when acquired.
    pub token: Option<u64>,
    /// Place in the queue when not acquired (0 = next).
    pub position: Option<usize>,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct AuditPage {
    pub entries: Vec<AuditEntry>,
    /// `from` of the next page.
    pub next: Option<u64>,
}

/// One change seen by a watch.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct WatchEvent {
    pub revision: u64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub kv: KeyValue,
}

/// What a watch follows.
#[derive(Debug, Clone, PartialEq, Eq)]
pub enum WatchTarget {
    Key(String),
    Prefix(String),
}

#[derive(Deserialize)]
struct ErrorBody {
    error: ApiError,
}

#[derive(Deserialize)]
struct MembersBody {
    members: Vec<Member>,
}

#[derive(Deserialize)]
struct LeasesBody {
    leases: Vec<Lease>,
}

/// A client of one node's admin API. Cheap to clone.
#[derive(Debug, Clone)]
pub struct Client {
    http: reqwest::Client,
    base: Url,
    token: Option<String>,
    actor: Option<String>,
}

impl Client {
    /// A client of the node at `base_url` (e.g. `http://127.0.0.1:7379`), sending `token` as a
    /// bearer token when given. An `https://` node is verified against the system's roots.
    pub fn new(base_url: &str, token: Option<String>) -> Result<Client, ClientError> {
        Client::with_ca(base_url, token, None)
    }

    /// Like [`Client::new`], but an `https://` node's certificate must chain to one of the CA
    /// certificates in the PEM file `ca` (a private CA), when given.
    pub fn with_ca(base_url: &str, token: Option<String>, ca: Option<&std::path::Path>) -> Result<Client, ClientError> {
        let invalid = |reason: String| ClientError::InvalidUrl { url: base_url.to_string(), reason };
        let base = Url::parse(base_url).map_err(|e| invalid(e.to_string()))?;
        if !matches!(base.scheme(), "http" | "https") || base.cannot_be_a_base() {
            return Err(invalid("expected http://HOST:PORT or https://HOST:PORT".into()));
        }
        let mut builder = reqwest::Client::builder().connect_timeout(CONNECT_TIMEOUT);
        if let Some(path) = ca {
            let roots = crate::tls::ca_certificates(path, "CA file (--ca)").map_err(ClientError::Tls)?;
            builder = builder.tls_certs_only(roots);
        }
        let http = builder.build().map_err(|e| ClientError::Tls(format!("cannot set up the HTTP client: {e}")))?;
        Ok(Client { http, base, token, actor: None })
    }

    /// Names who acts in the audit log when the node has no tokens (`X-Ferrocache-Actor`).
    pub fn with_actor(mut self, actor: impl Into<String>) -> Client {
        self.actor = Some(actor.into());
        self
    }

    /// The node's base URL as given.
    pub fn url(&self) -> &str {
        self.base.as_str().trim_end_matches('/')
    }

    /// `base` + the given path segments (each percent-encoded) + query pairs (`None` skipped).
    fn url_for<'a>(&self, segments: impl IntoIterator<Item = &'a str>, query: &[(&str, Option<String>)]) -> Url {
        let mut url = self.base.clone();
        if let Ok(mut path) = url.path_segments_mut() {
            path.pop_if_empty().extend(segments);
        }
        let pairs: Vec<_> = query.iter().filter_map(|(k, v)| v.as_ref().map(|v| (*k, v.as_str()))).collect();
        if !pairs.is_empty() {
            url.query_pairs_mut().extend_pairs(pairs);
        }
        url
    }

    /// `root` followed by a key or lock name whose `/`-separated parts become path segments.
    fn under(&self, root: &[&str], path: &str, query: &[(&str, Option<String>)]) -> Url {
        self.url_for(root.iter().copied().chain(path.split('/')), query)
    }

    fn key_url(&self, key: &str, query: &[(&str, Option<String>)]) -> Url {
        self.under(&["v1", "kv"], key, query)
    }

    fn request(&self, method: Method, url: Url) -> RequestBuilder {
        let mut req = self.http.request(method, url);
        if let Some(token) = &self.token {
            req = req.bearer_auth(token);
        }
        if let Some(actor) = &self.actor {
            req = req.header(ACTOR_HEADER, actor);
        }
        req
    }

    fn unreachable(&self, e: &reqwest::Error) -> ClientError {
        ClientError::Unreachable { url: self.url().to_string(), reason: root_cause(e) }
    }

    /// Sends the request and turns a non-2xx answer into [`ClientError::Api`].
    async fn send(&self, req: RequestBuilder) -> Result<reqwest::Response, ClientError> {
        let resp = req.send().await.map_err(|e| self.unreachable(&e))?;
        if resp.status().is_success() {
            return Ok(resp);
        }
        let status = resp.status();
        let body = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        Err(match serde_json::from_slice::<ErrorBody>(&body) {
            Ok(b) => ClientError::Api(b.error),
            Err(_) => ClientError::Protocol {
                url: self.url().to_string(),
                reason: format!("HTTP {status}: {}", String::from_utf8_lossy(&body).chars().take(200).collect::<String>()),
            },
        })
    }

    /// Sends and decodes a JSON answer.
    async fn call<T: DeserializeOwned>(&self, req: RequestBuilder) -> Result<T, ClientError> {
        self.call_within(req, CALL_TIMEOUT).await
    }

    async fn call_within<T: DeserializeOwned>(&self, req: RequestBuilder, timeout: Duration) -> Result<T, ClientError> {
        let resp = self.send(req.timeout(timeout)).await?;
        let body = resp.bytes().await.map_err(|e| self.unreachable(&e))?;
        serde_json::from_slice(&body).map_err(|e| ClientError::Protocol { url: self.url().to_string(), reason: e.to_string() })
    }

    async fn get_json<T: DeserializeOwned>(&self, url: Url) -> Result<T, ClientError> {
        self.call(self.request(Method::GET, url)).await
    }

    async fn post_json<T: DeserializeOwned>(&self, url: Url, body: &serde_json::Value) -> Result<T, ClientError> {
        self.call(self.request(Method::POST, url).json(body)).await
    }

    /// The key's latest live version, or the one live at `at_revision`.
    pub async fn get(&self, key: &str, at_revision: Option<u64>) -> Result<KeyValue, ClientError> {
        self.get_json(self.key_url(key, &[("at_revision", at_revision.map(|r| r.to_string()))])).await
    }

    pub async fn put(&self, key: &str, value: Vec<u8>, opts: &PutOptions) -> Result<PutResult, ClientError> {
        let query = [
            ("content_type", opts.content_type.map(|c| c.name().to_string())),
            ("if_revision", opts.if_revision.map(|r| r.to_string())),
            ("lease", opts.lease.map(|l| l.to_string())),
        ];
        self.call(self.request(Method::PUT, self.key_url(key, &query)).body(value)).await
    }

    /// Deletes the key, or every key starting with `key` when `prefix`.
    pub async fn delete(&self, key: &str, prefix: bool, if_revision: Option<u64>) -> Result<DeleteResult, ClientError> {
        let query = [("prefix", prefix.then(|| "true".to_string())), ("if_revision", if_revision.map(|r| r.to_string()))];
        self.call(self.request(Method::DELETE, self.key_url(key, &query))).await
    }

    /// One page of live keys under `prefix`, after `start_after`.
    pub async fn list_page(&self, prefix: &str, start_after: Option<&str>, limit: usize, at_revision: Option<u64>) -> Result<ListPage, ClientError> {
        let query = [
            ("prefix", Some(prefix.to_string())),
            ("start_after", start_after.map(str::to_string)),
            ("limit", Some(limit.to_string())),
            ("at_revision", at_revision.map(|r| r.to_string())),
        ];
        self.get_json(self.url_for(["v1", "kv"], &query)).await
    }

    /// Up to `limit` live keys under `prefix` (every one when `None`), following pages; the
    /// listing's revision is the first page's, pinned for the following pages so they all show
    /// the same moment.
    pub async fn list(&self, prefix: &str, limit: Option<usize>, at_revision: Option<u64>) -> Result<ListPage, ClientError> {
        const PAGE: usize = 1000;
        let mut all = self.list_page(prefix, None, limit.unwrap_or(PAGE).min(PAGE), at_revision).await?;
        let at = Some(all.revision);
        while all.more && limit.is_none_or(|l| all.items.len() < l) {
            let want = limit.map_or(PAGE, |l| (l - all.items.len()).min(PAGE));
            let page = self.list_page(prefix, all.next_start_after.as_deref(), want, at).await?;
            all.items.extend(page.items);
            all.more = page.more;
            all.next_start_after = page.next_start_after;
        }
        Ok(all)
    }

    pub async fn history(&self, key: &str) -> Result<History, ClientError> {
        self.get_json(self.under(&["v1", "history"], key, &[])).await
    }

    /// Writes, as a new revision, the key (or every key under the prefix) as it was at `to_revision`.
    pub async fn rollback(&self, key: &str, prefix: bool, to_revision: u64) -> Result<RollbackResult, ClientError> {
        let body = json!({ "key": key, "prefix": prefix, "to_revision": to_revision });
        self.post_json(self.url_for(["v1", "rollback"], &[]), &body).await
    }

    pub async fn export(&self, prefix: &str) -> Result<ExportDoc, ClientError> {
        self.get_json(self.url_for(["v1", "export"], &[("prefix", Some(prefix.to_string()))])).await
    }

    /// Writes every item in one transaction.
    pub async fn import(&self, items: &[ExportItem]) -> Result<ImportResult, ClientError> {
        self.post_json(self.url_for(["v1", "import"], &[]), &json!({ "items": items })).await
    }

    /// A backup of the whole control plane, as the file's bytes (see [`crate::backup`]).
    pub async fn backup(&self) -> Result<Vec<u8>, ClientError> {
        let req = self.request(Method::GET, self.url_for(["v1", "backup"], &[])).timeout(BACKUP_TIMEOUT);
        let resp = self.send(req).await?;
        Ok(resp.bytes().await.map_err(|e| self.unreachable(&e))?.to_vec())
    }

    /// Replaces the control plane's state with the backup file `file` (its bytes, unchanged);
    /// `force` to replace a state that holds data.
    pub async fn restore(&self, file: Vec<u8>, force: bool) -> Result<RestoreResult, ClientError> {
        let url = self.url_for(["v1", "restore"], &[("force", force.then(|| "true".to_string()))]);
        let req = self.request(Method::POST, url).header(reqwest::header::CONTENT_TYPE, "application/json").body(file);
        self.call_within(req, BACKUP_TIMEOUT).await
    }

    /// The current revision, read linearizably (the revision of an empty listing under `prefix`).
    pub async fn current_revision(&self, prefix: &str) -> Result<u64, ClientError> {
        Ok(self.list_page(prefix, None, 1, None).await?.revision)
    }

    /// Follows `target` from `from_revision` (`None` or 0 = changes after now).
    pub async fn watch(&self, target: WatchTarget, from_revision: Option<u64>) -> Result<Watch, ClientError> {
        let prefix = match &target {
            WatchTarget::Key(k) | WatchTarget::Prefix(k) => k.clone(),
        };
        let from = match from_revision.filter(|r| *r > 0) {
            Some(r) => r,
            None => self.current_revision(&prefix).await? + 1,
        };
        let mut watch = Watch { client: self.clone(), target, from, taken: 0, skip: 0, stream: None, buf: Vec::new(), ready: VecDeque::new() };
        watch.connect().await?;
        Ok(watch)
    }

    pub async fn lease_grant(&self, ttl: Duration) -> Result<Lease, ClientError> {
        let body = json!({ "ttl_ms": ttl.as_millis() as u64 });
        self.post_json(self.url_for(["v1", "lease"], &[]), &body).await
    }

    pub async fn lease_keepalive(&self, id: u64) -> Result<Lease, ClientError> {
        let id = id.to_string();
        self.post_json(self.url_for(["v1", "lease", &id, "keepalive"], &[]), &json!({})).await
    }

    /// Ends the lease; its keys are deleted and its locks released.
    pub async fn lease_revoke(&self, id: u64) -> Result<LeaseRevoked, ClientError> {
        let id = id.to_string();
        self.call(self.request(Method::DELETE, self.url_for(["v1", "lease", &id], &[]))).await
    }

    pub async fn leases(&self) -> Result<Vec<Lease>, ClientError> {
        Ok(self.get_json::<LeasesBody>(self.url_for(["v1", "lease"], &[])).await?.leases)
    }

    /// Takes the lock for `owner` or queues it, waiting up to `wait` (at most [`MAX_LOCK_WAIT`])
    /// for its turn. A queued owner stays queued after the call: call again to keep waiting,
    /// or [`Client::lock_release`] to leave the queue.
    pub async fn lock_acquire(&self, name: &str, owner: &str, lease: u64, wait: Duration) -> Result<LockAcquired, ClientError> {
        let wait = wait.min(MAX_LOCK_WAIT);
        let body = json!({ "owner": owner, "lease": lease, "wait_ms": wait.as_millis() as u64 });
        let url = self.under(&["v1", "lock"], name, &[]);
        self.call_within(self.request(Method::POST, url).json(&body), wait + CALL_TIMEOUT).await
    }

    /// Releases the lock held by `owner`, or takes `owner` out of its queue.
    pub async fn lock_release(&self, name: &str, owner: &str) -> Result<(), ClientError> {
        let url = self.under(&["v1", "lock"], name, &[("owner", Some(owner.to_string()))]);
        self.call::<serde_json::Value>(self.request(Method::DELETE, url)).await.map(drop)
    }

    pub async fn lock_status(&self, name: &str) -> Result<LockStatus, ClientError> {
        self.get_json(self.under(&["v1", "lock"], name, &[])).await
    }

    pub async fn audit(&self, from: Option<u64>, limit: Option<usize>) -> Result<AuditPage, ClientError> {
        let query = [("from", from.map(|f| f.to_string())), ("limit", limit.map(|l| l.to_string()))];
        self.get_json(self.url_for(["v1", "audit"], &query)).await
    }

    pub async fn audit_verify(&self) -> Result<ChainReport, ClientError> {
        self.get_json(self.url_for(["v1", "audit", "verify"], &[])).await
    }

    /// The alerts firing now (`GET /v1/alerts`).
    pub async fn alerts(&self) -> Result<crate::alerts::Active, ClientError> {
        self.get_json(self.url_for(["v1", "alerts"], &[])).await
    }

    /// The node's Prometheus exposition (`GET /metrics`), as text.
    pub async fn metrics(&self) -> Result<String, ClientError> {
        self.get_text(&["metrics"]).await
    }

    /// Every cluster node's exposition in one (`GET /v1/cluster/metrics`), as text.
    pub async fn cluster_metrics(&self) -> Result<String, ClientError> {
        self.get_text(&["v1", "cluster", "metrics"]).await
    }

    async fn get_text(&self, path: &[&str]) -> Result<String, ClientError> {
        let resp = self.send(self.request(Method::GET, self.url_for(path.iter().copied(), &[])).timeout(CALL_TIMEOUT)).await?;
        resp.text().await.map_err(|e| self.unreachable(&e))
    }

    pub async fn status(&self) -> Result<Status, ClientError> {
        self.get_json(self.url_for(["v1", "status"], &[])).await
    }

    pub async fn members(&self) -> Result<Vec<Member>, ClientError> {
        Ok(self.get_json::<MembersBody>(self.url_for(["v1", "cluster", "members"], &[])).await?.members)
    }

    /// Adds a node (as a learner that catches up, then a voter unless `voter` is false).
    pub async fn member_add(&self, node_id: u64, url: &str, voter: bool) -> Result<Vec<Member>, ClientError> {
        let body = json!({ "node_id": node_id, "url": url, "voter": voter });
        Ok(self.post_json::<MembersBody>(self.url_for(["v1", "cluster", "members"], &[]), &body).await?.members)
    }

    /// Makes a standby node (a cluster-mode data node not yet in a cluster) a cluster of one.
    pub async fn init(&self) -> Result<Status, ClientError> {
        self.post_json(self.url_for(["v1", "cluster", "init"], &[]), &json!({})).await
    }

    pub async fn member_remove(&self, node_id: u64) -> Result<Vec<Member>, ClientError> {
        let id = node_id.to_string();
        let url = self.url_for(["v1", "cluster", "members", &id], &[]);
        Ok(self.call::<MembersBody>(self.request(Method::DELETE, url)).await?.members)
    }
}

/// The innermost cause of a transport error, e.g. "connection refused".
fn root_cause(e: &reqwest::Error) -> String {
    if e.is_timeout() {
        return "timed out".to_string();
    }
    let mut cause: &dyn std::error::Error = e;
    while let Some(next) = cause.source() {
        cause = next;
    }
    let text = cause.to_string();
    let text = text.split(" (os error").next().unwrap_or(&text);
    text.to_lowercase()
}

/// A watch stream. [`Watch::next`] yields events in revision order; after it returns a
/// transport error ([`ClientError::Unreachable`]), calling it again reconnects and resumes
/// right after the last event it yielded, with nothing missed or repeated: it asks again from
/// the last revision it saw and skips the events of that revision it already has (one
/// revision can carry several events, e.g. a txn's or a prefix delete's).
pub struct Watch {
    client: Client,
    target: WatchTarget,
    /// The revision to resume from: the last one seen, or the start.
    from: u64,
    /// Events of revision `from` already taken.
    taken: usize,
    /// Events of revision `from` still to drop after a reconnect (the server sends them again).
    skip: usize,
    stream: Option<reqwest::Response>,
    buf: Vec<u8>,
    ready: VecDeque<WatchEvent>,
}

impl Watch {
    /// The revision a reconnect resumes at.
    pub fn resume_revision(&self) -> u64 {
        self.from
    }

    async fn connect(&mut self) -> Result<(), ClientError> {
        let (field, value) = match &self.target {
            WatchTarget::Key(k) => ("key", k.clone()),
            WatchTarget::Prefix(p) => ("prefix", p.clone()),
        };
        let query = [(field, Some(value)), ("from_revision", Some(self.from.to_string()))];
        let req = self.client.request(Method::GET, self.client.url_for(["v1", "watch"], &query));
        self.buf.clear();
        self.skip = self.taken;
        self.stream = Some(self.client.send(req).await?);
        Ok(())
    }

    /// The next event; waits for it as long as it takes.
    pub async fn next(&mut self) -> Result<WatchEvent, ClientError> {
        loop {
            if let Some(event) = self.ready.pop_front() {
                return Ok(event);
            }
            if self.stream.is_none() {
                self.connect().await?;
            }
            if let Err(e) = self.read_more().await {
                self.stream = None;
                return Err(e);
            }
        }
    }

    /// Reads one chunk and parses the complete SSE messages in it.
    async fn read_more(&mut self) -> Result<(), ClientError> {
        let Some(stream) = self.stream.as_mut() else { return Ok(()) };
        let read = tokio::time::timeout(WATCH_IDLE, stream.chunk()).await;
        let dropped = |reason: String| ClientError::Unreachable { url: self.client.url().to_string(), reason };
        let chunk = match read {
            Ok(Ok(Some(chunk))) => chunk,
            Ok(Ok(None)) => return Err(dropped("the watch stream ended".into())),
            Ok(Err(e)) => return Err(dropped(root_cause(&e))),
            Err(_) => return Err(dropped("the watch stream went silent".into())),
        };
        self.buf.extend_from_slice(&chunk);
        while let Some(end) = message_end(&self.buf) {
            let message: Vec<u8> = self.buf.drain(..end).collect();
            self.parse_message(&String::from_utf8_lossy(&message))?;
        }
        Ok(())
    }

    /// Handles one SSE message (its lines up to a blank line).
    fn parse_message(&mut self, message: &str) -> Result<(), ClientError> {
        let mut kind = "message";
        let mut data = String::new();
        for line in message.lines() {
            let (field, value) = line.split_once(':').unwrap_or((line, ""));
            let value = value.strip_prefix(' ').unwrap_or(value);
            match field {
                "event" => kind = value,
                "data" => {
                    if !data.is_empty() {
                        data.push('\n');
                    }
                    data.push_str(value);
                }
                _ => {} // comments (keep-alives), id, retry
            }
        }
        if data.is_empty() {
            return Ok(());
        }
        let protocol = |e: serde_json::Error| ClientError::Protocol { url: self.client.url().to_string(), reason: format!("watch event: {e}") };
        if kind == "error" {
            return Err(ClientError::Api(serde_json::from_str::<ErrorBody>(&data).map_err(protocol)?.error));
        }
        let event: WatchEvent = serde_json::from_str(&data).map_err(protocol)?;
        self.accept(event);
        Ok(())
    }

    /// Queues an event unless it was already taken before a reconnect.
    fn accept(&mut self, event: WatchEvent) {
        if event.revision < self.from {
            return;
        }
        if event.revision == self.from && self.skip > 0 {
            self.skip -= 1;
            return;
        }
        if event.revision > self.from {
            self.from = event.revision;
            self.taken = 0;
            self.skip = 0;
        }
        self.taken += 1;
        self.ready.push_back(event);
    }
}

/// End (exclusive, blank line included) of the first complete SSE message in `buf`.
fn message_end(buf: &[u8]) -> Option<usize> {
    buf.windows(2).position(|w| w == b"\n\n").map(|i| i + 2)
}

#[cfg(test)]
mod tests {
    use super::*;

    fn sse(revision: u64, key: &str) -> String {
        let kv = json!({ "key": key, "value": "v", "content_type": "text", "deleted": false, "create_revision": revision,
            "mod_revision": revision, "version": 1, "author": "a", "timestamp_ms": 0 });
        format!("event: put\nid: {revision}\ndata: {}\n\n", json!({ "revision": revision, "type": "put", "kv": kv }))
    }

    fn feed(watch: &mut Watch, text: &str) -> Result<Vec<String>, ClientError> {
        watch.buf.extend_from_slice(text.as_bytes());
        while let Some(end) = message_end(&watch.buf) {
            let message: Vec<u8> = watch.buf.drain(..end).collect();
            watch.parse_message(&String::from_utf8_lossy(&message))?;
        }
        Ok(watch.ready.drain(..).map(|e| format!("{}:{}", e.revision, e.kv.key)).collect())
    }

    fn watch_from(from: u64) -> Watch {
        let client = Client::new("http://127.0.0.1:1", None).unwrap();
        Watch { client, target: WatchTarget::Prefix(String::new()), from, taken: 0, skip: 0, stream: None, buf: Vec::new(), ready: VecDeque::new() }
    }

    #[test]
    fn a_resumed_watch_skips_what_it_already_gave_inside_a_revision() {
        let mut w = watch_from(5);
        // A txn wrote a and b at revision 5; the stream broke after a.
        assert_eq!(feed(&mut w, &(": keep-alive\n\n".to_string() + &sse(5, "a"))).unwrap(), ["5:a"]);
        w.skip = w.taken; // what connect() does before asking again from revision 5
        assert_eq!(w.resume_revision(), 5);
        let again = sse(5, "a") + &sse(5, "b") + &sse(6, "c");
        assert_eq!(feed(&mut w, &again).unwrap(), ["5:b", "6:c"]);
        assert_eq!(w.resume_revision(), 6);
    }

    #[test]
    fn messages_split_across_chunks_and_error_events() {
        let mut w = watch_from(1);
        let text = sse(3, "k");
        let (head, tail) = text.split_at(20);
        assert!(feed(&mut w, head).unwrap().is_empty());
        assert_eq!(feed(&mut w, tail).unwrap(), ["3:k"]);
        let error = "event: error\ndata: {\"error\":{\"status\":410,\"code\":\"compacted\",\"message\":\"compacted, resync from revision 9\",\"first_available\":9}}\n\n";
        let err = feed(&mut w, error).unwrap_err();
        assert_eq!(err.code(), Some("compacted"));
    }

    #[test]
    fn keys_and_queries_are_percent_encoded_per_segment() {
        let client = Client::new("http://127.0.0.1:7379/", None).unwrap();
        let url = client.key_url("app/a b/c?d", &[("at_revision", Some("3".into())), ("lease", None)]);
        assert_eq!(url.as_str(), "http://127.0.0.1:7379/v1/kv/app/a%20b/c%3Fd?at_revision=3");
        assert_eq!(client.url(), "http://127.0.0.1:7379");
        assert!(matches!(Client::new("ftp://x", None), Err(ClientError::InvalidUrl { .. })));
        assert_eq!(Client::new("https://x:7379", None).unwrap().url(), "https://x:7379");
        let no_ca = Client::with_ca("https://x", None, Some(std::path::Path::new("/nonexistent/ca.pem"))).unwrap_err();
        assert!(matches!(&no_ca, ClientError::Tls(m) if m.contains("/nonexistent/ca.pem")), "{no_ca}");
    }
}
