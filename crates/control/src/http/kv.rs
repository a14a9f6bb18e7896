//! `/v1/kv`, `/v1/txn` and `/v1/watch`: the config-KV endpoints.

use axum::body::Bytes;
use axum::extract::rejection::BytesRejection;
use axum::extract::State;
use axum::http::{HeaderMap, HeaderValue, header};
use axum::response::sse::{Event as SseEvent, KeepAlive, Sse};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};
use tokio_stream::StreamExt;
use tokio_stream::wrappers::ReceiverStream;

use super::views::{ValueIn, content_type, event_view, kv_view};
use super::{AppState, Consistency, J, P, Q, ReadQuery, before_read};
use crate::auth::Caller;
use crate::command::{CmpOp, Compare, CompareTarget, ContentType, DeleteOp, Op, Outcome, PutOp, RollbackOp, TxnAction, TxnOp};
use crate::error::ApiError;
use crate::state::EventKind;
use crate::validate;
use crate::watch::{self, Filter};

/// Most keys one list page returns.
const MAX_PAGE: usize = 1000;

#[derive(Deserialize)]
pub struct PutQuery {
    if_revision: Option<u64>,
    lease: Option<u64>,
    content_type: Option<String>,
}

pub async fn put(
    State(node): State<AppState>,
    P(key): P<String>,
    Q(q): Q<PutQuery>,
    headers: HeaderMap,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.check_key(&key)?;
    let body = body.map_err(|e| ApiError::new(e.status(), "too_large", e.body_text()))?;
    let header_type = headers.get(header::CONTENT_TYPE).and_then(|v| v.to_str().ok()).and_then(ContentType::parse);
    let content_type = content_type(q.content_type.as_deref())?.or(header_type).unwrap_or_default();
    let op = PutOp { key, value: body.to_vec(), content_type, if_revision: q.if_revision, lease: q.lease };
    validate::put(&op, node.config.max_value_bytes)?;
    match node.propose(&caller.name, Op::Put(op)).await? {
        Outcome::Put { revision, prev } => Ok(Json(json!({ "revision": revision, "prev": prev }))),
        other => Err(unexpected(other)),
    }
}

#[derive(Deserialize)]
pub struct GetQuery {
    at_revision: Option<u64>,
    consistency: Option<Consistency>,
    #[serde(default)]
    raw: bool,
}

pub async fn get(
    State(node): State<AppState>,
    P(key): P<String>,
    Q(q): Q<GetQuery>,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    caller.check_key(&key)?;
    before_read(&node, q.consistency).await?;
    let data = node.sm.data.read();
    let record = data.kv.get(&key, q.at_revision)?.ok_or_else(|| ApiError::not_found(format!("key '{key}' not found")))?;
    if !q.raw {
        return Ok(Json(kv_view(&key, record)).into_response());
    }
    let value = record.value.as_ref().ok_or_else(|| ApiError::not_found(format!("key '{key}' not found")))?;
    let mut resp = value.data.clone().into_response();
    let headers = resp.headers_mut();
    headers.insert(header::CONTENT_TYPE, HeaderValue::from_static(value.content_type.mime()));
    headers.insert("x-ferrocache-mod-revision", HeaderValue::from(record.mod_revision));
    headers.insert("x-ferrocache-version", HeaderValue::from(record.version));
    if let Ok(etag) = HeaderValue::from_str(&format!("\"{}\"", value.checksum)) {
        headers.insert(header::ETAG, etag);
    }
    Ok(resp)
}

#[derive(Deserialize)]
pub struct DeleteQuery {
    if_revision: Option<u64>,
    #[serde(default)]
    prefix: bool,
}

pub async fn delete(
    State(node): State<AppState>,
    P(key): P<String>,
    Q(q): Q<DeleteQuery>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.check_key(&key)?;
    if !q.prefix {
        validate::key(&key)?;
    }
    let op = DeleteOp { key, prefix: q.prefix, if_revision: q.if_revision };
    match node.propose(&caller.name, Op::Delete(op)).await? {
        Outcome::Delete { revision, deleted } => Ok(Json(json!({ "revision": revision, "deleted": deleted }))),
        other => Err(unexpected(other)),
    }
}

#[derive(Deserialize)]
pub struct ListQuery {
    #[serde(default)]
    prefix: String,
    start_after: Option<String>,
    limit: Option<usize>,
    at_revision: Option<u64>,
    consistency: Option<Consistency>,
}

