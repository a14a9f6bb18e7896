//! `ferrocache server` starts the control plane beside the Redis server: the admin API answers,
//! a write survives `kill -9` and a restart, and unsafe or incomplete flags are refused.

mod common;

use std::process::Command;

use common::{Node, TempDir, eventually, free_port, get_json, http, spawn};

fn wait_for_leader(port: u16) {
    eventually(20, "the admin API and a leader", || get_json(port, "/v1/status").filter(|s| s["leader"] == 1));
}

#[test]
fn control_plane_runs_beside_the_server_and_survives_kill_9() {
    let dir = TempDir::new("cli-admin");
    let port = free_port();
    let mut node = Node { port, child: spawn(port, &dir.0, &[]) };
    wait_for_leader(port);
    assert_eq!(http(port, "PUT", "/v1/kv/app/greeting", "hello").map(|r| r.0), Some(200));
    node.kill();

    let _node = Node { port, child: spawn(port, &dir.0, &[]) };
    wait_for_leader(port);
    let got = get_json(port, "/v1/kv/app/greeting").expect("the value after restart");
    assert_eq!(got["value"], "hello");
}

#[test]
fn a_taken_admin_port_is_fatal_only_when_asked_for() {
    let dir = TempDir::new("cli-taken");
    std::fs::create_dir_all(&dir.0).unwrap();
    let busy = std::net::TcpListener::bind("127.0.0.1:0").unwrap();
    let port = busy.local_addr().unwrap().port().to_string();
    let out = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["server", "--port", "0", "--admin-port", &port, "--data-dir"])
        .arg(&dir.0)
        .output()
        .unwrap();
    assert_eq!(out.status.code(), Some(1));
    assert!(String::from_utf8_lossy(&out.stderr).contains("cannot listen on admin address"));

    // With no control-plane flag, a second server on the machine (default admin port taken)
    // still serves Redis clients.
    let _default_port = std::net::TcpListener::bind("127.0.0.1:7379"); // taken either way
    let mut child = Command::new(env!("CARGO_BIN_EXE_ferrocache"))
        .args(["server", "--port", "0"])
        .current_dir(&dir.0)
        .stdout(std::process::Stdio::null())
        .stderr(std::process::Stdio::null())
        .spawn()
        .unwrap();
    std::thread::sleep(std::time::Duration::from_millis(500));
    let still_running = child.try_wait().unwrap().is_none();
    let _ = child.kill();
    let _ = child.wait();
    assert!(still_running, "the server must not exit because the default admin port is taken");
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
