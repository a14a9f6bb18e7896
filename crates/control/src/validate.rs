//! Checks a write must pass before it is proposed: key shape, value size and content type.
//!
//! They run on the node that receives the request, before the command enters the Raft log, so a
//! parser upgrade can never make replicas disagree about an entry that is already in the log.
//! `json`, `toml` and `yaml` values must parse (a yaml value may hold several `---`
//! documents, each must parse); `text` must be UTF-8, and `binary` is anything.

use crate::command::{ContentType, PutOp, TxnAction};
use crate::error::ApiError;

/// Longest key accepted.
pub const MAX_KEY_BYTES: usize = 4096;

pub fn key(key: &str) -> Result<(), ApiError> {
    if key.is_empty() {
        return Err(ApiError::bad_request("key must not be empty"));
    }
    if key.len() > MAX_KEY_BYTES {
        return Err(ApiError::bad_request(format!("key is longer than {MAX_KEY_BYTES} bytes")));
    }
    if key.chars().any(char::is_control) {
        return Err(ApiError::bad_request("key must not contain control characters"));
    }
    Ok(())
}

pub fn value(data: &[u8], content_type: ContentType, max_bytes: usize) -> Result<(), ApiError> {
    if data.len() > max_bytes {
        return Err(ApiError::new(
            axum::http::StatusCode::PAYLOAD_TOO_LARGE,
            "value_too_large",
            format!("value is {} bytes; the limit is {max_bytes}", data.len()),
        ));
    }
    let invalid = |why: String| ApiError::bad_request(format!("value is not valid {}: {why}", content_type.name()));
    match content_type {
        ContentType::Json => serde_json::from_slice::<serde::de::IgnoredAny>(data).map(drop).map_err(|e| invalid(e.to_string())),
        ContentType::Toml => {
            let text = std::str::from_utf8(data).map_err(|e| invalid(e.to_string()))?;
            text.parse::<toml::Table>().map(drop).map_err(|e| invalid(e.to_string()))
        }
        ContentType::Yaml => yaml_documents(data).map(drop).map_err(invalid),
        ContentType::Text => std::str::from_utf8(data).map(drop).map_err(|e| invalid(e.to_string())),
        ContentType::Binary => Ok(()),
    }
}

/// Parses every document of a yaml value.
pub fn yaml_documents(data: &[u8]) -> Result<Vec<serde_yaml::Value>, String> {
    use serde::Deserialize;
    serde_yaml::Deserializer::from_slice(data)
        .map(|doc| serde_yaml::Value::deserialize(doc).map_err(|e| e.to_string()))
        .collect()
}

pub fn put(put: &PutOp, max_bytes: usize) -> Result<(), ApiError> {
    key(&put.key)?;
    value(&put.value, put.content_type, max_bytes)
}

pub fn txn_actions(actions: &[TxnAction], max_bytes: usize) -> Result<(), ApiError> {
    actions.iter().try_for_each(|action| match action {
        TxnAction::Put(p) => put(p, max_bytes),
        TxnAction::Delete(d) if d.prefix => Ok(()),
        TxnAction::Delete(d) => key(&d.key),
    })
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn content_types_are_checked() {
        assert!(value(br#"{"a": [1, 2]}"#, ContentType::Json, 100).is_ok());
        let err = value(b"{not json", ContentType::Json, 100).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (400, "invalid_argument"));
        assert!(err.message.starts_with("value is not valid json"));
        assert!(value(b"a = 1\n[t]\nb = 'x'", ContentType::Toml, 100).is_ok());
        assert!(value(b"a = = 1", ContentType::Toml, 100).is_err());
        assert!(value(b"a: 1\nb: [x, y]\n---\nc: {d: 2}\n", ContentType::Yaml, 100).is_ok());
        let err = value(b"a: [1, 2\nb: 3", ContentType::Yaml, 100).unwrap_err();
        assert!(err.message.starts_with("value is not valid yaml"), "{}", err.message);
        assert!(value(b"a: 1\n---\nb: [unclosed", ContentType::Yaml, 100).is_err(), "every document must parse");
        assert!(value(b"key: 1\nkey: 2", ContentType::Yaml, 100).is_err(), "duplicate keys");
        assert!(value(&[0xff, 0xfe], ContentType::Text, 100).is_err());
        assert!(value(&[0xff, 0xfe], ContentType::Binary, 100).is_ok());
        assert_eq!(value(&[0; 101], ContentType::Binary, 100).unwrap_err().status, 413);
    }

    #[test]
    fn keys_are_checked() {
        assert!(key("app/checkout/db.url").is_ok());
        assert!(key("").is_err());
        assert!(key("a\nb").is_err());
        assert!(key(&"k".repeat(MAX_KEY_BYTES + 1)).is_err());
    }
}
