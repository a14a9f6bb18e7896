//! Cluster mode's data plane end to end: in-process nodes given one map
//! (as the control plane's watch would give it) redirect clients exactly
//! as Redis Cluster nodes do, answer CLUSTER's read-only subcommands in
//! Redis 7.0's formats, and let `redis-cli -c` follow them.
//!
//! Slots used below: bar 5061 and f 3168 (shard 0, 0-5460), user 5474
//! (shard 1, 5461-10922), foo 12182 (shard 2, 10923-16383).

use std::process::Command;
use std::time::{Duration, Instant};

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{run_bounded, start_with, Conn, Frame, RedisServer, TestServer};
use ferrocache_topology::map::{ClusterMap, Migration, Node, NodeId, NodeState, Shard};
use ferrocache_topology::placement::split;

/// Node ids that read well in failures: 0000…0a1, 0000…0a2, ...
fn id(i: usize) -> NodeId {
    NodeId::try_from(format!("{:040x}", 0xa1 + i)).unwrap()
}

/// Nodes started in cluster mode, each given its id.
struct Nodes {
    servers: Vec<TestServer>,
}

impl Nodes {
    fn start(n: usize) -> Nodes {
        let servers: Vec<TestServer> = (0..n).map(|_| start_with(|c| c.cluster_enabled = true)).collect();
        for (i, s) in servers.iter().enumerate() {
            s.shared.cluster.as_ref().expect("cluster mode").set_identity(id(i));
        }
        Nodes { servers }
    }

    fn addr(&self, i: usize) -> String {
        self.servers[i].addr.to_string()
    }

    fn conn(&self, i: usize) -> Conn {
        self.servers[i].conn()
    }

    /// Three shards over nodes 0, 1, 2 (equal thirds, as `redis-cli
    /// --cluster create` splits them); node 3, if started, replicates shard 0.
    fn map(&self, epoch: u64) -> ClusterMap {
        let nodes: Vec<Node> = (0..self.servers.len())
            .map(|i| Node {
                id: id(i),
                addr: self.addr(i),
                admin: format!("http://127.0.0.1:{}", 17000 + i),
                zone: None,
                weight: 1,
                state: NodeState::Up,
                boot: None,
            })
            .collect();
        let runs = split(&[1, 1, 1]).unwrap();
        let mut shards: Vec<Shard> = (0..3).map(|i| Shard { primary: id(i), replicas: Vec::new(), slots: runs[i].into_iter().collect() }).collect();
        if self.servers.len() > 3 {
            shards[0].replicas.push(id(3));
        }
        ClusterMap { epoch, nodes, shards, migrations: Vec::new() }
    }

    fn install(&self, map: &ClusterMap) {
        for s in &self.servers {
            s.shared.cluster.as_ref().expect("cluster mode").install(map.clone());
        }
    }
}

fn three() -> Nodes {
    let nodes = Nodes::start(3);
    nodes.install(&nodes.map(1));
    nodes
}

fn text(f: &Frame) -> String {
    match f {
        Frame::Bulk(b) | Frame::Verbatim(_, b) => String::from_utf8_lossy(b).into_owned(),
        other => panic!("expected a string reply, got {other:?}"),
    }
}

#[test]
fn before_a_map_no_slot_is_served() {
    let nodes = Nodes::start(1);
    let mut c = nodes.conn(0);
    assert_eq!(c.cmd(&["GET", "foo"]), err("CLUSTERDOWN Hash slot not served"));
    assert_eq!(c.cmd(&["SET", "foo", "1"]), err("CLUSTERDOWN Hash slot not served"));
    assert_eq!(c.cmd(&["PING"]), simple("PONG"), "keyless commands pass");
    assert_eq!(c.cmd(&["DBSIZE"]), int(0));
    let info = text(&c.cmd(&["CLUSTER", "INFO"]));
    assert!(info.starts_with("cluster_state:fail\r\ncluster_slots_assigned:0\r\n"), "{info}");
    assert!(info.contains("cluster_known_nodes:1\r\n") && info.contains("cluster_current_epoch:0\r\n"), "{info}");
    let port = nodes.servers[0].addr.port();
    assert_eq!(text(&c.cmd(&["CLUSTER", "NODES"])), format!("{} :{port}@0 myself,master - 0 0 0 connected\n", id(0)));
    assert_eq!(c.cmd(&["CLUSTER", "MYID"]), bulk(id(0).as_str()));
    assert_eq!(c.cmd(&["CLUSTER", "SLOTS"]), arr(vec![]));
}

