//! Server family end to end: DBSIZE, FLUSHDB/FLUSHALL, SWAPDB, TIME,
//! SHUTDOWN, INFO, CONFIG and COMMAND, with Redis 7.0's replies and errors.

use std::collections::HashMap;
use std::time::{SystemTime, UNIX_EPOCH};

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{start, Conn, Frame};

/// The text of a bulk or verbatim reply.
fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("expected a string reply, got {other:?}"),
    }
}

/// The elements of an array or set reply.
fn items(f: &Frame) -> &[Frame] {
    match f {
        Frame::Array(v) | Frame::Set(v) => v,
        other => panic!("expected an array reply, got {other:?}"),
    }
}

/// INFO's `name:value` fields.
fn info_fields(c: &mut Conn, args: &[&str]) -> HashMap<String, String> {
    let reply = text(&c.cmd(args));
    reply.lines().filter_map(|l| l.split_once(':')).map(|(k, v)| (k.to_string(), v.to_string())).collect()
}

fn info_int(c: &mut Conn, section: &str, field: &str) -> i64 {
    let fields = info_fields(c, &["INFO", section]);
    fields.get(field).unwrap_or_else(|| panic!("INFO {section} has no {field}")).parse().expect("integer field")
}

#[test]
fn dbsize_and_flushes() {
    let server = start();
    let mut c = server.conn();
    for (db, keys) in [("0", ["a", "b"]), ("1", ["c", "d"])] {
        assert_eq!(c.cmd(&["SELECT", db]), ok());
        for k in keys {
            assert_eq!(c.cmd(&["SET", k, "v"]), ok());
        }
    }
    assert_eq!(c.cmd(&["DBSIZE"]), int(2));
    assert_eq!(c.cmd(&["DBSIZE", "x"]), err("ERR wrong number of arguments for 'dbsize' command"));
    assert_eq!(c.cmd(&["FLUSHDB", "foo"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["FLUSHDB", "async", "sync"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["FLUSHALL", "sync", "x"]), err("ERR syntax error"));
    assert_eq!(c.cmd(&["FLUSHDB", "SYNC"]), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(2), "FLUSHDB empties only the selected database");
    assert_eq!(c.cmd(&["FLUSHDB"]), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(c.cmd(&["FLUSHDB", "ASYNC"]), ok());
    assert_eq!(c.cmd(&["GET", "k"]), nil());
}

#[test]
fn flushall_async_empties_all_dbs() {
    let server = start();
    let mut c = server.conn();
    for db in ["0", "3", "15"] {
        assert_eq!(c.cmd(&["SELECT", db]), ok());
        for i in 0..100 {
            assert_eq!(c.cmd(&["SET", &format!("k{i}"), "v"]), ok());
        }
    }
    assert_eq!(c.cmd(&["FLUSHALL", "ASYNC"]), ok());
    let mut other = server.conn();
    for db in ["0", "3", "15"] {
        assert_eq!(other.cmd(&["SELECT", db]), ok());
        assert_eq!(other.cmd(&["DBSIZE"]), int(0), "db {db}");
    }
    assert_eq!(c.cmd(&["SET", "again", "1"]), ok());
    assert_eq!(c.cmd(&["FLUSHALL"]), ok());
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    assert_eq!(c.cmd(&["FLUSHALL", "x"]), err("ERR syntax error"));
}

#[test]
fn swapdb_is_visible_from_another_connection() {
    let server = start();
    let mut a = server.conn();
    let mut b = server.conn();
    assert_eq!(a.cmd(&["SET", "zero", "0"]), ok());
    assert_eq!(a.cmd(&["SELECT", "1"]), ok());
    assert_eq!(a.cmd(&["SET", "one", "1"]), ok());
    assert_eq!(b.cmd(&["GET", "zero"]), bulk("0"));
    assert_eq!(a.cmd(&["SWAPDB", "1", "0"]), ok());
    assert_eq!(b.cmd(&["GET", "zero"]), nil());
    assert_eq!(b.cmd(&["GET", "one"]), bulk("1"));
    assert_eq!(a.cmd(&["GET", "zero"]), bulk("0"), "the client stays on db 1, which now holds db 0's keys");
    assert_eq!(a.cmd(&["SWAPDB", "0", "0"]), ok());

    assert_eq!(a.cmd(&["SWAPDB", "a", "b"]), err("ERR invalid first DB index"));
    assert_eq!(a.cmd(&["SWAPDB", "00", "1"]), err("ERR invalid first DB index"));
    assert_eq!(a.cmd(&["SWAPDB", "0", "b"]), err("ERR invalid second DB index"));
    assert_eq!(a.cmd(&["SWAPDB", "0", "16"]), err("ERR DB index is out of range"));
    assert_eq!(a.cmd(&["SWAPDB", "-1", "0"]), err("ERR DB index is out of range"));
    assert_eq!(a.cmd(&["SWAPDB", "1"]), err("ERR wrong number of arguments for 'swapdb' command"));
}

#[test]
fn swapdb_wakes_watchers() {
    let server = start();
    let mut a = server.conn();
    let mut b = server.conn();
    assert_eq!(a.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(a.cmd(&["WATCH", "k"]), ok());
    assert_eq!(b.cmd(&["SWAPDB", "0", "5"]), ok());
    assert_eq!(a.cmd(&["MULTI"]), ok());
    assert_eq!(a.cmd(&["PING"]), simple("QUEUED"));
    assert_eq!(a.cmd(&["EXEC"]), Frame::NullArray);
}

#[test]
fn time_reply() {
    let server = start();
    let mut c = server.conn();
    let reply = c.cmd(&["TIME"]);
    let parts = items(&reply);
    assert_eq!(parts.len(), 2);
    let secs: u64 = text(&parts[0]).parse().expect("seconds");
    let micros: u64 = text(&parts[1]).parse().expect("microseconds");
    let now = SystemTime::now().duration_since(UNIX_EPOCH).expect("clock").as_secs();
    assert!(secs.abs_diff(now) <= 2, "{secs} vs {now}");
    assert!(micros < 1_000_000);
    assert_eq!(c.cmd(&["TIME", "x"]), err("ERR wrong number of arguments for 'time' command"));
}

#[test]
fn shutdown_options() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["SHUTDOWN", "ABORT"]), err("ERR No shutdown in progress."));
    for bad in [&["SHUTDOWN", "foo"][..], &["SHUTDOWN", "NOSAVE", "SAVE"], &["SHUTDOWN", "ABORT", "NOW"], &["SHUTDOWN", "FORCE", "ABORT"]] {
        assert_eq!(c.cmd(bad), err("ERR syntax error"), "{bad:?}");
    }
    assert_eq!(c.cmd(&["SHUTDOWN", "SAVE"]), err("ERR Errors trying to SHUTDOWN. Check logs."));
    assert_eq!(c.cmd(&["MULTI"]), ok());
    assert_eq!(c.cmd(&["SHUTDOWN"]), err("ERR Command not allowed inside a transaction"));
    assert_eq!(c.cmd(&["DISCARD"]), ok());
    assert!(!server.shared.shutdown.is_requested());
    c.send_raw(&Frame::command(&[b"SHUTDOWN", b"NOSAVE", b"NOW", b"now"]));
    assert!(c.is_closed(), "SHUTDOWN closes the connection without a reply");
    assert!(server.shared.shutdown.is_requested());
}

#[test]
fn info_sections_and_layout() {
    let server = start();
    let mut c = server.conn();
    let all = text(&c.cmd(&["INFO"]));
    let titles: Vec<&str> = all.lines().filter(|l| l.starts_with('#')).collect();
    let expected = [
        "# Server",
        "# Clients",
        "# Memory",
        "# Persistence",
        "# Stats",
        "# Replication",
        "# CPU",
        "# Modules",
        "# Errorstats",
        "# Cluster",
        "# Keyspace",
    ];
    assert_eq!(titles, expected);
    assert!(all.starts_with(&format!("# Server\r\nredis_version:{}\r\n", ferrocache_server::REDIS_VERSION)), "{all}");
    assert!(all.contains("\r\n\r\n# Clients\r\n"), "sections are separated by a blank line");
    assert!(!all.replace("\r\n", "").contains('\n'), "every line ends in CRLF");
    for arg in ["default", "DEFAULT"] {
        assert_eq!(titles_of(&mut c, &["INFO", arg]), expected, "INFO {arg}");
    }
    // `all` and `everything` add the per-command sections, in Redis's places.
    let mut every = expected.to_vec();
    every.splice(8..9, ["# Commandstats", "# Errorstats", "# Latencystats"]);
    for arg in ["all", "everything"] {
        assert_eq!(titles_of(&mut c, &["INFO", arg]), every, "INFO {arg}");
    }
    assert_eq!(titles_of(&mut c, &["INFO", "keyspace", "CPU", "server"]), ["# Server", "# CPU", "# Keyspace"], "sections come in Redis's order");
    assert_eq!(c.cmd(&["INFO", "nosuch"]), bulk(""));
    assert_eq!(titles_of(&mut c, &["INFO", "cpu", "nosuch"]), ["# CPU"]);
    assert!(text(&c.cmd(&["INFO", "cpu"])).ends_with("\r\n"));
}

/// Section titles of an INFO reply.
fn titles_of(c: &mut Conn, args: &[&str]) -> Vec<String> {
    text(&c.cmd(args)).lines().filter(|l| l.starts_with('#')).map(str::to_string).collect()
}

#[test]
fn info_fields_and_counters() {
    let server = start();
    let mut c = server.conn();
    let fields = info_fields(&mut c, &["INFO"]);
    let expected = [
        "redis_version",
        "redis_mode",
        "os",
        "arch_bits",
        "process_id",
        "run_id",
        "tcp_port",
        "uptime_in_seconds",
        "uptime_in_days",
        "hz",
        "executable",
        "config_file",
        "connected_clients",
        "maxclients",
        "blocked_clients",
        "used_memory",
        "used_memory_human",
        "used_memory_rss",
        "used_memory_rss_human",
        "used_memory_peak",
        "used_memory_peak_human",
        "maxmemory",
        "maxmemory_human",
        "maxmemory_policy",
        "mem_fragmentation_ratio",
        "mem_allocator",
        "loading",
        "rdb_changes_since_last_save",
        "aof_enabled",
        "total_connections_received",
        "total_commands_processed",
        "instantaneous_ops_per_sec",
        "total_net_input_bytes",
        "total_net_output_bytes",
        "rejected_connections",
        "expired_keys",
        "evicted_keys",
        "keyspace_hits",
        "keyspace_misses",
        "client_output_buffer_limit_disconnections",
        "role",
        "connected_slaves",
        "master_replid",
        "master_repl_offset",
        "used_cpu_sys",
        "used_cpu_user",
        "cluster_enabled",
    ];
    for name in expected {
        assert!(fields.contains_key(name), "INFO lacks {name}");
    }
    assert_eq!(fields["redis_mode"], "standalone");
    assert_eq!(fields["tcp_port"], server.addr.port().to_string());
    assert_eq!(fields["process_id"], std::process::id().to_string());
    assert_eq!(fields["run_id"].len(), 40);
    assert_eq!(fields["master_replid"].len(), 40);
    assert_eq!(fields["role"], "master");
    assert_eq!(fields["maxmemory"], "0");
    assert_eq!(fields["maxmemory_human"], "0B");
    assert_eq!(fields["maxmemory_policy"], "noeviction");
    assert_eq!(fields["connected_clients"], "1");
    assert_eq!(fields["maxclients"], "10000");
    assert_eq!(fields["hz"], "10");
    assert!(fields["used_memory_rss"].parse::<u64>().expect("rss") > 0);
    for field in ["used_cpu_user", "used_cpu_sys"] {
        let (secs, micros) = fields[field].split_once('.').expect("seconds.micros");
        assert!(secs.parse::<u64>().is_ok() && micros.len() == 6, "{field}: {}", fields[field]);
    }

    assert_eq!(c.cmd(&["SET", "k", "v"]), ok());
    assert_eq!(c.cmd(&["GET", "k"]), bulk("v"));
    assert_eq!(c.cmd(&["GET", "nope"]), nil());
    assert_eq!(c.cmd(&["GET", "nope"]), nil());
    assert_eq!(info_int(&mut c, "stats", "keyspace_hits"), 1);
    assert_eq!(info_int(&mut c, "stats", "keyspace_misses"), 2);
    assert!(info_int(&mut c, "stats", "total_commands_processed") >= 5);
    assert!(info_int(&mut c, "stats", "total_net_input_bytes") > 0);
    let mut second = server.conn();
    assert_eq!(second.cmd(&["PING"]), simple("PONG"));
    assert_eq!(info_int(&mut c, "stats", "total_connections_received"), 2);
}

#[test]
fn info_keyspace_lists_non_empty_dbs() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(text(&c.cmd(&["INFO", "keyspace"])), "# Keyspace\r\n");
    assert_eq!(c.cmd(&["SET", "a", "1"]), ok());
    assert_eq!(c.cmd(&["SET", "b", "1"]), ok());
    assert_eq!(c.cmd(&["SELECT", "2"]), ok());
    assert_eq!(c.cmd(&["SET", "c", "1"]), ok());
    let ks = text(&c.cmd(&["INFO", "keyspace"]));
    assert_eq!(ks, "# Keyspace\r\ndb0:keys=2,expires=0,avg_ttl=0\r\ndb2:keys=1,expires=0,avg_ttl=0\r\n");
}

