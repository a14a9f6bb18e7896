//! Getting data in and out: export and import of a prefix as JSON (for migrations and partial
//! copies), and backup and restore of the whole control plane (for disaster recovery).
//!
//! The export document is `{revision, prefix, items: [{key, value | value_base64,
//! content_type}]}`; import takes the same `items` and writes them all in one txn, so an import
//! either lands whole at one revision or not at all. Imports are bounded by the request size
//! limit; larger data sets go in several imports.
//!
//! A backup (`GET /v1/backup`) is the whole state machine with its history and audit chain (see
//! [`crate::backup`]); a restore (`POST /v1/restore[?force=true]`) checks the file and proposes it
//! as one command, so every member replaces its state at the same log position (semantics in
//! `state::restore`). Both need an admin token without a key prefix.

use axum::body::Bytes;
use axum::extract::State;
use axum::extract::rejection::BytesRejection;
use axum::http::{StatusCode, header};
use axum::response::{IntoResponse, Response};
use axum::{Extension, Json};
use serde::Deserialize;
use serde_json::{Value, json};

use super::kv::{PutIn, check_action_keys, unexpected};
use super::views::kv_view;
use super::{AppState, Consistency, J, Q, ReadQuery, before_read};
use crate::auth::Caller;
use crate::command::{Op, Outcome, RestoreOp, SmError, TxnAction, TxnOp};
use crate::error::ApiError;
use crate::node::now_ms;
use crate::{backup, validate};

/// Largest backup `POST /v1/restore` accepts (the other endpoints keep the usual body limit).
pub const MAX_RESTORE_BYTES: usize = 512 * 1024 * 1024;

#[derive(Deserialize)]
pub struct ExportQuery {
    #[serde(default)]
    prefix: String,
    consistency: Option<Consistency>,
}

pub async fn export(State(node): State<AppState>, Q(q): Q<ExportQuery>, Extension(caller): Extension<Caller>) -> Result<Json<Value>, ApiError> {
    caller.check_key(&q.prefix)?;
    before_read(&node, q.consistency).await?;
    let data = node.sm.data.read();
    let page = data.kv.list(&q.prefix, None, usize::MAX, None)?;
    let items: Vec<Value> = page
        .items
        .iter()
        .map(|(key, record)| {
            let view = kv_view(key, record);
            json!({ "key": view.key, "value": view.value, "value_base64": view.value_base64, "content_type": view.content_type })
        })
        .collect();
    Ok(Json(json!({ "revision": data.kv.revision(), "prefix": q.prefix, "items": items })))
}

#[derive(Deserialize)]
pub struct ImportIn {
    items: Vec<PutIn>,
}

pub async fn import(State(node): State<AppState>, Extension(caller): Extension<Caller>, J(body): J<ImportIn>) -> Result<Json<Value>, ApiError> {
    let count = body.items.len();
    let puts = body.items.into_iter().map(|p| p.into_op().map(TxnAction::Put)).collect::<Result<Vec<_>, _>>()?;
    check_action_keys(&caller, &puts)?;
    validate::txn_actions(&puts, node.config.max_value_bytes)?;
    let txn = TxnOp { compare: Vec::new(), success: puts, failure: Vec::new() };
    match node.propose(&caller.name, Op::Txn(txn)).await? {
        Outcome::Txn { revision, .. } => Ok(Json(json!({ "revision": revision, "imported": count }))),
        other => Err(unexpected(other)),
    }
}

/// The whole control-plane state as a backup file (read linearizably unless asked otherwise).
pub async fn backup(State(node): State<AppState>, Q(q): Q<ReadQuery>, Extension(caller): Extension<Caller>) -> Result<Response, ApiError> {
    caller.check_unscoped()?;
    before_read(&node, q.consistency).await?;
    let doc = backup::create(&node.sm.data.read().kv, node.id, &node.url, now_ms()).map_err(ApiError::internal)?;
    let body = serde_json::to_vec_pretty(&doc).map_err(|e| ApiError::internal(e.to_string()))?;
    let file = format!("attachment; filename=\"ferrocache-backup-r{}.json\"", doc.meta.revision);
    Ok(([(header::CONTENT_TYPE, "application/json".to_string()), (header::CONTENT_DISPOSITION, file)], body).into_response())
}

#[derive(Deserialize)]
pub struct RestoreQuery {
    #[serde(default)]
    force: bool,
}

/// Replaces the state with the backup in the body, through the Raft log. The file is checked
/// here (400 `invalid_backup` when it is not a backup, of an unknown version or damaged);
/// replacing a state that holds data without `force` is refused (409 `not_empty`).
pub async fn restore(
    State(node): State<AppState>,
    Q(q): Q<RestoreQuery>,
    Extension(caller): Extension<Caller>,
    body: Result<Bytes, BytesRejection>,
) -> Result<Json<Value>, ApiError> {
    caller.check_unscoped()?;
    let body = body.map_err(|e| ApiError::new(e.status(), "too_large", e.body_text()))?;
    let opened = backup::open(&body).map_err(|e| ApiError::new(StatusCode::BAD_REQUEST, "invalid_backup", e))?;
    // The state machine decides (on the state the command meets); this only spares the log a
    // large entry that is bound to be refused.
    let held = node.sm.data.read().kv.data_keys();
    if held > 0 && !q.force {
        return Err(SmError::NotEmpty { keys: held }.into());
    }
    let op = RestoreOp {
        state: opened.state,
        backup_revision: opened.meta.revision,
        checksum: opened.checksum,
        force: q.force,
        content_bytes: opened.content_bytes,
    };
    match node.propose(&caller.name, Op::Restore(Box::new(op))).await? {
        Outcome::Restored { revision, backup_revision, keys } => {
            Ok(Json(json!({ "revision": revision, "backup_revision": backup_revision, "keys": keys })))
        }
        other => Err(unexpected(other)),
    }
}
