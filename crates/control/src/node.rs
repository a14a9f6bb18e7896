//! A running control-plane node: Raft, the admin HTTP server and the leader's timers.
//!
//! Writes and linearizable reads must reach the leader. A node that is not the leader sends the
//! call on to the leader's `/v1/internal/forward` endpoint (MessagePack), so any node can take
//! any request; the leader stamps the time into each command it proposes. Reads use the
//! read-index scheme: the leader confirms its leadership with a quorum
//! (`ensure_linearizable`) and names a log index, and the reading node waits until it has
//! applied that index before reading its own copy of the state.

use std::collections::{BTreeMap, BTreeSet};
use std::net::SocketAddr;
use std::sync::Arc;
use std::sync::atomic::{AtomicU64, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use openraft::error::{ClientWriteError, RaftError};
use openraft::{BasicNode, ChangeMembers, ServerState};
use serde::{Deserialize, Serialize};
use tokio::net::TcpListener;
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::auth::Tokens;
use crate::command::{Op, Outcome, Request};
use crate::config::ControlConfig;
use crate::error::ApiError;
use crate::proposer::Proposer;
use crate::raft::log_store::LogStore;
use crate::raft::network::Network;
use crate::raft::state_machine::{SmShared, StateMachineStore};
use crate::raft::{MSGPACK, NodeId, Raft, db, decode, encode};

/// How many times a call may be passed from node to node before we give up on finding a leader.
const MAX_HOPS: u8 = 3;

/// A call that only the leader can answer.
#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum Call {
    Propose { actor: String, op: Op },
    /// Confirm leadership and return the index a linearizable read must wait for.
    ReadIndex,
    AddMember { node_id: NodeId, url: String, voter: bool },
    RemoveMember { node_id: NodeId },
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub enum CallResult {
    Outcome(Outcome),
    ReadIndex(Option<u64>),
    Members(Vec<Member>),
}

/// The body of `/v1/internal/forward`.
#[derive(Debug, Serialize, Deserialize)]
pub struct Forwarded {
    pub hops: u8,
    pub call: Call,
}

#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Member {
    pub id: NodeId,
    pub url: String,
    pub voter: bool,
    /// On the leader: the last log index known to be replicated to this member.
    pub matched_index: Option<u64>,
}

#[derive(Debug, Clone, Serialize, Deserialize)]
pub struct Status {
    pub node_id: NodeId,
    pub url: String,
    pub state: String,
    pub leader: Option<NodeId>,
    pub term: u64,
    pub last_log_index: Option<u64>,
    pub commit_index: Option<u64>,
    pub applied_index: Option<u64>,
    pub snapshot_index: Option<u64>,
    pub purged_index: Option<u64>,
    pub revision: u64,
    pub first_revision: u64,
    pub members: Vec<Member>,
}

/// Why a call could not run here.
enum Local {
    /// Another node leads (its URL, when known).
    Forward(Option<String>),
    Failed(ApiError),
}

#[derive(Debug, thiserror::Error)]
pub enum StartError {
    #[error("invalid control-plane settings: {0}")]
    Config(String),
    #[error("cannot open the control-plane store in {dir}: {message}")]
    Storage { dir: String, message: String },
    #[error("cannot listen on admin address {addr}: {source}")]
    Bind { addr: SocketAddr, source: std::io::Error },
    #[error("raft failed to start: {0}")]
    Raft(String),
    #[error("admin TLS: {0}")]
    Tls(String),
    #[error("cannot join the cluster at {url}: {message}")]
    Join { url: String, message: String },
}

/// The bound admin port, before the HTTP server takes it.
enum AdminListener {
    Plain(TcpListener),
    Tls(crate::tls::TlsListener),
}

