//! JSON shapes of the API: how records, events and values look on the wire.
//!
//! Values are bytes: a UTF-8 value is shown as the string `value`, anything else as
//! `value_base64`. Requests that carry values inside JSON (txn) accept either field.

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use serde::{Deserialize, Serialize};

use crate::command::ContentType;
use crate::error::ApiError;
use crate::state::{Event, EventKind, Record};

#[derive(Debug, Serialize)]
pub struct KvView {
    pub key: String,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub value_base64: Option<String>,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub content_type: Option<&'static str>,
    pub deleted: bool,
    pub create_revision: u64,
    pub mod_revision: u64,
    pub version: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub checksum: Option<String>,
    pub author: String,
    pub timestamp_ms: u64,
    #[serde(skip_serializing_if = "Option::is_none")]
    pub lease: Option<u64>,
}

pub fn kv_view(key: &str, record: &Record) -> KvView {
    let value = record.value.as_ref();
    let (text, b64) = match value.map(|v| &v.data) {
        Some(data) => match std::str::from_utf8(data) {
            Ok(s) => (Some(s.to_string()), None),
            Err(_) => (None, Some(B64.encode(data))),
        },
        None => (None, None),
    };
    KvView {
        key: key.to_string(),
        value: text,
        value_base64: b64,
        content_type: value.map(|v| v.content_type.name()),
        deleted: value.is_none(),
        create_revision: record.create_revision,
        mod_revision: record.mod_revision,
        version: record.version,
        checksum: value.map(|v| v.checksum.clone()),
        author: record.author.clone(),
        timestamp_ms: record.time_ms,
        lease: value.and_then(|v| v.lease),
    }
}

#[derive(Debug, Serialize)]
pub struct EventView {
    pub revision: u64,
    #[serde(rename = "type")]
    pub kind: EventKind,
    pub kv: KvView,
}

pub fn event_view(event: &Event) -> EventView {
    EventView { revision: event.revision, kind: event.kind, kv: kv_view(&event.key, &event.record) }
}

/// A value inside a JSON request: `value` (text) or `value_base64` (bytes).
#[derive(Debug, Default, Deserialize)]
pub struct ValueIn {
    #[serde(default)]
    pub value: Option<String>,
    #[serde(default)]
    pub value_base64: Option<String>,
}

impl ValueIn {
    pub fn into_bytes(self) -> Result<Vec<u8>, ApiError> {
        match (self.value, self.value_base64) {
            (Some(text), None) => Ok(text.into_bytes()),
            (None, Some(b64)) => B64.decode(b64).map_err(|e| ApiError::bad_request(format!("value_base64: {e}"))),
            (None, None) => Err(ApiError::bad_request("give `value` or `value_base64`")),
            (Some(_), Some(_)) => Err(ApiError::bad_request("give only one of `value` and `value_base64`")),
        }
    }
}

/// Reads a content type name given in a request.
pub fn content_type(name: Option<&str>) -> Result<Option<ContentType>, ApiError> {
    name.map(|n| {
        ContentType::parse(n).ok_or_else(|| ApiError::bad_request(format!("unknown content type '{n}' (json, yaml, toml, text or binary)")))
    })
    .transpose()
}
