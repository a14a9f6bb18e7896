//! Bearer tokens: roles, key-prefix scopes, the audit actor, node-to-node authentication, and
//! the refusal to expose an unprotected admin API beyond loopback.

mod common;

use common::{Client, config, eventually, start, wait_leader};
use ferrocache_control::auth::{Role, Token};
use ferrocache_control::{ControlNode, StartError};
use serde_json::{Value, json};

const ROOT: &str = "root-secret-0123456789";
const READER: &str = "reader-secret-0123456789";
const APP: &str = "app-secret-0123456789";

fn tokens() -> Vec<Token> {
    let token = |name: &str, secret: &str, role, prefix: Option<&str>| Token {
        name: name.into(),
        secret: secret.into(),
        role,
        prefix: prefix.map(String::from),
    };
    vec![token("root", ROOT, Role::Admin, None), token("reader", READER, Role::Read, None), token("app", APP, Role::Write, Some("app/"))]
}

async fn call(c: &Client, secret: Option<&str>, method: reqwest::Method, path: &str, body: Option<Value>) -> (u16, Value) {
    let mut req = c.raw().request(method, c.url(path));
    if let Some(secret) = secret {
        req = req.bearer_auth(secret);
    }
    if let Some(body) = body {
        req = req.json(&body);
    }
    c.send(req).await
}

/// A single node with [`tokens`], leading, and a client to it.
async fn start_with_tokens(dir: &std::path::Path) -> (ferrocache_control::ControlHandle, Client) {
    let mut cfg = config(1, dir);
    cfg.tokens = tokens();
    let node = start(cfg).await;
    wait_leader(&node).await;
    let c = Client::new(node.url());
    (node, c)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn tokens_enforce_roles_and_prefixes() {
    use reqwest::Method;
    let dir = tempfile::tempdir().unwrap();
    let (node, c) = start_with_tokens(dir.path()).await;

    let (s, err) = call(&c, None, Method::GET, "/v1/status", None).await;
    assert_eq!((s, err["error"]["code"].as_str()), (401, Some("unauthorized")));
    let (s, _) = call(&c, Some("wrong-secret-0123456789"), Method::GET, "/v1/status", None).await;
    assert_eq!(s, 401);
    let (s, _) = call(&c, Some(READER), Method::GET, "/v1/status", None).await;
    assert_eq!(s, 200);
    let (s, err) = call(&c, Some(READER), Method::DELETE, "/v1/kv/app/x", None).await;
    assert_eq!((s, err["error"]["code"].as_str()), (403, Some("forbidden")));

    // The app token writes under its prefix, and the audit log names it.
    let put = c.raw().put(c.url("/v1/kv/app/db")).bearer_auth(APP).header("x-ferrocache-actor", "spoof").body("v");
    let (s, res) = c.send(put).await;
    assert_eq!(s, 200, "{res}");
    let (_, got) = call(&c, Some(READER), Method::GET, "/v1/kv/app/db", None).await;
    assert_eq!(got["author"], "app");
    let (s, _) = c.send(c.raw().put(c.url("/v1/kv/other")).bearer_auth(APP).body("v")).await;
    assert_eq!(s, 403);
    let txn = json!({"success": [{"put": {"key": "app/a", "value": "1"}}, {"put": {"key": "other", "value": "1"}}]});
    let (s, _) = call(&c, Some(APP), Method::POST, "/v1/txn", Some(txn)).await;
    assert_eq!(s, 403);
    let (s, _) = call(&c, Some(APP), Method::GET, "/v1/kv?prefix=", None).await;
    assert_eq!(s, 403);
    let (s, page) = call(&c, Some(APP), Method::GET, "/v1/kv?prefix=app/", None).await;
    assert_eq!((s, page["items"].as_array().map(Vec::len)), (200, Some(1)));
    let (s, _) = call(&c, Some(APP), Method::GET, "/v1/audit", None).await;
    assert_eq!(s, 403);

    // Cluster-wide operations need admin.
    let (s, _) = call(&c, Some(APP), Method::POST, "/v1/compact", Some(json!({"retain": 0}))).await;
    assert_eq!(s, 403);
    let (s, _) = call(&c, Some(ROOT), Method::POST, "/v1/compact", Some(json!({"retain": 0}))).await;
    assert_eq!(s, 200);
    let (_, audit) = call(&c, Some(ROOT), Method::GET, "/v1/audit", None).await;
    assert!(audit["entries"].as_array().unwrap().iter().any(|e| e["actor"] == "app" && e["key"] == "app/db"));

    // Raft RPC without the peer token is refused.
    let (s, _) = c.send(c.raw().post(c.url("/raft/vote")).body(vec![0x80])).await;
    assert_eq!(s, 401);
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn nodes_authenticate_to_each_other_with_the_admin_token() {
    let dirs: Vec<_> = (0..2).map(|_| tempfile::tempdir().unwrap()).collect();
    let mut c1 = config(1, dirs[0].path());
    c1.tokens = tokens();
    let n1 = start(c1).await;
    wait_leader(&n1).await;
    let mut c2 = config(2, dirs[1].path());
    c2.tokens = tokens();
    c2.join = Some(n1.url().to_string());
    let n2 = start(c2).await;
    eventually(10, "two voters", || async { (n1.status().members.iter().filter(|m| m.voter).count() == 2).then_some(()) }).await;
    let c = Client::new(n2.url());
    let put = c.raw().put(c.url("/v1/kv/app/via-follower")).bearer_auth(APP).body("ok");
    let (s, res) = c.send(put).await;
    assert_eq!(s, 200, "{res}");
    let (_, got) = call(&Client::new(n1.url()), Some(READER), reqwest::Method::GET, "/v1/kv/app/via-follower", None).await;
    assert_eq!((got["value"].as_str(), got["author"].as_str()), (Some("ok"), Some("app")));
    n2.shutdown().await;
    n1.shutdown().await;
}

#[tokio::test]
async fn an_unprotected_admin_api_stays_on_loopback() {
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1, dir.path());
    cfg.admin_addr = "0.0.0.0:0".parse().unwrap();
    match ControlNode::start(cfg).await {
        Err(StartError::Config(message)) => assert!(message.contains("without access control"), "{message}"),
        Err(other) => panic!("unexpected error: {other}"),
        Ok(_) => panic!("an unprotected admin API must not start on 0.0.0.0"),
    }
}

/// Backup reads everything and restore replaces everything: both need an admin token without
/// a key prefix, and the restore's audit entry names the token.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn backup_and_restore_need_an_unscoped_admin() {
    use reqwest::Method;
    const SCOPED_ADMIN: &str = "scoped-admin-secret-0123456789";
    let dir = tempfile::tempdir().unwrap();
    let mut cfg = config(1, dir.path());
    cfg.tokens = tokens();
    cfg.tokens.push(Token { name: "ops".into(), secret: SCOPED_ADMIN.into(), role: Role::Admin, prefix: Some("app/".into()) });
    let node = start(cfg).await;
    wait_leader(&node).await;
    let c = Client::new(node.url());
    for secret in [READER, APP, SCOPED_ADMIN] {
        let (s, err) = call(&c, Some(secret), Method::GET, "/v1/backup", None).await;
        assert_eq!((s, err["error"]["code"].as_str()), (403, Some("forbidden")), "{err}");
        let (s, err) = call(&c, Some(secret), Method::POST, "/v1/restore?force=true", Some(json!({}))).await;
        assert_eq!((s, err["error"]["code"].as_str()), (403, Some("forbidden")), "{err}");
    }
    let backup = c.raw().get(c.url("/v1/backup")).bearer_auth(ROOT).send().await.unwrap();
    assert_eq!(backup.status(), 200);
    let file = backup.bytes().await.unwrap();
    let (s, res) = c.send(c.raw().post(c.url("/v1/restore")).bearer_auth(ROOT).body(file.to_vec())).await;
    assert_eq!(s, 200, "{res}");
    let (_, audit) = call(&c, Some(ROOT), Method::GET, "/v1/audit?from=1&limit=1000", None).await;
    let last = audit["entries"].as_array().unwrap().last().unwrap().clone();
    assert_eq!((last["op"].as_str(), last["actor"].as_str()), (Some("restore"), Some("root")), "{last}");
    node.shutdown().await;
}