/// The node's shared core, used by the HTTP handlers and the timers.
pub struct Node {
    pub(crate) id: NodeId,
    pub(crate) url: String,
    pub(crate) raft: Raft,
    pub(crate) sm: Arc<SmShared>,
    pub(crate) config: ControlConfig,
    pub(crate) client: reqwest::Client,
    pub(crate) cancel: CancellationToken,
    pub(crate) tokens: Tokens,
    committed: Arc<AtomicU64>,
    /// Every proposal on this node goes through it, so concurrent ones share log entries.
    proposer: Proposer,
    /// What `/metrics` adds about the node's data plane (see [`ControlHandle::serve_metrics`]).
    pub(crate) data_metrics: std::sync::OnceLock<crate::http::metrics::Source>,
    /// How this node's own lease renewals go (cluster nodes), for `/metrics`.
    pub(crate) lease_stats: crate::liveness::LeaseStats,
    /// The dashboard's last hour of figures (see [`crate::history`]).
    pub(crate) history: crate::history::History,
    /// How far the audit chain was last found whole, so that `/metrics` and the alert rounds
    /// hash only the entries appended since (see [`Node::audit_chain_ok`]).
    audit_head: parking_lot::Mutex<Option<crate::state::VerifiedHead>>,
}

/// Starts control-plane nodes.
pub struct ControlNode;

/// A started node; [`ControlHandle::shutdown`] stops it. Dropping the handle without calling
/// `shutdown` leaves the node running until its tokio runtime stops.
pub struct ControlHandle {
    node: Arc<Node>,
    addr: SocketAddr,
    tasks: Vec<JoinHandle<()>>,
    /// Completes once Raft's tasks have dropped the storage and the redb file is closed.
    db_closed: Option<tokio::sync::oneshot::Receiver<()>>,
}

/// The timer of a background loop that runs every `period` (see [`Node::next_tick`]).
pub(crate) fn ticker(period: std::time::Duration) -> tokio::time::Interval {
    let mut tick = tokio::time::interval(period);
    tick.set_missed_tick_behavior(tokio::time::MissedTickBehavior::Delay);
    tick
}

pub fn now_ms() -> u64 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_millis() as u64)
}

impl ControlNode {
    /// Opens the store, binds the admin port, starts Raft and the HTTP server, then either
    /// initializes a single-voter cluster (first start, no `join`), joins the cluster at `join`,
    /// or simply resumes from disk.
    pub async fn start(config: ControlConfig) -> Result<ControlHandle, StartError> {
        let raft_config = config.raft_config().map_err(StartError::Config)?;
        let tokens = Tokens::new(config.tokens.clone()).map_err(StartError::Config)?;
        if !tokens.enabled() && !config.admin_addr.ip().is_loopback() {
            return Err(StartError::Config(format!(
                "refusing to serve the admin API on {} without access control: give tokens (a token file) \
                 or bind it to a loopback address",
                config.admin_addr
            )));
        }
        // Certificate files before anything else: a bad one is a setup error, reported as such.
        let tls = match &config.tls {
            Some(files) => Some((files.server_config().map_err(StartError::Tls)?, files.peer_roots().map_err(StartError::Tls)?)),
            None => None,
        };
        let storage_err = |message: String| StartError::Storage { dir: config.data_dir.display().to_string(), message };
        let listener = TcpListener::bind(config.admin_addr)
            .await
            .map_err(|source| StartError::Bind { addr: config.admin_addr, source })?;
        let addr = listener.local_addr().map_err(|source| StartError::Bind { addr: config.admin_addr, source })?;
        let (listener, peer_roots) = match tls {
            Some((server_config, roots)) => {
                (AdminListener::Tls(crate::tls::TlsListener::new(listener, addr, server_config)), roots)
            }
            None => (AdminListener::Plain(listener), None),
        };
        // The port first: a node that cannot serve should not touch its data dir.
        let mut database = db::Db::open(&config.data_dir).map_err(|e| storage_err(e.to_string()))?;
        let db_closed = database.on_close();
        let database = Arc::new(database);
        let log_store = LogStore::new(database.clone());
        let committed = log_store.committed_cell();
        let sm = StateMachineStore::open(database).map_err(|e| storage_err(e.to_string()))?;
        let shared = sm.shared();

        let tls = matches!(listener, AdminListener::Tls(_));
        let url = config.advertise_url.clone().unwrap_or_else(|| default_url(addr, tls));
        let client = peer_client(&tokens, peer_roots).map_err(|e| StartError::Config(format!("http client: {e}")))?;
        let raft = Raft::new(config.node_id, Arc::new(raft_config), Network::new(client.clone()), log_store, sm)
            .await
            .map_err(|e| StartError::Raft(e.to_string()))?;

        let cancel = CancellationToken::new();
        let (proposer, proposer_task) = Proposer::start(raft.clone(), cancel.clone());
        let node = Arc::new(Node {
            id: config.node_id,
            url,
            raft,
            proposer,
            sm: shared,
            config,
            client,
            cancel,
            committed,
            tokens,
            data_metrics: std::sync::OnceLock::new(),
            lease_stats: Default::default(),
            history: Default::default(),
            audit_head: Default::default(),
        });
        let server = {
            let app = crate::http::router(node.clone());
            let stop = node.cancel.clone().cancelled_owned();
            let served = match listener {
                AdminListener::Plain(listener) => {
                    tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(stop).await })
                }
                AdminListener::Tls(listener) => {
                    tokio::spawn(async move { axum::serve(listener, app).with_graceful_shutdown(stop).await })
                }
            };
            tokio::spawn(async move {
                if let Ok(Err(e)) = served.await {
                    tracing::error!("control-plane HTTP server failed: {e}");
                }
            })
        };
        let mut handle = ControlHandle { node: node.clone(), addr, tasks: vec![server, proposer_task], db_closed: Some(db_closed) };
        if let Err(e) = node.bootstrap().await {
            handle.stop().await;
            return Err(e);
        }
        handle.tasks.push(tokio::spawn(crate::failover::run(node.clone())));
        handle.tasks.push(tokio::spawn(crate::alerts::run(node.clone())));
        handle.tasks.push(tokio::spawn(crate::housekeeping::run(node)));
        Ok(handle)
    }
}

