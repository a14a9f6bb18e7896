//! Leases, locks, audit, compaction, status and membership endpoints.

use std::time::Duration;

use axum::{Extension, Json};
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::kv::unexpected;
use super::{AppState, Consistency, J, P, Q, ReadQuery, before_read};
use crate::auth::Caller;
use crate::command::{LeaseInfo, Op, Outcome};
use crate::error::ApiError;
use crate::node::{Call, CallResult, Node, now_ms};

/// Longest a lock request may wait for its turn in one HTTP call.
const MAX_LOCK_WAIT_MS: u64 = 60_000;

#[derive(Deserialize)]
pub struct GrantIn {
    ttl_ms: Option<u64>,
    ttl_secs: Option<u64>,
}

pub async fn lease_grant(State(node): State<AppState>, Extension(caller): Extension<Caller>, J(body): J<GrantIn>) -> Result<Json<Value>, ApiError> {
    let ttl_ms = match (body.ttl_ms, body.ttl_secs) {
        (Some(ms), None) => ms,
        (None, Some(secs)) => secs.saturating_mul(1000),
        _ => return Err(ApiError::bad_request("give exactly one of `ttl_ms` and `ttl_secs`")),
    };
    lease_reply(node.propose(&caller.name, Op::LeaseGrant { ttl_ms }).await?)
}

pub async fn lease_keepalive(State(node): State<AppState>, P(id): P<u64>, Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    lease_reply(node.propose(&caller.name, Op::LeaseKeepAlive { id }).await?)
}

pub async fn lease_revoke(State(node): State<AppState>, P(id): P<u64>, Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    match node.propose(&caller.name, Op::LeaseRevoke { id }).await? {
        Outcome::LeaseRevoked { id, deleted } => Ok(Json(json!({ "id": id, "deleted": deleted }))),
        other => Err(unexpected(other)),
    }
}

pub async fn lease_get(State(node): State<AppState>, P(id): P<u64>, Q(q): Q<ReadQuery>) -> Result<Json<Value>, ApiError> {
    before_read(&node, q.consistency).await?;
    let info = node.sm.data.read().kv.lease(id).ok_or_else(|| ApiError::from(crate::command::SmError::LeaseNotFound { id }))?;
    Ok(Json(lease_json(&info)))
}

pub async fn lease_list(State(node): State<AppState>, Q(q): Q<ReadQuery>) -> Result<Json<Value>, ApiError> {
    before_read(&node, q.consistency).await?;
    let leases: Vec<Value> = node.sm.data.read().kv.leases().iter().map(lease_json).collect();
    Ok(Json(json!({ "leases": leases })))
}

fn lease_reply(outcome: Outcome) -> Result<Json<Value>, ApiError> {
    match outcome {
        Outcome::Lease(info) => Ok(Json(lease_json(&info))),
        other => Err(unexpected(other)),
    }
}

/// A lease with the time it has left by this node's clock.
fn lease_json(info: &LeaseInfo) -> Value {
    json!({
        "id": info.id,
        "ttl_ms": info.ttl_ms,
        "expires_at_ms": info.expires_at_ms,
        "remaining_ms": info.expires_at_ms.saturating_sub(now_ms()),
        "keys": info.keys,
    })
}

#[derive(Deserialize)]
pub struct AcquireIn {
    owner: String,
    lease: u64,
    /// Wait up to this long for the lock when it is held (0 = answer at once).
    #[serde(default)]
    wait_ms: u64,
}

/// Acquires `name` for `owner` or queues the owner; with `wait_ms`, waits for its turn.
/// `token` is the fencing token: pass it to whatever the lock protects.
pub async fn lock_acquire(
    State(node): State<AppState>,
    P(name): P<String>,
    Extension(caller): Extension<Caller>,
    J(body): J<AcquireIn>,
) -> Result<Json<Value>, ApiError> {
    caller.check_key(&name)?;
    let op = Op::LockAcquire { name: name.clone(), owner: body.owner.clone(), lease: body.lease };
    let Outcome::Lock { acquired, token, position } = node.propose(&caller.name, op).await? else {
        return Err(ApiError::internal("unexpected answer to lock.acquire"));
    };
    if acquired || body.wait_ms == 0 {
        return Ok(Json(json!({ "acquired": acquired, "token": token, "position": position })));
    }
    let wait = Duration::from_millis(body.wait_ms.min(MAX_LOCK_WAIT_MS));
    let token = wait_for_lock(&node, &name, &body.owner, wait).await?;
    let position = match token {
        Some(_) => None,
        None => node.sm.data.read().kv.lock_status(&name).waiters.iter().position(|w| *w == body.owner),
    };
    Ok(Json(json!({ "acquired": token.is_some(), "token": token, "position": position })))
}

