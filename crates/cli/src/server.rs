//! `ferrocache server`: runs a node, the Redis-protocol server and, beside it, the control
//! plane with its admin HTTP API (`--admin-port`, default 7379; 0 disables it; HTTPS with
//! `--admin-tls-cert`/`--admin-tls-key`). Settings come
//! from built-in defaults, then the TOML file given with `--config`, then command-line flags;
//! any unknown or invalid setting stops the start with a message that names it and exit code 2.

use std::process::ExitCode;

use ferrocache_control::{ControlConfig, ControlNode};
use ferrocache_server::{Config, Server};

#[derive(clap::Args)]
pub struct ServerArgs {
    /// TOML file of settings (keys are the setting names below, e.g. `port = 7000`).
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Addresses to listen on [default: 127.0.0.1].
    #[arg(long, num_args = 1.., value_name = "ADDR")]
    bind: Vec<String>,
    /// TCP port for clients [default: 6379; 0 picks a free port].
    #[arg(long)]
    port: Option<String>,
    /// Password clients must give with AUTH or HELLO.
    #[arg(long)]
    requirepass: Option<String>,
    /// Number of databases [default: 16].
    #[arg(long)]
    databases: Option<String>,
    /// Most clients connected at once [default: 10000].
    #[arg(long)]
    maxclients: Option<String>,
    /// Largest bulk string a client may send, e.g. 512mb [default: 512mb].
    #[arg(long, value_name = "SIZE")]
    proto_max_bulk_len: Option<String>,
    /// trace, debug, info, warn or error [default: info].
    #[arg(long)]
    log_level: Option<String>,
    /// Any other setting, as NAME=VALUE (repeatable), e.g. --set timeout=300.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
    /// Port of the admin HTTP API and control plane; 0 disables both [default: 7379].
    #[arg(long, value_name = "PORT")]
    admin_port: Option<u16>,
    /// Address the admin API listens on; beyond loopback it needs --token-file.
    #[arg(long, default_value = "127.0.0.1", value_name = "IP")]
    admin_bind: std::net::IpAddr,
    /// URL other nodes use to reach this node's admin port [default: http(s)://<admin-bind>:<admin-port>].
    #[arg(long, value_name = "URL")]
    admin_advertise: Option<String>,
    /// TOML file of admin API bearer tokens ([[token]] name, secret, role, optional prefix).
    #[arg(long, value_name = "FILE")]
    token_file: Option<std::path::PathBuf>,
    /// PEM certificate chain for the admin port: it then serves HTTPS only, and Raft traffic uses HTTPS.
    #[arg(long, value_name = "FILE", requires = "admin_tls_key")]
    admin_tls_cert: Option<std::path::PathBuf>,
    /// PEM private key of --admin-tls-cert.
    #[arg(long, value_name = "FILE", requires = "admin_tls_cert")]
    admin_tls_key: Option<std::path::PathBuf>,
    /// PEM file of the CA that peers' certificates must chain to [default: the system's roots].
    #[arg(long, value_name = "FILE", requires = "admin_tls_cert")]
    admin_tls_ca: Option<std::path::PathBuf>,
    /// Directory for the control plane's Raft log and snapshots [default: ferrocache-data].
    #[arg(long, value_name = "DIR")]
    data_dir: Option<std::path::PathBuf>,
    /// Admin URL of a running node whose cluster this node joins, e.g. http://127.0.0.1:7379.
    #[arg(long, value_name = "URL")]
    join: Option<String>,
    /// This node's control-plane id, unique in the cluster; a wiped node needs a new one
    /// [default: 1; in cluster mode, derived from the node's identity].
    #[arg(long, value_name = "ID")]
    node_id: Option<u64>,
    /// Cluster mode: serve the hash slots the cluster map gives this node (MOVED/ASK for the
    /// rest), db 0 only. The node waits to be made part of a cluster by `ferrocache cluster
    /// create` or `add-node`, or joins the one at --join; its admin port defaults to --port + 1000
    /// and its data dir to ferrocache-data/<port>.
    #[arg(long)]
    cluster: bool,
    /// Cluster mode: the client address to record in the cluster map and give in MOVED/ASK
    /// replies and CLUSTER SLOTS/NODES, instead of the bound one: e.g. a DNS name that stays
    /// when the IP changes (a Kubernetes pod's), or an address behind NAT. The port defaults
    /// to --port.
    #[arg(long, value_name = "HOST[:PORT]", requires = "cluster")]
    announce: Option<String>,
    /// Cluster mode: how long this node's lease on the control plane lives without renewal.
    /// A primary stops taking writes before it can end; the control plane fails it over after.
    #[arg(long, value_name = "MS", default_value_t = 1000)]
    lease_ttl_ms: u64,
    /// Cluster mode: how often the lease is renewed (at most a third of --lease-ttl-ms).
    #[arg(long, value_name = "MS", default_value_t = 200)]
    lease_renew_ms: u64,
}

const DEFAULT_ADMIN_PORT: u16 = 7379;
/// In cluster mode the admin port defaults to the client port plus this.
const CLUSTER_ADMIN_OFFSET: u16 = 1000;
const DEFAULT_DATA_DIR: &str = "ferrocache-data";