/// The HTTP client for Raft RPC, forwarding and joining; it presents the peer token, if any,
/// and trusts only `roots` when a CA file was given.
fn peer_client(tokens: &Tokens, roots: Option<Vec<reqwest::Certificate>>) -> Result<reqwest::Client, reqwest::Error> {
    let mut headers = reqwest::header::HeaderMap::new();
    if let Some(secret) = tokens.peer_secret()
        && let Ok(mut value) = reqwest::header::HeaderValue::from_str(&format!("Bearer {secret}"))
    {
        value.set_sensitive(true);
        headers.insert(reqwest::header::AUTHORIZATION, value);
    }
    let mut builder = reqwest::Client::builder().connect_timeout(Duration::from_millis(500)).default_headers(headers);
    if let Some(roots) = roots {
        builder = builder.tls_certs_only(roots);
    }
    builder.build()
}

fn default_url(addr: SocketAddr, tls: bool) -> String {
    let ip = if addr.ip().is_unspecified() { std::net::Ipv4Addr::LOCALHOST.into() } else { addr.ip() };
    let scheme = if tls { "https" } else { "http" };
    format!("{scheme}://{}", SocketAddr::new(ip, addr.port()))
}

impl ControlHandle {
    pub fn local_addr(&self) -> SocketAddr {
        self.addr
    }

    /// The URL other nodes and clients use for this node.
    pub fn url(&self) -> &str {
        &self.node.url
    }

    pub fn node_id(&self) -> NodeId {
        self.node.id
    }

    pub fn status(&self) -> Status {
        self.node.status()
    }

    /// Makes `GET /metrics` also expose `source`'s metrics (the data plane's, registered by the
    /// binary that runs both planes: this crate does not know the data plane). Only the first
    /// call counts.
    pub fn serve_metrics(&self, source: std::sync::Arc<dyn prometheus_client::collector::Collector>) {
        let _ = self.node.data_metrics.set(crate::http::metrics::Source(source));
    }

    /// Reads and writes of the cluster map, for the node's own data plane.
    pub fn maps(&self) -> MapAccess {
        MapAccess { node: self.node.clone() }
    }

    /// Stops the HTTP server, the timers, open watches and Raft; the data dir can then be reopened.
    pub async fn shutdown(mut self) {
        self.stop().await;
    }