#[test]
fn keys_are_moved_to_the_primary_of_their_slot() {
    let nodes = three();
    let mut c = nodes.conn(0);
    assert_eq!(c.cmd(&["SET", "bar", "1"]), ok());
    assert_eq!(c.cmd(&["SET", "foo", "1"]), err(&format!("MOVED 12182 {}", nodes.addr(2))));
    assert_eq!(c.cmd(&["GET", "{user}:1"]), err(&format!("MOVED 5474 {}", nodes.addr(1))));
    assert_eq!(c.cmd(&["MSET", "bar", "1", "foo", "2"]), err("CROSSSLOT Keys in request don't hash to the same slot"));
    assert_eq!(c.cmd(&["MSET", "bar", "1", "f", "2"]), err("CROSSSLOT Keys in request don't hash to the same slot"), "one owner, two slots");
    // numkeys commands are routed by their keys too.
    assert_eq!(c.cmd(&["ZUNIONSTORE", "bar", "2", "bar", "foo"]), err("CROSSSLOT Keys in request don't hash to the same slot"));
    assert_eq!(c.cmd(&["OBJECT", "ENCODING", "foo"]), err(&format!("MOVED 12182 {}", nodes.addr(2))), "a subcommand's key");
    let mut owner = nodes.conn(1);
    assert_eq!(owner.cmd(&["MSET", "{user}:1", "a", "{user}:2", "b"]), ok(), "one hash tag, one slot");
    assert_eq!(owner.cmd(&["MGET", "{user}:1", "{user}:2"]), bulks(&["a", "b"]));
    assert_eq!(owner.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "5474"]), int(2));
    let mut keys = match owner.cmd(&["CLUSTER", "GETKEYSINSLOT", "5474", "10"]) {
        Frame::Array(keys) => keys.iter().map(text).collect::<Vec<_>>(),
        other => panic!("{other:?}"),
    };
    keys.sort();
    assert_eq!(keys, ["{user}:1", "{user}:2"]);
    assert!(matches!(owner.cmd(&["CLUSTER", "GETKEYSINSLOT", "5474", "1"]), Frame::Array(k) if k.len() == 1));
    assert_eq!(c.cmd(&["PING"]), simple("PONG"));
}

#[test]
fn transactions_are_checked_as_they_are_queued_and_as_a_whole() {
    let nodes = three();
    let mut c = nodes.conn(0);
    for (args, reply) in [
        (&["MULTI"][..], ok()),
        (&["SET", "bar", "1"], simple("QUEUED")),
        (&["SET", "foo", "1"], err(&format!("MOVED 12182 {}", nodes.addr(2)))),
        (&["EXEC"], err("EXECABORT Transaction discarded because of previous errors.")),
        (&["MULTI"], ok()),
        (&["SET", "bar", "1"], simple("QUEUED")),
        (&["SET", "f", "2"], simple("QUEUED")),
        (&["EXEC"], err("CROSSSLOT Keys in request don't hash to the same slot")),
        (&["EXEC"], err("ERR EXEC without MULTI")),
        (&["MULTI"], ok()),
        (&["SET", "bar", "1"], simple("QUEUED")),
        (&["INCR", "{bar}n"], simple("QUEUED")),
        (&["PING"], simple("QUEUED")),
        (&["EXEC"], arr(vec![ok(), int(1), simple("PONG")])),
    ] {
        assert_eq!(c.cmd(args), reply, "{args:?}");
    }
}