#[test]
fn info_is_verbatim_in_resp3_and_parses_with_a_client_library() {
    let server = start();
    let mut c = server.conn();
    assert!(matches!(c.cmd(&["HELLO", "3"]), Frame::Map(_)));
    match c.cmd(&["INFO", "server"]) {
        Frame::Verbatim(format, body) => {
            assert_eq!(&format[..], b"txt");
            assert!(body.starts_with(b"# Server\r\n"));
        }
        other => panic!("expected verbatim, got {other:?}"),
    }

    let client = redis::Client::open(format!("redis://{}/", server.addr)).expect("client");
    let mut con = client.get_connection().expect("connection");
    let info: redis::InfoDict = redis::cmd("INFO").query(&mut con).expect("INFO");
    assert_eq!(info.get::<String>("redis_version").as_deref(), Some(ferrocache_server::REDIS_VERSION));
    assert_eq!(info.get::<String>("role").as_deref(), Some("master"));
    assert_eq!(info.get::<u16>("tcp_port"), Some(server.addr.port()));
}

#[test]
fn config_get_and_set_round_trip() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["CONFIG", "GET", "maxclients"]), bulks(&["maxclients", "10000"]));
    assert_eq!(c.cmd(&["CONFIG", "GET", "MAXCLIENTS", "hz", "maxclients"]), bulks(&["maxclients", "10000", "hz", "10"]));
    assert_eq!(c.cmd(&["CONFIG", "GET", "nosuch"]), arr(vec![]));
    assert_eq!(c.cmd(&["CONFIG", "GET", "loglevel"]), bulks(&["loglevel", "info"]), "aliases answer under their own name");
    assert_eq!(c.cmd(&["CONFIG", "GET", "*level"]), bulks(&["log-level", "info", "loglevel", "info"]));
    assert_eq!(c.cmd(&["CONFIG", "GET", "requirepass"]), bulks(&["requirepass", ""]));
    let every = c.cmd(&["CONFIG", "GET", "*"]);
    let names: usize = ferrocache_server::config::PARAMS.iter().map(|p| 1 + p.aliases.len()).sum();
    assert_eq!(items(&every).len(), 2 * names, "every parameter and alias");
    assert_eq!(c.cmd(&["CONFIG", "GET"]), err("ERR wrong number of arguments for 'config|get' command"));

    assert_eq!(c.cmd(&["CONFIG", "SET", "hz", "20", "timeout", "300"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "GET", "hz", "timeout"]), bulks(&["timeout", "300", "hz", "20"]));
    assert_eq!(c.cmd(&["CONFIG", "SET", "hz", "5000"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "GET", "hz"]), bulks(&["hz", "500"]), "hz is clamped like Redis");
    assert_eq!(c.cmd(&["CONFIG", "SET", "proto-max-bulk-len", "2mb"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "GET", "proto-max-bulk-len"]), bulks(&["proto-max-bulk-len", "2097152"]));
    assert_eq!(server.shared.config.read().proto_max_bulk_len, 2 * 1024 * 1024);
    assert_eq!(c.cmd(&["CONFIG", "SET", "client-output-buffer-limit", "normal 10mb 5mb 60"]), ok());
    assert_eq!(server.shared.config.read().obuf_normal, (10 << 20, 5 << 20, 60));
    assert_eq!(c.cmd(&["CONFIG", "SET", "save", ""]), ok());
    assert_eq!(c.cmd(&["CONFIG", "SET", "appendonly", "no"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "SET", "hash-max-ziplist-entries", "64"]), ok(), "old ziplist names are aliases");
    assert_eq!(c.cmd(&["CONFIG", "GET", "hash-max-listpack-entries"]), bulks(&["hash-max-listpack-entries", "64"]));
    assert_eq!(ferrocache_store::encoding::HASH_MAX_ENTRIES.get(), 64);

    let mut r3 = server.conn();
    assert!(matches!(r3.cmd(&["HELLO", "3"]), Frame::Map(_)));
    assert_eq!(r3.cmd(&["CONFIG", "GET", "timeout"]), Frame::Map(vec![(bulk("timeout"), bulk("300"))]));
}