    async fn stop(&mut self) {
        self.node.cancel.cancel();
        if let Err(e) = self.node.raft.shutdown().await {
            tracing::warn!("raft shutdown: {e}");
        }
        for task in self.tasks.drain(..) {
            let _ = task.await;
        }
        // Raft's storage tasks wind down after `shutdown` returns; wait for the file to close so
        // the data dir can be opened again at once.
        if let Some(closed) = self.db_closed.take()
            && tokio::time::timeout(Duration::from_secs(10), closed).await.is_err()
        {
            tracing::warn!("the control-plane store is still open 10 s after shutdown");
        }
    }
}

/// The cluster map as this node holds it, and the way to propose the next one; cheap to clone
/// and usable after the handle moved on (see [`ControlHandle::maps`]).
#[derive(Clone)]
pub struct MapAccess {
    pub(crate) node: Arc<Node>,
}

impl MapAccess {
    /// This node's copy of the cluster map and the revision that wrote it (no leader asked).
    pub fn current(&self) -> Result<Option<(u64, ferrocache_topology::map::ClusterMap)>, String> {
        crate::cluster_map::current(&self.node.sm.data.read().kv)
    }

    /// Proposes `map` as the next cluster map, if the map is still the one written at
    /// `revision` (compare-and-swap; a `conflict` error means it changed meanwhile).
    pub async fn propose(&self, actor: &str, map: &ferrocache_topology::map::ClusterMap, revision: u64) -> Result<(), ApiError> {
        let value = serde_json::to_vec(map).map_err(|e| ApiError::internal(e.to_string()))?;
        let put = crate::command::PutOp {
            key: crate::cluster_map::MAP_KEY.to_string(),
            value,
            content_type: crate::command::ContentType::Json,
            if_revision: Some(revision),
            lease: None,
        };
        let outcome = self.node.propose(actor, Op::Put(put)).await?;
        match outcome {
            Outcome::Put { .. } => Ok(()),
            other => Err(ApiError::internal(format!("unexpected outcome {other:?}"))),
        }
    }

    /// Calls `apply` with the cluster map held by this node's copy of the state, now (if there
    /// is one) and after every change, until the node stops. The copy is this node's own, so
    /// it never waits on the leader; a map that does not parse is logged and skipped.
    pub fn follow(&self, mut apply: impl FnMut(ferrocache_topology::map::ClusterMap) + Send + 'static) -> JoinHandle<()> {
        let key = crate::cluster_map::MAP_KEY;
        self.follow_keys(vec![key.to_string()], move |values| {
            let Some(value) = &values[0] else { return };
            match serde_json::from_slice(&value.data) {
                Ok(map) => apply(map),
                Err(e) => tracing::error!("{key} holds no valid map: {e}"),
            }
        })
    }
}

/// A key's value as this node's copy of the state holds it.
#[derive(Debug, Clone, PartialEq)]
pub struct KeyValueAt {
    pub mod_revision: u64,
    pub data: Vec<u8>,
    /// Lowercase hex SHA-256 of `data`.
    pub checksum: String,
}

impl MapAccess {
    /// Calls `apply` with the values of `keys` (None where a key does not exist) held by this
    /// node's copy of the state, now and whenever one of them changes, until the node stops.
    pub fn follow_keys(&self, keys: Vec<String>, mut apply: impl FnMut(Vec<Option<KeyValueAt>>) + Send + 'static) -> JoinHandle<()> {
        let node = self.node.clone();
        let mut applied = node.sm.revision.subscribe();
        tokio::spawn(async move {
            let mut seen: Option<Vec<u64>> = None;
            loop {
                let values: Vec<Option<KeyValueAt>> = {
                    let data = node.sm.data.read();
                    keys.iter()
                        .map(|k| {
                            let record = data.kv.get(k, None).ok().flatten()?;
                            let value = record.value.as_ref()?;
                            Some(KeyValueAt { mod_revision: record.mod_revision, data: value.data.clone(), checksum: value.checksum.clone() })
                        })
                        .collect()
                };
                let revisions: Vec<u64> = values.iter().map(|v| v.as_ref().map_or(0, |v| v.mod_revision)).collect();
                if seen.as_ref() != Some(&revisions) {
                    seen = Some(revisions);
                    apply(values);
                }
                tokio::select! {
                    changed = applied.changed() => if changed.is_err() { return },
                    _ = node.cancel.cancelled() => return,
                }
            }
        })
    }

