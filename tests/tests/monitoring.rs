//! Monitoring end to end: INFO commandstats, errorstats and latencystats
//! after a known command sequence, checked against the values and fields a
//! real `redis-server` gives for the same sequence, and `GET /metrics` on
//! the admin port, parsed by Prometheus's own Python text parser.

use std::collections::{BTreeMap, BTreeSet};
use std::process::Command;
use std::time::Duration;

use ferrocache_e2e::{await_blocked, free_port, run_bounded, start, Conn, Frame, ProcessServer, RedisServer, TestServer};

/// 3 SET, 2 GET that hit, 1 that misses, 1 wrong-type error, and refusals:
/// GET and CONFIG GET with too few arguments, an unknown command.
fn known_sequence(c: &mut Conn) {
    for key in ["k1", "k2", "k3"] {
        assert_eq!(c.cmd(&["SET", key, "v"]), Frame::Simple("OK".into()));
    }
    for key in ["k1", "k2", "nosuch"] {
        c.cmd(&["GET", key]);
    }
    for refused in [&["LPUSH", "k1", "x"][..], &["GET"], &["CONFIG", "GET"], &["NOSUCHCOMMAND", "x"]] {
        assert!(matches!(c.cmd(refused), Frame::Error(_)), "{refused:?} fails");
    }
}

