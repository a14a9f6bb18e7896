//! `ferrocache deploy` and `ferrocache up` end to end: a spec applied from nothing on this
//! machine, checked healthy, applied again as a no-op, a node killed and restarted by the
//! supervisor with its identity, scaled out and in under client load with no lost write, and
//! destroyed with no process left behind; node settings rolled out through a canary (and a
//! harmful change rolled back); a rolling upgrade under load with no failed request (and a
//! broken build rolled back); `up` until Ctrl-C; bad specs refused with their line and field.

use std::path::{Path, PathBuf};
use std::process::{Command, Output, Stdio};
use std::time::{Duration, Instant};

use ferrocache_e2e::cluster::{text, Writer};
use ferrocache_e2e::{ferrocache_bin, run_bounded, Conn, Frame};

const LIMIT: Duration = Duration::from_secs(120);
/// Each test's name for its deployment (and its block of ports).
const TAGS: [&str; 5] = ["life", "up", "bad", "cfg", "upgrade"];

/// A local cluster deployed from a spec in its own temp dir, destroyed when dropped.
struct Deployment {
    root: PathBuf,
    spec: PathBuf,
    base: u16,
}

impl Deployment {
    fn new(tag: &str, shards: u32, replicas: u32) -> Deployment {
        let root = std::env::temp_dir().join(format!("ferrocache-deploy-{tag}-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&root);
        std::fs::create_dir_all(&root).expect("temp dir");
        // Client ports in 20000-20999 and admin ports (+1000) in 21000-21999: below the
        // ephemeral range other tests' free ports come from; each test its own block of 20, so
        // tests running at once never reach for the same ports (`apply` skips ports in use, but
        // two plans made at the same moment could both pick one).
        let block = TAGS.iter().position(|t| *t == tag).expect("a known tag") as u16;
        let base = 20000 + (std::process::id() % 10) as u16 * 100 + block * 20;
        let d = Deployment { spec: root.join("cluster.toml"), root, base };
        d.write_spec(shards, replicas);
        d
    }

    fn write_spec(&self, shards: u32, replicas: u32) {
        self.write_spec_with(shards, replicas, "maxmemory = \"64mb\"\n");
    }

    /// A spec with `settings` as its [settings] section and a 2 s canary watch.
    fn write_spec_with(&self, shards: u32, replicas: u32, settings: &str) {
        let spec = format!(
            "name = \"e2e\"\nshards = {shards}\nreplicas = {replicas}\n\n[local]\nbase_port = {}\ndir = \"{}\"\n\n[rollout]\nwatch_secs = 2\n\n[settings]\n{settings}",
            self.base,
            self.root.join("cluster").display()
        );
        std::fs::write(&self.spec, spec).expect("write the spec");
    }

    fn deploy(&self, cmd: &str) -> Output {
        let mut c = Command::new(ferrocache_bin());
        c.args(["deploy", cmd, "-f"]).arg(&self.spec);
        run_bounded(c, b"", LIMIT)
    }

    fn status(&self) -> serde_json::Value {
        let mut c = Command::new(ferrocache_bin());
        c.args(["deploy", "status", "--output", "json", "-f"]).arg(&self.spec);
        let out = run_bounded(c, b"", LIMIT);
        serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("status JSON: {e}: {}", text(&out)))
    }

    fn pids(&self) -> Vec<u32> {
        self.status()["processes"].as_array().expect("processes").iter().filter_map(|p| p["pid"].as_u64()).map(|p| p as u32).collect()
    }

    /// Waits until `status` says healthy and `check` holds for its JSON.
    fn wait_healthy(&self, check: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
        let deadline = Instant::now() + Duration::from_secs(60);
        loop {
            let s = self.status();
            if s["healthy"] == true && check(&s) {
                return s;
            }
            assert!(Instant::now() < deadline, "not healthy: {s:#}");
            std::thread::sleep(Duration::from_millis(200));
        }
    }
}

impl Drop for Deployment {
    fn drop(&mut self) {
        // From the supervisor's file: the spec may be one a test made invalid.
        let status = std::fs::read(self.root.join("cluster/status.json")).unwrap_or_default();
        let status: serde_json::Value = serde_json::from_slice(&status).unwrap_or_default();
        let pids: Vec<u64> = status.as_array().into_iter().flatten().filter_map(|p| p["pid"].as_u64()).collect();
        self.write_spec(1, 0);
        let _ = self.deploy("destroy");
        for pid in pids {
            let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
        }
        let _ = std::fs::remove_dir_all(&self.root);
    }
}

fn alive(pid: u32) -> bool {
    std::fs::read_to_string(format!("/proc/{pid}/stat")).is_ok_and(|s| !s.contains(") Z "))
}

fn node_id(port: u16) -> String {
    match Conn::connect(([127, 0, 0, 1], port).into()).cmd(&["CLUSTER", "MYID"]) {
        Frame::Bulk(id) => String::from_utf8_lossy(&id).into_owned(),
        other => panic!("CLUSTER MYID: {other:?}"),
    }
}

fn port_of(addr: &str) -> u16 {
    addr.rsplit_once(':').and_then(|(_, p)| p.parse().ok()).expect("HOST:PORT")
}

#[test]
fn a_spec_is_applied_healed_scaled_out_and_in_under_load_and_destroyed() {
    let d = Deployment::new("life", 3, 1);
    let out = d.deploy("apply");
    assert!(out.status.success() && text(&out).contains("[OK] e2e matches"), "{}", text(&out));
    let s = d.wait_healthy(|s| s["processes"].as_array().is_some_and(|p| p.len() == 6));
    let epoch = s["epoch"].as_u64().expect("epoch");
    let out = d.deploy("status");
    assert!(out.status.success() && text(&out).contains("e2e: healthy"), "{}", text(&out));

    // Applying the same spec again changes nothing.
    let out = d.deploy("apply");
    assert!(out.status.success() && text(&out).contains("nothing to do"), "{}", text(&out));
    assert_eq!(d.status()["epoch"].as_u64(), Some(epoch));
    // Every action was recorded in the control plane, and the spec applied.
    let first = port_of(s["processes"][0]["addr"].as_str().expect("addr"));
    let mut config = Command::new(ferrocache_bin());
    config.args(["config", "get", "deploy/e2e/spec", "--url", &format!("http://127.0.0.1:{}", first + 1000)]);
    let out = run_bounded(config, b"", LIMIT);
    assert!(text(&out).contains("shards = 3"), "{}", text(&out));
    // The spec's settings reached the nodes.
    let maxmemory = Conn::connect(([127, 0, 0, 1], first).into()).cmd(&["CONFIG", "GET", "maxmemory"]);
    assert_eq!(maxmemory, Frame::Array(vec![Frame::Bulk("maxmemory".into()), Frame::Bulk("67108864".into())]));

    // kill -9 a node: the supervisor starts it again and it comes back with its identity.
    let victim = &s["processes"][1];
    let (victim_port, victim_pid) = (port_of(victim["addr"].as_str().expect("addr")), victim["pid"].as_u64().expect("pid") as u32);
    let id = node_id(victim_port);
    let _ = Command::new("kill").args(["-9", &victim_pid.to_string()]).status();
    let s = d.wait_healthy(|s| s["processes"][1]["restarts"] == 1 && s["processes"][1]["pid"].as_u64().is_some());
    assert_eq!(s["processes"][1]["last_exit"], "was killed by signal 9");
    assert_eq!(node_id(victim_port), id, "the restarted node kept its identity");

    // Scale out to 4 shards while a client writes: no error, no lost write.
    let writer = Writer::start(first);
    d.write_spec(4, 1);
    let out = d.deploy("plan");
    assert!(text(&out).contains("add primary") && text(&out).contains("rebalance slots"), "{}", text(&out));
    let out = d.deploy("apply");
    assert!(out.status.success(), "{}", text(&out));
    d.wait_healthy(|s| s["processes"].as_array().is_some_and(|p| p.len() == 8));
    // And back to 3: the last shard's slots move to the others before its nodes leave.
    d.write_spec(3, 1);
    let out = d.deploy("apply");
    assert!(out.status.success() && text(&out).contains("set the weight of"), "{}", text(&out));
    d.wait_healthy(|s| s["processes"].as_array().is_some_and(|p| p.len() == 6));
    let report = writer.finish();
    eprintln!("writer: {report}");

    // Destroy leaves no process and no directory behind.
    let pids = d.pids();
    assert_eq!(pids.len(), 6);
    let out = d.deploy("destroy");
    assert!(out.status.success(), "{}", text(&out));
    assert!(pids.iter().all(|&p| !alive(p)), "a node outlived destroy");
    assert!(!d.root.join("cluster").exists());
}

/// A cache's traffic through redis-py's cluster client until the file argv[2] exists: GET a
/// random one of 5,000 keys (200-byte values), SET it on a miss, and refresh one key in five
/// (writes are what make room under maxmemory: reads never evict). A refused SET (OOM) is a
/// miss to a cache, not a failure.
const PYTHON_CACHE_LOAD: &str = r#"
import os, random, sys
from redis.cluster import RedisCluster
from redis.exceptions import OutOfMemoryError
rc = RedisCluster(host="127.0.0.1", port=int(sys.argv[1]), socket_timeout=10)
value = "v" * 200
for i in range(5000):
    rc.set(f"item:{i}", value)
while not os.path.exists(sys.argv[2]):
    k = f"item:{random.randrange(5000)}"
    if rc.get(k) is None or random.randrange(5) == 0:
        try:
            rc.set(k, value)
        except OutOfMemoryError:
            pass
print("load ok")
"#;

fn config_get(port: u16, name: &str) -> String {
    match Conn::connect(([127, 0, 0, 1], port).into()).cmd(&["CONFIG", "GET", name]) {
        Frame::Array(items) if items.len() == 2 => ferrocache_e2e::reply::text(&items[1]),
        other => panic!("CONFIG GET {name}: {other:?}"),
    }
}

#[test]
fn settings_reach_every_node_through_a_canary_and_a_harmful_change_is_rolled_back() {
    let d = Deployment::new("cfg", 2, 1);
    d.write_spec_with(2, 1, "maxmemory = \"64mb\"\nmaxmemory-policy = \"allkeys-lru\"\n");
    let out = d.deploy("apply");
    assert!(out.status.success(), "{}", text(&out));
    let s = d.wait_healthy(|s| s["processes"].as_array().is_some_and(|p| p.len() == 4));
    let ports: Vec<u16> = s["processes"].as_array().expect("processes").iter().map(|p| port_of(p["addr"].as_str().expect("addr"))).collect();
    assert!(ports.iter().all(|&p| config_get(p, "maxmemory") == "67108864"));
    // The live settings are not on the command line: changing them restarts nothing.
    let pids = d.pids();

    let stop = d.root.join("stop-load");
    let mut load = Command::new("python3");
    load.args(["-c", PYTHON_CACHE_LOAD, &ports[0].to_string()]).arg(&stop).stdout(Stdio::piped()).stderr(Stdio::piped());
    let load = load.spawn().expect("python3 runs");

    // A harmless change goes to the canary, then everywhere; every node reports it.
    d.write_spec_with(2, 1, "maxmemory = \"32mb\"\nmaxmemory-policy = \"allkeys-lru\"\n");
    let out = d.deploy("plan");
    assert!(text(&out).contains("set maxmemory=32mb maxmemory-policy=allkeys-lru on canary"), "{}", text(&out));
    let out = d.deploy("apply");
    assert!(out.status.success(), "{}", text(&out));
    assert!(ports.iter().all(|&p| config_get(p, "maxmemory") == "33554432"));
    let mut status = Command::new(ferrocache_bin());
    status.args(["config", "status", "--output", "json", "--url", &format!("http://127.0.0.1:{}", ports[1] + 1000)]);
    let out = run_bounded(status, b"", LIMIT);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 4);
    assert!(rows.iter().all(|r| r["state"] == "in sync" && r["report"]["revision"].as_u64() > Some(0)), "{rows:?}");
    assert_eq!(d.pids(), pids, "no node was restarted");
    // The control plane holds the settings keys to a schema: an object of texts.
    let mut bad = Command::new(ferrocache_bin());
    bad.args(["config", "put", "cluster/config/settings", r#"{"hz": 20}"#, "--type", "json", "--url", &format!("http://127.0.0.1:{}", ports[1] + 1000)]);
    let out = run_bounded(bad, b"", LIMIT);
    assert!(!out.status.success() && text(&out).contains("_schema/cluster/config/settings"), "{}", text(&out));

    // A tiny maxmemory empties the canary's cache: its hit ratio falls, so it is taken back.
    d.write_spec_with(2, 1, "maxmemory = \"100kb\"\nmaxmemory-policy = \"allkeys-lru\"\n");
    let out = d.deploy("apply");
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("rolled back the settings") && text(&out).contains("hit ratio fell"), "{}", text(&out));
    assert!(ports.iter().all(|&p| config_get(p, "maxmemory") == "33554432"), "every node runs the last good settings");
    let mut history = Command::new(ferrocache_bin());
    history.args(["config", "history", "deploy/e2e/action", "--output", "json", "--url", &format!("http://127.0.0.1:{}", ports[1] + 1000)]);
    let out = run_bounded(history, b"", LIMIT);
    assert!(text(&out).contains("rollback") && text(&out).contains("hit ratio fell"), "{}", text(&out));
    let out = d.deploy("status");
    assert!(out.status.success(), "{}", text(&out));

    std::fs::write(&stop, b"stop").expect("stop file");
    let out = ferrocache_e2e::wait_bounded(load, LIMIT);
    assert!(out.status.success(), "the load failed: {}", text(&out));
}

fn binaries(d: &Deployment) -> Vec<String> {
    let nodes: serde_json::Value = serde_json::from_slice(&std::fs::read(d.root.join("cluster/nodes.json")).expect("nodes.json")).expect("JSON");
    nodes["nodes"].as_array().expect("nodes").iter().map(|n| n["binary"].as_str().expect("binary").to_string()).collect()
}

#[test]
fn a_rolling_upgrade_under_load_fails_no_request_and_a_broken_binary_is_rolled_back() {
    let d = Deployment::new("upgrade", 2, 1);
    let out = d.deploy("apply");
    assert!(out.status.success(), "{}", text(&out));
    let s = d.wait_healthy(|s| s["processes"].as_array().is_some_and(|p| p.len() == 4));
    let first = port_of(s["processes"][0]["addr"].as_str().expect("addr"));
    let old_pids = d.pids();
    // The "new build": a copy of the binary under test, at another path.
    let new = d.root.join("new/ferrocache");
    std::fs::create_dir_all(new.parent().expect("dir")).expect("mkdir");
    std::fs::copy(ferrocache_bin(), &new).expect("copy the binary");

    let writer = Writer::start(first);
    let mut upgrade = Command::new(ferrocache_bin());
    upgrade.args(["deploy", "upgrade", "--binary"]).arg(&new).arg("-f").arg(&d.spec);
    let out = run_bounded(upgrade, b"", LIMIT);
    assert!(out.status.success() && text(&out).contains("[OK] every node runs"), "{}", text(&out));
    d.wait_healthy(|_| true);
    let report = writer.finish();
    eprintln!("writer through the upgrade: {report}");
    assert!(binaries(&d).iter().all(|b| Path::new(b) == new), "{:?}", binaries(&d));
    let pids = d.pids();
    assert!(pids.iter().all(|p| !old_pids.contains(p)), "every node was restarted: {old_pids:?} -> {pids:?}");

    // A build that does not start: the first node it replaces never comes back, so that node
    // goes back to the binary it ran and the upgrade stops there.
    let broken = d.root.join("new/broken");
    std::fs::write(&broken, format!("#!/bin/sh\n[ \"$1\" = --version ] && exec {} --version\nexit 1\n", new.display())).expect("write");
    std::fs::set_permissions(&broken, std::os::unix::fs::PermissionsExt::from_mode(0o755)).expect("chmod");
    let mut upgrade = Command::new(ferrocache_bin());
    upgrade.args(["deploy", "upgrade", "--timeout", "5", "--binary"]).arg(&broken).arg("-f").arg(&d.spec);
    let out = run_bounded(upgrade, b"", LIMIT);
    assert_eq!(out.status.code(), Some(1), "{}", text(&out));
    assert!(text(&out).contains("aborted and rolled back") && text(&out).contains("exited with code 1"), "{}", text(&out));
    assert!(binaries(&d).iter().all(|b| Path::new(b) == new), "{:?}", binaries(&d));
    d.wait_healthy(|_| true);
}

#[test]
fn up_runs_a_cluster_until_interrupted_and_keeps_its_data() {
    let d = Deployment::new("up", 1, 1);
    let mut up = Command::new(ferrocache_bin());
    up.args(["up", "-f"]).arg(&d.spec).stdout(Stdio::piped()).stderr(Stdio::piped());
    let mut child = up.spawn().expect("ferrocache up runs");
    // Its output, line by line, until it says the cluster is healthy.
    let stdout = child.stdout.take().expect("piped stdout");
    let (tx, rx) = std::sync::mpsc::channel();
    let reader = std::thread::spawn(move || {
        let mut seen = String::new();
        for line in std::io::BufRead::lines(std::io::BufReader::new(stdout)).map_while(Result::ok) {
            if line == "e2e: healthy" {
                let _ = tx.send(());
            }
            seen.push_str(&line);
            seen.push('\n');
        }
        seen
    });
    rx.recv_timeout(LIMIT).expect("`up` reports a healthy cluster");
    let s = d.wait_healthy(|s| s["processes"].as_array().is_some_and(|p| p.len() == 2));
    let pids = d.pids();
    // A second `up` on the same directory refuses and names the first.
    let mut again = Command::new(ferrocache_bin());
    again.args(["up", "-f"]).arg(&d.spec);
    let out = run_bounded(again, b"", LIMIT);
    assert!(!out.status.success() && text(&out).contains(&format!("already runs under process {}", child.id())), "{}", text(&out));

    let _ = Command::new("kill").args(["-INT", &child.id().to_string()]).status();
    let out = ferrocache_e2e::wait_bounded(child, LIMIT);
    let printed = reader.join().expect("reader");
    assert!(out.status.success(), "{printed}{}", text(&out));
    assert!(printed.contains("The cluster runs until Ctrl-C"), "{printed}");
    assert!(pids.iter().all(|&p| !alive(p)), "a node outlived up");
    let first = port_of(s["processes"][0]["addr"].as_str().expect("addr"));
    assert!(Path::new(&d.root.join("cluster/nodes").join(first.to_string()).join("node-id")).exists(), "the data dir stays");
}

#[test]
fn bad_specs_are_refused_with_their_line_and_field() {
    let d = Deployment::new("bad", 1, 0);
    let cases = [
        ("name = \"e2e\"\nshards = 0\n", ":2: shards: 0 is out of range"),
        ("name = \"e2e\"\nshards = 1\nreplcias = 1\n", ":3: unknown field `replcias`"),
        ("name = \"e2e\"\nshards = 1\n[settings]\nmaxmemory-policy = \"sometimes\"\n", ":4: settings.maxmemory-policy:"),
        ("name = \"e2e\"\nshards = 1\n[settings]\nport = 1\n", ":4: settings.port: deploy sets this one itself"),
    ];
    for (spec, expected) in cases {
        std::fs::write(&d.spec, spec).expect("write");
        for cmd in ["validate", "apply"] {
            let out = d.deploy(cmd);
            assert_eq!(out.status.code(), Some(2), "{cmd} {spec}: {}", text(&out));
            assert!(text(&out).contains(&format!("cluster.toml{expected}")), "{cmd} {spec}: {}", text(&out));
        }
    }
    assert!(!d.root.join("cluster").exists(), "a refused spec started nothing");
}

#[test]
fn render_writes_the_example_specs_files_and_refuses_a_mismatched_target() {
    let out = std::env::temp_dir().join(format!("ferrocache-render-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&out);
    let examples = ferrocache_e2e::workspace_root().join("examples");
    for (spec, expected) in [("systemd.toml", "README.md"), ("kubernetes.toml", "README.md")] {
        let mut render = Command::new(ferrocache_bin());
        render.args(["deploy", "render", "--out"]).arg(&out).arg("-f").arg(examples.join(spec));
        let done = run_bounded(render, b"", LIMIT);
        assert!(done.status.success(), "{spec}: {}", text(&done));
        let written: Vec<&str> = std::str::from_utf8(&done.stdout).expect("utf-8").lines().collect();
        assert!(written.len() >= 2 && written.iter().all(|p| Path::new(p).is_file()), "{spec}: {written:?}");
        assert!(written.iter().any(|p| p.ends_with(expected)), "{spec}: {written:?}");
    }
    let mut wrong = Command::new(ferrocache_bin());
    wrong.args(["deploy", "render", "--target", "kubernetes", "--out"]).arg(&out).arg("-f").arg(examples.join("systemd.toml"));
    let done = run_bounded(wrong, b"", LIMIT);
    assert_eq!(done.status.code(), Some(2), "{}", text(&done));
    assert!(text(&done).contains("the spec's target is 'systemd'"), "{}", text(&done));
    let _ = std::fs::remove_dir_all(&out);
}