    /// Writes a JSON value under `key` through the leader (for the node's own reports).
    pub async fn put_json(&self, actor: &str, key: &str, value: &serde_json::Value) -> Result<u64, ApiError> {
        let put = crate::command::PutOp {
            key: key.to_string(),
            value: value.to_string().into_bytes(),
            content_type: crate::command::ContentType::Json,
            if_revision: None,
            lease: None,
        };
        match self.node.propose(actor, Op::Put(put)).await? {
            Outcome::Put { revision, .. } => Ok(revision),
            other => Err(ApiError::internal(format!("unexpected outcome {other:?}"))),
        }
    }
}

impl Node {
    /// Whether `state`'s audit chain verifies (this node's state, read-locked by the caller),
    /// walking only what was appended since the last call.
    pub(crate) fn audit_chain_ok(&self, state: &crate::state::ConfigState) -> bool {
        let mut head = self.audit_head.lock();
        let (report, next) = state.verify_audit_after(head.as_ref());
        *head = next;
        report.ok
    }

    /// First start without `join`: become a single-voter cluster, unless `standby` says to wait
    /// for `ferrocache cluster create` (see [`Node::initialize_alone`]) or another cluster to
    /// add us. With `join`: ask the cluster to add us. A node with Raft state on disk just resumes.
    async fn bootstrap(&self) -> Result<(), StartError> {
        let initialized = self.raft.is_initialized().await.map_err(|e| StartError::Raft(e.to_string()))?;
        if initialized {
            return Ok(());
        }
        match self.config.join.clone() {
            None if self.config.standby => Ok(()),
            None => self.initialize_alone().await.map_err(|e| StartError::Raft(e.message)),
            Some(url) => self.join(&url).await.map_err(|message| StartError::Join { url, message }),
        }
    }

    /// Makes this node a cluster of one voter. Refused (409) on a node that already belongs to a
    /// cluster or has been added to one.
    pub async fn initialize_alone(&self) -> Result<(), ApiError> {
        let conflict = |why: String| ApiError::new(axum::http::StatusCode::CONFLICT, "already_member", why);
        let initialized = self.raft.is_initialized().await.map_err(|e| ApiError::internal(e.to_string()))?;
        if initialized {
            return Err(conflict(format!("node {} already belongs to a cluster", self.id)));
        }
        let members = BTreeMap::from([(self.id, BasicNode { addr: self.url.clone() })]);
        self.raft.initialize(members).await.map_err(|e| conflict(e.to_string()))
    }

    async fn join(&self, cluster_url: &str) -> Result<(), String> {
        // Cluster-mode data nodes (standby) join as learners: the control plane keeps 3 or 5 voters.
        let body = serde_json::json!({ "node_id": self.id, "url": self.url, "voter": !self.config.standby });
        let endpoint = format!("{}/v1/cluster/members", cluster_url.trim_end_matches('/'));
        let mut last_error = String::new();
        for _ in 0..20 {
            match self.client.post(&endpoint).json(&body).timeout(Duration::from_secs(30)).send().await {
                Ok(resp) if resp.status().is_success() => return Ok(()),
                Ok(resp) => {
                    let status = resp.status();
                    last_error = format!("HTTP {status}: {}", resp.text().await.unwrap_or_default());
                    // A membership change in progress (409) or no leader yet (503) passes;
                    // a refused request does not.
                    if matches!(status.as_u16(), 400 | 401 | 403 | 404) {
                        break;
                    }
                }
                Err(e) => last_error = e.to_string(),
            }
            tokio::time::sleep(Duration::from_millis(250)).await;
        }
        Err(last_error)
    }

    /// Runs `call` on the leader, wherever it is.
    pub async fn leader_call(&self, call: Call, hops: u8) -> Result<CallResult, ApiError> {
        let deadline = tokio::time::Instant::now() + self.request_timeout();
        loop {
            match self.local_call(&call).await {
                Ok(result) => return Ok(result),
                Err(Local::Failed(e)) => return Err(e),
                Err(Local::Forward(Some(url))) if url != self.url => return self.forward(&url, call, hops).await,
                Err(Local::Forward(_)) => {
                    if tokio::time::Instant::now() >= deadline {
                        return Err(ApiError::unavailable("no leader elected; retry shortly"));
                    }
                    self.wait_for_leader(deadline).await;
                }
            }
        }
    }