/// The dashboard's page and assets load without a token (they hold no data); what it shows
/// comes from endpoints that need one: the history, the live stream and the rest of the API.
#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn the_dashboard_page_loads_without_a_token_and_its_data_needs_one() {
    let dir = tempfile::tempdir().unwrap();
    let (node, c) = start_with_tokens(dir.path()).await;
    for (path, kind) in [("/", "text/html"), ("/dashboard.js", "text/javascript"), ("/dashboard.css", "text/css")] {
        let resp = c.raw().get(c.url(path)).send().await.unwrap();
        assert_eq!(resp.status().as_u16(), 200, "{path}");
        let content_type = resp.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().to_string();
        assert!(content_type.starts_with(kind), "{path}: {content_type}");
        assert!(!resp.text().await.unwrap().is_empty(), "{path}");
    }
    for path in ["/v1/cluster/history", "/v1/dashboard/stream"] {
        let (s, _) = call(&c, None, reqwest::Method::GET, path, None).await;
        assert_eq!(s, 401, "{path}");
    }
    let (s, history) = call(&c, Some(READER), reqwest::Method::GET, "/v1/cluster/history", None).await;
    assert_eq!(s, 200);
    assert!(history["points"].is_array(), "{history}");
    // The stream sends a frame at once: map (none outside a cluster), alerts, revision.
    let resp = c.raw().get(c.url("/v1/dashboard/stream")).bearer_auth(READER).send().await.unwrap();
    assert_eq!(resp.status().as_u16(), 200);
    assert!(resp.headers()[reqwest::header::CONTENT_TYPE].to_str().unwrap().starts_with("text/event-stream"));
    let mut resp = resp;
    let mut seen = String::new();
    while !seen.contains("\n\n") {
        let chunk = tokio::time::timeout(std::time::Duration::from_secs(10), resp.chunk()).await.expect("a frame within 10 s");
        seen.push_str(&String::from_utf8_lossy(&chunk.unwrap().expect("stream open")));
    }
    assert!(seen.starts_with("event: frame\ndata: {"), "{seen}");
    assert!(seen.contains("\"alerts\":[]"), "{seen}");
    node.shutdown().await;
}
