//! The web dashboard in a real browser: headless Chromium (Debian's `chromium`), driven by
//! tests/dashboard/driver.js through npm's `playwright-core`, against a 3-node cluster. The
//! page shows the three nodes up; a killed node is marked down and `NodeDown` appears; a
//! config key written twice is rolled back from the UI (button, confirmation dialog) to its
//! first value, as a new revision; after a reload the charts are drawn from the node's
//! history at once. Against a node with admin tokens, the page loads, says a token is needed
//! (401), and shows the config keys once one is typed in. Through a rebalance onto a new
//! primary, paused part way (SIGSTOP of the `ferrocache cluster rebalance` process), the
//! migrations panel shows a partly filled progress bar, then the rebalance finished once it
//! goes on. At each of those steps axe-core checks the page against WCAG 2.1 AA (any
//! violation fails). Screenshots and axe reports land in `<target dir>/dashboard-screenshots/{cluster,token,migrate}/`.
//!
//! scripts/test.sh installs Chromium and runs `npm ci` in tests/dashboard; without them this
//! test fails saying so (it never passes without having driven a browser).

use std::io::{BufRead, BufReader, Write};
use std::path::{Path, PathBuf};
use std::process::{Command, Stdio};
use std::sync::mpsc;
use std::time::{Duration, Instant};

use ferrocache_e2e::cluster::{text, LocalCluster};
use ferrocache_e2e::{ferrocache_bin, free_port, run_bounded, wait_bounded, ProcessServer};

const CHROMIUM: &str = "/usr/bin/chromium";
/// The whole browser session, at most.
const DRIVER_LIMIT: Duration = Duration::from_secs(120);

fn driver_dir() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("dashboard")
}

/// `<target dir>/dashboard-screenshots` (this test runs from `<target>/<profile>/deps/`).
fn screenshot_dir() -> PathBuf {
    let exe = std::env::current_exe().expect("current exe");
    let target = exe.ancestors().nth(3).map(Path::to_path_buf).unwrap_or_else(std::env::temp_dir);
    target.join("dashboard-screenshots")
}

/// Chromium, playwright-core and axe-core, or a panic that says how to get them.
fn require_browser() {
    assert!(
        Path::new(CHROMIUM).is_file(),
        "{CHROMIUM} is missing: install Debian's chromium (`apt-get install -y chromium`; scripts/test.sh does)"
    );
    let dir = driver_dir();
    if !["playwright-core", "axe-core"].iter().all(|m| dir.join("node_modules").join(m).is_dir()) {
        let out = Command::new("npm")
            .args(["ci", "--no-audit", "--no-fund"])
            .current_dir(&dir)
            .env("PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD", "1")
            .output()
            .unwrap_or_else(|e| panic!("cannot run npm to install playwright-core in {}: {e}", dir.display()));
        assert!(out.status.success(), "npm ci in {} failed (scripts/test.sh installs it): {}", dir.display(), text(&out));
    }
}

/// Runs driver.js with `args`, bounded by [`DRIVER_LIMIT`]; on each `STEP NAME` line it
/// prints, calls `step(NAME)` then lets the driver go on. Panics unless the driver says `DONE`
/// and exits with 0.
fn drive(args: &[&str], shots: &Path, mut step: impl FnMut(&str)) {
    let started = Instant::now();
    let mut child = Command::new("node")
        .arg("driver.js")
        .args(args)
        .current_dir(driver_dir())
        .stdin(Stdio::piped())
        .stdout(Stdio::piped())
        .stderr(Stdio::inherit())
        .spawn()
        .expect("run node tests/dashboard/driver.js");
    let pid = child.id();
    let mut stdin = child.stdin.take().expect("stdin");
    let stdout = child.stdout.take().expect("stdout");
    // The driver's lines, read on a thread so that the deadline holds however it behaves.
    let (tx, rx) = mpsc::channel();
    std::thread::spawn(move || {
        for line in BufReader::new(stdout).lines() {
            let Ok(line) = line else { break };
            if tx.send(line).is_err() {
                break;
            }
        }
    });
    let mut done = false;
    loop {
        let left = DRIVER_LIMIT.saturating_sub(started.elapsed());
        match rx.recv_timeout(left) {
            Ok(line) if line == "DONE" => done = true,
            Ok(line) => match line.strip_prefix("STEP ") {
                Some(name) => {
                    step(name);
                    writeln!(stdin, "go").expect("tell the driver");
                }
                None => eprintln!("driver: {line}"),
            },
            Err(mpsc::RecvTimeoutError::Disconnected) => break,
            Err(mpsc::RecvTimeoutError::Timeout) => {
                let _ = Command::new("kill").args(["-9", &pid.to_string()]).status();
                let _ = child.wait();
                panic!("the dashboard driver did not finish within {DRIVER_LIMIT:?} (screenshots in {})", shots.display());
            }
        }
    }
    let status = child.wait().expect("wait for the driver");
    assert!(status.success() && done, "the dashboard driver failed: {status} (its log is above; screenshots in {})", shots.display());
}

