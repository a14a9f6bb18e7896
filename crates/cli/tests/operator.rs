//! The operator CLI end to end: each test starts a real `ferrocache server` (free ports, a temp
//! data dir, killed at the end) and runs `ferrocache config|lease|lock|audit|members|status`
//! against it, checking output, exit codes and what the server holds afterwards.

mod common;

use std::io::{BufRead, BufReader};
use std::process::{Child, Command, Output, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use common::{Node, TempDir, eventually, free_port, get_json, spawn};
use serde_json::Value;

const BIN: &str = env!("CARGO_BIN_EXE_ferrocache");

/// A one-node control plane.
struct Plane {
    node: Node,
    url: String,
    /// The bearer token the CLI sends (`FERROCACHE_TOKEN`), if the node has tokens.
    token: Option<String>,
    dir: TempDir,
}

impl Plane {
    fn start(name: &str) -> Plane {
        Plane::start_with(name, None)
    }

    /// A node with the given token file (TOML) whose first secret the CLI uses.
    fn start_with(name: &str, tokens: Option<&str>) -> Plane {
        let dir = TempDir::new(name);
        std::fs::create_dir_all(&dir.0).unwrap();
        let mut extra = Vec::new();
        let mut token = None;
        if let Some(toml) = tokens {
            let path = dir.0.join("tokens.toml");
            std::fs::write(&path, toml).unwrap();
            extra = vec!["--token-file".to_string(), path.display().to_string()];
            let secret = toml.lines().find_map(|l| l.strip_prefix("secret = ")).unwrap();
            token = Some(secret.trim_matches('"').to_string());
        }
        let port = free_port();
        let extra: Vec<&str> = extra.iter().map(String::as_str).collect();
        let node = Node { port, child: spawn(port, &dir.0.join("data"), &extra) };
        let plane = Plane { node, url: format!("http://127.0.0.1:{port}"), token, dir };
        plane.wait_for_leader();
        plane
    }

    fn wait_for_leader(&self) {
        eventually(20, "a leader", || {
            let run = self.run(&["status", "--output", "json"]);
            let status: Value = serde_json::from_str(&run.stdout).ok()?;
            (status["leader"] == 1).then_some(())
        });
    }

    /// kill -9 and start again on the same port and data.
    fn restart(&mut self) {
        self.node.kill();
        self.node.child = spawn(self.node.port, &self.dir.0.join("data"), &[]);
        self.wait_for_leader();
    }

    fn command(&self, args: &[&str]) -> Command {
        let mut cmd = Command::new(BIN);
        cmd.args(args).env("FERROCACHE_URL", &self.url).env_remove("FERROCACHE_TOKEN");
        if let Some(token) = &self.token {
            cmd.env("FERROCACHE_TOKEN", token);
        }
        cmd
    }

    /// Runs the CLI to its end (at most 20 s) with no standard input.
    fn run(&self, args: &[&str]) -> Run {
        finish(self.command(args).stdin(Stdio::null()).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap())
    }

    /// Runs the CLI and expects exit code 0.
    fn ok(&self, args: &[&str]) -> String {
        let run = self.run(args);
        assert_eq!(run.code, 0, "{args:?} failed: {}", run.stderr);
        run.stdout
    }

    /// Runs the CLI with `--output json` and parses what it prints.
    fn json(&self, args: &[&str]) -> Value {
        let args: Vec<&str> = args.iter().copied().chain(["--output", "json"]).collect();
        let out = self.ok(&args);
        serde_json::from_str(&out).unwrap_or_else(|e| panic!("{args:?} printed no JSON ({e}): {out}"))
    }

    /// Writes a file in the node's temp dir and returns its path.
    fn file(&self, name: &str, text: &str) -> String {
        let path = self.dir.0.join(name);
        std::fs::write(&path, text).unwrap();
        path.display().to_string()
    }

    /// GETs an API document (nodes without tokens only).
    fn get(&self, path: &str) -> Value {
        get_json(self.node.port, path).unwrap_or_else(|| panic!("GET {path} failed"))
    }
}

struct Run {
    code: i32,
    stdout: String,
    stderr: String,
}

/// Waits (bounded) for a child whose output is piped.
fn finish(mut child: Child) -> Run {
    let deadline = Instant::now() + Duration::from_secs(20);
    while child.try_wait().unwrap().is_none() {
        if Instant::now() > deadline {
            let _ = child.kill();
            panic!("the CLI did not finish within 20 s");
        }
        std::thread::sleep(Duration::from_millis(20));
    }
    let Output { status, stdout, stderr } = child.wait_with_output().unwrap();
    Run {
        code: status.code().unwrap_or(-1),
        stdout: String::from_utf8_lossy(&stdout).into_owned(),
        stderr: String::from_utf8_lossy(&stderr).into_owned(),
    }
}

/// A background CLI process, killed when dropped.
struct Background(Option<Child>);

impl Background {
    fn wait(mut self) -> Run {
        finish(self.0.take().unwrap())
    }
}

impl Drop for Background {
    fn drop(&mut self) {
        if let Some(child) = &mut self.0 {
            let _ = child.kill();
            let _ = child.wait();
        }
    }
}

#[test]
fn put_get_list_history_diff_and_rollback() {
    let cp = Plane::start("op-roundtrip");
    let first = cp.json(&["config", "put", "app/db", "one"]);
    let r1 = first["revision"].as_u64().unwrap();
    assert!(first["prev"].is_null());
    assert!(cp.ok(&["config", "put", "app/db", "two"]).contains("(was revision"));
    let pool = cp.file("pool.json", "{\"size\": 5}");
    cp.ok(&["config", "put", "app/pool", "--file", &pool]);

    assert_eq!(cp.ok(&["config", "get", "app/db"]), "two\n");
    assert_eq!(cp.ok(&["config", "get", "app/db", "--revision", &r1.to_string()]), "one\n");
    assert_eq!(cp.json(&["config", "get", "app/pool"])["content_type"], "json");

    let list = cp.ok(&["config", "list", "app/"]);
    let lines: Vec<&str> = list.lines().collect();
    assert_eq!(lines.len(), 3, "{list}");
    assert!(lines[0].starts_with("KEY ") && lines[0].contains("VALUE"), "{list}");
    assert!(lines[1].starts_with("app/db ") && lines[1].ends_with(" two"), "{list}");
    assert!(lines[2].contains(" json ") && lines[2].ends_with("{\"size\": 5}"), "{list}");
    let items = cp.json(&["config", "list", "app/", "--limit", "1"])["items"].as_array().unwrap().len();
    assert_eq!(items, 1);

    let history = cp.ok(&["config", "history", "app/db"]);
    assert_eq!(history.lines().count(), 3, "{history}");
    assert!(history.lines().nth(1).unwrap().ends_with(" one") && history.lines().nth(2).unwrap().ends_with(" two"));

    let diff = cp.ok(&["config", "diff", "app/db", "three"]);
    assert_eq!(diff, "--- app/db (current)\n+++ app/db (proposed)\n@@ -1,1 +1,1 @@\n-two\n+three\n");
    let to_r1 = ["config", "diff", "app/db", "--to", &r1.to_string()];
    assert!(cp.ok(&to_r1).ends_with("@@ -1,1 +1,1 @@\n-two\n+one\n"));
    assert_eq!(cp.json(&to_r1)["changes"][0]["change"], "update");
    assert_eq!(cp.ok(&["config", "get", "app/db"]), "two\n", "diff must not change anything");

    let refused = cp.run(&["config", "rollback", "app/db", "--to", &r1.to_string()]);
    assert_eq!(refused.code, 2, "{}", refused.stderr);
    assert!(refused.stderr.contains("--yes"), "{}", refused.stderr);
    assert_eq!(cp.ok(&["config", "get", "app/db"]), "two\n");
    assert!(cp.ok(&["config", "rollback", "app/db", "--to", &r1.to_string(), "--yes"]).contains("rolled back 1 key"));
    assert_eq!(cp.ok(&["config", "get", "app/db"]), "one\n");
    assert_eq!(cp.json(&["config", "history", "app/db"])["versions"].as_array().unwrap().len(), 3);

    // A prefix rollback to before app/pool existed deletes it.
    let rolled = cp.json(&["config", "rollback", "--prefix", "app/", "--to", &r1.to_string(), "--yes"]);
    assert_eq!(rolled["changed"], serde_json::json!(["app/pool"]));

    assert!(cp.ok(&["config", "delete", "app/db"]).contains("deleted 1 key"));
    let missing = cp.run(&["config", "get", "app/db"]);
    assert_eq!((missing.code, missing.stderr.trim()), (1, "ferrocache: key 'app/db' not found"));
    let nothing = cp.run(&["config", "delete", "app/db"]);
    assert_eq!(nothing.code, 1);
    assert!(nothing.stderr.contains("key 'app/db' not found: nothing deleted"), "{}", nothing.stderr);
}

/// Runs the CLI on a pseudo-terminal (util-linux `script`), typing `answer`; returns what the
/// terminal showed and the exit code.
fn on_terminal(cp: &Plane, args: &str, answer: &str) -> Run {
    use std::io::Write;
    let mut child = Command::new("script")
        .args(["-qec", &format!("{BIN} {args}"), "/dev/null"])
        .env("FERROCACHE_URL", &cp.url)
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::piped())
        .spawn()
        .expect("util-linux `script`");
    child.stdin.take().unwrap().write_all(answer.as_bytes()).unwrap();
    finish(child)
}

