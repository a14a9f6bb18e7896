//! `ferrocache server --cluster --announce HOST[:PORT]`: the address a node asks to be known
//! by goes in the cluster map, whatever address the operator reached it at, and from there in
//! CLUSTER NODES, CLUSTER SLOTS and MOVED. Kubernetes pods announce their stable DNS names
//! this way, so that a pod that comes back with a new IP is still found.

use ferrocache_e2e::cluster::LocalCluster;
use ferrocache_e2e::reply::text;
use ferrocache_e2e::Frame;

#[test]
fn announced_addresses_go_in_the_map_and_in_redirections() {
    let mut cluster = LocalCluster::start(0);
    for _ in 0..2 {
        // No port: it defaults to the node's --port.
        cluster.spawn_node_with(&["--announce", "localhost"]);
    }
    let ports: Vec<u16> = cluster.nodes.iter().map(|n| n.port()).collect();
    let mut c = cluster.nodes[0].conn();
    assert_eq!(c.info_field("cluster", "ferrocache_announce"), format!("localhost:{}", ports[0]));

    // Formed by their bound addresses (127.0.0.1:PORT), they are known by the announced ones.
    let mut args = vec!["create"];
    let addrs = cluster.addrs();
    assert!(addrs.iter().all(|a| a.starts_with("127.0.0.1:")), "{addrs:?}");
    args.extend(addrs.iter().map(String::as_str));
    let out = cluster.cli(&args);
    assert!(out.status.success(), "{}", ferrocache_e2e::cluster::text(&out));

    let nodes = text(&c.cmd(&["CLUSTER", "NODES"]));
    for port in &ports {
        assert!(nodes.contains(&format!(" localhost:{port}@{} ", port + 1000)), "{nodes}");
    }
    assert!(!nodes.contains("127.0.0.1"), "{nodes}");

    let Frame::Array(ranges) = c.cmd(&["CLUSTER", "SLOTS"]) else { panic!("CLUSTER SLOTS is not an array") };
    assert_eq!(ranges.len(), 2);
    for range in &ranges {
        let Frame::Array(items) = range else { panic!("{range:?}") };
        let Frame::Array(primary) = &items[2] else { panic!("{range:?}") };
        assert_eq!(text(&primary[0]), "localhost", "{range:?}");
        assert!(matches!(primary[1], Frame::Integer(p) if ports.contains(&(p as u16))), "{range:?}");
    }

    // "a" hashes to slot 15495, in the second node's half of the slots.
    let moved = c.cmd(&["GET", "a"]);
    assert_eq!(moved, Frame::Error(format!("MOVED 15495 localhost:{}", ports[1]).into()), "{moved:?}");
    // A cluster client that follows it gets there.
    let mut other = cluster.nodes[1].conn();
    assert_eq!(other.cmd(&["SET", "a", "1"]), ferrocache_e2e::reply::ok());
}

/// The command line a rendered systemd unit runs (`Spec::server_args` with the systemd
/// target's Launch: bind, ports, admin URL, `--announce`, data dir, `--set` settings) starts a
/// node that takes every flag, announces its `[[nodes]]` address and applies the settings.
#[test]
fn a_rendered_systemd_command_line_runs_a_node() {
    use ferrocache_deploy::render::systemd;
    use ferrocache_deploy::spec::Spec;

    let dir = std::env::temp_dir().join(format!("ferrocache-e2e-rendered-{}", std::process::id()));
    let node = ferrocache_e2e::cluster::ClusterNode::start_on(std::net::Ipv4Addr::LOCALHOST.into(), |port| {
        let text = format!(
            "name = \"smoke\"\ntarget = \"systemd\"\nshards = 1\n[settings]\nmaxmemory-policy = \"allkeys-lru\"\nmaxmemory = \"64mb\"\n[[nodes]]\nhost = \"127.0.0.1\"\nport = {port}\n"
        );
        let spec = Spec::parse(std::path::Path::new("smoke.toml"), &text).unwrap_or_else(|e| panic!("{e}"));
        let mut at = systemd::launch(&spec, &spec.nodes[0]);
        at.data_dir = dir.join(port.to_string());
        let _ = std::fs::remove_dir_all(&at.data_dir);
        let mut cmd = std::process::Command::new(ferrocache_e2e::ferrocache_bin());
        cmd.args(spec.server_args(&at)).stdin(std::process::Stdio::null()).env("RUST_LOG", "warn");
        cmd
    });
    let port = node.port();
    let mut c = node.conn();
    assert_eq!(c.info_field("cluster", "ferrocache_announce"), format!("127.0.0.1:{port}"));
    assert_eq!(c.info_field("cluster", "ferrocache_admin_url"), format!("http://127.0.0.1:{}", port + 1000));
    assert_eq!(c.cmd(&["CONFIG", "GET", "maxmemory-policy"]), ferrocache_e2e::reply::bulks(&["maxmemory-policy", "allkeys-lru"]));
    assert!(dir.join(port.to_string()).join("node-id").exists(), "the node keeps its identity in the data dir");
    drop(node);
    let _ = std::fs::remove_dir_all(&dir);
}