#[test]
fn the_dashboard_shows_the_cluster_a_dead_node_and_rolls_config_back() {
    require_browser();
    let mut cluster = LocalCluster::create(3, 0);
    let addrs = cluster.addrs();
    let url = cluster.admin_url(0);
    let key = "app/dashboard/greeting";
    for value in ["hello-first", "hello-second"] {
        let out = cluster.ferrocache(&["config", "put", key, value, "--url", &url]);
        assert!(out.status.success(), "config put: {}", text(&out));
    }
    let shots = screenshot_dir().join("cluster");
    let _ = std::fs::remove_dir_all(&shots);

    let mut killed = false;
    drive(&[&format!("{url}/"), &shots.display().to_string(), &addrs.join(","), &addrs[1], key, "hello-first"], &shots, |step| {
        assert_eq!(step, "kill");
        cluster.kill(1);
        killed = true;
    });
    assert!(killed, "the driver never saw the three nodes up (screenshots in {})", shots.display());
    for shot in ["1-topology.png", "2-node-down.png", "3-confirm.png", "4-rolled-back.png", "5-charts-after-reload.png"] {
        assert!(shots.join(shot).is_file(), "no screenshot {shot} in {}", shots.display());
    }

    // The UI's rollback is in the store: a new revision holding the first value.
    let out = cluster.ferrocache(&["config", "get", key, "--url", &url]);
    assert!(text(&out).contains("hello-first"), "after the rollback: {}", text(&out));
}

#[test]
fn with_admin_tokens_the_page_asks_for_one_and_works_once_given() {
    require_browser();
    let dir = std::env::temp_dir().join(format!("ferrocache-e2e-dashboard-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("scratch dir");
    let tokens = dir.join("tokens.toml");
    let secret = "dashboard-admin-secret-0123456789";
    std::fs::write(&tokens, format!("[[token]]\nname = \"root\"\nsecret = \"{secret}\"\nrole = \"admin\"\n")).expect("token file");
    let admin = free_port().to_string();
    let data = dir.join("data");
    let server = ProcessServer::start_with(&["--admin-port", &admin, "--data-dir", data.to_str().unwrap(), "--token-file", tokens.to_str().unwrap()]);
    let url = format!("http://127.0.0.1:{admin}");
    let key = "app/token-check";
    let mut put = Command::new(ferrocache_bin());
    put.args(["config", "put", key, "v", "--url", &url, "--token", secret]);
    let out = run_bounded(put, b"", Duration::from_secs(60));
    assert!(out.status.success(), "config put: {}", text(&out));

    let shots = screenshot_dir().join("token");
    let _ = std::fs::remove_dir_all(&shots);
    drive(&["token", &format!("{url}/"), &shots.display().to_string(), secret, key], &shots, |step| panic!("unexpected step {step}"));
    for shot in ["6-token-needed.png", "7-token-accepted.png"] {
        assert!(shots.join(shot).is_file(), "no screenshot {shot} in {}", shots.display());
    }
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}


#[test]
fn the_migrations_panel_follows_a_rebalance_with_its_progress() {
    require_browser();
    let mut cluster = LocalCluster::create(2, 0);
    let seed = cluster.addrs()[0].clone();
    let new = cluster.spawn_node();
    let target = cluster.addrs()[new].clone();
    let out = cluster.cli(&["add-node", &target, &seed]);
    assert!(out.status.success(), "add-node: {}", text(&out));
    let url = cluster.admin_url(0);
    let shots = screenshot_dir().join("migrate");
    let _ = std::fs::remove_dir_all(&shots);

    let mut running = None;
    drive(&["migrate", &format!("{url}/"), &shots.display().to_string(), &target], &shots, |step| match step {
        "rebalance" => {
            // A small window, so that the rebalance takes many rounds; paused once the new
            // node owns a slot (the window under way still finishes while it is stopped).
            let mut rebalance = Command::new(ferrocache_bin());
            rebalance.args(["cluster", "rebalance", &seed, "--parallel", "32"]).stdout(Stdio::piped()).stderr(Stdio::piped());
            let child = rebalance.spawn().expect("ferrocache cluster rebalance runs");
            let deadline = Instant::now() + Duration::from_secs(30);
            while cluster.slots_of(new).is_empty() {
                assert!(Instant::now() < deadline, "the rebalance moved no slot in 30 s");
                std::thread::sleep(Duration::from_millis(10));
            }
            signal(child.id(), "-STOP");
            running = Some(child);
            let status = text(&cluster.cli(&["status", &seed]));
            assert!(status.contains("rebalance started") && status.contains(" of 5461 slots moved"), "cluster status: {status}");
        }
        "resume" => signal(running.as_ref().expect("a rebalance was started").id(), "-CONT"),
        other => panic!("unexpected step {other}"),
    });
    let out = wait_bounded(running.expect("the driver asked for a rebalance"), Duration::from_secs(120));
    assert!(out.status.success() && text(&out).contains("[OK] moved"), "rebalance: {}", text(&out));
    for shot in ["8-rebalance-part-done.png", "9-rebalance-finished.png"] {
        assert!(shots.join(shot).is_file(), "no screenshot {shot} in {}", shots.display());
    }
}

fn signal(pid: u32, which: &str) {
    let status = Command::new("kill").args([which, &pid.to_string()]).status().expect("run kill");
    assert!(status.success(), "kill {which} {pid}");
}
