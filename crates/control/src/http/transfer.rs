//! Export and import of a prefix as JSON, for backups and migrations.
//!
//! The export document is `{revision, prefix, items: [{key, value | value_base64,
//! content_type}]}`; import takes the same `items` and writes them all in one txn, so an import
//! either lands whole at one revision or not at all. Imports are bounded by the request size
//! limit; larger data sets go in several imports.

use axum::{Extension, Json};
use axum::extract::State;
use serde::Deserialize;
use serde_json::{Value, json};

use super::kv::{PutIn, check_action_keys, unexpected};
use super::views::kv_view;
use super::{AppState, Consistency, J, Q, before_read};
use crate::auth::Caller;
use crate::command::{Op, Outcome, TxnAction, TxnOp};
use crate::error::ApiError;
use crate::validate;

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
