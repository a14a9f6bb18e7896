//! `ferrocache server` with `--admin-tls-cert/--admin-tls-key` serves the admin API over HTTPS,
//! and the CLI reaches it with `--url https://...` and `--ca` (or `FERROCACHE_CA`); without the
//! CA, or over plain HTTP, the CLI says what to do. Unusable certificate files stop the server
//! with exit code 2 and a message naming the file.

mod common;
#[path = "../../control/tests/common/pki.rs"]
mod pki;

use std::process::{Command, Output, Stdio};

use common::{Node, TempDir, eventually, free_port};
use pki::Pki;

const BIN: &str = env!("CARGO_BIN_EXE_ferrocache");

/// Runs the CLI with the given environment; (exit code, stdout, stderr).
fn cli(args: &[&str], env: &[(&str, &str)]) -> (i32, String, String) {
    let mut cmd = Command::new(BIN);
    cmd.args(args).env_remove("FERROCACHE_URL").env_remove("FERROCACHE_CA").env_remove("FERROCACHE_TOKEN").stdin(Stdio::null());
    for (k, v) in env {
        cmd.env(k, v);
    }
    let Output { status, stdout, stderr } = cmd.output().unwrap();
    (status.code().unwrap_or(-1), String::from_utf8_lossy(&stdout).into_owned(), String::from_utf8_lossy(&stderr).into_owned())
}

fn tls_args(pki: &Pki) -> Vec<String> {
    [("--admin-tls-cert", &pki.cert), ("--admin-tls-key", &pki.key), ("--admin-tls-ca", &pki.ca)]
        .iter()
        .flat_map(|(flag, path)| [flag.to_string(), path.display().to_string()])
        .collect()
}

#[test]
fn cli_talks_to_a_tls_node() {
    let dir = TempDir::new("cli-tls");
    std::fs::create_dir_all(&dir.0).unwrap();
    let pki = Pki::generate(&dir.0);
    let ca = pki.ca.display().to_string();
    let port = free_port();
    let extra = tls_args(&pki);
    let _node = Node { port, child: common::spawn(port, &dir.0.join("data"), &extra.iter().map(String::as_str).collect::<Vec<_>>()) };
    let url = format!("https://127.0.0.1:{port}");

    eventually(20, "a leader over HTTPS", || {
        let (code, out, _) = cli(&["status", "--url", &url, "--ca", &ca, "--output", "json"], &[]);
        let status: serde_json::Value = serde_json::from_str(&out).ok()?;
        (code == 0 && status["leader"] == 1 && status["url"] == url.as_str()).then_some(())
    });
    let (code, _, err) = cli(&["config", "put", "app/tls", "over-https", "--url", &url, "--ca", &ca], &[]);
    assert_eq!(code, 0, "{err}");
    // The CA may come from the environment too.
    let (code, out, err) = cli(&["config", "get", "app/tls", "--output", "json"], &[("FERROCACHE_URL", &url), ("FERROCACHE_CA", &ca)]);
    assert_eq!(code, 0, "{err}");
    let got: serde_json::Value = serde_json::from_str(&out).unwrap();
    assert_eq!(got["value"], "over-https");

    // Without the CA the certificate is not trusted, and the message says how to fix that.
    let (code, _, err) = cli(&["config", "get", "app/tls", "--url", &url], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("--ca"), "{err}");
    // Plain HTTP to the TLS port is refused with a hint to use https.
    let plain = format!("http://127.0.0.1:{port}");
    let (code, _, err) = cli(&["config", "get", "app/tls", "--url", &plain], &[]);
    assert_eq!(code, 1);
    assert!(err.contains("HTTPS only") && err.contains("https://"), "{err}");
    // A CA file that does not exist is a usage error naming the file.
    let (code, _, err) = cli(&["status", "--url", &url, "--ca", "/nonexistent/ca.pem"], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/ca.pem"), "{err}");
}

#[test]
fn unusable_certificate_files_stop_the_server() {
    let dir = TempDir::new("cli-tls-bad");
    std::fs::create_dir_all(&dir.0).unwrap();
    let pki = Pki::generate(&dir.0);
    let port = free_port().to_string();
    let data = dir.0.join("data").display().to_string();
    let cert = pki.cert.display().to_string();
    let key = pki.key.display().to_string();
    let run = |cert: &str, key: &str| cli(&["server", "--port", "0", "--admin-port", &port, "--data-dir", &data, "--admin-tls-cert", cert, "--admin-tls-key", key], &[]);

    let (code, _, err) = run("/nonexistent/node.pem", &key);
    assert_eq!(code, 2);
    assert!(err.contains("/nonexistent/node.pem") && err.contains("--admin-tls-cert"), "{err}");
    let (code, _, err) = run(&cert, &cert);
    assert_eq!(code, 2);
    assert!(err.contains("no usable private key") && err.contains(&cert), "{err}");
    // The key alone is refused by the command line.
    let (code, _, err) = cli(&["server", "--port", "0", "--admin-tls-key", &key], &[]);
    assert_eq!(code, 2);
    assert!(err.contains("--admin-tls-cert"), "{err}");
    assert!(!dir.0.join("data").exists(), "a refused start must not create the data dir");
}
