//! The admin HTTP server: the `/v1/` JSON API and the node-to-node endpoints on one port.
//!
//! | endpoint | what |
//! |---|---|
//! | `PUT /v1/kv/{key}` | body = value; `Content-Type` or `?content_type=` (json, yaml, toml, text, binary); `?if_revision=` (CAS, 0 = create), `?lease=` |
//! | `GET /v1/kv/{key}` | `?at_revision=`, `?raw=true` (bytes with their content type), `?consistency=stale` |
//! | `DELETE /v1/kv/{key}` | `?if_revision=`, `?prefix=true` |
//! | `GET /v1/kv?prefix=&start_after=&limit=&at_revision=` | paginated listing |
//! | `GET /v1/history/{key}` | every kept version, tombstones included |
//! | `POST /v1/rollback` | `{key, prefix?, to_revision}`, written as a new revision |
//! | `POST /v1/txn` | `{compare: [{key, target, op, value}], success: [...], failure: [...]}` |
//! | `GET /v1/watch?prefix=\|key=&from_revision=` | server-sent events; resumes with `Last-Event-ID` |
//! | `POST /v1/compact` | `{revision}` or `{retain}` |
//! | `GET /v1/export?prefix=` / `POST /v1/import` | a prefix as JSON, for migrations and partial copies; import is one atomic txn |
//! | `GET /v1/backup` / `POST /v1/restore?force=` | the whole control plane as a checksummed file, and back through the Raft log (admin) |
//! | `POST /v1/lease`, `GET /v1/lease[/{id}]`, `DELETE /v1/lease/{id}`, `POST /v1/lease/{id}/keepalive` | leases |
//! | `POST /v1/lock/{name}` `{owner, lease, wait_ms?}`, `DELETE /v1/lock/{name}?owner=`, `GET /v1/lock/{name}` | locks with fencing tokens |
//! | `GET /v1/audit?from=&limit=`, `GET /v1/audit/verify` | the hash-chained audit log |
//! | `GET /v1/status`, `GET/POST /v1/cluster/members`, `DELETE /v1/cluster/members/{id}` | cluster |
//! | `POST /v1/cluster/init` | makes a standby node (one started to wait, as cluster-mode data nodes are) a cluster of one |
//! | `GET /`, `GET /v1/cluster/history`, `GET /v1/dashboard/stream` | the web dashboard (see [`dashboard`]) |
//! | `GET /metrics` | Prometheus text format: this node's control plane and data plane (see [`metrics`]) |
//!
//! Keys under `_schema/<prefix>` hold JSON Schemas that puts under `<prefix>` must satisfy
//! (see [`crate::schema`]).
//!
//! Everything after `/v1/kv/` is the key, whatever it is: history and rollback live under
//! prefixes of their own (`/v1/history/`, `/v1/rollback`) rather than under `/v1/kv/`, where
//! they used to hide the keys `rollback` and `history/...`.
//!
//! Every error is a JSON body `{"error": {"code", "message", ...}}` with a fitting status,
//! including malformed queries, bodies and unknown routes. `/v1/` bodies are size-limited;
//! Raft RPC bodies (`/raft/...`, trusted peers) are not, since one append may batch many values.

mod dashboard;
mod fleet;
pub(crate) use metrics::render as render_metrics;
mod internal;
mod kv;
pub(crate) mod metrics;
mod ops;
mod transfer;
mod views;

use std::sync::Arc;

use axum::extract::rejection::{JsonRejection, PathRejection, QueryRejection};
use axum::extract::{DefaultBodyLimit, FromRequest, FromRequestParts, Request};
use axum::extract::State;
use axum::http::request::Parts;
use axum::http::{HeaderMap, Method, header};
use axum::middleware::{self, Next};
use axum::response::{IntoResponse, Response};
use axum::routing::{delete, get, post};
use axum::{Json, Router};
use serde::Deserialize;
use serde::de::DeserializeOwned;

use crate::auth::Role;
use crate::error::ApiError;
use crate::node::Node;

pub type AppState = Arc<Node>;

/// Header naming who makes a change (recorded as author and in the audit log).
pub const ACTOR_HEADER: &str = "x-ferrocache-actor";

pub fn router(node: Arc<Node>) -> Router {
    let limit = node.config.body_limit();
    let api = Router::new()
        .route("/v1/kv", get(kv::list))
        .route("/v1/history/{*key}", get(kv::history))
        .route("/v1/rollback", post(kv::rollback))
        .route("/v1/kv/{*key}", get(kv::get).put(kv::put).delete(kv::delete))
        .route("/v1/txn", post(kv::txn))
        .route("/v1/watch", get(kv::watch))
        .route("/v1/compact", post(ops::compact))
        .route("/v1/export", get(transfer::export))
        .route("/v1/import", post(transfer::import))
        .route("/v1/backup", get(transfer::backup))
        .route("/v1/restore", post(transfer::restore).layer(DefaultBodyLimit::max(transfer::MAX_RESTORE_BYTES)))
        .route("/v1/lease", post(ops::lease_grant).get(ops::lease_list))
        .route("/v1/lease/{id}", get(ops::lease_get).delete(ops::lease_revoke))
        .route("/v1/lease/{id}/keepalive", post(ops::lease_keepalive))
        .route("/v1/lock/{*name}", get(ops::lock_get).post(ops::lock_acquire).delete(ops::lock_release))
        .route("/v1/audit", get(ops::audit_list))
        .route("/v1/audit/verify", get(ops::audit_verify))
        .route("/v1/status", get(ops::status))
        .route("/v1/cluster/members", get(ops::members).post(ops::member_add))
        .route("/v1/cluster/members/{id}", delete(ops::member_remove))
        .route("/v1/cluster/init", post(ops::init))
        .route("/metrics", get(metrics::scrape))
        .route("/v1/cluster/metrics", get(fleet::cluster_metrics))
        .route("/v1/alerts", get(alerts))
        .route("/v1/cluster/history", get(dashboard::history))
        .route("/v1/dashboard/stream", get(dashboard::stream))
        .route_layer(middleware::from_fn_with_state(node.clone(), authenticate))
        .layer(DefaultBodyLimit::max(limit));
    let peers = Router::new()
        .route(crate::raft::network::APPEND_PATH, post(internal::append))
        .route(crate::raft::network::VOTE_PATH, post(internal::vote))
        .route(crate::raft::network::SNAPSHOT_PATH, post(internal::snapshot))
        .route("/v1/internal/forward", post(internal::forward))
        .route_layer(middleware::from_fn_with_state(node.clone(), authenticate_peer))
        .layer(DefaultBodyLimit::disable());
    // The dashboard's page and assets hold no data: they load without a token, then the page
    // asks for one and calls the API above with it.
    let page = Router::new()
        .route("/", get(dashboard::page))
        .route("/dashboard.js", get(dashboard::script))
        .route("/dashboard.css", get(dashboard::style));
    api.merge(peers).merge(page).fallback(not_found).with_state(node)
}

