//! Schemas for key prefixes: a put under a prefix that carries a schema must satisfy it.
//!
//! A schema is an ordinary key, `_schema/<prefix>`, whose value is a JSON Schema (so it is
//! versioned, watched, audited and rolled back like any config). Every schema whose prefix
//! starts the key applies. Values must be `json` or `toml` there (toml is checked as its JSON
//! equivalent). The leader checks schemas just before it proposes a write, against its own
//! up-to-date state; a rollback restores history as it was and is not checked.
//!
//! Supported keywords (our own validator, a subset of JSON Schema): `type`, `enum`, `const`,
//! `properties`, `required`, `additionalProperties`, `items`, `minItems`, `maxItems`,
//! `minLength`, `maxLength`, `minimum`, `maximum`, `exclusiveMinimum`, `exclusiveMaximum`,
//! and the annotations `title`, `description`, `$schema`, `default`. Any other keyword makes the
//! schema itself invalid, so a rule is never silently ignored.

use serde_json::{Map, Value};

use crate::command::{ContentType, Op, PutOp, TxnAction};
use crate::error::ApiError;
use crate::state::ConfigState;

/// Keys under this prefix hold schemas.
pub const SCHEMA_PREFIX: &str = "_schema/";

const KEYWORDS: &[&str] = &[
    "type", "enum", "const", "properties", "required", "additionalProperties", "items", "minItems", "maxItems",
    "minLength", "maxLength", "minimum", "maximum", "exclusiveMinimum", "exclusiveMaximum", "title", "description",
    "$schema", "default",
];

/// Checks every put in `op` against the schemas in `state`, and every schema being written.
pub fn check_op(state: &ConfigState, op: &Op) -> Result<(), ApiError> {
    match op {
        Op::Put(put) => check_put(state, put),
        Op::Txn(txn) => txn.success.iter().chain(&txn.failure).try_for_each(|action| match action {
            TxnAction::Put(put) => check_put(state, put),
            TxnAction::Delete(_) => Ok(()),
        }),
        _ => Ok(()),
    }
}

fn check_put(state: &ConfigState, put: &PutOp) -> Result<(), ApiError> {
    if put.key.starts_with(SCHEMA_PREFIX) {
        let schema = parse(&put.value, put.content_type).map_err(|e| invalid(&put.key, &e))?;
        return check_schema(&schema, "").map_err(|e| ApiError::bad_request(format!("'{}' is not a valid schema: {e}", put.key)));
    }
    let page = state.list(SCHEMA_PREFIX, None, usize::MAX, None).map_err(ApiError::from)?;
    let mut value = None;
    for (schema_key, record) in page.items {
        let prefix = &schema_key[SCHEMA_PREFIX.len()..];
        if !put.key.starts_with(prefix) {
            continue;
        }
        let Some(stored) = &record.value else { continue };
        let schema = parse(&stored.data, stored.content_type).map_err(|e| invalid(schema_key, &e))?;
        if value.is_none() {
            let parsed = parse(&put.value, put.content_type)
                .map_err(|e| ApiError::bad_request(format!("'{}' falls under schema '{schema_key}': {e}", put.key)))?;
            value = Some(parsed);
        }
        if let Some(v) = &value {
            validate(&schema, v, "").map_err(|e| {
                ApiError::new(axum::http::StatusCode::UNPROCESSABLE_ENTITY, "schema_violation", format!("'{}' violates schema '{schema_key}': {e}", put.key))
            })?;
        }
    }
    Ok(())
}

fn invalid(key: &str, why: &str) -> ApiError {
    ApiError::bad_request(format!("'{key}': {why}"))
}

/// A value as JSON: `json` parses directly, `toml` and `yaml` through their JSON equivalent.
fn parse(data: &[u8], content_type: ContentType) -> Result<Value, String> {
    match content_type {
        ContentType::Json => serde_json::from_slice(data).map_err(|e| format!("not valid json: {e}")),
        ContentType::Toml => {
            let text = std::str::from_utf8(data).map_err(|e| format!("not valid toml: {e}"))?;
            toml::from_str::<Value>(text).map_err(|e| format!("not valid toml: {e}"))
        }
        ContentType::Yaml => {
            let mut docs = crate::validate::yaml_documents(data).map_err(|e| format!("not valid yaml: {e}"))?;
            if docs.len() != 1 {
                return Err(format!("a yaml value under a schema must be one document, not {}", docs.len()));
            }
            let doc = docs.pop().unwrap_or_default();
            // Non-string map keys (`1: x`) have no JSON equivalent and are refused here.
            serde_json::to_value(doc).map_err(|e| format!("yaml value has no json equivalent: {e}"))
        }
        other => Err(format!("values under a schema must be json, yaml or toml, not {}", other.name())),
    }
}