#[test]
fn config_set_errors_change_nothing() {
    let server = start();
    let mut c = server.conn();
    let failed = |name: &str, reason: &str| err(&format!("ERR CONFIG SET failed (possibly related to argument '{name}') - {reason}"));
    let cases: &[(&[&str], Frame)] = &[
        (&["foo", "bar"], err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'")),
        (&["hz", "5", "foo", "1"], err("ERR Unknown option or number of arguments for CONFIG SET - 'foo'")),
        (&["port", "1"], failed("port", "can't set immutable config")),
        (&["hz", "5", "databases", "3"], failed("databases", "can't set immutable config")),
        (&["HZ", "7", "Hz", "8"], failed("Hz", "duplicate parameter")),
        (&["maxclients", "abc"], failed("maxclients", "argument couldn't be parsed into an integer")),
        (&["maxclients", "0"], failed("maxclients", "argument must be between 1 and 4294967295 inclusive")),
        (&["hz", "7", "maxclients", "x"], failed("maxclients", "argument couldn't be parsed into an integer")),
        (&["timeout", "-1"], failed("timeout", "argument must be between 0 and 2147483647 inclusive")),
        (&["proto-max-bulk-len", "abc"], failed("proto-max-bulk-len", "argument must be a memory value")),
        (&["proto-max-bulk-len", "10"], failed("proto-max-bulk-len", "argument must be between 1048576 and 9223372036854775807 inclusive")),
        (&["client-output-buffer-limit", "foo"], failed("client-output-buffer-limit", "Wrong number of arguments in buffer limit configuration.")),
        (
            &["client-output-buffer-limit", "x 1 2 3"],
            failed("client-output-buffer-limit", "Invalid client class specified in buffer limit configuration."),
        ),
        (
            &["client-output-buffer-limit", "normal a 2 3"],
            failed("client-output-buffer-limit", "Error in hard, soft or soft_seconds setting in buffer limit configuration."),
        ),
        (&["save", "foo"], failed("save", "Invalid save parameters")),
        (&["appendonly", "maybe"], failed("appendonly", "argument must be 'yes' or 'no'")),
        (&["maxclients", "10", "foo"], err("ERR syntax error")),
    ];
    let before = server.shared.config.read().clone();
    for (args, expected) in cases {
        let mut cmd = vec!["CONFIG", "SET"];
        cmd.extend_from_slice(args);
        assert_eq!(&c.cmd(&cmd), expected, "{args:?}");
    }
    assert_eq!(*server.shared.config.read(), before, "a refused CONFIG SET changes nothing");
    assert_eq!(c.cmd(&["CONFIG", "SET", "requirepass"]), err("ERR wrong number of arguments for 'config|set' command"));
}

#[test]
fn config_set_maxclients_refuses_new_connections() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "1"]), ok());
    let mut refused = server.conn();
    assert_eq!(refused.read_frame(), Some(err("ERR max number of clients reached")));
    assert!(refused.is_closed());
    assert_eq!(info_int(&mut c, "stats", "rejected_connections"), 1);
    assert_eq!(c.cmd(&["CONFIG", "SET", "maxclients", "10"]), ok());
    let mut admitted = server.conn();
    assert_eq!(admitted.cmd(&["PING"]), simple("PONG"));
}