    async fn wait_for_leader(&self, deadline: tokio::time::Instant) {
        let mut metrics = self.raft.metrics();
        let _ = tokio::time::timeout_at(deadline, metrics.wait_for(|m| m.current_leader.is_some())).await;
        // The leader may be known before it can serve: give it a beat.
        tokio::time::sleep(Duration::from_millis(50)).await;
    }

    async fn forward(&self, leader_url: &str, call: Call, hops: u8) -> Result<CallResult, ApiError> {
        if hops >= MAX_HOPS {
            return Err(ApiError::unavailable("leadership is changing; retry shortly"));
        }
        let body = encode(&Forwarded { hops: hops + 1, call }).map_err(|e| ApiError::internal(e.to_string()))?;
        let resp = self
            .client
            .post(format!("{leader_url}/v1/internal/forward"))
            .header(reqwest::header::CONTENT_TYPE, MSGPACK)
            .timeout(self.request_timeout() + Duration::from_secs(2))
            .body(body)
            .send()
            .await
            .map_err(|e| ApiError::unavailable(format!("cannot reach the leader at {leader_url}: {e}")))?;
        let bytes = resp.bytes().await.map_err(|e| ApiError::unavailable(format!("leader at {leader_url}: {e}")))?;
        decode::<Result<CallResult, ApiError>>(&bytes)
            .map_err(|e| ApiError::internal(format!("bad answer from the leader at {leader_url}: {e}")))?
    }

    fn request_timeout(&self) -> Duration {
        Duration::from_millis(self.config.timers.request_timeout_ms)
    }

    /// [`Node::try_local_call`], bounded: a leader cut off from its quorum must not hang callers.
    async fn local_call(&self, call: &Call) -> Result<CallResult, Local> {
        let timeout = self.request_timeout();
        match tokio::time::timeout(timeout, self.try_local_call(call)).await {
            Ok(result) => result,
            Err(_) => Err(Local::Failed(ApiError::new(
                axum::http::StatusCode::SERVICE_UNAVAILABLE,
                "timeout",
                format!("no quorum answered within {} ms; a write may still be applied", timeout.as_millis()),
            ))),
        }
    }

    async fn try_local_call(&self, call: &Call) -> Result<CallResult, Local> {
        match call {
            Call::Propose { actor, op } => {
                if matches!(op, Op::Batch(_)) {
                    return Err(Local::Failed(ApiError::bad_request("batches are formed by the leader, not proposed")));
                }
                let checked = {
                    let data = self.sm.data.read();
                    crate::schema::check_op(&data.kv, op).and_then(|()| crate::cluster_map::check_op(&data.kv, op))
                };
                checked.map_err(Local::Failed)?;
                let req = Request { actor: actor.clone(), time_ms: now_ms(), op: op.clone() };
                let resp = self.proposer.propose(req).await.map_err(|e| self.write_error(e))?;
                resp.map(CallResult::Outcome).map_err(|e| Local::Failed(e.into()))
            }
            Call::ReadIndex => match self.raft.ensure_linearizable().await {
                Ok(log_id) => Ok(CallResult::ReadIndex(log_id.map(|id| id.index))),
                Err(e) => match e.forward_to_leader() {
                    Some(fwd) => Err(Local::Forward(fwd.leader_node.as_ref().map(|n: &BasicNode| n.addr.clone()))),
                    None => Err(Local::Failed(ApiError::unavailable(format!("cannot confirm leadership: {e}")))),
                },
            },
            Call::AddMember { node_id, url, voter } => {
                let node = BasicNode { addr: url.clone() };
                self.raft.add_learner(*node_id, node, true).await.map_err(|e| self.write_error(e))?;
                if *voter {
                    let change = ChangeMembers::AddVoterIds(BTreeSet::from([*node_id]));
                    self.raft.change_membership(change, false).await.map_err(|e| self.write_error(e))?;
                }
                Ok(CallResult::Members(self.members()))
            }
            Call::RemoveMember { node_id } => {
                let ids = BTreeSet::from([*node_id]);
                let voters = self.raft.metrics().borrow().membership_config.membership().voter_ids().collect::<BTreeSet<_>>();
                if voters.contains(node_id) {
                    let change = ChangeMembers::RemoveVoters(ids.clone());
                    self.raft.change_membership(change, false).await.map_err(|e| self.write_error(e))?;
                }
                self.raft.change_membership(ChangeMembers::RemoveNodes(ids), false).await.map_err(|e| self.write_error(e))?;
                Ok(CallResult::Members(self.members()))
            }
        }
    }