/// Refuses keywords the validator does not implement and malformed keyword values.
fn check_schema(schema: &Value, path: &str) -> Result<(), String> {
    let obj = schema.as_object().ok_or_else(|| format!("at '{path}': a schema must be an object"))?;
    for (keyword, value) in obj {
        if !KEYWORDS.contains(&keyword.as_str()) {
            return Err(format!("at '{path}': unsupported keyword '{keyword}'"));
        }
        match keyword.as_str() {
            "properties" => {
                let props = value.as_object().ok_or_else(|| format!("at '{path}': properties must be an object"))?;
                for (name, sub) in props {
                    check_schema(sub, &format!("{path}/{name}"))?;
                }
            }
            "items" => check_schema(value, &format!("{path}/items"))?,
            "additionalProperties" if !value.is_boolean() => check_schema(value, &format!("{path}/*"))?,
            "required" if !value.as_array().is_some_and(|a| a.iter().all(Value::is_string)) => {
                return Err(format!("at '{path}': required must be a list of names"));
            }
            "enum" if !value.is_array() => return Err(format!("at '{path}': enum must be a list")),
            "type" => {
                let names: Vec<&Value> = value.as_array().map(|a| a.iter().collect()).unwrap_or_else(|| vec![value]);
                if let Some(bad) = names.iter().find(|n| !n.as_str().is_some_and(|s| TYPES.contains(&s))) {
                    return Err(format!("at '{path}': unknown type {bad}"));
                }
            }
            "minItems" | "maxItems" | "minLength" | "maxLength" if !value.is_u64() => {
                return Err(format!("at '{path}': {keyword} must be a non-negative integer"));
            }
            "minimum" | "maximum" | "exclusiveMinimum" | "exclusiveMaximum" if !value.is_number() => {
                return Err(format!("at '{path}': {keyword} must be a number"));
            }
            _ => {}
        }
    }
    Ok(())
}

const TYPES: &[&str] = &["null", "boolean", "object", "array", "number", "integer", "string"];

fn type_matches(name: &str, v: &Value) -> bool {
    match name {
        "null" => v.is_null(),
        "boolean" => v.is_boolean(),
        "object" => v.is_object(),
        "array" => v.is_array(),
        "number" => v.is_number(),
        "integer" => v.is_i64() || v.is_u64() || v.as_f64().is_some_and(|f| f.fract() == 0.0),
        "string" => v.is_string(),
        _ => false,
    }
}

/// Validates `v` against a schema that passed [`check_schema`]; the error names the first
/// failing location as a JSON pointer.
fn validate(schema: &Value, v: &Value, path: &str) -> Result<(), String> {
    let Some(obj) = schema.as_object() else { return Ok(()) };
    let at = |msg: String| format!("at '{}': {msg}", if path.is_empty() { "/" } else { path });
    if let Some(t) = obj.get("type") {
        let names: Vec<&str> = t.as_array().map(|a| a.iter().filter_map(Value::as_str).collect()).unwrap_or_else(|| t.as_str().into_iter().collect());
        if !names.iter().any(|n| type_matches(n, v)) {
            return Err(at(format!("{v} is not of type {}", names.join(" or "))));
        }
    }
    if let Some(Value::Array(options)) = obj.get("enum")
        && !options.contains(v)
    {
        return Err(at(format!("{v} is not one of {}", Value::Array(options.clone()))));
    }
    if let Some(c) = obj.get("const")
        && c != v
    {
        return Err(at(format!("{v} is not {c}")));
    }
    check_bounds(obj, v).map_err(at)?;
    match v {
        Value::Object(map) => validate_object(obj, map, path),
        Value::Array(items) => match obj.get("items") {
            Some(item_schema) => items.iter().enumerate().try_for_each(|(i, item)| validate(item_schema, item, &format!("{path}/{i}"))),
            None => Ok(()),
        },
        _ => Ok(()),
    }
}

/// Whether a number satisfies a bound.
type BoundCheck = fn(f64, f64) -> bool;

/// Numeric bounds, string lengths and array sizes.
fn check_bounds(obj: &Map<String, Value>, v: &Value) -> Result<(), String> {
    let limit = |k: &str| obj.get(k).and_then(Value::as_f64);
    let count = |k: &str| obj.get(k).and_then(Value::as_u64);
    if let Some(n) = v.as_f64() {
        let rules: [(&str, BoundCheck); 4] = [
            ("minimum", |n, b| n >= b),
            ("maximum", |n, b| n <= b),
            ("exclusiveMinimum", |n, b| n > b),
            ("exclusiveMaximum", |n, b| n < b),
        ];
        for (keyword, holds) in rules {
            if let Some(bound) = limit(keyword)
                && !holds(n, bound)
            {
                return Err(format!("{v} breaks {keyword} {bound}"));
            }
        }
    }
    let size = match v {
        Value::String(s) => Some(("Length", s.chars().count() as u64)),
        Value::Array(a) => Some(("Items", a.len() as u64)),
        _ => None,
    };
    if let Some((suffix, n)) = size
        && (count(&format!("min{suffix}")).is_some_and(|min| n < min) || count(&format!("max{suffix}")).is_some_and(|max| n > max))
    {
        return Err(format!("size {n} is outside min{suffix}/max{suffix}"));
    }
    Ok(())
}

