//! `ferrocache server` starts the control plane beside the Redis server: the admin API answers,
//! a write survives `kill -9` and a restart, and unsafe or incomplete flags are refused.

use std::io::{Read, Write};
use std::net::{TcpListener, TcpStream};
use std::path::{Path, PathBuf};
use std::process::{Child, Command, Stdio};
use std::time::{Duration, Instant};

fn free_port() -> u16 {
    TcpListener::bind("127.0.0.1:0").unwrap().local_addr().unwrap().port()
}

fn spawn(admin_port: u16, data_dir: &Path) -> Child {
    Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["server", "--port", "0", "--admin-port", &admin_port.to_string(), "--data-dir"])
        .arg(data_dir)
        .stdout(Stdio::null())
        .stderr(Stdio::null())
        .spawn()
        .unwrap()
}

/// One HTTP/1.1 request with `Connection: close`; returns (status, body).
fn http(port: u16, method: &str, path: &str, body: &str) -> Option<(u16, String)> {
    let mut stream = TcpStream::connect(("127.0.0.1", port)).ok()?;
    stream.set_read_timeout(Some(Duration::from_secs(10))).ok()?;
    let req = format!(
        "{method} {path} HTTP/1.1\r\nHost: localhost\r\nContent-Type: text/plain\r\nContent-Length: {}\r\nConnection: close\r\n\r\n{body}",
        body.len()
    );
    stream.write_all(req.as_bytes()).ok()?;
    let mut resp = String::new();
    stream.read_to_string(&mut resp).ok()?;
    let status = resp.split_whitespace().nth(1)?.parse().ok()?;
    let body = resp.split_once("\r\n\r\n").map(|(_, b)| b.to_string()).unwrap_or_default();
    Some((status, body))
}

fn wait_for_leader(port: u16) {
    let deadline = Instant::now() + Duration::from_secs(20);
    loop {
        if let Some((200, body)) = http(port, "GET", "/v1/status", "")
            && body.contains("\"leader\":1")
        {
            return;
        }
        assert!(Instant::now() < deadline, "admin API did not come up");
        std::thread::sleep(Duration::from_millis(100));
    }
}

struct TempDir(PathBuf);

impl Drop for TempDir {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

#[test]
fn control_plane_runs_beside_the_server_and_survives_kill_9() {
    let dir = TempDir(std::env::temp_dir().join(format!("ferrocache-cli-admin-{}", std::process::id())));
    let port = free_port();
    let mut child = spawn(port, &dir.0);
    wait_for_leader(port);
    assert_eq!(http(port, "PUT", "/v1/kv/app/greeting", "hello").map(|r| r.0), Some(200));
    child.kill().unwrap();
    child.wait().unwrap();

    let mut child = spawn(port, &dir.0);
    wait_for_leader(port);
    let (status, body) = http(port, "GET", "/v1/kv/app/greeting", "").unwrap();
    child.kill().unwrap();
    child.wait().unwrap();
    assert_eq!(status, 200, "{body}");
    assert!(body.contains("\"value\":\"hello\""), "{body}");
}

#[test]
fn unsafe_or_incomplete_admin_flags_are_refused() {
    let run = |args: &[&str]| {
        let out = Command::new(env!("CARGO_BIN_EXE_ferrocache")).arg("server").args(args).output().unwrap();
        (out.status.code(), String::from_utf8_lossy(&out.stderr).to_string())
    };
    let (code, err) = run(&["--port", "0", "--admin-bind", "0.0.0.0"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("no access control"), "{err}");
    let (code, err) = run(&["--port", "0", "--admin-bind", "0.0.0.0", "--token-file", "/nonexistent/tokens.toml"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("cannot read token file"), "{err}");
    let (code, err) = run(&["--port", "0", "--join", "http://127.0.0.1:1"]);
    assert_eq!(code, Some(2));
    assert!(err.contains("--node-id"), "{err}");
}