#[test]
fn rollback_asks_for_confirmation_on_a_terminal() {
    let cp = Plane::start("op-confirm");
    let r1 = cp.json(&["config", "put", "k", "one"])["revision"].to_string();
    cp.ok(&["config", "put", "k", "two"]);
    let args = format!("config rollback k --to {r1}");
    let no = on_terminal(&cp, &args, "n\n");
    assert_eq!(no.code, 1, "{}", no.stdout);
    assert!(no.stdout.contains("-two") && no.stdout.contains("Roll back 1 key to revision") && no.stdout.contains("rollback cancelled"), "{}", no.stdout);
    assert_eq!(cp.ok(&["config", "get", "k"]), "two\n");
    let yes = on_terminal(&cp, &args, "y\n");
    assert_eq!(yes.code, 0, "{}", yes.stdout);
    assert_eq!(cp.ok(&["config", "get", "k"]), "one\n");
}

#[test]
fn a_stale_compare_and_swap_fails_with_exit_code_1() {
    let cp = Plane::start("op-cas");
    let rev = cp.json(&["config", "put", "k", "v1", "--if-revision", "0"])["revision"].as_u64().unwrap();
    let again = cp.run(&["config", "put", "k", "v2", "--if-revision", "0"]);
    assert_eq!(again.code, 1);
    assert!(again.stderr.contains("revision conflict on 'k'") && again.stderr.contains("retry"), "{}", again.stderr);
    cp.ok(&["config", "put", "k", "v2", "--if-revision", &rev.to_string()]);
    assert_eq!(cp.ok(&["config", "get", "k"]), "v2\n");
}