/// Waits until `owner` holds the lock (its token) or the time is up / it left the queue (None).
async fn wait_for_lock(node: &Node, name: &str, owner: &str, wait: Duration) -> Result<Option<u64>, ApiError> {
    // Our own enqueue may not be applied here yet when the leader is another node.
    node.linearize().await?;
    let mut revisions = node.sm.revision.subscribe();
    let deadline = tokio::time::Instant::now() + wait;
    loop {
        {
            let status = node.sm.data.read().kv.lock_status(name);
            if status.holder.as_deref() == Some(owner) {
                return Ok(status.token);
            }
            if !status.waiters.iter().any(|w| w == owner) {
                return Ok(None);
            }
        }
        match tokio::time::timeout_at(deadline, revisions.changed()).await {
            Ok(Ok(())) => continue,
            _ => return Ok(None),
        }
    }
}

#[derive(Deserialize)]
pub struct ReleaseQuery {
    owner: String,
}

pub async fn lock_release(
    State(node): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReleaseQuery>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.check_key(&name)?;
    match node.propose(&caller.name, Op::LockRelease { name, owner: q.owner }).await? {
        Outcome::Unlocked { released } => Ok(Json(json!({ "released": released }))),
        other => Err(unexpected(other)),
    }
}

pub async fn lock_get(
    State(node): State<AppState>,
    P(name): P<String>,
    Q(q): Q<ReadQuery>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.check_key(&name)?;
    before_read(&node, q.consistency).await?;
    let status = node.sm.data.read().kv.lock_status(&name);
    Ok(Json(json!(status)))
}

#[derive(Deserialize)]
pub struct AuditQuery {
    from: Option<u64>,
    limit: Option<usize>,
    consistency: Option<Consistency>,
}

pub async fn audit_list(State(node): State<AppState>, Q(q): Q<AuditQuery>, Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    caller.check_unscoped()?;
    before_read(&node, q.consistency).await?;
    let data = node.sm.data.read();
    let entries = data.kv.audit_entries(q.from.unwrap_or(1), q.limit.unwrap_or(100).clamp(1, 1000));
    let next = entries.last().map(|e| e.seq + 1);
    // Entries before `first_seq` were dropped by compaction (`/v1/audit/verify` checks from there).
    Ok(Json(json!({ "entries": entries, "next": next, "first_seq": data.kv.audit_first_seq() })))
}

pub async fn audit_verify(State(node): State<AppState>, Q(q): Q<ReadQuery>, Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    caller.check_unscoped()?;
    before_read(&node, q.consistency).await?;
    let report = node.sm.data.read().kv.verify_audit();
    Ok(Json(json!(report)))
}

#[derive(Deserialize)]
pub struct CompactIn {
    revision: Option<u64>,
    /// Keep this many latest revisions instead of naming one.
    retain: Option<u64>,
}

pub async fn compact(State(node): State<AppState>, Extension(caller): Extension<Caller>, J(body): J<CompactIn>) -> Result<Json<Value>, ApiError> {
    caller.check_unscoped()?;
    let revision = match (body.revision, body.retain) {
        (Some(rev), None) => rev,
        (None, Some(keep)) => node.sm.data.read().kv.revision().saturating_sub(keep),
        _ => return Err(ApiError::bad_request("give exactly one of `revision` and `retain`")),
    };
    match node.propose(&caller.name, Op::Compact { revision }).await? {
        Outcome::Compacted { revision } => Ok(Json(json!({ "first_revision": revision }))),
        other => Err(unexpected(other)),
    }
}

pub async fn status(State(node): State<AppState>) -> Json<Value> {
    Json(json!(node.status()))
}

pub async fn members(State(node): State<AppState>, Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    caller.check_unscoped()?;
    Ok(Json(json!({ "members": node.members() })))
}

#[derive(Deserialize)]
pub struct MemberIn {
    node_id: u64,
    url: String,
    #[serde(default = "yes")]
    voter: bool,
}

fn yes() -> bool {
    true
}

/// Adds a node: as a learner first (it catches up), then as a voter unless `voter` is false.
pub async fn member_add(State(node): State<AppState>, Extension(caller): Extension<Caller>, J(body): J<MemberIn>) -> Result<Json<Value>, ApiError> {
    caller.check_unscoped()?;
    if !(body.url.starts_with("http://") || body.url.starts_with("https://")) {
        return Err(ApiError::bad_request("`url` must be the node's admin URL, like http://10.0.0.5:7379"));
    }
    let call = Call::AddMember { node_id: body.node_id, url: body.url, voter: body.voter };
    members_reply(node.leader_call(call, 0).await?)
}

pub async fn init(State(node): State<AppState>, Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    caller.check_unscoped()?;
    node.initialize_alone().await?;
    Ok(Json(json!(node.status())))
}

pub async fn member_remove(State(node): State<AppState>, P(id): P<u64>, Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    caller.check_unscoped()?;
    members_reply(node.leader_call(Call::RemoveMember { node_id: id }, 0).await?)
}

fn members_reply(result: CallResult) -> Result<Json<Value>, ApiError> {
    match result {
        CallResult::Members(members) => Ok(Json(json!({ "members": members }))),
        other => Err(ApiError::internal(format!("unexpected answer {other:?}"))),
    }
}