pub async fn list(State(node): State<AppState>, Q(q): Q<ListQuery>, Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    caller.check_key(&q.prefix)?;
    before_read(&node, q.consistency).await?;
    let limit = q.limit.unwrap_or(100).clamp(1, MAX_PAGE);
    let data = node.sm.data.read();
    let page = data.kv.list(&q.prefix, q.start_after.as_deref(), limit, q.at_revision)?;
    let items: Vec<_> = page.items.iter().map(|(k, r)| kv_view(k, r)).collect();
    let next = if page.more { page.items.last().map(|(k, _)| k.to_string()) } else { None };
    Ok(Json(json!({
        "revision": q.at_revision.unwrap_or(data.kv.revision()),
        "items": items,
        "more": page.more,
        "next_start_after": next,
    })))
}

pub async fn history(
    State(node): State<AppState>,
    P(key): P<String>,
    Q(q): Q<ReadQuery>,
    Extension(caller): Extension<Caller>,
) -> Result<Json<Value>, ApiError> {
    caller.check_key(&key)?;
    before_read(&node, q.consistency).await?;
    let data = node.sm.data.read();
    let versions: Vec<_> = data.kv.history(&key).iter().map(|r| kv_view(&key, r)).collect();
    Ok(Json(json!({ "key": key, "first_revision": data.kv.first_revision(), "versions": versions })))
}

#[derive(Deserialize)]
pub struct RollbackIn {
    key: String,
    #[serde(default)]
    prefix: bool,
    to_revision: u64,
}

pub async fn rollback(State(node): State<AppState>, Extension(caller): Extension<Caller>, J(body): J<RollbackIn>) -> Result<Json<Value>, ApiError> {
    caller.check_key(&body.key)?;
    if !body.prefix {
        validate::key(&body.key)?;
    }
    let op = Op::Rollback(RollbackOp { key: body.key, prefix: body.prefix, to_revision: body.to_revision });
    match node.propose(&caller.name, op).await? {
        Outcome::Rollback { revision, changed } => Ok(Json(json!({ "revision": revision, "changed": changed }))),
        other => Err(unexpected(other)),
    }
}

#[derive(Deserialize)]
pub struct CompareIn {
    key: String,
    target: String,
    op: CmpOp,
    value: Value,
}

/// A put inside a JSON body (txn actions, import items).
#[derive(Deserialize)]
pub struct PutIn {
    key: String,
    #[serde(flatten)]
    value: ValueIn,
    content_type: Option<String>,
    if_revision: Option<u64>,
    lease: Option<u64>,
}

impl PutIn {
    pub fn into_op(self) -> Result<PutOp, ApiError> {
        Ok(PutOp {
            key: self.key,
            value: self.value.into_bytes()?,
            content_type: content_type(self.content_type.as_deref())?.unwrap_or_default(),
            if_revision: self.if_revision,
            lease: self.lease,
        })
    }
}

#[derive(Deserialize)]
pub struct DeleteIn {
    key: String,
    #[serde(default)]
    prefix: bool,
    if_revision: Option<u64>,
}

#[derive(Deserialize)]
#[serde(rename_all = "snake_case")]
pub enum ActionIn {
    Put(PutIn),
    Delete(DeleteIn),
}

#[derive(Deserialize)]
pub struct TxnIn {
    #[serde(default)]
    compare: Vec<CompareIn>,
    #[serde(default)]
    success: Vec<ActionIn>,
    #[serde(default)]
    failure: Vec<ActionIn>,
}

pub async fn txn(State(node): State<AppState>, Extension(caller): Extension<Caller>, J(body): J<TxnIn>) -> Result<Json<Value>, ApiError> {
    let txn = TxnOp {
        compare: body.compare.into_iter().map(compare).collect::<Result<_, _>>()?,
        success: body.success.into_iter().map(action).collect::<Result<_, _>>()?,
        failure: body.failure.into_iter().map(action).collect::<Result<_, _>>()?,
    };
    txn.compare.iter().try_for_each(|c| caller.check_key(&c.key))?;
    check_action_keys(&caller, &txn.success)?;
    check_action_keys(&caller, &txn.failure)?;
    validate::txn_actions(&txn.success, node.config.max_value_bytes)?;
    validate::txn_actions(&txn.failure, node.config.max_value_bytes)?;
    match node.propose(&caller.name, Op::Txn(txn)).await? {
        Outcome::Txn { succeeded, revision } => Ok(Json(json!({ "succeeded": succeeded, "revision": revision }))),
        other => Err(unexpected(other)),
    }
}

