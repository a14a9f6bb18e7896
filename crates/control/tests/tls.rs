//! TLS on the admin port: a node with a certificate serves HTTPS only, the typed client reaches
//! it when it trusts the CA, three TLS nodes replicate (Raft RPC, join and forwarding over
//! HTTPS), plain HTTP is refused, and unusable certificate files stop the start with a message
//! that names the file.

mod common;
#[path = "common/pki.rs"]
mod pki;

use common::{config, eventually, start, wait_leader};
use ferrocache_control::client::{Client, ClientError, PutOptions};
use ferrocache_control::{ControlHandle, ControlNode, StartError, TlsFiles};
use pki::Pki;

fn tls_config(id: u64, dir: &std::path::Path, pki: &Pki) -> ferrocache_control::ControlConfig {
    let mut config = config(id, dir);
    config.tls = Some(pki.files());
    config
}

fn client(node: &ControlHandle, pki: &Pki) -> Client {
    Client::with_ca(node.url(), None, Some(&pki.ca)).unwrap()
}

async fn put_text(client: &Client, key: &str, value: &str) -> Result<u64, ClientError> {
    client.put(key, value.as_bytes().to_vec(), &PutOptions::default()).await.map(|r| r.revision)
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn single_node_serves_https_only() {
    let certs = tempfile::tempdir().unwrap();
    let pki = Pki::generate(certs.path());
    let data = tempfile::tempdir().unwrap();
    let node = start(tls_config(1, data.path(), &pki)).await;
    wait_leader(&node).await;
    assert!(node.url().starts_with("https://127.0.0.1:"), "{}", node.url());

    let secure = client(&node, &pki);
    let revision = put_text(&secure, "app/tls", "secret").await.unwrap();
    let got = secure.get("app/tls", None).await.unwrap();
    assert_eq!((got.value.as_deref(), got.mod_revision), (Some("secret"), revision));

    // Plain HTTP to the TLS port gets a JSON answer saying to use https.
    let plain_url = node.url().replacen("https://", "http://", 1);
    let plain = Client::new(&plain_url, None).unwrap();
    match plain.get("app/tls", None).await {
        Err(ClientError::Api(e)) => assert_eq!(e.code, "tls_required", "{e:?}"),
        other => panic!("plain HTTP to a TLS port must fail with tls_required, got {other:?}"),
    }
    let raw = reqwest::get(format!("{plain_url}/v1/kv/app/tls")).await.unwrap();
    assert_eq!(raw.status(), 400);
    assert!(raw.text().await.unwrap().contains("https://"));

    // A client that does not trust the private CA refuses the node's certificate.
    let untrusting = Client::new(node.url(), None).unwrap();
    match untrusting.get("app/tls", None).await {
        Err(ClientError::Unreachable { reason, .. }) => assert!(reason.contains("certificate"), "{reason}"),
        other => panic!("an untrusted certificate must be refused, got {other:?}"),
    }
    // Nor does one that trusts another CA.
    let other_certs = tempfile::tempdir().unwrap();
    let other = Pki::generate(other_certs.path());
    let wrong_ca = Client::with_ca(node.url(), None, Some(&other.ca)).unwrap();
    assert!(matches!(wrong_ca.status().await, Err(ClientError::Unreachable { .. })));
    node.shutdown().await;
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn three_tls_nodes_replicate() {
    let certs = tempfile::tempdir().unwrap();
    let pki = Pki::generate(certs.path());
    let dirs: Vec<_> = (0..3).map(|_| tempfile::tempdir().unwrap()).collect();
    let n1 = start(tls_config(1, dirs[0].path(), &pki)).await;
    wait_leader(&n1).await;
    let mut nodes = vec![n1];
    for id in 2..=3 {
        let mut c = tls_config(id, dirs[id as usize - 1].path(), &pki);
        c.join = Some(nodes[0].url().to_string());
        nodes.push(start(c).await);
    }
    eventually(15, "three voters", || async {
        let m = nodes[0].status().members;
        (m.len() == 3 && m.iter().all(|m| m.voter && m.url.starts_with("https://"))).then_some(())
    })
    .await;

    // Writes through every node (followers forward to the leader over HTTPS).
    let clients: Vec<Client> = nodes.iter().map(|n| client(n, &pki)).collect();
    let mut revisions = Vec::new();
    for (i, c) in clients.iter().enumerate() {
        revisions.push(put_text(c, &format!("tls/{i}"), &format!("v{i}")).await.unwrap());
    }
    assert!(revisions.windows(2).all(|w| w[0] < w[1]), "{revisions:?}");
    // Every node holds every write in its own copy (stale local reads).
    for node in &nodes {
        eventually(10, "replicated writes", || async {
            let applied = node.status().revision;
            (applied >= revisions[2]).then_some(())
        })
        .await;
    }
    for c in &clients {
        for i in 0..3 {
            assert_eq!(c.get(&format!("tls/{i}"), None).await.unwrap().value, Some(format!("v{i}")));
        }
    }
    for node in nodes {
        node.shutdown().await;
    }
}

async fn start_error(files: TlsFiles) -> String {
    let data = tempfile::tempdir().unwrap();
    let mut c = config(1, data.path());
    c.tls = Some(files);
    match ControlNode::start(c).await {
        Err(e @ StartError::Tls(_)) => e.to_string(),
        Err(e) => panic!("expected a TLS error, got {e}"),
        Ok(_) => panic!("a node with unusable certificate files started"),
    }
}

#[tokio::test(flavor = "multi_thread", worker_threads = 2)]
async fn unusable_certificate_files_stop_the_start() {
    let certs = tempfile::tempdir().unwrap();
    let pki = Pki::generate(certs.path());
    let missing = certs.path().join("missing.pem");

    let err = start_error(TlsFiles { cert: missing.clone(), ..pki.files() }).await;
    assert!(err.contains(&missing.display().to_string()) && err.contains("cannot read the certificate"), "{err}");

    let err = start_error(TlsFiles { key: missing.clone(), ..pki.files() }).await;
    assert!(err.contains(&missing.display().to_string()) && err.contains("private key"), "{err}");

    let err = start_error(TlsFiles { ca: Some(missing.clone()), ..pki.files() }).await;
    assert!(err.contains(&missing.display().to_string()) && err.contains("CA file"), "{err}");

    // A key file given as the certificate: no certificate in it.
    let err = start_error(TlsFiles { cert: pki.key.clone(), ..pki.files() }).await;
    assert!(err.contains("holds no certificate"), "{err}");

    // A certificate given as the key.
    let err = start_error(TlsFiles { key: pki.cert.clone(), ..pki.files() }).await;
    assert!(err.contains("no usable private key"), "{err}");

    // Another certificate's key.
    let other_certs = tempfile::tempdir().unwrap();
    let other = Pki::generate(other_certs.path());
    let err = start_error(TlsFiles { key: other.key.clone(), ..pki.files() }).await;
    assert!(err.contains("does not fit the certificate"), "{err}");
}