#[test]
fn only_database_zero_exists_in_cluster_mode() {
    let nodes = three();
    let mut c = nodes.conn(0);
    assert_eq!(c.cmd(&["SELECT", "1"]), err("ERR SELECT is not allowed in cluster mode"));
    assert_eq!(c.cmd(&["SELECT", "99"]), err("ERR SELECT is not allowed in cluster mode"));
    assert_eq!(c.cmd(&["SELECT", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["SELECT", "0"]), ok());
    assert_eq!(c.cmd(&["SET", "bar", "1"]), ok());
    assert_eq!(c.cmd(&["MOVE", "bar", "1"]), err("ERR MOVE is not allowed in cluster mode"));
    assert_eq!(c.cmd(&["MOVE", "foo", "1"]), err(&format!("MOVED 12182 {}", nodes.addr(2))), "routing comes first");
    assert_eq!(c.cmd(&["SWAPDB", "0", "1"]), err("ERR SWAPDB is not allowed in cluster mode"));
    assert_eq!(c.cmd(&["COPY", "bar", "{bar}2", "DB", "1"]), err("ERR Copying to another database is not allowed in cluster mode"));
    assert_eq!(c.cmd(&["COPY", "bar", "{bar}2", "DB", "0"]), int(1));
    assert_eq!(c.cmd(&["CONFIG", "GET", "cluster-enabled"]), bulks(&["cluster-enabled", "yes"]));
    assert_eq!(
        c.cmd(&["CONFIG", "SET", "cluster-enabled", "no"]),
        err("ERR CONFIG SET failed (possibly related to argument 'cluster-enabled') - can't set immutable config")
    );
}

#[test]
fn a_migrating_slot_asks_for_keys_it_no_longer_has() {
    let nodes = three();
    let mut source = nodes.conn(0);
    assert_eq!(source.cmd(&["SET", "bar", "here"]), ok());
    let mut map = nodes.map(2);
    map.migrations.push(Migration { slot: 5061, from: id(0), to: id(1) });
    nodes.install(&map);
    // Until the source knows the target has this map, it keeps serving the whole slot (the
    // target would answer MOVED back); its mover marks the slot once the target caught up.
    assert_eq!(source.cmd(&["GET", "{bar}x"]), nil());
    assert_eq!(source.cmd(&["MGET", "bar", "{bar}x"]), arr(vec![bulk("here"), nil()]));
    nodes.servers[0].shared.cluster.as_ref().unwrap().set_ask_ready(5061, true);
    let ask = err(&format!("ASK 5061 {}", nodes.addr(1)));
    let tryagain = err("TRYAGAIN Multiple keys request during rehashing of slot");
    assert_eq!(source.cmd(&["GET", "bar"]), bulk("here"), "still here: served");
    assert_eq!(source.cmd(&["GET", "{bar}x"]), ask);
    assert_eq!(source.cmd(&["DEL", "{bar}x"]), ask);
    assert_eq!(source.cmd(&["MGET", "bar", "{bar}x"]), tryagain);
    assert_eq!(source.cmd(&["MGET", "{bar}x", "{bar}y"]), ask);
    assert!(text(&source.cmd(&["CLUSTER", "NODES"])).contains(&format!(" [5061->-{}]\n", id(1))));

    let mut target = nodes.conn(1);
    let moved = err(&format!("MOVED 5061 {}", nodes.addr(0)));
    assert_eq!(target.cmd(&["GET", "bar"]), moved, "no ASKING: the source still owns it");
    for (args, reply) in [
        (&["ASKING"][..], ok()),
        (&["GET", "bar"], nil()),
        (&["GET", "bar"], moved.clone()),
        (&["ASKING"], ok()),
        (&["ASKING"], ok()),
        (&["SET", "{bar}x", "moved"], ok()),
        (&["ASKING"], ok()),
        (&["NOSUCHCOMMAND"], err("ERR unknown command 'NOSUCHCOMMAND', with args beginning with: ")),
        (&["GET", "{bar}x"], moved.clone()),
        (&["ASKING"], ok()),
        (&["MGET", "{bar}x", "bar"], tryagain.clone()),
        (&["ASKING"], ok()),
        (&["MULTI"], ok()),
        (&["GET", "{bar}x"], simple("QUEUED")),
        (&["EXEC"], arr(vec![bulk("moved")])),
        (&["GET", "{bar}x"], moved.clone()),
    ] {
        assert_eq!(target.cmd(args), reply, "{args:?}");
    }
    assert!(text(&target.cmd(&["CLUSTER", "NODES"])).contains(&format!(" [5061-<-{}]\n", id(0))));
    assert_eq!(nodes.conn(2).cmd(&["GET", "bar"]), moved, "other shards send clients to the owner");
    assert_eq!(source.cmd(&["RESET"]), simple("RESET"));

    // The source has moved every key and hands the slot over, target first: from then on the
    // target serves the slot to everyone, before the map that gives it the slot arrives.
    let setslot = |slot: &str, node: usize| ["CLUSTER", "SETSLOT", slot, "NODE", id(node).as_str()].map(String::from);
    let refused = err("ERR slot 5062 is not migrating to this node in the cluster map it has");
    assert_eq!(target.cmd_bytes(&setslot("5062", 1)), refused);
    assert_eq!(nodes.conn(2).cmd_bytes(&setslot("5061", 2)), err("ERR slot 5061 is not migrating to this node in the cluster map it has"));
    assert_eq!(target.cmd_bytes(&setslot("16384", 1)), err("ERR Invalid or out of range slot"));
    assert_eq!(target.cmd_bytes(&setslot("5061", 1)), ok());
    assert_eq!(target.cmd(&["GET", "{bar}x"]), bulk("moved"), "no ASKING needed any more");
    assert_eq!(target.cmd(&["MGET", "{bar}x", "bar"]), arr(vec![bulk("moved"), nil()]), "every key is here: no TRYAGAIN");
    assert_eq!(target.cmd(&["GET", "foo"]), err(&format!("MOVED 12182 {}", nodes.addr(2))), "other slots are routed as before");
    // The mark lasts while the map lists the slot as importing; a map without the migration ends it.
    let mut next = map.clone();
    next.epoch = 3;
    nodes.install(&next);
    assert_eq!(target.cmd(&["GET", "{bar}x"]), bulk("moved"));
    next.epoch = 4;
    next.migrations.clear();
    nodes.install(&next);
    assert_eq!(target.cmd(&["GET", "{bar}x"]), moved);
    next.epoch = 5;
    next.migrations.push(Migration { slot: 5061, from: id(0), to: id(1) });
    nodes.install(&next);
    assert_eq!(target.cmd(&["GET", "{bar}x"]), moved, "a new migration of the slot starts unadopted");
}

#[test]
fn a_replica_serves_reads_after_readonly() {
    let nodes = Nodes::start(4);
    nodes.install(&nodes.map(1));
    let mut replica = nodes.conn(3);
    let moved = err(&format!("MOVED 5061 {}", nodes.addr(0)));
    for (args, reply) in [
        (&["GET", "bar"][..], moved.clone()),
        (&["READONLY"], ok()),
        (&["GET", "bar"], nil()),
        (&["EXISTS", "bar", "{bar}1"], int(0)),
        (&["SET", "bar", "1"], moved.clone()),
        (&["GET", "foo"], err(&format!("MOVED 12182 {}", nodes.addr(2)))),
        (&["READWRITE"], ok()),
        (&["GET", "bar"], moved.clone()),
        (&["READONLY"], ok()),
        (&["RESET"], simple("RESET")),
        (&["GET", "bar"], moved.clone()),
    ] {
        assert_eq!(replica.cmd(args), reply, "{args:?}");
    }
    let nodes_text = text(&replica.cmd(&["CLUSTER", "NODES"]));
    assert!(nodes_text.contains(&format!("{} {}@17003 myself,slave {} 0 0 1 connected\n", id(3), nodes.addr(3), id(0))), "{nodes_text}");
}

#[test]
fn a_node_that_is_down_takes_the_cluster_down() {
    let nodes = three();
    let mut map = nodes.map(2);
    map.nodes[2].state = NodeState::Down;
    nodes.install(&map);
    let mut c = nodes.conn(0);
    assert_eq!(c.cmd(&["GET", "bar"]), err("CLUSTERDOWN The cluster is down"));
    let info = text(&c.cmd(&["CLUSTER", "INFO"]));
    assert!(info.starts_with("cluster_state:fail\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:10923\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:5461\r\n"), "{info}");
    let line = text(&c.cmd(&["CLUSTER", "NODES"])).lines().find(|l| l.starts_with(id(2).as_str())).unwrap().to_string();
    assert_eq!(line, format!("{} {}@17002 master,fail - 0 0 2 disconnected 10923-16383", id(2), nodes.addr(2)));
    // An older map changes nothing.
    nodes.install(&nodes.map(1));
    assert_eq!(c.cmd(&["GET", "bar"]), err("CLUSTERDOWN The cluster is down"));
    nodes.install(&nodes.map(3));
    assert_eq!(c.cmd(&["GET", "bar"]), nil());
}

/// `[ip, port, id, {}]` of node `i`, as CLUSTER SLOTS lists it.
fn slot_node(nodes: &Nodes, i: usize) -> Frame {
    arr(vec![bulk("127.0.0.1"), int(i64::from(nodes.servers[i].addr.port())), bulk(id(i).as_str()), arr(vec![])])
}

#[test]
fn cluster_subcommands_describe_the_map() {
    let nodes = Nodes::start(4);
    nodes.install(&nodes.map(7));
    let mut c = nodes.conn(0);
    let range = |start: i64, end: i64, members: Vec<Frame>| {
        let mut v = vec![int(start), int(end)];
        v.extend(members);
        arr(v)
    };
    assert_eq!(
        c.cmd(&["CLUSTER", "SLOTS"]),
        arr(vec![
            range(0, 5460, vec![slot_node(&nodes, 0), slot_node(&nodes, 3)]),
            range(5461, 10922, vec![slot_node(&nodes, 1)]),
            range(10923, 16383, vec![slot_node(&nodes, 2)]),
        ])
    );
    let member = |i: usize, role: &str, health: &str| {
        let port = i64::from(nodes.servers[i].addr.port());
        let fields = [("id", bulk(id(i).as_str())), ("port", int(port)), ("ip", bulk("127.0.0.1")), ("endpoint", bulk("127.0.0.1"))];
        let mut v: Vec<Frame> = fields.into_iter().flat_map(|(k, v)| [bulk(k), v]).collect();
        v.extend([bulk("role"), bulk(role), bulk("replication-offset"), int(0), bulk("health"), bulk(health)]);
        arr(v)
    };
    let shard = |start: i64, end: i64, members: Vec<Frame>| arr(vec![bulk("slots"), arr(vec![int(start), int(end)]), bulk("nodes"), arr(members)]);
    assert_eq!(
        c.cmd(&["CLUSTER", "SHARDS"]),
        arr(vec![
            shard(0, 5460, vec![member(0, "master", "online"), member(3, "replica", "loading")]),
            shard(5461, 10922, vec![member(1, "master", "online")]),
            shard(10923, 16383, vec![member(2, "master", "online")]),
        ])
    );
    let expected_nodes = format!(
        "{} {}@17000 myself,master - 0 0 7 connected 0-5460\n\
         {} {}@17001 master - 0 0 7 connected 5461-10922\n\
         {} {}@17002 master - 0 0 7 connected 10923-16383\n\
         {} {}@17003 slave {} 0 0 7 connected\n",
        id(0),
        nodes.addr(0),
        id(1),
        nodes.addr(1),
        id(2),
        nodes.addr(2),
        id(3),
        nodes.addr(3),
        id(0)
    );
    assert_eq!(text(&c.cmd(&["CLUSTER", "NODES"])), expected_nodes);
    assert_eq!(
        text(&c.cmd(&["CLUSTER", "INFO"])),
        "cluster_state:ok\r\ncluster_slots_assigned:16384\r\ncluster_slots_ok:16384\r\ncluster_slots_pfail:0\r\ncluster_slots_fail:0\r\n\
         cluster_known_nodes:4\r\ncluster_size:3\r\ncluster_current_epoch:7\r\ncluster_my_epoch:7\r\n\
         cluster_stats_messages_sent:0\r\ncluster_stats_messages_received:0\r\ntotal_cluster_links_buffer_limit_exceeded:0\r\n"
    );
    assert_eq!(c.cmd(&["CLUSTER", "MYID"]), bulk(id(0).as_str()));
    assert_eq!(c.cmd(&["CLUSTER", "KEYSLOT", "foo"]), int(12182));
    assert_eq!(c.cmd(&["CLUSTER", "KEYSLOT", "{user}.following"]), int(5474));
    assert_eq!(c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "16384"]), err("ERR Invalid slot"));
    assert_eq!(c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "-1"]), err("ERR Invalid slot"));
    assert_eq!(c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["CLUSTER", "COUNTKEYSINSLOT", "1"]), int(0));
    assert_eq!(c.cmd(&["CLUSTER", "GETKEYSINSLOT", "1", "-1"]), err("ERR Invalid slot or number of keys"));
    assert_eq!(c.cmd(&["CLUSTER", "GETKEYSINSLOT", "16384", "1"]), err("ERR Invalid slot or number of keys"));
    assert_eq!(c.cmd(&["CLUSTER", "GETKEYSINSLOT", "1", "x"]), err("ERR value is not an integer or out of range"));
    assert_eq!(c.cmd(&["CLUSTER", "GETKEYSINSLOT", "1", "5"]), arr(vec![]));
    assert_eq!(c.cmd(&["CLUSTER", "REPLICAS", id(0).as_str()]), arr(vec![bulk(&format!("{} {}@17003 slave {} 0 0 7 connected", id(3), nodes.addr(3), id(0)))]));
    assert_eq!(c.cmd(&["CLUSTER", "REPLICAS", id(3).as_str()]), err("ERR The specified node is not a master"));
    assert_eq!(c.cmd(&["CLUSTER", "REPLICAS", "nobody"]), err("ERR Unknown node nobody"));
    assert_eq!(c.cmd(&["CLUSTER", "LINKS"]), arr(vec![]));
    assert_eq!(c.cmd(&["CLUSTER", "NOPE"]), err("ERR unknown subcommand 'NOPE'. Try CLUSTER HELP."));
    assert_eq!(c.cmd(&["CLUSTER", "KEYSLOT"]), err("ERR wrong number of arguments for 'cluster|keyslot' command"));
    assert!(matches!(c.cmd(&["CLUSTER", "HELP"]), Frame::Array(lines) if lines.len() > 10));
    for (args, command) in [
        (&["CLUSTER", "ADDSLOTS", "1"][..], "rebalance"),
        (&["CLUSTER", "SETSLOT", "1", "NODE", id(1).as_str()], "rebalance"),
        (&["CLUSTER", "MEET", "127.0.0.1", "7000"], "add-node"),
        (&["CLUSTER", "FORGET", id(1).as_str()], "remove-node"),
        (&["CLUSTER", "FAILOVER"], "failover"),
    ] {
        let name = args[1].to_ascii_uppercase();
        assert_eq!(c.cmd(args), err(&format!("ERR CLUSTER {name} is decided by the control plane in Ferrocache: use 'ferrocache cluster {command}'")));
    }
}

