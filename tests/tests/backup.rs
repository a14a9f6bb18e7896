//! Backup and restore of the control plane, end to end: `ferrocache backup save` from a
//! three-member control plane, `ferrocache backup restore` into a separate fresh node, and the
//! refusals (a damaged or edited file, a node that holds data without `--force`, a token
//! without the admin role), through the real binary and the real HTTP API.

use std::io::{Read, Write};
use std::net::TcpStream;
use std::path::{Path, PathBuf};
use std::process::{Command, Output};
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::Duration;

use ferrocache_e2e::cluster::{text, LocalCluster};
use ferrocache_e2e::{ferrocache_bin, free_port, run_bounded, ProcessServer};
use serde_json::Value;

/// How long one CLI command may run.
const CLI_LIMIT: Duration = Duration::from_secs(60);

/// A directory under the temp dir, removed when dropped (a failing test included).
struct Scratch(PathBuf);

impl Scratch {
    fn new() -> Scratch {
        static COUNT: AtomicUsize = AtomicUsize::new(0);
        let n = COUNT.fetch_add(1, Ordering::Relaxed);
        let dir = std::env::temp_dir().join(format!("ferrocache-e2e-backup-{}-{n}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        std::fs::create_dir_all(&dir).expect("create the test dir");
        Scratch(dir)
    }

    fn file(&self, name: &str) -> PathBuf {
        self.0.join(name)
    }
}

impl Drop for Scratch {
    fn drop(&mut self) {
        let _ = std::fs::remove_dir_all(&self.0);
    }
}

/// A node that is not in cluster mode, its control plane a single voter of its own, with its
/// data dir and the test's files in a scratch dir. Fields drop in order: the process stops
/// (SIGTERM, then SIGKILL) before its directory goes.
struct Standalone {
    _server: ProcessServer,
    url: String,
    dir: Scratch,
}

impl Standalone {
    fn start(extra: &[&str]) -> Standalone {
        let dir = Scratch::new();
        let admin = free_port().to_string();
        let data = dir.file("data");
        let args = [&["--admin-port", &admin, "--data-dir", data.to_str().unwrap()], extra].concat();
        let server = ProcessServer::start_with(&args);
        Standalone { _server: server, url: format!("http://127.0.0.1:{admin}"), dir }
    }

    fn file(&self, name: &str) -> PathBuf {
        self.dir.file(name)
    }
}

/// Runs `ferrocache ARGS... --url URL` (bounded).
fn cli(url: &str, args: &[&str]) -> Output {
    let mut cmd = Command::new(ferrocache_bin());
    cmd.args(args).args(["--url", url]);
    run_bounded(cmd, b"", CLI_LIMIT)
}

/// Runs a CLI command that must succeed and returns its standard output.
fn ok(url: &str, args: &[&str]) -> String {
    let out = cli(url, args);
    assert!(out.status.success(), "ferrocache {args:?} failed: {}", text(&out));
    String::from_utf8_lossy(&out.stdout).into_owned()
}

/// A CLI command's `--output json` answer.
fn json(url: &str, args: &[&str]) -> Value {
    let out = ok(url, &[args, &["--output", "json"]].concat());
    serde_json::from_str(&out).unwrap_or_else(|e| panic!("ferrocache {args:?}: {e}: {out}"))
}

/// Runs a CLI command that must fail with exit code 1 and returns its message.
fn refused(url: &str, args: &[&str]) -> String {
    let out = cli(url, args);
    assert_eq!(out.status.code(), Some(1), "ferrocache {args:?} should fail: {}", text(&out));
    String::from_utf8_lossy(&out.stderr).into_owned()
}

/// One plain HTTP/1.1 request to the admin API (status and body), bypassing the CLI's own checks.
fn http(url: &str, method: &str, path: &str, token: Option<&str>, body: &[u8]) -> (u16, String) {
    let host = url.trim_start_matches("http://");
    let mut stream = TcpStream::connect(host).expect("connect to the admin port");
    stream.set_read_timeout(Some(Duration::from_secs(30))).unwrap();
    let auth = token.map(|t| format!("Authorization: Bearer {t}\r\n")).unwrap_or_default();
    let head = format!(
        "{method} {path} HTTP/1.1\r\nHost: {host}\r\nConnection: close\r\nContent-Type: application/json\r\nContent-Length: {}\r\n{auth}\r\n",
        body.len()
    );
    stream.write_all(head.as_bytes()).and_then(|()| stream.write_all(body)).expect("send the request");
    let mut answer = Vec::new();
    stream.read_to_end(&mut answer).expect("read the answer");
    let answer = String::from_utf8_lossy(&answer).into_owned();
    let status = answer.split(' ').nth(1).and_then(|s| s.parse().ok()).unwrap_or(0);
    let body = answer.split_once("\r\n\r\n").map_or("", |(_, b)| b).to_string();
    (status, body)
}

/// A `ferrocache config watch --prefix PREFIX --from REVISION` process whose output lines are
/// read as they come; killed if still running when dropped.
struct Watcher {
    child: std::process::Child,
    lines: std::sync::mpsc::Receiver<String>,
}

impl Watcher {
    fn start(url: &str, prefix: &str, from: u64) -> Watcher {
        let mut child = Command::new(ferrocache_bin())
            .args(["config", "watch", "--prefix", prefix, "--from", &from.to_string(), "--url", url])
            .stdin(std::process::Stdio::null())
            .stdout(std::process::Stdio::piped())
            .stderr(std::process::Stdio::piped())
            .spawn()
            .expect("run ferrocache config watch");
        let stdout = child.stdout.take().expect("piped stdout");
        let (tx, lines) = std::sync::mpsc::channel();
        std::thread::spawn(move || {
            use std::io::BufRead;
            for line in std::io::BufReader::new(stdout).lines().map_while(Result::ok) {
                if tx.send(line).is_err() {
                    return;
                }
            }
        });
        Watcher { child, lines }
    }

    /// The next line the watch prints.
    fn line(&self) -> String {
        self.lines.recv_timeout(CLI_LIMIT).expect("a line from the watch")
    }

    /// Waits for the watch to end; its exit code and standard error.
    fn exit(&mut self) -> (Option<i32>, String) {
        let deadline = std::time::Instant::now() + CLI_LIMIT;
        while self.child.try_wait().expect("wait for the watch").is_none() {
            assert!(std::time::Instant::now() < deadline, "the watch did not end");
            std::thread::sleep(Duration::from_millis(50));
        }
        let mut err = String::new();
        if let Some(mut stderr) = self.child.stderr.take() {
            let _ = stderr.read_to_string(&mut err);
        }
        (self.child.wait().ok().and_then(|s| s.code()), err)
    }
}

impl Drop for Watcher {
    fn drop(&mut self) {
        let _ = self.child.kill();
        let _ = self.child.wait();
    }
}

fn revision(url: &str) -> u64 {
    json(url, &["status"])["revision"].as_u64().expect("a revision")
}

/// Writes `file` with `edit` applied to the text of `original`.
fn tampered(original: &Path, file: &Path, edit: impl FnOnce(String) -> String) {
    let text = std::fs::read_to_string(original).expect("read the backup");
    let changed = edit(text.clone());
    assert_ne!(changed, text, "the edit must change the file");
    std::fs::write(file, changed).expect("write the tampered copy");
}

/// Changes one character in the middle of the base64 content (still valid base64).
fn flip_content(text: String) -> String {
    let start = text.find("\"content\": \"").expect("a content field") + "\"content\": \"".len();
    let end = start + text[start..].find('"').expect("the content's end");
    let at = start + (end - start) / 2;
    let replacement = if &text[at..at + 1] == "A" { "B" } else { "A" };
    format!("{}{replacement}{}", &text[..at], &text[at + 1..])
}

#[test]
fn a_backup_of_a_three_member_control_plane_restores_into_a_fresh_node() {
    let cluster = LocalCluster::create(3, 0);
    let (leader_side, other) = (cluster.admin_url(0), cluster.admin_url(1));
    let members = json(&leader_side, &["members", "list"]);
    let voters = members.as_array().expect("members").iter().filter(|m| m["voter"] == true).count();
    assert_eq!(voters, 3, "{members}");
    // Config with history: versions, a schema and a value under it, a deletion and a rollback.
    for v in ["v1", "v2", "v3"] {
        ok(&other, &["config", "put", "app/db/url", &format!("postgres://db-{v}")]);
    }
    let schema = r#"{"type": "object", "required": ["port"], "properties": {"port": {"type": "integer"}}}"#;
    ok(&leader_side, &["config", "put", "_schema/app/svc/", schema, "--type", "json"]);
    ok(&leader_side, &["config", "put", "app/svc/api", r#"{"port": 8080}"#, "--type", "json"]);
    ok(&leader_side, &["config", "put", "app/tmp", "gone soon"]);
    ok(&leader_side, &["config", "delete", "app/tmp"]);
    let first = json(&leader_side, &["config", "history", "app/db/url"])["versions"][0]["mod_revision"].as_u64().unwrap();
    ok(&leader_side, &["config", "rollback", "app/db/url", "--to", &first.to_string(), "--yes"]);

    // Saved through a follower; the file checks out offline.
    let fresh = Standalone::start(&[]);
    let file = fresh.file("cp.json");
    let saved = json(&other, &["backup", "save", file.to_str().unwrap()]);
    let backup_rev = saved["meta"]["revision"].as_u64().unwrap();
    assert!(backup_rev > first, "{saved}");
    let inspect = ok(&fresh.url, &["backup", "inspect", file.to_str().unwrap()]);
    assert!(inspect.contains(&format!("revision:       {backup_rev}")) && inspect.contains("chain verified"), "{inspect}");

    // Restored into a separate fresh node: same values, history and revisions; audit verifies.
    // (The fresh node's failover controller may then mark the map's nodes down — their liveness
    // did not come along and they do not renew with this node — so the map can gain versions
    // after the restore, and revisions after it are compared as "above", not exactly.)
    let restored = json(&fresh.url, &["backup", "restore", file.to_str().unwrap()]);
    assert_eq!(restored["backup_revision"].as_u64(), Some(backup_rev), "{restored}");
    let restore_rev = restored["revision"].as_u64().unwrap();
    assert_eq!(restore_rev, backup_rev + 1, "{restored}");
    for key in ["app/db/url", "_schema/app/svc/", "app/svc/api", "app/tmp", "cluster/map"] {
        let source = versions_up_to(&json(&leader_side, &["config", "history", key]), backup_rev);
        let copy = versions_up_to(&json(&fresh.url, &["config", "history", key]), restore_rev);
        assert!(!source.is_empty(), "{key} has history");
        assert_eq!(copy, source, "history of {key}");
    }
    let db = json(&fresh.url, &["config", "get", "app/db/url"]);
    assert_eq!(db["value"].as_str(), Some("postgres://db-v1"), "{db}");
    assert_eq!(db["version"].as_u64(), Some(4), "{db}");
    // The source's liveness keys belonged to its processes: they end at the restore.
    let alive = json(&fresh.url, &["config", "list", "cluster/alive/"]);
    assert_eq!(alive["items"].as_array().map(Vec::len), Some(0), "{alive}");
    let restore_entry = audit_entry_at(&fresh.url, restore_rev);
    assert_eq!(restore_entry["op"].as_str(), Some("restore"), "{restore_entry}");
    assert_eq!(restore_entry["key"].as_str(), Some(format!("backup/revision/{backup_rev}").as_str()), "{restore_entry}");
    assert_eq!(restore_entry["new_checksum"], saved["checksum"], "{restore_entry}");
    // The schema came along and is enforced; writes go on above the restore revision.
    let err = refused(&fresh.url, &["config", "put", "app/svc/web", r#"{"port": "eighty"}"#, "--type", "json"]);
    assert!(err.contains("port"), "{err}");
    let put = json(&fresh.url, &["config", "put", "app/svc/web", r#"{"port": 80}"#, "--type", "json"]);
    assert!(put["revision"].as_u64().unwrap() > restore_rev, "{put}");

    // The fresh node holds data now: a second restore needs --force, and changes nothing without.
    let app_before = json(&fresh.url, &["config", "list", "app/"])["items"].clone();
    let err = refused(&fresh.url, &["backup", "restore", file.to_str().unwrap()]);
    assert!(err.contains("already holds data") && err.contains("--force"), "{err}");
    assert_eq!(json(&fresh.url, &["config", "list", "app/"])["items"], app_before);
    // A watcher open across the forced restore is told the state was replaced, and from where
    // (it starts at the next revision, so it sees the put below however late it connects).
    let mut watcher = Watcher::start(&fresh.url, "app/", revision(&fresh.url) + 1);
    let ping = json(&fresh.url, &["config", "put", "app/ping", "1"]);
    assert!(watcher.line().contains("app/ping"), "the watch is established");
    let again = json(&fresh.url, &["backup", "restore", file.to_str().unwrap(), "--force"]);
    let forced_rev = again["revision"].as_u64().unwrap();
    assert!(forced_rev > ping["revision"].as_u64().unwrap(), "the revision never goes back: {again} after {ping}");
    let (code, err) = watcher.exit();
    assert_eq!(code, Some(1), "{err}");
    assert!(err.contains(&format!("compacted, resync from revision {}", forced_rev + 1)), "{err}");
    let gone = cli(&fresh.url, &["config", "get", "app/svc/web"]);
    assert!(!gone.status.success(), "a forced restore replaces what was written since");
    assert_eq!(audit_entry_at(&fresh.url, forced_rev)["op"].as_str(), Some("restore"));
}

/// The versions in a `config history` answer written at or before `revision`.
fn versions_up_to(history: &Value, revision: u64) -> Vec<Value> {
    let versions = history["versions"].as_array().expect("versions");
    versions.iter().filter(|v| v["mod_revision"].as_u64().is_some_and(|r| r <= revision)).cloned().collect()
}

/// The audit entry that took `revision` on the node at `url`, after checking the whole chain.
fn audit_entry_at(url: &str, revision: u64) -> Value {
    let chain = json(url, &["audit", "verify"]);
    assert_eq!(chain["ok"], true, "{chain}");
    let last = chain["compacted"].as_u64().unwrap() + chain["entries"].as_u64().unwrap();
    let from = last.saturating_sub(50).max(1).to_string();
    let page = json(url, &["audit", "list", "--from", &from, "--limit", "1000"]);
    let entries = page["entries"].as_array().expect("audit entries");
    entries.iter().find(|e| e["revision"].as_u64() == Some(revision)).cloned().unwrap_or_else(|| panic!("no audit entry at revision {revision}: {page}"))
}

#[test]
fn damaged_files_foreign_versions_and_non_admin_tokens_are_refused() {
    let scratch = Scratch::new();
    let tokens = scratch.file("tokens.toml");
    let (admin, writer) = ("backup-admin-secret-0123456789", "backup-writer-secret-0123456789");
    std::fs::write(
        &tokens,
        format!(
            "[[token]]\nname = \"root\"\nsecret = \"{admin}\"\nrole = \"admin\"\n\n\
             [[token]]\nname = \"deployer\"\nsecret = \"{writer}\"\nrole = \"write\"\n"
        ),
    )
    .unwrap();
    let node = Standalone::start(&["--token-file", tokens.to_str().unwrap()]);
    let url = node.url.clone();
    let with_token = |token: &str, args: &[&str]| cli(&url, &[args, &["--token", token]].concat());
    let out = with_token(admin, &["config", "put", "app/x", "1"]);
    assert!(out.status.success(), "{}", text(&out));

    // Backup and restore need the admin role.
    let (status, body) = http(&url, "GET", "/v1/backup", Some(writer), b"");
    assert_eq!(status, 403, "{body}");
    let file = node.file("b.json");
    let out = with_token(writer, &["backup", "save", file.to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(String::from_utf8_lossy(&out.stderr).contains("needs admin"), "{}", text(&out));
    assert!(!file.exists(), "nothing is written when the backup fails");
    let out = with_token(admin, &["backup", "save", file.to_str().unwrap()]);
    assert!(out.status.success(), "{}", text(&out));
    let good = std::fs::read(&file).unwrap();
    let (status, body) = http(&url, "POST", "/v1/restore?force=true", Some(writer), &good);
    assert_eq!(status, 403, "{body}");

    // A file edited in its content or its metadata is refused, by the CLI and by the node.
    let before = json(&url, &["status", "--token", admin])["revision"].as_u64().unwrap();
    let edited_content = node.file("content.json");
    tampered(&file, &edited_content, flip_content);
    let edited_meta = node.file("meta.json");
    tampered(&file, &edited_meta, |t| t.replacen("\"created_at_ms\": 1", "\"created_at_ms\": 2", 1));
    for bad in [&edited_content, &edited_meta] {
        let out = with_token(admin, &["backup", "restore", bad.to_str().unwrap(), "--force"]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        assert!(String::from_utf8_lossy(&out.stderr).contains("checksum does not match"), "{}", text(&out));
        let out = with_token(admin, &["backup", "inspect", bad.to_str().unwrap()]);
        assert_eq!(out.status.code(), Some(1), "{}", text(&out));
        let (status, body) = http(&url, "POST", "/v1/restore?force=true", Some(admin), &std::fs::read(bad).unwrap());
        assert_eq!(status, 400, "{body}");
        assert!(body.contains("invalid_backup") && body.contains("checksum does not match"), "{body}");
    }
    // An unknown format version, and something that is not a backup at all.
    let future = String::from_utf8(good.clone()).unwrap().replacen("\"format_version\": 1", "\"format_version\": 9", 1);
    let (status, body) = http(&url, "POST", "/v1/restore?force=true", Some(admin), future.as_bytes());
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("format version 9 is not supported"), "{body}");
    let (status, body) = http(&url, "POST", "/v1/restore?force=true", Some(admin), br#"{"items": []}"#);
    assert_eq!(status, 400, "{body}");
    assert!(body.contains("not a Ferrocache backup"), "{body}");
    let out = with_token(admin, &["backup", "restore", node.file("missing.json").to_str().unwrap()]);
    assert_eq!(out.status.code(), Some(2), "a missing file is a usage error: {}", text(&out));
    assert_eq!(json(&url, &["status", "--token", admin])["revision"].as_u64(), Some(before), "nothing was restored");

    // The intact file restores (over the node's own data, so with --force).
    let out = with_token(admin, &["backup", "restore", file.to_str().unwrap(), "--force"]);
    assert!(out.status.success(), "{}", text(&out));
}