#[test]
fn config_set_requirepass_applies_to_new_connections() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["CONFIG", "SET", "requirepass", "s3cret"]), ok());
    assert_eq!(c.cmd(&["PING"]), simple("PONG"), "connections already open stay authenticated");
    let mut fresh = server.conn();
    assert_eq!(fresh.cmd(&["PING"]), err("NOAUTH Authentication required."));
    assert_eq!(fresh.cmd(&["AUTH", "s3cret"]), ok());
    assert_eq!(fresh.cmd(&["CONFIG", "SET", "requirepass", ""]), ok());
    assert_eq!(server.conn().cmd(&["PING"]), simple("PONG"));
}

#[test]
fn config_resetstat_rewrite_and_help() {
    let server = start();
    let mut c = server.conn();
    assert_eq!(c.cmd(&["GET", "missing"]), nil());
    assert_eq!(info_int(&mut c, "stats", "keyspace_misses"), 1);
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT"]), ok());
    let stats = info_fields(&mut c, &["INFO", "stats"]);
    for field in ["keyspace_misses", "keyspace_hits", "expired_keys", "total_connections_received", "rejected_connections"] {
        assert_eq!(stats[field], "0", "{field}");
    }
    assert!(stats["total_commands_processed"].parse::<u64>().expect("count") <= 1);
    assert_eq!(c.cmd(&["CONFIG", "RESETSTAT", "x"]), err("ERR wrong number of arguments for 'config|resetstat' command"));
    let rewrite = c.cmd(&["CONFIG", "REWRITE"]);
    assert!(matches!(&rewrite, Frame::Error(e) if e.starts_with(b"ERR CONFIG REWRITE is not supported")), "{rewrite:?}");
    let help = c.cmd(&["CONFIG", "HELP"]);
    let lines = items(&help);
    assert_eq!(lines[0], simple("CONFIG <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    assert!(lines.contains(&simple("GET <pattern>")) && lines.last() == Some(&simple("    Prints this help.")));
    assert_eq!(c.cmd(&["CONFIG"]), err("ERR wrong number of arguments for 'config' command"));
    assert_eq!(c.cmd(&["CONFIG", "foo"]), err("ERR unknown subcommand 'foo'. Try CONFIG HELP."));
}

/// COMMAND INFO's entry for `get` in Redis 7.0's shape (key specs left empty).
fn get_info() -> Frame {
    let set = |v: &[&str]| arr(v.iter().map(|s| simple(s)).collect());
    arr(vec![
        bulk("get"),
        int(2),
        set(&["readonly", "fast"]),
        int(1),
        int(1),
        int(1),
        set(&["@read", "@string", "@fast"]),
        arr(vec![]),
        arr(vec![]),
        arr(vec![]),
    ])
}

#[test]
fn command_count_info_and_docs() {
    let server = start();
    let mut c = server.conn();
    let size = ferrocache_server::table::table().len() as i64;
    assert_eq!(c.cmd(&["COMMAND", "COUNT"]), int(size));
    assert_eq!(c.cmd(&["COMMAND", "COUNT", "x"]), err("ERR wrong number of arguments for 'command|count' command"));
    assert_eq!(items(&c.cmd(&["COMMAND"])).len() as i64, size);
    assert_eq!(items(&c.cmd(&["COMMAND", "INFO"])).len() as i64, size);

    assert_eq!(c.cmd(&["COMMAND", "INFO", "get", "nosuch", "GET"]), arr(vec![get_info(), nil(), get_info()]));
    let config = c.cmd(&["COMMAND", "INFO", "config"]);
    let config = items(&items(&config)[0]);
    assert_eq!(config[0], bulk("config"));
    assert_eq!(config[1], int(-2));
    let subs = items(&config[9]);
    assert!(subs.iter().any(|s| items(s)[0] == bulk("config|get")));
    let config_get = c.cmd(&["COMMAND", "INFO", "config|get"]);
    let config_get = items(&items(&config_get)[0]);
    assert_eq!(config_get[..3], [bulk("config|get"), int(-3), arr(["admin", "noscript", "loading", "stale"].map(simple).to_vec())]);
    let flushall = c.cmd(&["COMMAND", "INFO", "flushall"]);
    assert_eq!(items(&items(&flushall)[0])[2], arr(vec![simple("write")]), "EXCLUSIVE is internal");

    let docs = c.cmd(&["COMMAND", "DOCS", "get", "nosuch"]);
    assert_eq!(docs, arr(vec![bulk("get"), bulks(&["summary", "Returns the string value of a key.", "since", "1.0.0", "group", "string"])]));
    let docs = c.cmd(&["COMMAND", "DOCS", "config"]);
    let doc = items(&items(&docs)[1]);
    assert_eq!(doc[6], bulk("subcommands"));
    assert_eq!(items(&doc[7])[0], bulk("config|get"));
    assert_eq!(items(&c.cmd(&["COMMAND", "DOCS"])).len() as i64, 2 * size);

    let mut r3 = server.conn();
    assert!(matches!(r3.cmd(&["HELLO", "3"]), Frame::Map(_)));
    let info = r3.cmd(&["COMMAND", "INFO", "get"]);
    assert!(matches!(&items(&info)[0], Frame::Array(e) if matches!(e[2], Frame::Set(_))), "flags are a set in RESP3: {info:?}");
    assert!(matches!(r3.cmd(&["COMMAND", "DOCS", "get"]), Frame::Map(_)));
}

#[test]
fn command_list_getkeys_and_help() {
    let server = start();
    let mut c = server.conn();
    let list = c.cmd(&["COMMAND", "LIST"]);
    let names: Vec<String> = items(&list).iter().map(text).collect();
    assert!(names.contains(&"get".to_string()) && names.contains(&"config|set".to_string()));
    assert_eq!(
        c.cmd(&["COMMAND", "LIST", "FILTERBY", "PATTERN", "CONFIG*"]),
        bulks(&["config", "config|get", "config|set", "config|resetstat", "config|rewrite", "config|help"])
    );
    assert_eq!(c.cmd(&["COMMAND", "LIST", "FILTERBY", "pattern", "dbs?ze"]), bulks(&["dbsize"]));
    let admin = c.cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "ADMIN"]);
    let admin: Vec<String> = items(&admin).iter().map(text).collect();
    assert!(admin.contains(&"shutdown".to_string()) && admin.contains(&"config|get".to_string()) && !admin.contains(&"get".to_string()));
    assert_eq!(c.cmd(&["COMMAND", "LIST", "FILTERBY", "ACLCAT", "nosuch"]), arr(vec![]));
    assert_eq!(c.cmd(&["COMMAND", "LIST", "FILTERBY", "MODULE", "x"]), arr(vec![]));
    for bad in [
        &["COMMAND", "LIST", "FILTERBY"][..],
        &["COMMAND", "LIST", "foo"],
        &["COMMAND", "LIST", "FILTERBY", "foo", "x"],
        &["COMMAND", "LIST", "FILTERBY", "PATTERN", "x", "y"],
    ] {
        assert_eq!(c.cmd(bad), err("ERR syntax error"), "{bad:?}");
    }

    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "get", "a"]), bulks(&["a"]));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "SET", "a", "b", "c"]), bulks(&["a"]));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "del", "a", "b", "c"]), bulks(&["a", "b", "c"]));
    // numkeys commands ("movablekeys"), as redis-server 7.0.15 answers.
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "zunion", "2", "a", "b", "WITHSCORES"]), bulks(&["a", "b"]));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "zunionstore", "d", "2", "a", "b"]), bulks(&["d", "a", "b"]));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "blmpop", "0", "2", "a", "b", "LEFT"]), bulks(&["a", "b"]));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "zunion", "5", "a", "b"]), err("ERR Invalid arguments specified for command"));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "zunion", "abc", "a"]), err("ERR Invalid arguments specified for command"));
    let Frame::Array(info) = c.cmd(&["COMMAND", "INFO", "zunionstore"]) else { panic!() };
    let Frame::Array(entry) = &info[0] else { panic!() };
    assert_eq!(entry[2], arr(vec![simple("write"), simple("denyoom"), simple("movablekeys")]));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "nosuch", "a"]), err("ERR Invalid command specified"));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "config|get", "x"]), err("ERR Invalid command specified"));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "config", "nosuch"]), err("ERR Invalid command specified"));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "get", "a", "b"]), err("ERR Invalid number of arguments specified for command"));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "echo", "x"]), err("ERR The command has no key arguments"));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "config", "get"]), err("ERR The command has no key arguments"));
    assert_eq!(c.cmd(&["COMMAND", "GETKEYS", "get"]), err("ERR wrong number of arguments for 'command|getkeys' command"));

    let help = c.cmd(&["COMMAND", "HELP"]);
    let lines = items(&help);
    assert_eq!(lines[0], simple("COMMAND <subcommand> [<arg> [value] [opt] ...]. Subcommands are:"));
    assert!(lines.contains(&simple("GETKEYS <full-command>")));
    assert_eq!(c.cmd(&["COMMAND", "FOO"]), err("ERR unknown subcommand 'FOO'. Try COMMAND HELP."));
}

/// Keys that expire and are never read again are reclaimed by the active
/// expiry cycle and counted in `expired_keys`.
#[test]
fn active_expiry_reclaims_untouched_keys() {
    let server = ferrocache_e2e::start_with(|c| c.hz = 50);
    let mut c = server.conn();
    for i in 0..2000 {
        let key = format!("volatile:{i}");
        assert_eq!(c.cmd(&["SET", &key, "v", "PX", "50"]), ok());
    }
    for i in 0..100 {
        assert_eq!(c.cmd(&["SET", &format!("keep:{i}"), "v"]), ok());
    }
    let deadline = std::time::Instant::now() + std::time::Duration::from_secs(10);
    while c.cmd(&["DBSIZE"]) != int(100) {
        assert!(std::time::Instant::now() < deadline, "expired keys were not reclaimed: {:?}", c.cmd(&["DBSIZE"]));
        std::thread::sleep(std::time::Duration::from_millis(50));
    }
    assert_eq!(info_int(&mut c, "stats", "expired_keys"), 2000);
    assert_eq!(info_int(&mut c, "stats", "keyspace_misses"), 0, "nothing read them");
}
