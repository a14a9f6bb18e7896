//! INFO as monitoring tools read it: every field a real `redis-server` 7.0 shows in the
//! sections server, clients, memory, persistence, stats, replication, cpu, cluster and
//! keyspace is present (a test that lists the missing ones), `redis-cli --stat` reads a node,
//! and Debian's `prometheus-redis-exporter` scrapes one (scripts/test.sh installs it).

use std::collections::BTreeSet;
use std::process::{Command, Stdio};
use std::time::{Duration, Instant};

use ferrocache_e2e::{free_port, run_bounded, start, wait_bounded, Conn, ProcessServer, RedisServer};

const SECTIONS: [&str; 9] = ["server", "clients", "memory", "persistence", "stats", "replication", "cpu", "cluster", "keyspace"];

fn fields(c: &mut Conn, section: &str) -> BTreeSet<String> {
    let text = ferrocache_e2e::reply::text(&c.cmd(&["INFO", section]));
    text.lines().filter_map(|l| l.split_once(':')).map(|(k, _)| k.to_string()).collect()
}

#[test]
fn no_field_of_redis_servers_info_sections_is_missing() {
    let ours = start();
    let theirs = RedisServer::start();
    let (mut a, mut b) = (ours.conn(), theirs.conn());
    for c in [&mut a, &mut b] {
        c.cmd(&["SET", "k", "v"]);
        c.cmd(&["GET", "k"]);
    }
    let mut missing = Vec::new();
    for section in SECTIONS {
        let have = fields(&mut a, section);
        missing.extend(fields(&mut b, section).difference(&have).map(|f| format!("{section}: {f}")));
    }
    assert!(missing.is_empty(), "fields redis-server has and Ferrocache lacks: {missing:#?}");
}

#[test]
fn redis_cli_stat_reads_a_node() {
    let server = ProcessServer::start();
    server.conn().cmd(&["SET", "k", "v"]);
    // stdbuf: redis-cli's stdout is a pipe here, which C's stdio would buffer until exit.
    let mut stat = Command::new("stdbuf");
    stat.args(["-oL", "redis-cli", "-p", &server.port().to_string(), "--stat", "-i", "0.2"]).stdout(Stdio::piped()).stderr(Stdio::piped());
    let child = stat.spawn().expect("redis-cli runs");
    std::thread::sleep(Duration::from_millis(1500));
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let out = wait_bounded(child, Duration::from_secs(10));
    let text = String::from_utf8_lossy(&out.stdout);
    let rows: Vec<&str> = text.lines().filter(|l| l.starts_with(|c: char| c.is_ascii_digit())).collect();
    assert!(rows.len() >= 3, "redis-cli --stat printed: {text}");
    // keys, memory, clients, blocked, requests (+delta), connections
    let first: Vec<&str> = rows[0].split_whitespace().collect();
    assert_eq!(first[0], "1", "one key: {}", rows[0]);
    assert!(first[1].ends_with('K') || first[1].ends_with('M'), "memory with its unit: {}", rows[0]);
}

#[test]
fn prometheus_redis_exporter_scrapes_a_node() {
    let server = ProcessServer::start();
    let mut c = server.conn();
    c.cmd(&["SET", "k", "v"]);
    c.cmd(&["GET", "k"]);
    c.cmd(&["GET", "nosuch"]);
    let web = free_port();
    let mut exporter = Command::new("prometheus-redis-exporter");
    exporter
        .args(["-redis.addr", &format!("redis://127.0.0.1:{}", server.port()), "-web.listen-address", &format!("127.0.0.1:{web}")])
        .stdout(Stdio::piped())
        .stderr(Stdio::piped());
    let child = exporter.spawn().expect("prometheus-redis-exporter (Debian's package; scripts/test.sh installs it) runs");
    let deadline = Instant::now() + Duration::from_secs(20);
    let scraped = loop {
        let mut curl = Command::new("curl");
        curl.args(["-sf", &format!("http://127.0.0.1:{web}/metrics")]);
        let out = run_bounded(curl, b"", Duration::from_secs(10));
        if out.status.success() {
            break String::from_utf8_lossy(&out.stdout).into_owned();
        }
        assert!(Instant::now() < deadline, "the exporter never served /metrics");
        std::thread::sleep(Duration::from_millis(200));
    };
    let _ = Command::new("kill").arg(child.id().to_string()).status();
    let _ = wait_bounded(child, Duration::from_secs(10));
    let value = |name: &str| scraped.lines().find_map(|l| l.strip_prefix(name).and_then(|v| v.strip_prefix(' '))).map(str::trim);
    assert_eq!(value("redis_up"), Some("1"), "{scraped}");
    assert_eq!(value("redis_keyspace_hits_total"), Some("1"));
    assert_eq!(value("redis_keyspace_misses_total"), Some("1"));
    assert_eq!(value("redis_db_keys{db=\"db0\"}"), Some("1"));
    assert!(value("redis_memory_used_bytes").is_some_and(|v| v.parse::<f64>().is_ok_and(|b| b > 0.0)));
    assert!(value("redis_commands_total{cmd=\"get\"}").is_some(), "per-command series from INFO commandstats");
}