#[test]
fn watch_prints_events_as_they_happen() {
    let cp = Plane::start("op-watch");
    let from = cp.get("/v1/status")["revision"].as_u64().unwrap() + 1;
    let mut child = cp
        .command(&["config", "watch", "--prefix", "w/", "--from", &from.to_string()])
        .stdout(Stdio::piped())
        .stderr(Stdio::null())
        .spawn()
        .unwrap();
    let stdout = child.stdout.take().unwrap();
    let _watch = Background(Some(child));
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));

    cp.ok(&["config", "put", "other/x", "1"]);
    cp.ok(&["config", "put", "w/a", "hello"]);
    cp.ok(&["config", "delete", "w/a"]);
    let next = || lines.recv_timeout(Duration::from_secs(10)).expect("a watch event within 10 s");
    let put: Vec<String> = next().split_whitespace().map(String::from).collect();
    assert_eq!(put[1..], ["put", "w/a", "hello"]);
    let delete: Vec<String> = next().split_whitespace().map(String::from).collect();
    assert_eq!(delete[1..], ["delete", "w/a"]);
    assert!(put[0].parse::<u64>().unwrap() < delete[0].parse::<u64>().unwrap());
}

#[test]
fn watch_resumes_after_the_node_restarts() {
    let mut cp = Plane::start("op-watch-resume");
    let mut child = cp.command(&["config", "watch", "--prefix", "w/", "--output", "json"]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let stdout = child.stdout.take().unwrap();
    let _watch = Background(Some(child));
    let (tx, lines) = mpsc::channel();
    std::thread::spawn(move || BufReader::new(stdout).lines().map_while(Result::ok).try_for_each(|l| tx.send(l)));
    let next = || -> Value { serde_json::from_str(&lines.recv_timeout(Duration::from_secs(15)).expect("an event within 15 s")).unwrap() };

    // The watch starts at the revision current when it connects: keep writing until it sees one.
    let first = eventually(10, "the watch to start", || {
        cp.ok(&["config", "put", "w/a", "1"]);
        lines.recv_timeout(Duration::from_millis(300)).ok()
    });
    let first: Value = serde_json::from_str(&first).unwrap();
    while lines.recv_timeout(Duration::from_millis(300)).is_ok() {} // later puts of w/a
    cp.restart();
    let after = cp.json(&["config", "put", "w/b", "2"])["revision"].clone();
    let event = next();
    assert_eq!((&event["kv"]["key"], &event["revision"]), (&Value::from("w/b"), &after), "nothing repeated, nothing missed");
    assert!(event["revision"].as_u64() > first["revision"].as_u64());
}

#[test]
fn bearer_tokens_are_sent_and_missing_rights_explained() {
    let tokens = "[[token]]\nname = \"root\"\nsecret = \"root-secret-0123456789\"\nrole = \"admin\"\n\n\
                  [[token]]\nname = \"reader\"\nsecret = \"reader-secret-0123456789\"\nrole = \"read\"\n";
    let cp = Plane::start_with("op-token", Some(tokens));
    cp.ok(&["config", "put", "a", "1"]);
    let entries = cp.json(&["audit", "list"])["entries"].as_array().unwrap().clone();
    assert!(entries.iter().any(|e| e["op"] == "put" && e["actor"] == "root"), "{entries:?}");

    let anonymous = finish(cp.command(&["config", "get", "a"]).env_remove("FERROCACHE_TOKEN").stderr(Stdio::piped()).stdout(Stdio::piped()).spawn().unwrap());
    assert_eq!(anonymous.code, 1);
    assert!(anonymous.stderr.contains("give a valid token with --token or FERROCACHE_TOKEN"), "{}", anonymous.stderr);
    let reader = ["--token", "reader-secret-0123456789"];
    assert_eq!(cp.ok(&["config", "get", "a", reader[0], reader[1]]), "1\n");
    let denied = cp.run(&["config", "put", "a", "2", reader[0], reader[1]]);
    assert_eq!(denied.code, 1);
    assert!(denied.stderr.contains("has role read") && denied.stderr.contains("role and prefix allow"), "{}", denied.stderr);
}

#[test]
fn lock_runs_the_command_holding_the_lock_and_releases_it() {
    let cp = Plane::start("op-lock");
    let script = "echo token=$FERROCACHE_LOCK_TOKEN; sleep 2";
    let holder = cp.command(&["lock", "jobs/x", "--ttl", "5", "--", "sh", "-c", script]).stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap();
    let holder = Background(Some(holder));
    eventually(10, "the first lock holder", || cp.get("/v1/lock/jobs/x")["holder"].as_str().map(drop));

    let busy = cp.run(&["lock", "jobs/x", "--wait", "0", "--", "true"]);
    assert_eq!(busy.code, 1, "{}", busy.stderr);
    assert!(busy.stderr.contains("lock 'jobs/x' is held by"), "{}", busy.stderr);

    let done = holder.wait();
    assert_eq!(done.code, 0, "{}", done.stderr);
    let token: u64 = done.stdout.trim().strip_prefix("token=").and_then(|t| t.parse().ok()).expect(&done.stdout);
    assert!(token > 0);
    assert!(cp.get("/v1/lock/jobs/x")["holder"].is_null(), "released after the command");
    assert_eq!(cp.json(&["lease", "list"]), serde_json::json!([]), "both leases revoked");

    let next = cp.run(&["lock", "jobs/x", "--wait", "0", "--", "sh", "-c", "echo $FERROCACHE_LOCK_TOKEN; exit 3"]);
    assert_eq!(next.code, 3, "the command's exit code: {}", next.stderr);
    assert!(next.stdout.trim().parse::<u64>().unwrap() > token, "fencing tokens grow");
    assert_eq!(cp.run(&["lock", "jobs/x", "--", "no-such-command-xyz"]).code, 127);
}

#[test]
fn a_lock_lost_while_the_command_runs_fails_the_run() {
    let cp = Plane::start("op-lock-lost");
    let holder = cp.command(&["lock", "jobs/y", "--ttl", "3", "--", "sleep", "2"]).stdout(Stdio::null()).stderr(Stdio::piped()).spawn().unwrap();
    let holder = Background(Some(holder));
    let lease = eventually(10, "the lock holder", || cp.get("/v1/lock/jobs/y")["holder_lease"].as_u64());
    cp.ok(&["lease", "revoke", &lease.to_string()]);
    let run = holder.wait();
    assert_eq!(run.code, 1);
    assert!(run.stderr.contains("lost lock 'jobs/y'") && run.stderr.contains("is stale"), "{}", run.stderr);
}

#[test]
fn audit_members_status_and_leases_in_text_and_json() {
    let cp = Plane::start("op-audit");
    cp.ok(&["config", "put", "a", "1"]);
    assert!(cp.ok(&["audit", "verify"]).starts_with("audit chain ok: "));
    assert_eq!(cp.json(&["audit", "verify"])["ok"], true);
    let entries = cp.json(&["audit", "list"])["entries"].as_array().unwrap().clone();
    assert!(entries.iter().any(|e| e["op"] == "put" && e["key"] == "a"), "{entries:?}");
    assert!(cp.ok(&["audit", "list", "--from", "2", "--limit", "1"]).lines().nth(1).unwrap().starts_with("2 "));

    assert_eq!(cp.json(&["status"])["leader"], 1);
    assert!(cp.ok(&["status"]).contains("voter (leader)"));
    let members = cp.json(&["members", "list"]);
    assert_eq!(members[0]["url"], cp.url.as_str());

    let lease = cp.json(&["lease", "grant", "30"]);
    let id = lease["id"].as_u64().unwrap().to_string();
    cp.ok(&["config", "put", "svc/node1", "up", "--lease", &id]);
    assert!(cp.ok(&["lease", "keepalive", &id]).starts_with(&format!("lease {id} renewed")));
    assert_eq!(cp.json(&["lease", "list"])[0]["keys"], serde_json::json!(["svc/node1"]));
    assert!(cp.ok(&["lease", "revoke", &id]).contains("deleted svc/node1"));
    assert_eq!(cp.run(&["config", "get", "svc/node1"]).code, 1);
}

#[test]
fn members_remove_and_add_a_node() {
    let cp = Plane::start("op-members");
    let dir = TempDir::new("op-members-2");
    let port = free_port();
    let url2 = format!("http://127.0.0.1:{port}");
    let _node2 = Node { port, child: spawn(port, &dir.0, &["--join", &cp.url, "--node-id", "2"]) };
    let count = || cp.json(&["members", "list"]).as_array().map_or(0, Vec::len);
    eventually(20, "node 2 to join", || (count() == 2).then_some(()));

    let left = cp.json(&["members", "remove", "2"]);
    assert_eq!(left.as_array().unwrap().len(), 1, "{left}");
    let table = cp.ok(&["members", "add", &url2, "--node-id", "2"]);
    assert!(table.lines().any(|l| l.starts_with("2 ") && l.contains(&url2) && l.contains("voter")), "{table}");
    // Node 2 takes writes again (forwarded to the leader).
    cp.ok(&["config", "put", "via/node2", "x", "--url", &url2]);
    assert_eq!(cp.ok(&["config", "get", "via/node2"]), "x\n");
}

#[test]
fn export_import_and_schema() {
    let cp = Plane::start("op-export");
    cp.ok(&["config", "put", "app/a", "1", "--type", "json"]);
    cp.ok(&["config", "put", "app/b", "hello"]);
    let out = cp.file("backup.json", "");
    assert!(cp.ok(&["config", "export", "app/", "--out", &out]).starts_with("exported 2 keys"));
    cp.ok(&["config", "delete", "app/", "--prefix"]);
    assert!(cp.ok(&["config", "import", &out]).starts_with("imported 2 keys"));
    assert_eq!(cp.ok(&["config", "get", "app/b"]), "hello\n");
    assert_eq!(cp.json(&["config", "get", "app/a"])["content_type"], "json");

    // The same as YAML, picked by the file's extension; a yaml value must parse.
    cp.ok(&["config", "put", "app/c", "a: [1, 2]", "--type", "yaml"]);
    assert_eq!(cp.run(&["config", "put", "app/d", "a: [1, 2", "--type", "yaml"]).code, 1, "invalid yaml is refused");
    let yaml = cp.file("backup.yaml", "");
    assert!(cp.ok(&["config", "export", "app/", "--out", &yaml]).starts_with("exported 3 keys"));
    let text = std::fs::read_to_string(&yaml).unwrap();
    assert!(text.starts_with("revision: ") && text.contains("- key: app/c"), "{text}");
    assert!(cp.ok(&["config", "export", "app/", "--format", "yaml"]).contains("content_type: yaml"));
    cp.ok(&["config", "delete", "app/", "--prefix"]);
    assert!(cp.ok(&["config", "import", &yaml]).starts_with("imported 3 keys"));
    assert_eq!(cp.ok(&["config", "get", "app/c"]), "a: [1, 2]\n");
    assert_eq!(cp.json(&["config", "get", "app/a"])["content_type"], "json");
    let not_yaml = cp.file("broken.yml", "items: [");
    assert_eq!(cp.run(&["config", "import", &not_yaml]).code, 2);

    let schema = cp.file("schema.json", r#"{"type": "object", "required": ["port"]}"#);
    cp.ok(&["config", "schema", "set", "svc/", &schema]);
    assert!(cp.ok(&["config", "schema", "get", "svc/"]).contains("\"required\""));
    let bad = cp.run(&["config", "put", "svc/web", "{}", "--type", "json"]);
    assert_eq!(bad.code, 1);
    assert!(bad.stderr.contains("port"), "{}", bad.stderr);
    cp.ok(&["config", "put", "svc/web", r#"{"port": 80}"#, "--type", "json"]);
    let none = cp.run(&["config", "schema", "get", "other/"]);
    assert_eq!((none.code, none.stderr.trim()), (1, "ferrocache: no schema is set for prefix 'other/'"));
}

#[test]
fn unreachable_nodes_and_bad_command_lines_are_explained() {
    let port = free_port();
    let url = format!("http://127.0.0.1:{port}");
    let run = |args: &[&str]| finish(Command::new(BIN).args(args).env_remove("FERROCACHE_URL").stdout(Stdio::piped()).stderr(Stdio::piped()).spawn().unwrap());
    let down = run(&["config", "get", "k", "--url", &url]);
    assert_eq!(down.code, 1);
    assert_eq!(
        down.stderr.trim(),
        format!("ferrocache: cannot reach the control plane at {url}: connection refused — is `ferrocache server` running? set --url or FERROCACHE_URL")
    );
    assert_eq!(run(&["status", "--url", "not a url"]).code, 2);
    let no_value = run(&["config", "put", "k", "--url", &url]);
    assert_eq!((no_value.code, no_value.stderr.trim()), (2, "ferrocache: give the value, or --file FILE"));
    assert_eq!(run(&["config", "rollback", "--to", "3", "--url", &url]).code, 2, "KEY or --prefix is required");
    assert_eq!(run(&["lock", "name", "--url", &url]).code, 2, "the command is required");
    assert_eq!(run(&["config", "frobnicate"]).code, 2);
}
