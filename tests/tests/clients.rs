//! Real clients against the real `ferrocache` binary: `redis-cli`
//! (commands and `--pipe` mass insertion), Python's `redis`, the Rust
//! `redis` crate; and the process's graceful shutdown (SIGTERM, SHUTDOWN).

use std::process::Command;
use std::time::Duration;

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{run_bounded, ProcessServer};
use redis::Commands;

/// How long an external client may run.
const CLIENT_LIMIT: Duration = Duration::from_secs(60);

/// Runs `redis-cli -p PORT args...` and returns its stdout, trimmed.
fn redis_cli(server: &ProcessServer, args: &[&str]) -> String {
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &server.port().to_string()]).args(args);
    let out = run_bounded(cmd, b"", CLIENT_LIMIT);
    assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
    String::from_utf8_lossy(&out.stdout).trim_end().to_string()
}

#[test]
fn redis_cli_commands() {
    let server = ProcessServer::start();
    assert_eq!(redis_cli(&server, &["SET", "greeting", "hello world"]), "OK");
    assert_eq!(redis_cli(&server, &["GET", "greeting"]), "hello world");
    assert_eq!(redis_cli(&server, &["GET", "missing"]), "");
    assert_eq!(redis_cli(&server, &["INCR", "counter"]), "1");
    assert_eq!(redis_cli(&server, &["INCR", "counter"]), "2");
}

/// The mass-insertion protocol file `redis-cli --pipe` reads: `n` SETs.
fn mass_insert(n: usize) -> Vec<u8> {
    let mut out = Vec::new();
    for i in 0..n {
        let (key, value) = (format!("key:{i}"), format!("value:{i}"));
        out.extend_from_slice(&ferrocache_e2e::Frame::command(&[b"SET", key.as_bytes(), value.as_bytes()]));
    }
    out
}

#[test]
fn redis_cli_pipe_mass_insert() {
    let server = ProcessServer::start();
    let mut cmd = Command::new("redis-cli");
    cmd.args(["-h", "127.0.0.1", "-p", &server.port().to_string(), "--pipe"]);
    let out = run_bounded(cmd, &mass_insert(10_000), CLIENT_LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    assert!(out.status.success(), "{out:?}");
    assert!(stdout.contains("errors: 0, replies: 10000"), "redis-cli --pipe said: {stdout}");
    let mut c = server.conn();
    assert_eq!(c.cmd(&["GET", "key:9999"]), bulk("value:9999"));
    assert_eq!(c.cmd(&["DBSIZE"]), int(10_000));
}

/// Set/get, a pipeline and a transaction with redis-py.
const PYTHON_SCRIPT: &str = r#"
import sys
try:
    import redis
except ImportError:
    print("python module 'redis' is missing: pip install redis (scripts/test.sh installs it)")
    sys.exit(3)
r = redis.Redis(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
assert r.ping() is True
assert r.set("py:a", "1") is True
assert r.get("py:a") == b"1", r.get("py:a")
assert r.get("py:none") is None
p = r.pipeline(transaction=False)
p.set("py:b", "2").get("py:b").delete("py:a").get("py:a")
assert p.execute() == [True, b"2", 1, None]
t = r.pipeline(transaction=True)
t.set("py:c", "3").get("py:c")
assert t.execute() == [True, b"3"]
print("python ok")
"#;

#[test]
fn python_redis_client() {
    let server = ProcessServer::start();
    let mut cmd = Command::new("python3");
    cmd.args(["-c", PYTHON_SCRIPT, &server.port().to_string()]);
    let out = run_bounded(cmd, b"", CLIENT_LIMIT);
    let stdout = String::from_utf8_lossy(&out.stdout);
    let stderr = String::from_utf8_lossy(&out.stderr);
    assert_ne!(out.status.code(), Some(3), "{stdout}");
    assert!(out.status.success() && stdout.contains("python ok"), "python client failed:\n{stdout}\n{stderr}");
}

#[test]
fn rust_redis_crate_client() -> redis::RedisResult<()> {
    let server = ProcessServer::start();
    let client = redis::Client::open(format!("redis://127.0.0.1:{}/", server.port()))?;
    let mut con = client.get_connection_with_timeout(Duration::from_secs(10))?;
    con.set_read_timeout(Some(Duration::from_secs(10)))?;
    let () = con.set("rs:a", "1")?;
    let a: String = con.get("rs:a")?;
    assert_eq!(a, "1");
    let none: Option<String> = con.get("rs:none")?;
    assert_eq!(none, None);

    let (b, deleted, gone): (String, i64, Option<String>) =
        redis::pipe().set("rs:b", "2").ignore().get("rs:b").del("rs:a").get("rs:a").query(&mut con)?;
    assert_eq!((b.as_str(), deleted, gone), ("2", 1, None));

    let (c,): (String,) = redis::pipe().atomic().set("rs:c", "3").ignore().get("rs:c").query(&mut con)?;
    assert_eq!(c, "3");
    Ok(())
}

#[test]
fn sigterm_shuts_down_gracefully() {
    let mut server = ProcessServer::start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    server.terminate();
    let status = server.wait_exit(Duration::from_secs(5)).expect("exits within 5 s of SIGTERM");
    assert!(status.success(), "exit status {status:?}");
    assert!(c.is_closed(), "client connection closed at shutdown");
}

#[test]
fn shutdown_command_exits_the_process() {
    let mut server = ProcessServer::start();
    let mut c = server.conn();
    c.send(&["SHUTDOWN"]);
    assert!(c.is_closed(), "SHUTDOWN closes the connection without a reply");
    let status = server.wait_exit(Duration::from_secs(5)).expect("exits within 5 s of SHUTDOWN");
    assert!(status.success(), "exit status {status:?}");
}