/// The control plane to start beside the server. Not `required` when no control-plane flag was
/// given: then a node whose default admin port or data dir is taken (say, a second server on
/// the same machine) runs without it, with a warning, as it did before the control plane existed.
struct ControlStart {
    config: ControlConfig,
    required: bool,
    /// In cluster mode: this node's identity.
    identity: Option<ferrocache_topology::map::NodeId>,
    /// Started with `--join`.
    joined: bool,
    lease: ferrocache_control::liveness::LeaseTimes,
    /// `--announce`, with its port.
    announce: Option<String>,
}

impl ServerArgs {
    /// Defaults, then the file, then the flags.
    fn config(&self) -> Result<Config, String> {
        let mut config = Config::default();
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            config.apply_toml(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        if !self.bind.is_empty() {
            pairs.push(("bind".into(), self.bind.join(" ")));
        }
        let flags = [
            ("port", &self.port),
            ("requirepass", &self.requirepass),
            ("databases", &self.databases),
            ("maxclients", &self.maxclients),
            ("proto-max-bulk-len", &self.proto_max_bulk_len),
            ("log-level", &self.log_level),
        ];
        pairs.extend(flags.iter().filter_map(|(n, v)| v.as_ref().map(|v| (n.to_string(), v.clone()))));
        for s in &self.set {
            let (n, v) = s.split_once('=').ok_or_else(|| format!("--set expects NAME=VALUE, got '{s}'"))?;
            pairs.push((n.trim().to_string(), v.to_string()));
        }
        if self.cluster {
            pairs.push(("cluster-enabled".into(), "yes".into()));
        }
        for (name, value) in pairs {
            config.apply(&name, &value).map_err(|e| e.to_string())?;
        }
        Ok(config)
    }

    /// The control-plane settings, or `None` when `--admin-port 0` disables it.
    fn control_config(&self, port: u16) -> Result<Option<ControlStart>, String> {
        let admin_port = match self.admin_port {
            Some(p) => p,
            None if self.cluster => port.checked_add(CLUSTER_ADMIN_OFFSET).ok_or_else(|| {
                format!("--port {port} leaves no room for the admin port at +{CLUSTER_ADMIN_OFFSET}: give --admin-port")
            })?,
            None => DEFAULT_ADMIN_PORT,
        };
        if self.cluster && (admin_port == 0 || port == 0) {
            return Err("cluster mode needs fixed ports: give --port (and --admin-port, if set, not 0); \
                        other nodes and clients reach this node by them".into());
        }
        if admin_port == 0 {
            return Ok(None);
        }
        if self.join.is_some() && self.node_id.is_none() && !self.cluster {
            return Err("--join needs --node-id: a control-plane id that no member of that cluster uses".into());
        }
        let tokens = match &self.token_file {
            Some(path) => ferrocache_control::auth::load_tokens(path)?,
            None if !self.admin_bind.is_loopback() => {
                return Err(format!(
                    "refusing to serve the admin API on {} with no access control: give --token-file, \
                     use a loopback address (--admin-bind 127.0.0.1) or disable it with --admin-port 0",
                    self.admin_bind
                ));
            }
            None => Vec::new(),
        };
        let addr = std::net::SocketAddr::new(self.admin_bind, admin_port);
        let data_dir = match &self.data_dir {
            Some(dir) => dir.clone(),
            None if self.cluster => std::path::Path::new(DEFAULT_DATA_DIR).join(port.to_string()),
            None => DEFAULT_DATA_DIR.into(),
        };
        let identity = if self.cluster { Some(crate::cluster_node::identity(&data_dir)?) } else { None };
        let node_id = self.node_id.or(identity.as_ref().map(crate::cluster_node::raft_id)).unwrap_or(1);
        let mut config = ControlConfig::new(node_id, data_dir, addr);
        config.join = self.join.clone();
        config.standby = self.cluster;
        config.advertise_url = self.admin_advertise.clone();
        config.tokens = tokens;
        if let (Some(cert), Some(key)) = (&self.admin_tls_cert, &self.admin_tls_key) {
            let files = ferrocache_control::TlsFiles { cert: cert.clone(), key: key.clone(), ca: self.admin_tls_ca.clone() };
            files.check().map_err(|e| format!("admin TLS: {e}"))?;
            config.tls = Some(files);
        }
        let required = self.cluster
            || self.admin_port.is_some()
            || self.data_dir.is_some()
            || self.join.is_some()
            || self.node_id.is_some()
            || self.token_file.is_some()
            || self.admin_tls_cert.is_some();
        if self.lease_renew_ms == 0 || self.lease_renew_ms.saturating_mul(3) > self.lease_ttl_ms {
            return Err(format!(
                "--lease-renew-ms {} must be at least 1 and at most a third of --lease-ttl-ms {}, so that a missed renewal does not fence the node",
                self.lease_renew_ms, self.lease_ttl_ms
            ));
        }
        let lease = ferrocache_control::liveness::LeaseTimes {
            ttl: std::time::Duration::from_millis(self.lease_ttl_ms),
            renew: std::time::Duration::from_millis(self.lease_renew_ms),
        };
        let announce = self.announce.as_deref().map(|a| announce_addr(a, port)).transpose()?;
        Ok(Some(ControlStart { config, required, identity, joined: self.join.is_some(), lease, announce }))
    }
}

/// Runs `ferrocache server` to the end (signal or SHUTDOWN).
pub fn main(args: ServerArgs) -> ExitCode {
    let (config, control) = match args.config().and_then(|c| {
        let control = args.control_config(c.port)?;
        Ok((c, control))
    }) {
        Ok(c) => c,
        Err(e) => {
            eprintln!("ferrocache: {e}");
            return ExitCode::from(2);
        }
    };
    run_server(config, control)
}

fn run_server(config: Config, control: Option<ControlStart>) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(&config.log_level));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferrocache: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ferrocache: {e}");
                return ExitCode::FAILURE;
            }
        };
        // Where other nodes and clients reach this one (loopback for a wildcard bind).
        let client_addr = {
            let local = server.local_addr();
            let ip = if local.ip().is_unspecified() { std::net::Ipv4Addr::LOCALHOST.into() } else { local.ip() };
            std::net::SocketAddr::new(ip, local.port()).to_string()
        };
        let control = match control {
            Some(start) => match ControlNode::start(start.config).await {
                Ok(handle) => {
                    tracing::info!("admin API and control plane on {}", handle.url());
                    handle.serve_metrics(std::sync::Arc::new(ferrocache_server::metrics::Exposition(server.shared())));
                    if let Some(id) = start.identity {
                        tracing::info!("cluster node {id}");
                        let at = crate::cluster_node::Addresses {
                            client: start.announce.clone().unwrap_or_else(|| client_addr.clone()),
                            admin: handle.url().to_string(),
                            announced: start.announce.is_some(),
                        };
                        crate::cluster_node::serve(&server.shared(), handle.maps(), at, id, start.joined, start.lease);
                    }
                    Some(handle)
                }
                Err(e) if !start.required => {
                    tracing::warn!("running without the control plane: {e} (choose --admin-port and --data-dir, or --admin-port 0)");
                    None
                }
                Err(e) => {
                    eprintln!("ferrocache: {e}");
                    return ExitCode::FAILURE;
                }
            },
            None => None,
        };
        ferrocache_store::memory::mark_startup();
        let shared = server.shared();
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received");
            shared.shutdown.request();
        });
        let result = server.run().await;
        if let Some(handle) = control {
            handle.shutdown().await;
        }
        match result {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferrocache: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

/// `--announce HOST[:PORT]` as `HOST:PORT` (an IPv6 host in brackets), the port defaulting
/// to the client port.
fn announce_addr(announce: &str, port: u16) -> Result<String, String> {
    let bad = || format!("--announce '{announce}' must be HOST or HOST:PORT (an IPv6 address in brackets, [::1]:7000)");
    let (host, port) = match announce.rsplit_once(':') {
        // A bare IPv6 address has colons but no brackets: refuse rather than guess.
        Some((host, _)) if host.contains(':') && !host.starts_with('[') => return Err(bad()),
        Some((host, p)) if !host.is_empty() && !host.ends_with(':') && !announce.ends_with(']') => {
            (host, p.parse::<u16>().ok().filter(|&p| p != 0).ok_or_else(bad)?)
        }
        Some(_) if !announce.starts_with('[') => return Err(bad()),
        _ => (announce, port),
    };
    let inner = host.strip_prefix('[').and_then(|h| h.strip_suffix(']')).unwrap_or(host);
    let valid = !inner.is_empty() && inner.chars().all(|c| c.is_ascii_alphanumeric() || matches!(c, '.' | '-' | '_' | ':'));
    let bracketed = inner.len() != host.len();
    if !valid || ((bracketed || inner.contains(':')) && inner.parse::<std::net::Ipv6Addr>().is_err()) {
        return Err(bad());
    }
    Ok(format!("{host}:{port}"))
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}

#[cfg(test)]
mod tests {
    use super::announce_addr;

    #[test]
    fn announce_takes_a_host_and_an_optional_port() {
        assert_eq!(announce_addr("localhost:7001", 7000).unwrap(), "localhost:7001");
        assert_eq!(announce_addr("ferro-0.ferro-peers.ns.svc.cluster.local", 6379).unwrap(), "ferro-0.ferro-peers.ns.svc.cluster.local:6379");
        assert_eq!(announce_addr("10.0.0.5", 7000).unwrap(), "10.0.0.5:7000");
        assert_eq!(announce_addr("[::1]:7001", 7000).unwrap(), "[::1]:7001");
        assert_eq!(announce_addr("[::1]", 7000).unwrap(), "[::1]:7000");
        for bad in ["", ":7000", "host:", "host:0", "host:99999", "::1", "a b:1", "[::1", "[nope]:1", "h/x:1"] {
            assert!(announce_addr(bad, 7000).unwrap_err().contains("must be HOST or HOST:PORT"), "{bad}");
        }
    }
}