#[test]
fn info_tells_cluster_mode_and_the_admin_url() {
    let nodes = Nodes::start(1);
    nodes.servers[0].shared.cluster.as_ref().unwrap().set_admin_url("http://127.0.0.1:17000".into());
    let mut c = nodes.conn(0);
    assert_eq!(text(&c.cmd(&["INFO", "cluster"])), "# Cluster\r\ncluster_enabled:1\r\nferrocache_admin_url:http://127.0.0.1:17000\r\nferrocache_lease_held:1\r\nferrocache_migrated_keys:0\r\nferrocache_migrated_bytes:0\r\n");
    assert!(text(&c.cmd(&["INFO", "server"])).contains("redis_mode:cluster\r\n"));
    let port = nodes.servers[0].addr.port();
    assert_eq!(text(&c.cmd(&["CLUSTER", "NODES"])), format!("{} :{port}@17000 myself,master - 0 0 0 connected\n", id(0)));
}

#[test]
fn outside_cluster_mode_cluster_commands_are_refused() {
    let server = ferrocache_e2e::start();
    let mut c = server.conn();
    let disabled = err("ERR This instance has cluster support disabled");
    for args in [&["CLUSTER", "INFO"][..], &["CLUSTER", "KEYSLOT", "foo"], &["CLUSTER", "HELP"], &["READONLY"], &["READWRITE"], &["ASKING"]] {
        assert_eq!(c.cmd(args), disabled, "{args:?}");
    }
    assert_eq!(c.cmd(&["CLUSTER", "NOPE"]), err("ERR unknown subcommand 'NOPE'. Try CLUSTER HELP."));
    assert_eq!(text(&c.cmd(&["INFO", "cluster"])), "# Cluster\r\ncluster_enabled:0\r\n");
    assert_eq!(c.cmd(&["SELECT", "1"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "GET", "cluster-enabled"]), bulks(&["cluster-enabled", "no"]));
}