/// INFO `section`'s fields (name, value) in the order given.
fn info_lines(c: &mut Conn, section: &str) -> Vec<(String, String)> {
    let text = match c.cmd(&["INFO", section]) {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(&b).into_owned(),
        other => panic!("INFO replied {other:?}"),
    };
    text.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// INFO `section`'s fields: name → value.
fn info(c: &mut Conn, section: &str) -> BTreeMap<String, String> {
    info_lines(c, section).into_iter().collect()
}

/// `a=1,b=2` → {a: 1, b: 2}.
fn subfields(value: &str) -> BTreeMap<String, String> {
    value.split(',').filter_map(|kv| kv.split_once('=')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

/// The counts of a `cmdstat_` line that do not depend on timing.
fn counts(stats: &BTreeMap<String, String>, cmd: &str) -> (String, String, String) {
    let f = subfields(stats.get(&format!("cmdstat_{cmd}")).unwrap_or_else(|| panic!("no cmdstat_{cmd} in {stats:?}")));
    (f["calls"].clone(), f["rejected_calls"].clone(), f["failed_calls"].clone())
}

/// A Ferrocache and a redis-server that both ran [`known_sequence`], with a connection to each.
fn both_after_sequence() -> (TestServer, RedisServer, Conn, Conn) {
    let (ferrocache, redis) = (start(), RedisServer::start());
    let (mut ours, mut theirs) = (ferrocache.conn(), redis.conn());
    known_sequence(&mut ours);
    known_sequence(&mut theirs);
    (ferrocache, redis, ours, theirs)
}

#[test]
fn command_and_error_stats_match_redis() {
    let (_ferrocache, _redis, mut ours, mut theirs) = both_after_sequence();
    let (our_cmds, their_cmds) = (info(&mut ours, "commandstats"), info(&mut theirs, "commandstats"));
    let s = |v: &str| v.to_string();
    let expected = [("set", ("3", "0", "0")), ("get", ("3", "1", "0")), ("lpush", ("1", "0", "1")), ("config|get", ("0", "1", "0"))];
    for (cmd, (calls, rejected, failed)) in expected {
        assert_eq!(counts(&our_cmds, cmd), (s(calls), s(rejected), s(failed)), "{cmd}");
        assert_eq!(counts(&our_cmds, cmd), counts(&their_cmds, cmd), "{cmd} as in Redis");
    }
    let get = subfields(&our_cmds["cmdstat_get"]);
    let (usec, per_call): (f64, f64) = (get["usec"].parse().expect("usec"), get["usec_per_call"].parse().expect("usec_per_call"));
    assert!((per_call - usec / 3.0).abs() < 1.0, "usec_per_call is usec over calls: {get:?}");
    assert_eq!(get["usec_per_call"].split_once('.').map(|(_, d)| d.len()), Some(2), "two decimals, as Redis");

    let errors = info(&mut ours, "errorstats");
    let want: BTreeMap<String, String> = [("errorstat_ERR", "count=3"), ("errorstat_WRONGTYPE", "count=1")].map(|(k, v)| (s(k), s(v))).into();
    assert_eq!(errors, want);
    assert_eq!(errors, info(&mut theirs, "errorstats"), "errorstats as in Redis");
    assert_eq!(info(&mut ours, "stats")["total_error_replies"], "4");

    let latency = info(&mut ours, "latencystats");
    for cmd in ["set", "get", "lpush"] {
        let p = subfields(&latency[&format!("latency_percentiles_usec_{cmd}")]);
        assert_eq!(p.keys().collect::<Vec<_>>(), ["p50", "p99", "p99.9"], "{cmd}");
        assert!(p.values().all(|v| v.parse::<f64>().is_ok() && v.split_once('.').is_some_and(|(_, d)| d.len() == 3)), "{p:?}");
    }
    assert!(!latency.contains_key("latency_percentiles_usec_config|get"), "a command that never ran has no latency");
    for section in ["commandstats", "latencystats"] {
        let names: Vec<String> = info_lines(&mut ours, section).into_iter().map(|(k, _)| k).collect();
        assert!(names.is_sorted(), "{section} lists commands by name: {names:?}");
    }

    assert_eq!(ours.cmd(&["CONFIG", "RESETSTAT"]), Frame::Simple("OK".into()));
    assert!(info(&mut ours, "errorstats").is_empty());
    let after = info(&mut ours, "commandstats");
    assert_eq!(after.keys().collect::<Vec<_>>(), ["cmdstat_config|resetstat", "cmdstat_info"], "only what ran since");
}

#[test]
fn no_redis_commandstats_errorstats_latencystats_field_is_missing() {
    let (_ferrocache, _redis, mut ours, mut theirs) = both_after_sequence();
    // The harness PINGs redis-server when it starts: only the commands both ran count.
    let ran = ["set", "get", "lpush", "config|get", "info"];
    let about_another_command = |field: &str| {
        let cmd = field.strip_prefix("cmdstat_").or_else(|| field.strip_prefix("latency_percentiles_usec_"));
        cmd.is_some_and(|c| !ran.contains(&c))
    };
    let mut missing = BTreeSet::new();
    for section in ["commandstats", "errorstats", "latencystats"] {
        let (mine, reference) = (info(&mut ours, section), info(&mut theirs, section));
        for (field, value) in reference.iter().filter(|(f, _)| !about_another_command(f)) {
            match mine.get(field) {
                None => {
                    missing.insert(format!("{section}: {field}"));
                }
                Some(v) => {
                    let have = subfields(v);
                    for sub in subfields(value).keys().filter(|k| !have.contains_key(*k)) {
                        missing.insert(format!("{section}: {field}: {sub}"));
                    }
                }
            }
        }
    }
    assert!(missing.is_empty(), "fields redis-server has and Ferrocache lacks: {missing:#?}");
    let everything = |c: &mut Conn, arg: &str| info(c, arg).keys().filter(|k| k.starts_with("cmdstat_")).count();
    assert!(everything(&mut ours, "everything") > 0 && everything(&mut ours, "all") > 0, "INFO all and everything include commandstats");
    assert_eq!(everything(&mut ours, "default"), 0, "the default INFO leaves commandstats out, as Redis");
}

#[test]
fn an_unblocked_wait_counts_its_error_as_redis_does() {
    let (ferrocache, redis) = (start(), RedisServer::start());
    let mut counted = Vec::new();
    for (mut waiter, mut other) in [(ferrocache.conn(), ferrocache.conn()), (redis.conn(), redis.conn())] {
        let Frame::Integer(id) = waiter.cmd(&["CLIENT", "ID"]) else { panic!("CLIENT ID") };
        waiter.send(&["BLPOP", "list", "0"]);
        await_blocked(&mut other, 1);
        assert_eq!(other.cmd(&["CLIENT", "UNBLOCK", &id.to_string(), "ERROR"]), Frame::Integer(1));
        assert!(matches!(waiter.read_frame(), Some(Frame::Error(_))));
        counted.push((info(&mut other, "errorstats"), counts(&info(&mut other, "commandstats"), "blpop")));
    }
    assert_eq!(counted[0].0.get("errorstat_UNBLOCKED").map(String::as_str), Some("count=1"));
    assert_eq!(counted[0], counted[1], "errorstats and BLPOP's counts as in Redis");
}

/// Scrapes `url` (with `token`, if any) and parses the exposition with
/// `prometheus_client.parser`; prints the HTTP status, the content type and
/// every sample as JSON.
const SCRAPE: &str = r#"
import json, sys, urllib.request, urllib.error
from prometheus_client.parser import text_string_to_metric_families
request = urllib.request.Request(sys.argv[1])
if len(sys.argv) > 2:
    request.add_header("Authorization", "Bearer " + sys.argv[2])
try:
    response = urllib.request.urlopen(request, timeout=10)
except urllib.error.HTTPError as e:
    print(json.dumps({"status": e.code}))
    sys.exit(0)
text = response.read().decode()
samples = [[s.name, s.labels, s.value] for family in text_string_to_metric_families(text) for s in family.samples]
print(json.dumps({"status": response.status, "type": response.headers["Content-Type"], "samples": samples}))
"#;

fn scrape(url: &str, token: Option<&str>) -> serde_json::Value {
    let mut python = Command::new("python3");
    python.args(["-c", SCRAPE, url]).args(token);
    let out = run_bounded(python, b"", Duration::from_secs(30));
    assert!(out.status.success(), "scrape failed: {}", String::from_utf8_lossy(&out.stderr));
    serde_json::from_slice(&out.stdout).expect("the scraper prints JSON")
}

/// The value of the sample `name` whose labels include `labels`.
fn sample(scraped: &serde_json::Value, name: &str, labels: &[(&str, &str)]) -> f64 {
    let samples = scraped["samples"].as_array().expect("samples");
    samples
        .iter()
        .find(|s| s[0] == name && labels.iter().all(|(k, v)| s[1][k] == *v))
        .and_then(|s| s[2].as_f64())
        .unwrap_or_else(|| panic!("no sample {name}{labels:?}"))
}

#[test]
fn metrics_endpoint_parses_and_counts_the_sequence() {
    let dir = std::env::temp_dir().join(format!("ferrocache-e2e-metrics-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    std::fs::create_dir_all(&dir).expect("data dir");
    let tokens = dir.join("tokens.toml");
    let secret = "metrics-reader-secret-0123456789";
    // Nodes need an admin token among them; the scrape uses the read one.
    let file = format!(
        "[[token]]\nname = \"prometheus\"\nsecret = \"{secret}\"\nrole = \"read\"\n\n\
         [[token]]\nname = \"admin\"\nsecret = \"admin-secret-not-used-here-0123\"\nrole = \"admin\"\n"
    );
    std::fs::write(&tokens, file).expect("token file");
    let admin = free_port().to_string();
    let data = dir.join("data");
    let server = ProcessServer::start_with(&[
        "--admin-port",
        &admin,
        "--data-dir",
        data.to_str().expect("utf-8 path"),
        "--token-file",
        tokens.to_str().expect("utf-8 path"),
    ]);
    let mut c = server.conn();
    known_sequence(&mut c);
    let url = format!("http://127.0.0.1:{admin}/metrics");

    assert_eq!(scrape(&url, None)["status"], 401, "a token is needed when tokens are in use");
    // A node alone elects itself soon after it starts.
    let mut m = scrape(&url, Some(secret));
    for _ in 0..50 {
        if sample(&m, "ferrocache_raft_is_leader", &[]) == 1.0 {
            break;
        }
        std::thread::sleep(Duration::from_millis(100));
        m = scrape(&url, Some(secret));
    }
    assert_eq!(m["status"], 200);
    assert!(m["type"].as_str().is_some_and(|t| t.starts_with("text/plain; version=0.0.4")), "{}", m["type"]);
    let cmd = |c: &'static str| [("cmd", c)];
    assert_eq!(sample(&m, "ferrocache_commands_total", &cmd("set")), 3.0);
    assert_eq!(sample(&m, "ferrocache_commands_total", &cmd("get")), 3.0);
    assert_eq!(sample(&m, "ferrocache_command_failures_total", &cmd("lpush")), 1.0);
    assert_eq!(sample(&m, "ferrocache_command_rejections_total", &cmd("get")), 1.0);
    assert_eq!(sample(&m, "ferrocache_command_rejections_total", &cmd("config|get")), 1.0);
    assert_eq!(sample(&m, "ferrocache_error_replies_total", &[("code", "WRONGTYPE")]), 1.0);
    assert_eq!(sample(&m, "ferrocache_error_replies_total", &[("code", "ERR")]), 3.0);
    assert_eq!(sample(&m, "ferrocache_command_duration_seconds_count", &cmd("set")), 3.0);
    assert_eq!(sample(&m, "ferrocache_command_duration_seconds_bucket", &[("cmd", "get"), ("le", "+Inf")]), 3.0);
    assert!(sample(&m, "ferrocache_command_duration_seconds_sum", &cmd("get")) > 0.0);
    assert_eq!(sample(&m, "ferrocache_keyspace_hits_total", &[]), 2.0);
    assert_eq!(sample(&m, "ferrocache_keyspace_misses_total", &[]), 1.0);
    assert_eq!(sample(&m, "ferrocache_expired_keys_total", &[]), 0.0);
    assert_eq!(sample(&m, "ferrocache_evicted_keys_total", &[]), 0.0);
    assert_eq!(sample(&m, "ferrocache_connected_clients", &[]), 1.0);
    assert_eq!(sample(&m, "ferrocache_blocked_clients", &[]), 0.0);
    assert_eq!(sample(&m, "ferrocache_rejected_connections_total", &[]), 0.0);
    assert_eq!(sample(&m, "ferrocache_memory_max_bytes", &[]), 0.0);
    assert!(sample(&m, "ferrocache_memory_used_bytes", &[]) > 0.0);
    assert!(sample(&m, "ferrocache_net_input_bytes_total", &[]) > 0.0);
    assert!(sample(&m, "ferrocache_net_output_bytes_total", &[]) > 0.0);
    assert_eq!(sample(&m, "ferrocache_repl_role", &[("role", "master")]), 1.0);
    assert_eq!(sample(&m, "ferrocache_repl_role", &[("role", "replica")]), 0.0);
    assert_eq!(sample(&m, "ferrocache_repl_connected_replicas", &[]), 0.0);
    assert!(sample(&m, "ferrocache_repl_loss_window_bytes", &[]) >= 0.0);
    assert!(sample(&m, "ferrocache_raft_term", &[]) >= 1.0, "a single node elected itself");
    assert_eq!(sample(&m, "ferrocache_raft_is_leader", &[]), 1.0);
    assert!(sample(&m, "ferrocache_raft_leader_id", &[]) >= 1.0);
    assert!(sample(&m, "ferrocache_raft_applied_index", &[]) >= 0.0);
    assert!(sample(&m, "ferrocache_raft_commit_index", &[]) >= 0.0);
    drop(server);
    let _ = std::fs::remove_dir_all(&dir);
}

/// Scrapes node `i` of `cluster` until `ready` holds for the parsed samples (nodes apply the
/// map and settings a moment after they are written).
fn scrape_node_until(cluster: &ferrocache_e2e::cluster::LocalCluster, i: usize, ready: impl Fn(&serde_json::Value) -> bool) -> serde_json::Value {
    let url = format!("{}/metrics", cluster.admin_url(i));
    for _ in 0..100 {
        let m = scrape(&url, None);
        if ready(&m) {
            return m;
        }
        std::thread::sleep(Duration::from_millis(100));
    }
    panic!("node {i}'s metrics never got ready: {}", scrape(&url, None));
}

fn has(m: &serde_json::Value, name: &str) -> bool {
    m["samples"].as_array().is_some_and(|s| s.iter().any(|s| s[0] == name))
}

#[test]
fn cluster_nodes_report_slots_replica_lag_settings_and_leases() {
    let cluster = ferrocache_e2e::cluster::LocalCluster::create(4, 1);
    let out = cluster.ferrocache(&["config", "put", "cluster/config/settings", r#"{"hz":"20"}"#, "--type", "json", "--url", &cluster.admin_url(0)]);
    assert!(out.status.success(), "{}", ferrocache_e2e::cluster::text(&out));
    let ready = |m: &serde_json::Value| has(m, "ferrocache_config_revision") && has(m, "ferrocache_lease_renewals_total");
    let all: Vec<serde_json::Value> = (0..4).map(|i| scrape_node_until(&cluster, i, ready)).collect();

    // The two primaries (the first two nodes) own every slot between them; replicas none.
    let owned: Vec<f64> = all.iter().map(|m| sample(m, "ferrocache_cluster_slots_owned", &[])).collect();
    assert_eq!(owned[0] + owned[1], 16384.0, "{owned:?}");
    assert_eq!((owned[2], owned[3]), (0.0, 0.0));
    for m in &all {
        assert_eq!(sample(m, "ferrocache_cluster_slots_migrating", &[]), 0.0);
        assert!(sample(m, "ferrocache_cluster_epoch", &[]) >= 1.0);
        assert!(sample(m, "ferrocache_raft_apply_lag", &[]) >= 0.0);
        assert!(sample(m, "ferrocache_lease_renewals_total", &[]) >= 1.0);
        assert!(sample(m, "ferrocache_lease_renew_seconds", &[]) >= 0.0);
        assert_eq!(sample(m, "ferrocache_config_refused", &[]), 0.0);
    }
    // Every node applied the same settings at the same revision.
    let revision = sample(&all[0], "ferrocache_config_revision", &[]);
    let checksum = |m: &serde_json::Value| {
        let s = m["samples"].as_array().expect("samples").iter().find(|s| s[0] == "ferrocache_config_checksum").expect("a checksum series").clone();
        s[1]["checksum"].as_str().expect("checksum label").to_string()
    };
    assert!(all.iter().all(|m| sample(m, "ferrocache_config_revision", &[]) == revision && checksum(m) == checksum(&all[0])));
    assert_eq!(checksum(&all[0]).len(), 64);
    // Each primary reports its replica's lag, by address.
    for (primary, m) in all.iter().take(2).enumerate() {
        let lags: Vec<&serde_json::Value> =
            m["samples"].as_array().expect("samples").iter().filter(|s| s[0] == "ferrocache_repl_replica_lag_bytes").collect();
        assert_eq!(lags.len(), 1, "primary {primary}: {lags:?}");
        assert!(lags[0][1]["replica"].as_str().is_some_and(|a| a.starts_with("127.0.0.1:")));
    }
    // The hit ratio of a node that served one hit and one miss.
    let mut c = cluster.nodes[0].conn();
    let key = (0..10_000).map(|i| format!("k{i}")).find(|k| matches!(c.cmd(&["SET", k, "v"]), Frame::Simple(_))).expect("a key of node 0");
    c.cmd(&["CONFIG", "RESETSTAT"]);
    c.cmd(&["GET", &key]);
    // Keys of other nodes get MOVED (no lookup); the first of node 0's is a miss.
    let missing = (0..10_000).map(|i| format!("m{i}")).find(|k| c.cmd(&["GET", k]) == ferrocache_e2e::reply::nil());
    assert!(missing.is_some(), "a missing key of node 0");
    let m = scrape(&format!("{}/metrics", cluster.admin_url(0)), None);
    assert_eq!(sample(&m, "ferrocache_keyspace_hit_ratio", &[]), 0.5);

    // The whole cluster in one scrape, from any node: every sample labelled with its node.
    let whole = scrape(&format!("{}/v1/cluster/metrics", cluster.admin_url(3)), None);
    assert_eq!(whole["status"], 200);
    let addrs = cluster.addrs();
    let mut slots = 0.0;
    for addr in &addrs {
        assert_eq!(sample(&whole, "ferrocache_node_up", &[("node", addr)]), 1.0);
        slots += sample(&whole, "ferrocache_cluster_slots_owned", &[("node", addr)]);
    }
    assert_eq!(slots, 16384.0);
    assert_eq!(sample(&whole, "ferrocache_keyspace_hit_ratio", &[("node", &addrs[0])]), 0.5);
}

/// A SLOWLOG GET reply with what depends on the moment and the connection
/// (timestamp, duration, client address) blanked; the address is checked.
fn blank_slowlog(reply: Frame) -> Frame {
    let Frame::Array(entries) = reply else { return reply };
    Frame::Array(
        entries
            .into_iter()
            .map(|e| match e {
                Frame::Array(mut f) if f.len() == 6 => {
                    assert!(matches!((&f[1], &f[2]), (Frame::Integer(t), Frame::Integer(d)) if *t > 1_600_000_000 && *d >= 0), "{f:?}");
                    let Frame::Bulk(addr) = &f[4] else { panic!("address {:?}", f[4]) };
                    assert!(addr.starts_with(b"127.0.0.1:"), "{addr:?}");
                    f[1] = Frame::Integer(0);
                    f[2] = Frame::Integer(0);
                    f[4] = Frame::Bulk("addr".into());
                    Frame::Array(f)
                }
                other => panic!("slow log entry {other:?}"),
            })
            .collect(),
    )
}

/// The same session against Ferrocache and redis-server: every command
/// logged (slowlog-log-slower-than 0), a long and a many-argument command,
/// a transaction, count semantics, RESET, LEN, the ring's bound, both
/// settings through CONFIG SET/GET, and the errors for bad arguments.
#[test]
fn slowlog_matches_redis() {
    let (ferrocache, redis) = (start(), RedisServer::start());
    let (mut ours, mut theirs) = (ferrocache.conn(), redis.conn());
    let long = "v".repeat(200);
    let many: Vec<String> = (0..40).map(|i| format!("e{i}")).collect();
    let mut rpush = vec!["RPUSH", "list"];
    rpush.extend(many.iter().map(String::as_str));
    let script: Vec<Vec<&str>> = vec![
        vec!["CONFIG", "SET", "slowlog-log-slower-than", "0"],
        vec!["CONFIG", "SET", "slowlog-max-len", "20"],
        vec!["CONFIG", "GET", "slowlog-log-slower-than"],
        vec!["CONFIG", "GET", "slowlog-max-len"],
        vec!["SLOWLOG", "RESET"],
        vec!["CLIENT", "SETNAME", "tester"],
        vec!["SET", "k", &long],
        rpush,
        vec!["MULTI"],
        vec!["SET", "a", "1"],
        vec!["GET", "a"],
        vec!["EXEC"],
        vec!["SLOWLOG", "LEN"],
        vec!["SLOWLOG", "GET"],
        vec!["SLOWLOG", "GET", "2"],
        vec!["SLOWLOG", "GET", "0"],
        vec!["SLOWLOG", "GET", "-1"],
        vec!["SLOWLOG", "GET", "-2"],
        vec!["SLOWLOG", "GET", "abc"],
        vec!["SLOWLOG", "GET", "1", "2"],
        vec!["SLOWLOG", "LEN", "x"],
        vec!["SLOWLOG", "NOSUCH"],
        vec!["SLOWLOG"],
        vec!["CONFIG", "SET", "slowlog-log-slower-than", "-2"],
        vec!["CONFIG", "SET", "slowlog-log-slower-than", "abc"],
        vec!["CONFIG", "SET", "slowlog-max-len", "-1"],
        vec!["SLOWLOG", "LEN"],
        vec!["CONFIG", "SET", "slowlog-max-len", "3"],
        vec!["PING"],
        vec!["SLOWLOG", "GET", "-1"],
        vec!["SLOWLOG", "RESET"],
        vec!["SLOWLOG", "GET"],
        vec!["CONFIG", "SET", "slowlog-log-slower-than", "-1"],
        vec!["SLOWLOG", "RESET"],
        vec!["SET", "x", "y"],
        vec!["SLOWLOG", "LEN"],
        vec!["SLOWLOG", "HELP"],
    ];
    for args in &script {
        let (mut a, mut b) = (ours.cmd(args), theirs.cmd(args));
        if args.len() > 1 && args[..2] == ["SLOWLOG", "GET"] {
            (a, b) = (blank_slowlog(a), blank_slowlog(b));
        }
        assert_eq!(a, b, "{args:?}: Ferrocache (left) and redis-server (right) differ");
    }
}

/// The microsecond keys Redis 7.0's LATENCY HISTOGRAM can use: the level
/// `2^k` ns of its HDR histogram, reported as `(2^k + 2^(k-7) - 1) / 1000`.
fn histogram_levels() -> BTreeSet<i64> {
    (10..=30).map(|k: u32| ((1i64 << k) + (1i64 << (k - 7)) - 1) / 1000).collect()
}

/// One command of a LATENCY HISTOGRAM reply: name, calls, (µs, cumulative calls) levels.
type HistogramRow = (String, i64, Vec<(i64, i64)>);

/// A LATENCY HISTOGRAM reply, RESP2 or RESP3, as rows.
fn histogram_rows(reply: Frame) -> Vec<HistogramRow> {
    let pairs = |f: Frame| -> Vec<(Frame, Frame)> {
        match f {
            Frame::Map(p) => p,
            Frame::Array(flat) => {
                assert!(flat.len().is_multiple_of(2), "a RESP2 map is a flat array of pairs: {flat:?}");
                let mut it = flat.into_iter();
                std::iter::from_fn(|| Some((it.next()?, it.next()?))).collect()
            }
            other => panic!("not a map: {other:?}"),
        }
    };
    pairs(reply)
        .into_iter()
        .map(|(name, body)| {
            let Frame::Bulk(name) = name else { panic!("command name {name:?}") };
            let body = pairs(body);
            assert_eq!(body.len(), 2, "{body:?}");
            assert_eq!((&body[0].0, &body[1].0), (&Frame::Bulk("calls".into()), &Frame::Bulk("histogram_usec".into())));
            let Frame::Integer(calls) = body[0].1 else { panic!("calls {:?}", body[0].1) };
            let levels = pairs(body[1].1.clone())
                .into_iter()
                .map(|l| match l {
                    (Frame::Integer(usec), Frame::Integer(n)) => (usec, n),
                    other => panic!("level {other:?}"),
                })
                .collect();
            (String::from_utf8_lossy(&name).into_owned(), calls, levels)
        })
        .collect()
}

/// A LATENCY LATEST or HISTORY reply with its times and durations checked
/// (a recent Unix time, at least `min_ms`, the max at least the latest) and blanked.
fn blank_latency(reply: Frame, min_ms: i64) -> Frame {
    let Frame::Array(rows) = reply else { return reply };
    let recent = |t: &Frame| matches!(t, Frame::Integer(t) if *t > 1_600_000_000);
    let blanked = rows
        .into_iter()
        .map(|row| match row {
            Frame::Array(f) if f.len() == 4 => {
                assert!(recent(&f[1]), "{f:?}");
                let (Frame::Integer(latest), Frame::Integer(max)) = (&f[2], &f[3]) else { panic!("{f:?}") };
                assert!(*latest >= min_ms && max >= latest, "{f:?}");
                Frame::Array(vec![f[0].clone(), Frame::Integer(0), Frame::Integer(0), Frame::Integer(0)])
            }
            Frame::Array(f) if f.len() == 2 => {
                assert!(recent(&f[0]) && matches!(f[1], Frame::Integer(ms) if ms >= min_ms), "{f:?}");
                Frame::Array(vec![Frame::Integer(0), Frame::Integer(0)])
            }
            other => panic!("latency row {other:?}"),
        })
        .collect();
    Frame::Array(blanked)
}

/// A command that runs well over a millisecond on both servers: MSET of
/// `pairs` new keys (a slow command) or RPUSH of as many elements (a fast one).
fn big_command(name: &str, pairs: usize) -> Vec<String> {
    let mut args = vec![name.to_string()];
    if name == "RPUSH" {
        args.push("biglist".into());
        args.extend((0..pairs).map(|i| format!("element-{i}")));
    } else {
        args.extend((0..pairs).flat_map(|i| [format!("key-{i}"), format!("value-{i}")]));
    }
    args
}

/// The same LATENCY session against Ferrocache and redis-server: the
/// threshold through CONFIG, a slow command (`command` event) and a slow
/// fast command (`fast-command`), LATEST, HISTORY, RESET counts, errors.
#[test]
fn latency_events_match_redis() {
    let (ferrocache, redis) = (start(), RedisServer::start());
    let (mut ours, mut theirs) = (ferrocache.conn(), redis.conn());
    let both = |ours: &mut Conn, theirs: &mut Conn, args: &[&str]| -> (Frame, Frame) { (ours.cmd(args), theirs.cmd(args)) };
    let script: &[&[&str]] = &[
        &["CONFIG", "GET", "latency-monitor-threshold"],
        &["LATENCY", "LATEST"],
        &["LATENCY", "HISTORY", "command"],
        &["LATENCY", "RESET"],
        &["CONFIG", "SET", "latency-monitor-threshold", "-1"],
        &["CONFIG", "SET", "latency-monitor-threshold", "abc"],
        &["CONFIG", "SET", "latency-monitor-threshold", "1"],
        &["CONFIG", "GET", "latency-monitor-threshold"],
        &["LATENCY"],
        &["LATENCY", "HISTORY"],
        &["LATENCY", "LATEST", "x"],
        &["LATENCY", "NOSUCH"],
    ];
    for args in script {
        let (a, b) = both(&mut ours, &mut theirs, args);
        assert_eq!(a, b, "{args:?}: Ferrocache (left) and redis-server (right) differ");
    }
    for (name, event) in [("MSET", "command"), ("RPUSH", "fast-command")] {
        let big = big_command(name, 200_000);
        for c in [&mut ours, &mut theirs] {
            assert!(!matches!(c.cmd_bytes(&big), Frame::Error(_)), "{name}");
            let Frame::Array(h) = c.cmd(&["LATENCY", "HISTORY", event]) else { panic!("history") };
            assert_eq!(h.len(), 1, "{event}: one sample");
        }
    }
    let (a, b) = both(&mut ours, &mut theirs, &["LATENCY", "LATEST"]);
    let sorted = |f: Frame| match f {
        Frame::Array(mut rows) => {
            rows.sort_by_key(|r| format!("{r:?}"));
            Frame::Array(rows)
        }
        other => other,
    };
    assert_eq!(sorted(blank_latency(a, 1)), sorted(blank_latency(b, 1)), "LATEST");
    for event in ["command", "fast-command", "nosuch"] {
        let (a, b) = both(&mut ours, &mut theirs, &["LATENCY", "HISTORY", event]);
        assert_eq!(blank_latency(a, 1), blank_latency(b, 1), "HISTORY {event}");
    }
    // DOCTOR and GRAPH: text of our own, in Redis's reply types.
    let (Frame::Bulk(report), Frame::Bulk(_)) = both(&mut ours, &mut theirs, &["LATENCY", "DOCTOR"]) else { panic!("DOCTOR is text on both") };
    let report = String::from_utf8_lossy(&report);
    for event in ["command", "fast-command"] {
        assert!(report.contains(&format!("\n{event}: 1 second(s) with a spike among the last 160 kept; the latest ")), "{report}");
    }
    assert!(report.starts_with("Latency monitor: on, recording commands that take 1 ms or more.") && report.contains("SLOWLOG GET"), "{report}");
    let (Frame::Bulk(chart), Frame::Bulk(_)) = both(&mut ours, &mut theirs, &["LATENCY", "GRAPH", "fast-command"]) else { panic!("GRAPH is text on both") };
    let chart = String::from_utf8_lossy(&chart);
    let lines: Vec<&str> = chart.lines().collect();
    assert!(lines.len() == 3 && lines[0].starts_with("fast-command: 1 second(s) with a spike") && lines[2].ends_with(&"#".repeat(40)), "{chart}");
    let (Frame::Error(e), Frame::Error(_)) = both(&mut ours, &mut theirs, &["LATENCY", "GRAPH", "nosuch"]) else { panic!("GRAPH of no event is an error on both") };
    assert_eq!(e, "ERR no latency samples for event 'nosuch' (LATENCY LATEST lists the events that have some)");
    let script: &[&[&str]] = &[
        &["LATENCY", "RESET", "command", "command", "nosuch"],
        &["LATENCY", "HISTORY", "command"],
        &["LATENCY", "RESET"],
        &["LATENCY", "LATEST"],
        &["LATENCY", "RESET"],
        &["CONFIG", "SET", "latency-monitor-threshold", "0"],
    ];
    for args in script {
        let (a, b) = both(&mut ours, &mut theirs, args);
        assert_eq!(a, b, "{args:?}: Ferrocache (left) and redis-server (right) differ");
    }
    assert!(matches!(ours.cmd_bytes(&big_command("MSET", 200_000)), Frame::Simple(_)));
    assert_eq!(ours.cmd(&["LATENCY", "LATEST"]), Frame::Array(vec![]), "threshold 0 records nothing");
    let Frame::Bulk(off) = ours.cmd(&["LATENCY", "DOCTOR"]) else { panic!("DOCTOR") };
    assert!(off.starts_with(b"The latency monitor is off (latency-monitor-threshold is 0)"), "{off:?}");
    let Frame::Array(help) = ours.cmd(&["LATENCY", "HELP"]) else { panic!("help") };
    assert!(help.len() > 4 && help[0] == Frame::Simple("LATENCY <subcommand> [<arg> [value] [opt] ...]. Subcommands are:".into()));
}

/// LATENCY HISTOGRAM after the same commands on both servers, in RESP2 and
/// RESP3: the same commands, calls and shape; levels Redis uses, counts
/// cumulative up to the calls.
#[test]
fn latency_histogram_has_redis_shape() {
    let (ferrocache, redis) = (start(), RedisServer::start());
    for resp3 in [false, true] {
        let mut rows = Vec::new();
        for mut c in [ferrocache.conn(), redis.conn()] {
            if resp3 {
                assert!(matches!(c.cmd(&["HELLO", "3"]), Frame::Map(_)));
            }
            assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), Frame::Simple("OK".into()));
            for i in 0..3 {
                c.cmd(&["SET", "k", &i.to_string()]);
            }
            c.cmd(&["GET", "k"]);
            c.cmd(&["GET"]);
            c.cmd(&["CONFIG", "GET", "maxmemory"]);
            let reply = c.cmd(&["LATENCY", "HISTOGRAM", "set", "GET", "config", "nosuch", "lpush", "config|get"]);
            assert_eq!(matches!(reply, Frame::Map(_)), resp3, "a map in RESP3, an array in RESP2: {reply:?}");
            let all = histogram_rows(c.cmd(&["LATENCY", "HISTOGRAM"]));
            let mut names: Vec<_> = all.iter().map(|r| r.0.clone()).collect();
            names.sort();
            assert_eq!(names, ["config|get", "config|resetstat", "get", "latency|histogram", "set"], "every command that ran since RESETSTAT");
            let mut got = histogram_rows(reply);
            // Redis lists a container's subcommands in hash order.
            got[2..4].sort_by(|a, b| a.0.cmp(&b.0));
            rows.push(got);
        }
        let levels = histogram_levels();
        for got in &rows {
            let shape: Vec<(&str, i64)> = got.iter().map(|(n, calls, _)| (n.as_str(), *calls)).collect();
            assert_eq!(shape, [("set", 3), ("get", 1), ("config|get", 1), ("config|resetstat", 1), ("config|get", 1)]);
            for (name, calls, hist) in got {
                assert!(hist.iter().all(|(usec, _)| levels.contains(usec)), "{name}: {hist:?}");
                assert!(hist.windows(2).all(|w| w[0].0 < w[1].0 && w[0].1 < w[1].1), "{name}: growing: {hist:?}");
                assert_eq!(hist.last().map(|l| l.1), Some(*calls), "{name}: cumulative up to the calls");
            }
        }
    }
}

/// Reads monitor lines until the monitor's own PING is answered, and the
/// line for that PING (which comes after its reply, as in Redis). Each
/// line's time is checked and blanked, and the addresses of `client` and
/// `monitor` are named.
fn monitor_lines(monitor: &mut Conn, client: &Conn) -> Vec<String> {
    let (me, them) = (monitor.stream.local_addr().expect("addr"), client.stream.local_addr().expect("addr"));
    monitor.send(&["PING"]);
    let mut lines = Vec::new();
    let mut ponged = false;
    loop {
        let frame = monitor.read_frame().expect("the monitor stays connected");
        let Frame::Simple(line) = frame else { panic!("monitor got {frame:?}") };
        let line = String::from_utf8(line.to_vec()).expect("monitor lines are ASCII");
        if line == "PONG" {
            ponged = true;
            lines.push(line);
            continue;
        }
        let (time, rest) = line.split_once(' ').expect("a time first");
        let (secs, micros) = time.split_once('.').expect("secs.micros");
        assert!(secs.parse::<u64>().is_ok_and(|s| s > 1_600_000_000) && micros.len() == 6 && micros.parse::<u32>().is_ok(), "{line}");
        let named = rest.replace(&format!(" {me}]"), " MONITOR]").replace(&format!(" {them}]"), " CLIENT]");
        lines.push(named);
        if ponged {
            return lines;
        }
    }
}

/// What a second client runs while MONITOR watches: quoting, databases,
/// a transaction, admin commands (hidden), refused commands (hidden),
/// errors (shown), passwords (redacted), a blocking command that times out.
const MONITORED: &[&[&[u8]]] = &[
    &[b"SET", b"a", b"x\"y\n\x01 \xc3\xa9\t\\"],
    &[b"SELECT", b"1"],
    &[b"SET", b"b", b"1"],
    &[b"SELECT", b"0"],
    &[b"MULTI"],
    &[b"SET", b"c", b"1"],
    &[b"GET", b"c"],
    &[b"EXEC"],
    &[b"MULTI"],
    &[b"MONITOR"],
    &[b"EXEC"],
    &[b"CONFIG", b"GET", b"maxmemory"],
    &[b"CLIENT", b"SETNAME", b"nm"],
    &[b"SLOWLOG", b"LEN"],
    &[b"LATENCY", b"LATEST"],
    &[b"LPUSH", b"a", b"x"],
    &[b"GET"],
    &[b"NOSUCH", b"x"],
    &[b"AUTH", b"user", b"secret"],
    &[b"HELLO", b"2", b"AUTH", b"user", b"secret", b"SETNAME", b"n"],
    &[b"PING"],
    &[b"ECHO", b""],
    &[b"DBSIZE"],
    &[b"BLPOP", b"nolist", b"0.1"],
    &[b"FLUSHALL"],
];

/// MONITOR on Ferrocache and on redis-server sees the same lines for the
/// same commands from another client (times and ports masked), and the
/// replies are the same; a second MONITOR gets no reply; RESET ends it.
#[test]
fn monitor_output_matches_redis() {
    let (ferrocache, redis) = (start(), RedisServer::start());
    let mut seen = Vec::new();
    for (mut monitor, mut client) in [(ferrocache.conn(), ferrocache.conn()), (redis.conn(), redis.conn())] {
        assert_eq!(monitor.cmd(&["MONITOR"]), Frame::Simple("OK".into()));
        let flags = |c: &mut Conn| match c.cmd(&["CLIENT", "LIST"]) {
            Frame::Bulk(b) | Frame::Verbatim(_, b) => {
                String::from_utf8_lossy(&b).lines().filter_map(|l| l.split(' ').find_map(|f| f.strip_prefix("flags=")).map(str::to_string)).collect::<BTreeSet<_>>()
            }
            other => panic!("CLIENT LIST {other:?}"),
        };
        assert_eq!(flags(&mut client), ["N", "O"].map(String::from).into(), "a monitor has flag O");
        let replies: Vec<Frame> = MONITORED.iter().map(|args| client.cmd_bytes(args)).collect();
        // A second MONITOR is ignored without a reply.
        monitor.send(&["MONITOR"]);
        let lines = monitor_lines(&mut monitor, &client);
        assert_eq!(monitor.cmd(&["RESET"]), Frame::Simple("RESET".into()));
        client.cmd(&["SET", "after", "reset"]);
        assert_eq!(monitor.cmd(&["PING"]), Frame::Simple("PONG".into()), "no lines after RESET");
        seen.push((lines, replies));
    }
    let (ours, theirs) = (&seen[0], &seen[1]);
    let replies_to_compare = |r: &[Frame]| -> Vec<Frame> {
        // Both HELLO and AUTH fail without users; INFO-like replies differ anyway.
        r.iter().zip(MONITORED).filter(|(_, args)| args[0] != b"CONFIG").map(|(f, _)| f.clone()).collect()
    };
    assert_eq!(replies_to_compare(&ours.1), replies_to_compare(&theirs.1), "replies");
    assert_eq!(ours.0, theirs.0, "monitor lines: Ferrocache (left) and redis-server (right)");
    for line in [r#"[0 CLIENT] "SET" "a" "x\"y\n\x01 \xc3\xa9\t\\""#, r#"[1 CLIENT] "SELECT" "1""#, r#"[0 CLIENT] "AUTH" "(redacted)" "(redacted)""#] {
        assert!(ours.0.iter().any(|l| l == line), "{line} in {:#?}", ours.0);
    }
    assert_eq!(ours.0.last().map(String::as_str), Some(r#"[0 MONITOR] "PING""#));
}

/// A monitor that never reads, under a flood of commands, is closed once
/// its pending output passes `client-output-buffer-limit normal`; the
/// flooding client is unaffected and the monitor list is empty again.
#[test]
fn a_monitor_that_never_reads_is_disconnected() {
    monitor_flood(Some("normal 1048576 0 0"));
}

/// Redis lets a monitor grow without bound under the default `normal 0 0 0`; Ferrocache bounds
/// it by the pub/sub class's limit (32mb hard by default) then.
#[test]
fn a_monitor_is_bounded_under_the_default_limits_too() {
    monitor_flood(None);
}

/// Floods SETs of 1 kB values past a monitor that never reads, until it is closed.
fn monitor_flood(limit: Option<&str>) {
    let server = start();
    let mut admin = server.conn();
    if let Some(limit) = limit {
        assert_eq!(admin.cmd(&["CONFIG", "SET", "client-output-buffer-limit", limit]), Frame::Simple("OK".into()));
    }
    let mut monitor = server.conn();
    assert_eq!(monitor.cmd(&["MONITOR"]), Frame::Simple("OK".into()));
    assert!(server.shared.monitors.active());
    let value = "v".repeat(1000);
    let mut flood = server.conn();
    let batch: Vec<u8> = (0..1000).flat_map(|i| Frame::command(&[b"SET".as_slice(), format!("key{i}").as_bytes(), value.as_bytes()])).collect();
    let mut batches = 0;
    while server.shared.monitors.active() {
        assert!(batches < 200, "200 MB of monitor output and the monitor is still attached");
        flood.send_raw(&batch);
        for _ in 0..1000 {
            assert_eq!(flood.read_frame(), Some(Frame::Simple("OK".into())));
        }
        batches += 1;
    }
    let drained = monitor.drain(Duration::from_secs(5));
    assert!(drained.closed, "the monitor was closed");
    assert!(drained.bytes.starts_with(b"+"), "it had received monitor lines");
    assert_eq!(admin.info_field("stats", "client_output_buffer_limit_disconnections"), "1");
    assert_eq!(flood.cmd(&["PING"]), Frame::Simple("PONG".into()));
}

/// COMMAND INFO for MONITOR and LATENCY (arity, flags, ACL categories,
/// tips, subcommands) as redis-server gives it; Redis lists subcommands
/// in hash order, so they are compared sorted.
#[test]
fn monitor_and_latency_command_info_match_redis() {
    let (ferrocache, redis) = (start(), RedisServer::start());
    let sorted_subcommands = |reply: Frame| -> Frame {
        let Frame::Array(mut commands) = reply else { panic!("COMMAND INFO {reply:?}") };
        for c in &mut commands {
            if let Frame::Array(fields) = c
                && let Some(Frame::Array(subs)) = fields.get_mut(9)
            {
                subs.sort_by_key(|s| format!("{s:?}"));
            }
        }
        Frame::Array(commands)
    };
    let args = ["COMMAND", "INFO", "monitor", "latency"];
    assert_eq!(sorted_subcommands(ferrocache.conn().cmd(&args)), sorted_subcommands(redis.conn().cmd(&args)));
}