/// The role an API call needs: reads need `read`, changes `write`, and cluster-wide changes
/// (compaction, membership) `admin`, as do backup and restore, which read or replace everything.
fn needed_role(method: &Method, path: &str) -> Role {
    let read_only = method == Method::GET || method == Method::HEAD;
    if path == "/v1/backup" || path == "/v1/restore" {
        Role::Admin
    } else if read_only {
        Role::Read
    } else if path.starts_with("/v1/compact") || path.starts_with("/v1/cluster/") {
        Role::Admin
    } else {
        Role::Write
    }
}

/// Identifies the caller (bearer token, or the actor header when there are no tokens) and
/// hands it to the handler, which also checks the caller's key scope.
async fn authenticate(State(node): State<AppState>, mut req: Request, next: Next) -> Response {
    let needed = needed_role(req.method(), req.uri().path());
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match node.tokens.authorize(authorization, needed, &actor(req.headers())) {
        Ok(caller) => {
            req.extensions_mut().insert(caller);
            next.run(req).await
        }
        Err(e) => e.into_response(),
    }
}

/// Node-to-node calls must carry an unscoped admin token when tokens are in use.
async fn authenticate_peer(State(node): State<AppState>, req: Request, next: Next) -> Response {
    let authorization = req.headers().get(header::AUTHORIZATION).and_then(|v| v.to_str().ok());
    match node.tokens.authorize(authorization, Role::Admin, "peer").and_then(|c| c.check_unscoped()) {
        Ok(()) => next.run(req).await,
        Err(e) => e.into_response(),
    }
}

/// `GET /v1/alerts`: the alerts firing now (see [`crate::alerts`]), from this node's copy.
async fn alerts(State(node): State<AppState>) -> Json<crate::alerts::Active> {
    Json(crate::alerts::active(&node))
}

async fn not_found() -> ApiError {
    ApiError::not_found("no such endpoint; the API lives under /v1/ (see GET /v1/status)")
}

/// `Query` whose rejection is a JSON error.
pub struct Q<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for Q<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Query::<T>::from_request_parts(parts, state)
            .await
            .map(|q| Q(q.0))
            .map_err(|e: QueryRejection| ApiError::bad_request(e.body_text()))
    }
}

/// `Path` whose rejection is a JSON error.
pub struct P<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequestParts<S> for P<T> {
    type Rejection = ApiError;

    async fn from_request_parts(parts: &mut Parts, state: &S) -> Result<Self, ApiError> {
        axum::extract::Path::<T>::from_request_parts(parts, state)
            .await
            .map(|p| P(p.0))
            .map_err(|e: PathRejection| ApiError::bad_request(e.body_text()))
    }
}

/// `Json` whose rejection is a JSON error (413 for bodies over the limit).
pub struct J<T>(pub T);

impl<T: DeserializeOwned + Send, S: Send + Sync> FromRequest<S> for J<T> {
    type Rejection = ApiError;

    async fn from_request(req: Request, state: &S) -> Result<Self, ApiError> {
        Json::<T>::from_request(req, state).await.map(|j| J(j.0)).map_err(|e: JsonRejection| {
            let status = e.status();
            ApiError::new(status, if status.as_u16() == 413 { "too_large" } else { "invalid_body" }, e.body_text())
        })
    }
}

/// Who acts when the node has no tokens: the actor header, or `anonymous`.
fn actor(headers: &HeaderMap) -> String {
    headers
        .get(ACTOR_HEADER)
        .and_then(|v| v.to_str().ok())
        .filter(|s| !s.is_empty())
        .unwrap_or("anonymous")
        .to_string()
}

/// `?consistency=linearizable` (default) or `stale`.
#[derive(Debug, Default, Clone, Copy, PartialEq, Eq, Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum Consistency {
    #[default]
    Linearizable,
    Stale,
}

/// Query of reads that take nothing but the consistency level.
#[derive(Deserialize)]
pub struct ReadQuery {
    pub consistency: Option<Consistency>,
}

/// Makes a read linearizable unless the caller asked for a stale local read.
pub async fn before_read(node: &Node, consistency: Option<Consistency>) -> Result<(), ApiError> {
    match consistency.unwrap_or_default() {
        Consistency::Linearizable => node.linearize().await,
        Consistency::Stale => Ok(()),
    }
}