#[test]
fn redis_cli_follows_moved_between_the_nodes() {
    let nodes = three();
    let cli = |node: usize, args: &[&str]| {
        let mut cmd = Command::new("redis-cli");
        cmd.args(["-c", "-p", &nodes.servers[node].addr.port().to_string()]).args(args);
        let out = run_bounded(cmd, b"", Duration::from_secs(20));
        assert!(out.status.success(), "redis-cli {args:?}: {out:?}");
        String::from_utf8_lossy(&out.stdout).trim().to_string()
    };
    assert_eq!(cli(0, &["SET", "foo", "from-node-0"]), "OK");
    assert_eq!(nodes.conn(2).cmd(&["GET", "foo"]), bulk("from-node-0"), "stored on foo's owner");
    assert_eq!(cli(1, &["GET", "foo"]), "from-node-0");
    assert_eq!(cli(2, &["SET", "bar", "from-node-2"]), "OK");
    assert_eq!(cli(1, &["GET", "bar"]), "from-node-2");
    assert_eq!(nodes.conn(0).cmd(&["GET", "bar"]), bulk("from-node-2"));
}

/// CLUSTER NODES with what differs between any two clusters (ids,
/// addresses, times, epochs) blanked, lines sorted.
fn nodes_skeleton(text: &str) -> Vec<String> {
    let mut lines: Vec<String> = text
        .lines()
        .map(|l| {
            let mut f: Vec<&str> = l.split(' ').collect();
            assert!(f.len() >= 8, "a CLUSTER NODES line has at least 8 fields: {l}");
            assert!(f[1].contains(':') && f[1].contains('@'), "ip:port@cport: {l}");
            for i in [0, 1, 4, 5, 6] {
                f[i] = "_";
            }
            f.join(" ")
        })
        .collect();
    lines.sort();
    lines
}

