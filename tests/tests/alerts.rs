//! The built-in alerts end to end: a cluster with nothing wrong has no alert; a killed replica
//! makes `NodeDown` (and `PrimaryWithoutReplica` for its primary) fire at `GET /v1/alerts` on
//! every node and in `ferrocache monitor alerts`, and both clear once it is back. The rules
//! file for Prometheus passes `promtool check rules`. `ferrocache top` shows every node. (Each rule's condition, firing and
//! clearing is also tested on its own in crates/control/src/alerts.rs.)

use std::process::Command;
use std::time::{Duration, Instant};

use ferrocache_e2e::cluster::{text, LocalCluster};
use ferrocache_e2e::{ferrocache_bin, run_bounded};

/// The (rule, node) pairs firing, as node `i` serves them.
fn firing(cluster: &LocalCluster, i: usize) -> Vec<(String, String)> {
    let out = cluster.ferrocache(&["monitor", "alerts", "--output", "json", "--url", &cluster.admin_url(i)]);
    let active: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let alerts = active["alerts"].as_array().expect("alerts");
    assert_eq!(out.status.code(), Some(u8::from(!alerts.is_empty()).into()), "exit code 1 while an alert fires");
    alerts.iter().map(|a| (a["rule"].as_str().unwrap_or("").to_string(), a["node"].as_str().unwrap_or("-").to_string())).collect()
}

fn wait_for(cluster: &LocalCluster, i: usize, what: &str, cond: impl Fn(&[(String, String)]) -> bool) -> Vec<(String, String)> {
    let deadline = Instant::now() + Duration::from_secs(30);
    loop {
        let now = firing(cluster, i);
        if cond(&now) {
            return now;
        }
        assert!(Instant::now() < deadline, "{what}: alerts are {now:?}");
        std::thread::sleep(Duration::from_millis(200));
    }
}

#[test]
fn a_killed_node_fires_node_down_and_its_return_clears_it() {
    let mut cluster = LocalCluster::create(4, 1);
    let addrs = cluster.addrs();
    wait_for(&cluster, 0, "a healthy cluster", |a| a.is_empty());

    // `ferrocache top` sees every node through one of them.
    let out = cluster.ferrocache(&["top", "--iterations", "1", "--output", "json", "--url", &cluster.admin_url(1)]);
    let rows: serde_json::Value = serde_json::from_slice(&out.stdout).unwrap_or_else(|e| panic!("{e}: {}", text(&out)));
    let rows = rows.as_array().expect("rows");
    assert_eq!(rows.len(), 4, "{rows:?}");
    assert!(rows.iter().all(|r| r["up"] == true), "{rows:?}");
    assert_eq!(rows.iter().filter(|r| r["role"] == "replica").count(), 2, "{rows:?}");
    assert_eq!(rows.iter().map(|r| r["slots"].as_f64().unwrap_or(0.0)).sum::<f64>(), 16384.0);

    // Node 2 is the replica of node 0 (replicas are placed in order).
    cluster.kill(2);
    let fired = wait_for(&cluster, 1, "node 2 down", |a| a.iter().any(|(r, n)| r == "NodeDown" && n == &addrs[2]) && a.len() == 2);
    let primary = fired.iter().find(|(r, _)| r == "PrimaryWithoutReplica").map(|(_, n)| n.clone());
    assert_eq!(primary.as_deref(), Some(addrs[0].as_str()), "{fired:?}");
    // Every node serves the same alerts (they are in the control plane's state).
    wait_for(&cluster, 3, "the same alerts on node 3", |a| a == fired.as_slice());

    cluster.restart(2);
    wait_for(&cluster, 0, "cleared after the restart", |a| a.is_empty());
}

#[test]
fn the_prometheus_rules_file_passes_promtool() {
    let dir = std::env::temp_dir().join(format!("ferrocache-alert-rules-{}", std::process::id()));
    std::fs::create_dir_all(&dir).expect("temp dir");
    let file = dir.join("alerts.yml");
    let mut rules = Command::new(ferrocache_bin());
    rules.args(["monitor", "rules"]);
    let out = run_bounded(rules, b"", Duration::from_secs(30));
    assert!(out.status.success(), "{}", text(&out));
    std::fs::write(&file, &out.stdout).expect("write the rules");
    let mut check = Command::new("promtool");
    check.args(["check", "rules"]).arg(&file);
    let checked = check.output().expect("promtool (Debian's prometheus package; scripts/test.sh installs it) runs");
    let _ = std::fs::remove_dir_all(&dir);
    let said = String::from_utf8_lossy(&checked.stdout).into_owned() + &String::from_utf8_lossy(&checked.stderr);
    assert!(checked.status.success() && said.contains("SUCCESS: 8 rules found"), "{said}");
}