fn validate_object(schema: &Map<String, Value>, map: &Map<String, Value>, path: &str) -> Result<(), String> {
    if let Some(Value::Array(required)) = schema.get("required") {
        for name in required.iter().filter_map(Value::as_str) {
            if !map.contains_key(name) {
                return Err(format!("at '{}': missing required property '{name}'", if path.is_empty() { "/" } else { path }));
            }
        }
    }
    let props = schema.get("properties").and_then(Value::as_object);
    for (name, value) in map {
        let sub_path = format!("{path}/{name}");
        match (props.and_then(|p| p.get(name)), schema.get("additionalProperties")) {
            (Some(sub), _) => validate(sub, value, &sub_path)?,
            (None, Some(Value::Bool(false))) => return Err(format!("at '{sub_path}': property is not allowed")),
            (None, Some(extra @ Value::Object(_))) => validate(extra, value, &sub_path)?,
            _ => {}
        }
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::Request;
    use serde_json::json;

    fn state_with_schema(schema: Value) -> ConfigState {
        let mut state = ConfigState::new();
        let op = Op::Put(PutOp {
            key: "_schema/app/".into(),
            value: schema.to_string().into_bytes(),
            content_type: ContentType::Json,
            if_revision: None,
            lease: None,
        });
        check_op(&state, &op).unwrap();
        state.apply(&Request { actor: "t".into(), time_ms: 0, op }).unwrap();
        state
    }

    fn put(key: &str, value: &str, content_type: ContentType) -> Op {
        Op::Put(PutOp { key: key.into(), value: value.as_bytes().to_vec(), content_type, if_revision: None, lease: None })
    }

    #[test]
    fn puts_under_a_schema_prefix_are_checked() {
        let state = state_with_schema(json!({
            "type": "object",
            "required": ["port"],
            "properties": {
                "port": {"type": "integer", "minimum": 1, "maximum": 65535},
                "mode": {"enum": ["a", "b"]},
                "tags": {"type": "array", "items": {"type": "string", "minLength": 1}, "maxItems": 2}
            },
            "additionalProperties": false
        }));
        let check = |value: &str, ct| check_op(&state, &put("app/svc", value, ct));
        assert!(check(r#"{"port": 80, "mode": "a", "tags": ["x"]}"#, ContentType::Json).is_ok());
        assert!(check("port = 80\nmode = 'b'", ContentType::Toml).is_ok());
        // yaml values are checked through their JSON equivalent.
        assert!(check("port: 80\nmode: a\ntags: [x]\n", ContentType::Yaml).is_ok());
        let err = check("port: 70000\n", ContentType::Yaml).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (422, "schema_violation"));
        assert!(check("port: '80'\n", ContentType::Yaml).is_err(), "a quoted number is a string");
        assert!(check("port: 80\n---\nport: 81\n", ContentType::Yaml).unwrap_err().message.contains("one document"));
        let err = check(r#"{"port": 70000}"#, ContentType::Json).unwrap_err();
        assert_eq!((err.status, err.code.as_str()), (422, "schema_violation"));
        assert!(err.message.contains("at '/port'") && err.message.contains("maximum"), "{}", err.message);
        assert!(check(r#"{"mode": "a"}"#, ContentType::Json).unwrap_err().message.contains("missing required property 'port'"));
        assert!(check(r#"{"port": 1, "extra": 1}"#, ContentType::Json).unwrap_err().message.contains("/extra"));
        assert!(check(r#"{"port": 1, "mode": "c"}"#, ContentType::Json).is_err());
        assert!(check(r#"{"port": 1, "tags": ["", "b"]}"#, ContentType::Json).unwrap_err().message.contains("/tags/0"));
        assert!(check(r#"{"port": 1, "tags": ["a", "b", "c"]}"#, ContentType::Json).is_err());
        assert!(check(r#"{"port": 1.5}"#, ContentType::Json).is_err());
        assert_eq!(check("plain", ContentType::Text).unwrap_err().status, 400);
        // Keys outside the prefix are not checked.
        assert!(check_op(&state, &put("other", "plain", ContentType::Text)).is_ok());
        // Txn puts are checked too.
        let txn = Op::Txn(crate::command::TxnOp {
            compare: vec![],
            success: vec![TxnAction::Put(PutOp {
                key: "app/x".into(),
                value: b"{}".to_vec(),
                content_type: ContentType::Json,
                if_revision: None,
                lease: None,
            })],
            failure: vec![],
        });
        assert!(check_op(&state, &txn).is_err());
    }

    #[test]
    fn schemas_themselves_are_checked() {
        let state = ConfigState::new();
        let schema = |s: Value| check_op(&state, &put("_schema/p/", &s.to_string(), ContentType::Json));
        assert!(schema(json!({"type": ["string", "null"], "maxLength": 3})).is_ok());
        assert!(schema(json!({"pattern": "^a"})).unwrap_err().message.contains("unsupported keyword 'pattern'"));
        assert!(schema(json!({"type": "strin"})).is_err());
        assert!(schema(json!({"properties": {"a": {"minimum": "x"}}})).unwrap_err().message.contains("/a"));
        assert!(check_op(&state, &put("_schema/p/", "{", ContentType::Json)).is_err());
    }
}