    fn write_error(&self, e: RaftError<NodeId, ClientWriteError<NodeId, BasicNode>>) -> Local {
        match e {
            RaftError::APIError(ClientWriteError::ForwardToLeader(fwd)) => Local::Forward(fwd.leader_node.map(|n| n.addr)),
            RaftError::APIError(ClientWriteError::ChangeMembershipError(e)) => {
                Local::Failed(ApiError::new(axum::http::StatusCode::CONFLICT, "membership_change", e.to_string()))
            }
            RaftError::Fatal(e) => Local::Failed(ApiError::unavailable(format!("raft stopped: {e}"))),
        }
    }

    /// Proposes `op` through the leader and returns what the state machine did.
    pub async fn propose(&self, actor: &str, op: Op) -> Result<Outcome, ApiError> {
        match self.leader_call(Call::Propose { actor: actor.to_string(), op }, 0).await? {
            CallResult::Outcome(outcome) => Ok(outcome),
            other => Err(ApiError::internal(format!("unexpected answer {other:?}"))),
        }
    }

    /// Waits until this node's state reflects every write committed before the call.
    pub async fn linearize(&self) -> Result<(), ApiError> {
        let index = match self.leader_call(Call::ReadIndex, 0).await? {
            CallResult::ReadIndex(index) => index,
            other => return Err(ApiError::internal(format!("unexpected answer {other:?}"))),
        };
        self.raft
            .wait(Some(self.request_timeout()))
            .applied_index_at_least(index, "linearizable read")
            .await
            .map(drop)
            .map_err(|e| ApiError::unavailable(format!("this node is not catching up with the leader: {e}")))
    }

    pub fn members(&self) -> Vec<Member> {
        let metrics = self.raft.metrics().borrow().clone();
        let membership = metrics.membership_config.membership();
        let voters: BTreeSet<NodeId> = membership.voter_ids().collect();
        let matched = metrics.replication.unwrap_or_default();
        membership
            .nodes()
            .map(|(id, node)| Member {
                id: *id,
                url: node.addr.clone(),
                voter: voters.contains(id),
                matched_index: matched.get(id).and_then(|m| m.as_ref()).map(|l| l.index),
            })
            .collect()
    }

    /// Waits for a background loop's next tick (a late tick is delayed, not bunched; make
    /// `tick` with [`ticker`]); false once the node stops.
    pub(crate) async fn next_tick(&self, tick: &mut tokio::time::Interval) -> bool {
        tokio::select! {
            _ = self.cancel.cancelled() => false,
            _ = tick.tick() => true,
        }
    }

    pub fn is_leader(&self) -> bool {
        self.raft.metrics().borrow().state == ServerState::Leader
    }

    pub fn status(&self) -> Status {
        let m = self.raft.metrics().borrow().clone();
        let (revision, first_revision) = {
            let data = self.sm.data.read();
            (data.kv.revision(), data.kv.first_revision())
        };
        Status {
            node_id: self.id,
            url: self.url.clone(),
            state: format!("{:?}", m.state),
            leader: m.current_leader,
            term: m.current_term,
            last_log_index: m.last_log_index,
            commit_index: self.committed.load(Ordering::Relaxed).checked_sub(1),
            applied_index: m.last_applied.map(|l| l.index),
            snapshot_index: m.snapshot.map(|l| l.index),
            purged_index: m.purged.map(|l| l.index),
            revision,
            first_revision,
            members: self.members(),
        }
    }
}
