//! The two systems' HTTP APIs: etcd's v3 JSON gateway (keys and values base64 in JSON, watch
//! as a stream of newline-separated JSON messages) and Ferrocache's `/v1/` (raw value bodies,
//! watch as server-sent events).

use base64::Engine;
use base64::engine::general_purpose::STANDARD as B64;
use std::time::Duration;

use serde_json::{Value, json};

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum System {
    Etcd,
    Ferrocache,
}

impl System {
    pub fn parse(name: &str) -> Result<System, String> {
        match name {
            "etcd" => Ok(System::Etcd),
            "ferrocache" => Ok(System::Ferrocache),
            other => Err(format!("--system: '{other}' is not etcd or ferrocache")),
        }
    }

    pub fn name(self) -> &'static str {
        match self {
            System::Etcd => "etcd",
            System::Ferrocache => "ferrocache",
        }
    }

    /// A put of `value` at `key`.
    pub fn put(self, http: &reqwest::Client, endpoint: &str, key: &str, value: &[u8]) -> reqwest::RequestBuilder {
        match self {
            System::Etcd => http.post(format!("{endpoint}/v3/kv/put")).json(&json!({ "key": B64.encode(key), "value": B64.encode(value) })),
            System::Ferrocache => http.put(format!("{endpoint}/v1/kv/{key}")).header("content-type", "text/plain").body(value.to_vec()),
        }
    }

    /// A watch of every key under `prefix`, from now on.
    pub fn watch(self, http: &reqwest::Client, endpoint: &str, prefix: &str) -> reqwest::RequestBuilder {
        match self {
            System::Etcd => {
                let request = json!({ "create_request": { "key": B64.encode(prefix), "range_end": B64.encode(prefix_end(prefix)) } });
                http.post(format!("{endpoint}/v3/watch")).json(&request)
            }
            System::Ferrocache => http.get(format!("{endpoint}/v1/watch?prefix={prefix}")),
        }
    }

    /// The endpoint of the current leader, among `endpoints`.
    pub async fn leader(self, http: &reqwest::Client, endpoints: &[String]) -> Result<String, String> {
        for endpoint in endpoints {
            let found = match self {
                System::Etcd => etcd_is_leader(http, endpoint).await,
                System::Ferrocache => ferrocache_is_leader(http, endpoint).await,
            };
            if found == Some(true) {
                return Ok(endpoint.clone());
            }
        }
        Err(format!("no leader among {endpoints:?}"))
    }

    /// Takes the complete messages off the front of `buf` and returns the values of the put
    /// events they carry; `Err` when the stream reports an error.
    pub fn take_events(self, buf: &mut String) -> Result<Vec<Vec<u8>>, String> {
        let separator = match self {
            System::Etcd => "\n",
            System::Ferrocache => "\n\n",
        };
        let mut values = Vec::new();
        while let Some(end) = buf.find(separator) {
            let message: String = buf.drain(..end + separator.len()).collect();
            match self {
                System::Etcd => etcd_values(&message, &mut values)?,
                System::Ferrocache => ferrocache_values(&message, &mut values)?,
            }
        }
        Ok(values)
    }

    /// Whether the first message of a watch stream has arrived (etcd confirms the watch with
    /// a `created` message; Ferrocache's stream is live once the response headers are sent).
    pub fn watch_created(self, buf: &str) -> bool {
        match self {
            System::Etcd => buf.contains("\"created\":true"),
            System::Ferrocache => true,
        }
    }
}

/// An HTTP client for many concurrent keep-alive connections to a few hosts.
pub fn client(timeout: Option<Duration>) -> reqwest::Client {
    let mut builder = reqwest::Client::builder().tcp_nodelay(true).pool_max_idle_per_host(4096).connect_timeout(Duration::from_secs(2));
    if let Some(timeout) = timeout {
        builder = builder.timeout(timeout);
    }
    builder.build().expect("http client")
}

/// etcd's range end for a prefix: the prefix with its last byte incremented.
fn prefix_end(prefix: &str) -> Vec<u8> {
    let mut end = prefix.as_bytes().to_vec();
    if let Some(last) = end.last_mut() {
        *last += 1;
    }
    end
}

async fn etcd_is_leader(http: &reqwest::Client, endpoint: &str) -> Option<bool> {
    let status: Value = http.post(format!("{endpoint}/v3/maintenance/status")).json(&json!({})).send().await.ok()?.json().await.ok()?;
    let me = status["header"]["member_id"].as_str()?;
    Some(status["leader"].as_str() == Some(me))
}

async fn ferrocache_is_leader(http: &reqwest::Client, endpoint: &str) -> Option<bool> {
    let status: Value = http.get(format!("{endpoint}/v1/status")).send().await.ok()?.json().await.ok()?;
    Some(status["state"] == "Leader")
}

fn etcd_values(message: &str, values: &mut Vec<Vec<u8>>) -> Result<(), String> {
    let message = message.trim();
    if message.is_empty() {
        return Ok(());
    }
    let parsed: Value = serde_json::from_str(message).map_err(|e| format!("bad etcd watch message: {e}: {message}"))?;
    if !parsed["error"].is_null() || parsed["result"]["canceled"] == true {
        return Err(format!("etcd watch ended: {message}"));
    }
    for event in parsed["result"]["events"].as_array().into_iter().flatten() {
        let value = event["kv"]["value"].as_str().unwrap_or_default();
        values.push(B64.decode(value).map_err(|e| format!("etcd event value: {e}"))?);
    }
    Ok(())
}

fn ferrocache_values(message: &str, values: &mut Vec<Vec<u8>>) -> Result<(), String> {
    let field = |name: &str| message.lines().find_map(|l| l.strip_prefix(name)).map(str::trim);
    match field("event:") {
        Some("put") => {
            let data: Value = serde_json::from_str(field("data:").unwrap_or_default()).map_err(|e| format!("bad event data: {e}"))?;
            values.push(data["kv"]["value"].as_str().unwrap_or_default().as_bytes().to_vec());
            Ok(())
        }
        Some("error") => Err(format!("ferrocache watch ended: {message}")),
        _ => Ok(()),
    }
}