/// Every key a txn branch (or an import) touches must be within the caller's scope.
pub(super) fn check_action_keys(caller: &Caller, actions: &[TxnAction]) -> Result<(), ApiError> {
    actions.iter().try_for_each(|a| match a {
        TxnAction::Put(p) => caller.check_key(&p.key),
        TxnAction::Delete(d) => caller.check_key(&d.key),
    })
}

fn compare(c: CompareIn) -> Result<Compare, ApiError> {
    let number = || c.value.as_u64().ok_or_else(|| ApiError::bad_request(format!("compare on '{}': {} needs a number", c.key, c.target)));
    let target = match c.target.as_str() {
        "value" => match &c.value {
            Value::String(s) => CompareTarget::Value(s.clone().into_bytes()),
            _ => return Err(ApiError::bad_request(format!("compare on '{}': value needs a string", c.key))),
        },
        "version" => CompareTarget::Version(number()?),
        "mod_revision" => CompareTarget::ModRevision(number()?),
        "create_revision" => CompareTarget::CreateRevision(number()?),
        other => {
            return Err(ApiError::bad_request(format!(
                "unknown compare target '{other}' (value, version, mod_revision or create_revision)"
            )));
        }
    };
    Ok(Compare { key: c.key, op: c.op, target })
}

fn action(a: ActionIn) -> Result<TxnAction, ApiError> {
    Ok(match a {
        ActionIn::Put(p) => TxnAction::Put(p.into_op()?),
        ActionIn::Delete(d) => TxnAction::Delete(DeleteOp { key: d.key, prefix: d.prefix, if_revision: d.if_revision }),
    })
}

#[derive(Deserialize)]
pub struct WatchQuery {
    key: Option<String>,
    prefix: Option<String>,
    from_revision: Option<u64>,
    /// Long-poll instead of a stream: wait up to this long and answer with JSON.
    poll_ms: Option<u64>,
}

/// Longest a long-poll may wait.
const MAX_POLL_MS: u64 = 60_000;

/// Server-sent events: `event: put|delete`, `id: <revision>`, `data: {revision, type, kv}`.
/// A reconnecting client resumes with `Last-Event-ID` (or `from_revision` = last seen + 1).
/// A compacted start revision is a 410 answer; compaction overtaking a slow stream ends it
/// with an `event: error`. With `poll_ms` it is a long-poll answered with
/// `{events, next_revision}` instead, for clients without SSE.
pub async fn watch(
    State(node): State<AppState>,
    Q(q): Q<WatchQuery>,
    headers: HeaderMap,
    Extension(caller): Extension<Caller>,
) -> Result<Response, ApiError> {
    let filter = match (q.key, q.prefix) {
        (Some(_), Some(_)) => return Err(ApiError::bad_request("give `key` or `prefix`, not both")),
        (Some(key), None) => Filter::Key(key),
        (None, prefix) => Filter::Prefix(prefix.unwrap_or_default()),
    };
    caller.check_key(filter.prefix())?;
    let resume = headers
        .get("last-event-id")
        .and_then(|v| v.to_str().ok())
        .and_then(|s| s.trim().parse::<u64>().ok())
        .map(|id| id + 1);
    let from = q.from_revision.or(resume).unwrap_or(0);
    if let Some(poll_ms) = q.poll_ms {
        let wait = std::time::Duration::from_millis(poll_ms.min(MAX_POLL_MS));
        let (events, next) = watch::poll(&node.sm, &filter, from, wait).await?;
        let events: Vec<_> = events.iter().map(event_view).collect();
        return Ok(Json(json!({ "events": events, "next_revision": next })).into_response());
    }
    let rx = watch::start(node.sm.clone(), filter, from, node.cancel.clone())?;
    let stream = ReceiverStream::new(rx).map(|item| match item {
        Ok(event) => {
            let name = match event.kind {
                EventKind::Put => "put",
                EventKind::Delete => "delete",
            };
            SseEvent::default().event(name).id(event.revision.to_string()).json_data(event_view(&event))
        }
        Err(e) => SseEvent::default().event("error").json_data(json!({ "error": ApiError::from(e) })),
    });
    Ok(Sse::new(stream).keep_alive(KeepAlive::default()).into_response())
}

pub(super) fn unexpected(outcome: Outcome) -> ApiError {
    ApiError::internal(format!("unexpected state machine answer: {outcome:?}"))
}