/// A reply's shape: strings and integers by type, except the words that
/// name fields and states, which must match exactly.
fn shape(f: &Frame) -> String {
    const WORDS: &[&str] = &["slots", "nodes", "id", "port", "ip", "endpoint", "role", "replication-offset", "health", "master", "online"];
    match f {
        Frame::Array(v) => format!("[{}]", v.iter().map(shape).collect::<Vec<_>>().join(",")),
        Frame::Integer(_) => "int".into(),
        Frame::Bulk(b) => match WORDS.iter().find(|w| w.as_bytes() == &b[..]) {
            Some(w) => (*w).to_string(),
            None => "str".into(),
        },
        other => format!("{other:?}"),
    }
}

fn sorted_shape(f: &Frame) -> Vec<String> {
    let Frame::Array(items) = f else { panic!("expected an array, got {f:?}") };
    let mut shapes: Vec<String> = items.iter().map(shape).collect();
    shapes.sort();
    shapes
}

#[test]
fn cluster_replies_have_the_shapes_of_a_real_redis_cluster() {
    let dir = std::env::temp_dir().join(format!("ferrocache-cluster-shapes-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let redis: Vec<RedisServer> = (0..3)
        .map(|i| {
            let conf = dir.join(format!("nodes-{i}.conf"));
            let _ = std::fs::remove_file(&conf);
            RedisServer::start_with(&["--cluster-enabled", "yes", "--cluster-config-file", conf.to_str().unwrap()])
        })
        .collect();
    for (i, (start, end)) in [(0, 5460), (5461, 10922), (10923, 16383)].into_iter().enumerate() {
        assert_eq!(redis[i].conn().cmd(&["CLUSTER", "ADDSLOTSRANGE", &start.to_string(), &end.to_string()]), ok());
        assert_eq!(redis[i].conn().cmd(&["CLUSTER", "SET-CONFIG-EPOCH", &(i + 1).to_string()]), ok());
    }
    for r in &redis[1..] {
        assert_eq!(redis[0].conn().cmd(&["CLUSTER", "MEET", "127.0.0.1", &r.port().to_string()]), ok());
    }
    let deadline = Instant::now() + Duration::from_secs(30);
    while !redis.iter().all(|r| {
        let info = text(&r.conn().cmd(&["CLUSTER", "INFO"]));
        info.contains("cluster_state:ok") && info.contains("cluster_known_nodes:3")
    }) {
        assert!(Instant::now() < deadline, "the reference Redis cluster did not form");
        std::thread::sleep(Duration::from_millis(100));
    }
    let ours = three();
    let (mut theirs, mut mine) = (redis[0].conn(), ours.conn(0));

    assert_eq!(nodes_skeleton(&text(&mine.cmd(&["CLUSTER", "NODES"]))), nodes_skeleton(&text(&theirs.cmd(&["CLUSTER", "NODES"]))));
    assert_eq!(sorted_shape(&mine.cmd(&["CLUSTER", "SLOTS"])), sorted_shape(&theirs.cmd(&["CLUSTER", "SLOTS"])));
    assert_eq!(sorted_shape(&mine.cmd(&["CLUSTER", "SHARDS"])), sorted_shape(&theirs.cmd(&["CLUSTER", "SHARDS"])));
    let fields = |text: String| -> Vec<String> { text.lines().filter_map(|l| l.split_once(':')).map(|(k, _)| k.to_string()).collect() };
    let (my_info, their_info) = (fields(text(&mine.cmd(&["CLUSTER", "INFO"]))), fields(text(&theirs.cmd(&["CLUSTER", "INFO"]))));
    let their_common: Vec<&String> = their_info.iter().filter(|f| my_info.contains(f)).collect();
    assert_eq!(their_common, my_info.iter().collect::<Vec<_>>(), "our fields, in Redis's order");
    assert!(their_info.iter().all(|f| my_info.contains(f) || f.starts_with("cluster_stats_messages_")), "{their_info:?}");
    let _ = std::fs::remove_dir_all(&dir);
}

#[test]
fn a_client_blocked_on_a_slot_that_moves_away_is_sent_on() {
    let nodes = three();
    let mut blocked = nodes.conn(0);
    blocked.send(&["BLPOP", "bar", "0"]);
    let mut other = nodes.conn(0);
    ferrocache_e2e::await_blocked(&mut other, 1);
    // Slot 5061 (bar) goes to shard 1 in the next epoch.
    let mut map = nodes.map(2);
    for shard in &mut map.shards {
        shard.slots.retain(|r| !r.contains(5061));
    }
    map.shards[0].slots = vec![
        ferrocache_topology::placement::SlotRange { start: 0, end: 5060 },
        ferrocache_topology::placement::SlotRange { start: 5062, end: 5460 },
    ];
    map.shards[1].slots.push(ferrocache_topology::placement::SlotRange { start: 5061, end: 5061 });
    nodes.install(&map);
    let shared = &nodes.servers[0].shared;
    assert_eq!(ferrocache_server::cluster::redirect_blocked(shared), 1);
    assert_eq!(blocked.read_frame(), Some(err(&format!("MOVED 5061 {}", nodes.addr(1)))));
    assert_eq!(ferrocache_server::cluster::redirect_blocked(shared), 0, "nobody left waiting");
}
