//! The cluster spec (`cluster.toml`): what an operator wants running.
//!
//! One file says how many shards and replicas, where the nodes run (this machine, hosts under
//! systemd, or a Kubernetes StatefulSet), the nodes' own settings and where the admin token and
//! TLS files are. Every mistake is reported as `FILE:LINE: FIELD: what is wrong`, so that the
//! operator can go straight to it: unknown fields are refused (a typo must not be silently
//! ignored), and the checks that serde cannot express (ranges, counts, names) keep the span of
//! the value they reject.

use std::collections::BTreeMap;
use std::ops::Range;
use std::path::{Path, PathBuf};

use serde::Deserialize;
use toml::Spanned;

/// Client ports of local nodes start here unless the spec says otherwise.
pub const DEFAULT_BASE_PORT: u16 = 7000;
/// A node's admin port is its client port plus this (as `ferrocache server --cluster` defaults).
pub const ADMIN_OFFSET: u16 = 1000;
/// More nodes than this on one machine is a mistake, not a plan.
const MAX_LOCAL_NODES: usize = 64;
const MAX_REPLICAS: u32 = 5;
const MAX_SHARDS: u32 = 1024;

/// Where the nodes run.
#[derive(Debug, Clone, Copy, PartialEq, Eq, Deserialize, Default)]
#[serde(rename_all = "lowercase")]
pub enum Target {
    /// Processes on this machine under `ferrocache`'s own supervisor.
    #[default]
    Local,
    /// Hosts listed in `[[nodes]]`, each running a systemd unit.
    Systemd,
    /// A StatefulSet in a Kubernetes namespace.
    Kubernetes,
}

impl Target {
    pub fn name(self) -> &'static str {
        match self {
            Target::Local => "local",
            Target::Systemd => "systemd",
            Target::Kubernetes => "kubernetes",
        }
    }
}

/// A parsed and checked spec.
#[derive(Debug, Clone)]
pub struct Spec {
    /// The file it came from (for messages) and its text (stored with each apply).
    pub path: PathBuf,
    pub text: String,
    pub name: String,
    pub target: Target,
    pub shards: u32,
    pub replicas: u32,
    /// Control-plane voters (1, 3 or 5).
    pub voters: u32,
    /// Node settings by Redis name, as text (`maxmemory = "256mb"`), with the line they are on.
    pub settings: BTreeMap<String, Setting>,
    pub security: Security,
    pub local: Local,
    /// Listed hosts (systemd): `shards × (replicas + 1)` of them.
    pub nodes: Vec<HostNode>,
    pub kubernetes: Kubernetes,
    pub systemd: Systemd,
    pub rollout: Rollout,
}

/// How a change of settings reaches a running cluster.
#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Rollout {
    /// The node (client address) that gets a change first [default: the first shard's primary].
    pub canary: Option<String>,
    /// How long the canary is watched, before and after the change.
    #[serde(default = "default_watch_secs")]
    pub watch_secs: u64,
}

impl Default for Rollout {
    fn default() -> Rollout {
        Rollout { canary: None, watch_secs: default_watch_secs() }
    }
}

fn default_watch_secs() -> u64 {
    10
}

#[derive(Debug, Clone, PartialEq)]
pub struct Setting {
    pub value: String,
    pub line: usize,
}

#[derive(Debug, Clone, Default, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Security {
    /// Admin API bearer tokens (`ferrocache server --token-file`).
    pub token_file: Option<PathBuf>,
    pub admin_tls_cert: Option<PathBuf>,
    pub admin_tls_key: Option<PathBuf>,
    pub admin_tls_ca: Option<PathBuf>,
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Local {
    /// The first client port; nodes take the lowest free ports from here.
    #[serde(default = "default_base_port")]
    pub base_port: u16,
    /// Data dirs, logs and the supervisor's files [default: ferrocache-deploy/<name>].
    pub dir: Option<PathBuf>,
    /// The node binary [default: this `ferrocache`].
    pub binary: Option<PathBuf>,
}

impl Default for Local {
    fn default() -> Local {
        Local { base_port: DEFAULT_BASE_PORT, dir: None, binary: None }
    }
}

fn default_base_port() -> u16 {
    DEFAULT_BASE_PORT
}

#[derive(Debug, Clone, PartialEq, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct HostNode {
    pub host: String,
    #[serde(default = "default_client_port")]
    pub port: u16,
    /// [default: port + 1000]
    pub admin_port: Option<u16>,
    /// Failure domain: replicas are kept out of their primary's zone when possible.
    pub zone: Option<String>,
    /// Relative share of slots when this node is a primary.
    #[serde(default = "default_weight")]
    pub weight: u32,
}

impl HostNode {
    pub fn admin_port(&self) -> u16 {
        self.admin_port.unwrap_or(self.port.saturating_add(ADMIN_OFFSET))
    }

    pub fn addr(&self) -> String {
        format!("{}:{}", self.host, self.port)
    }
}

fn default_client_port() -> u16 {
    6379
}

fn default_weight() -> u32 {
    1
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Kubernetes {
    #[serde(default = "default_namespace")]
    pub namespace: String,
    #[serde(default = "default_image")]
    pub image: String,
    /// Persistent volume size per node (holds its identity and control-plane log).
    #[serde(default = "default_storage")]
    pub storage: String,
    pub storage_class: Option<String>,
    /// Resource requests and limits, Kubernetes quantities.
    pub cpu: Option<String>,
    pub memory: Option<String>,
}

impl Default for Kubernetes {
    fn default() -> Kubernetes {
        Kubernetes {
            namespace: default_namespace(),
            image: default_image(),
            storage: default_storage(),
            storage_class: None,
            cpu: None,
            memory: None,
        }
    }
}

fn default_namespace() -> String {
    "default".into()
}

fn default_image() -> String {
    concat!("ferrocache:", env!("CARGO_PKG_VERSION")).into()
}

fn default_storage() -> String {
    "1Gi".into()
}

#[derive(Debug, Clone, Deserialize)]
#[serde(deny_unknown_fields)]
pub struct Systemd {
    #[serde(default = "default_systemd_binary")]
    pub binary: PathBuf,
    #[serde(default = "default_systemd_user")]
    pub user: String,
    #[serde(default = "default_systemd_data")]
    pub data_dir: PathBuf,
    #[serde(default = "default_systemd_config")]
    pub config_dir: PathBuf,
}

impl Default for Systemd {
    fn default() -> Systemd {
        Systemd {
            binary: default_systemd_binary(),
            user: default_systemd_user(),
            data_dir: default_systemd_data(),
            config_dir: default_systemd_config(),
        }
    }
}

fn default_systemd_binary() -> PathBuf {
    "/usr/local/bin/ferrocache".into()
}

fn default_systemd_user() -> String {
    "ferrocache".into()
}

fn default_systemd_data() -> PathBuf {
    "/var/lib/ferrocache".into()
}

fn default_systemd_config() -> PathBuf {
    "/etc/ferrocache".into()
}

/// The file as written; checked into a [`Spec`] by [`Spec::parse`].
#[derive(Deserialize)]
#[serde(deny_unknown_fields)]
struct File {
    name: Spanned<String>,
    #[serde(default)]
    target: Target,
    shards: Spanned<u32>,
    #[serde(default)]
    replicas: Option<Spanned<u32>>,
    #[serde(default)]
    settings: BTreeMap<String, Spanned<toml::Value>>,
    #[serde(default)]
    control: Control,
    #[serde(default)]
    security: Security,
    #[serde(default)]
    local: Option<Spanned<Local>>,
    #[serde(default)]
    nodes: Vec<Spanned<HostNode>>,
    #[serde(default)]
    kubernetes: Option<Spanned<Kubernetes>>,
    #[serde(default)]
    systemd: Option<Spanned<Systemd>>,
    #[serde(default)]
    rollout: Option<Spanned<Rollout>>,
}

#[derive(Default, Deserialize)]
#[serde(deny_unknown_fields)]
struct Control {
    voters: Option<Spanned<u32>>,
}

/// A mistake in the spec: where and what.
#[derive(Debug, Clone, PartialEq)]
pub struct SpecError {
    pub path: PathBuf,
    /// 1-based; 0 when the whole file is at fault (it cannot be read).
    pub line: usize,
    pub field: String,
    pub message: String,
}

impl std::fmt::Display for SpecError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        let path = self.path.display();
        match (self.line, self.field.is_empty()) {
            (0, _) => write!(f, "{path}: {}", self.message),
            (line, true) => write!(f, "{path}:{line}: {}", self.message),
            (line, false) => write!(f, "{path}:{line}: {}: {}", self.field, self.message),
        }
    }
}

impl std::error::Error for SpecError {}

struct Checker<'a> {
    path: &'a Path,
    text: &'a str,
}

impl Checker<'_> {
    fn line(&self, span: &Range<usize>) -> usize {
        self.text[..span.start.min(self.text.len())].matches('\n').count() + 1
    }

    fn error(&self, span: &Range<usize>, field: &str, message: impl Into<String>) -> SpecError {
        SpecError { path: self.path.to_path_buf(), line: self.line(span), field: field.into(), message: message.into() }
    }
}

impl Spec {
    /// Reads and checks the spec at `path`.
    pub fn load(path: &Path) -> Result<Spec, SpecError> {
        let text = std::fs::read_to_string(path).map_err(|e| SpecError {
            path: path.to_path_buf(),
            line: 0,
            field: String::new(),
            message: format!("cannot read the spec: {e}"),
        })?;
        Spec::parse(path, &text)
    }

    /// Parses and checks `text`; `path` only names it in errors.
    pub fn parse(path: &Path, text: &str) -> Result<Spec, SpecError> {
        let check = Checker { path, text };
        let file: File = toml::from_str(text).map_err(|e| {
            let span = e.span().unwrap_or(0..0);
            // toml's message may span lines (it quotes the source); the first line says it all.
            let message = e.message().lines().next().unwrap_or("invalid TOML").to_string();
            check.error(&span, "", message)
        })?;
        let name = file.name.get_ref().clone();
        if !valid_name(&name) {
            return Err(check.error(
                &file.name.span(),
                "name",
                format!("'{name}' must be 1-40 lowercase letters, digits and '-', starting with a letter (it names processes, units and Kubernetes objects)"),
            ));
        }
        let shards = *file.shards.get_ref();
        if !(1..=MAX_SHARDS).contains(&shards) {
            return Err(check.error(&file.shards.span(), "shards", format!("{shards} is out of range: give 1 to {MAX_SHARDS}")));
        }
        let replicas = file.replicas.as_ref().map_or(0, |r| *r.get_ref());
        if replicas > MAX_REPLICAS {
            let span = file.replicas.as_ref().map(Spanned::span).unwrap_or_default();
            return Err(check.error(&span, "replicas", format!("{replicas} is out of range: give 0 to {MAX_REPLICAS}")));
        }
        let count = shards as usize * (replicas as usize + 1);
        let mut spec = Spec {
            path: path.to_path_buf(),
            text: text.to_string(),
            name,
            target: file.target,
            shards,
            replicas,
            voters: default_voters(count),
            settings: BTreeMap::new(),
            security: file.security,
            local: Local::default(),
            nodes: Vec::new(),
            kubernetes: Kubernetes::default(),
            systemd: Systemd::default(),
            rollout: Rollout::default(),
        };
        if let Some(rollout) = file.rollout {
            let span = rollout.span();
            spec.rollout = rollout.into_inner();
            if !(1..=3600).contains(&spec.rollout.watch_secs) {
                return Err(check.error(&span, "rollout.watch_secs", format!("{} is out of range: give 1 to 3600", spec.rollout.watch_secs)));
            }
        }
        if let Some(voters) = &file.control.voters {
            let v = *voters.get_ref();
            if ![1, 3, 5].contains(&v) || v as usize > count {
                return Err(check.error(
                    &voters.span(),
                    "control.voters",
                    format!("{v} cannot be: give 1, 3 or 5, at most the number of nodes ({count}); an even count tolerates no more failures than one fewer"),
                ));
            }
            spec.voters = v;
        }
        for (key, value) in file.settings {
            let text = setting_text(value.get_ref())
                .ok_or_else(|| check.error(&value.span(), &format!("settings.{key}"), "give a string, a number or a boolean"))?;
            spec.settings.insert(key, Setting { value: text, line: check.line(&value.span()) });
        }
        let misplaced = |section: &str, span: Range<usize>| {
            check.error(&span, section, format!("this section is for another target; this spec's target is '{}'", spec.target.name()))
        };
        match spec.target {
            Target::Local => {
                if let Some(first) = file.nodes.first() {
                    return Err(check.error(&first.span(), "nodes", "a local cluster places its own nodes: remove [[nodes]] or set target = \"systemd\""));
                }
                if let Some(local) = file.local {
                    let span = local.span();
                    spec.local = local.into_inner();
                    let last = spec.local.base_port as usize + MAX_LOCAL_NODES + ADMIN_OFFSET as usize;
                    if spec.local.base_port < 1024 || last > u16::MAX as usize {
                        return Err(check.error(&span, "local.base_port", format!("{} leaves no room: give 1024 to {}", spec.local.base_port, u16::MAX as usize - MAX_LOCAL_NODES - ADMIN_OFFSET as usize)));
                    }
                }
                if count > MAX_LOCAL_NODES {
                    return Err(check.error(&file.shards.span(), "shards", format!("{count} nodes is more than {MAX_LOCAL_NODES} on one machine")));
                }
            }
            Target::Systemd => {
                if file.nodes.len() != count {
                    return Err(check.error(
                        &file.shards.span(),
                        "nodes",
                        format!("{shards} shard(s) × {} node(s) each need {count} [[nodes]] entries; the spec lists {}", replicas + 1, file.nodes.len()),
                    ));
                }
                let mut seen = std::collections::HashSet::new();
                for node in &file.nodes {
                    let n = node.get_ref();
                    if n.host.is_empty() || n.port == 0 || n.admin_port() == 0 || n.admin_port() == n.port {
                        return Err(check.error(&node.span(), "nodes", "each node needs a host, a port and a different admin port"));
                    }
                    if !seen.insert((n.host.clone(), n.port)) || !seen.insert((n.host.clone(), n.admin_port())) {
                        return Err(check.error(&node.span(), "nodes", format!("{} uses a port another node on that host uses", n.addr())));
                    }
                }
                spec.nodes = file.nodes.into_iter().map(Spanned::into_inner).collect();
                if let Some(systemd) = file.systemd {
                    spec.systemd = systemd.into_inner();
                }
            }
            Target::Kubernetes => {
                if let Some(first) = file.nodes.first() {
                    return Err(check.error(&first.span(), "nodes", "Kubernetes places the pods: remove [[nodes]]"));
                }
                if let Some(k) = file.kubernetes {
                    let span = k.span();
                    spec.kubernetes = k.into_inner();
                    if !valid_name(&spec.kubernetes.namespace) {
                        return Err(check.error(&span, "kubernetes.namespace", "must be lowercase letters, digits and '-'"));
                    }
                }
            }
        }
        if spec.target != Target::Local
            && let Some(local) = file_section_span(text, "local")
        {
            return Err(misplaced("local", local));
        }
        Ok(spec)
    }

    /// How many nodes the spec asks for.
    pub fn node_count(&self) -> usize {
        self.shards as usize * (self.replicas as usize + 1)
    }

    /// The local target's directory.
    pub fn local_dir(&self) -> PathBuf {
        self.local.dir.clone().unwrap_or_else(|| Path::new("ferrocache-deploy").join(&self.name))
    }
}

/// Where one node listens and keeps its files: what its command line needs beyond the spec.
#[derive(Debug, Clone, PartialEq, Default)]
pub struct Launch {
    /// Address the client port binds (`127.0.0.1`, `0.0.0.0`, a host's IP).
    pub bind: String,
    pub port: u16,
    pub admin_bind: String,
    pub admin_port: u16,
    /// The admin URL other nodes use, when it is not `http(s)://<admin_bind>:<admin_port>`.
    pub admin_advertise: Option<String>,
    pub data_dir: PathBuf,
    /// The client address (`HOST:PORT`) the node records in the cluster map and gives in
    /// MOVED replies, when it is not the bound address: a DNS name that outlives the IP.
    pub announce: Option<String>,
}

impl Spec {
    /// The `ferrocache` arguments that run one node of this cluster: cluster mode, its ports
    /// and data dir, the spec's security files and its settings (`--set NAME=VALUE`).
    pub fn server_args(&self, at: &Launch) -> Vec<String> {
        let mut args: Vec<String> = vec!["server".into(), "--cluster".into()];
        let mut flag = |name: &str, value: String| {
            args.push(format!("--{name}"));
            args.push(value);
        };
        flag("bind", at.bind.clone());
        flag("port", at.port.to_string());
        flag("admin-bind", at.admin_bind.clone());
        flag("admin-port", at.admin_port.to_string());
        if let Some(url) = &at.admin_advertise {
            flag("admin-advertise", url.clone());
        }
        if let Some(addr) = &at.announce {
            flag("announce", addr.clone());
        }
        flag("data-dir", at.data_dir.display().to_string());
        let files = [
            ("token-file", &self.security.token_file),
            ("admin-tls-cert", &self.security.admin_tls_cert),
            ("admin-tls-key", &self.security.admin_tls_key),
            ("admin-tls-ca", &self.security.admin_tls_ca),
        ];
        for (name, file) in files {
            if let Some(file) = file {
                flag(name, file.display().to_string());
            }
        }
        for (name, setting) in &self.settings {
            flag("set", format!("{name}={}", setting.value));
        }
        args
    }
}

/// Voters for a cluster of `n` nodes: 5 from 5 nodes on, 3 from 3, else 1.
pub fn default_voters(n: usize) -> u32 {
    match n {
        0..=2 => 1,
        3 | 4 => 3,
        _ => 5,
    }
}

fn valid_name(name: &str) -> bool {
    (1..=40).contains(&name.len())
        && name.starts_with(|c: char| c.is_ascii_lowercase())
        && name.chars().all(|c| c.is_ascii_lowercase() || c.is_ascii_digit() || c == '-')
        && !name.ends_with('-')
}

fn setting_text(value: &toml::Value) -> Option<String> {
    Some(match value {
        toml::Value::String(s) => s.clone(),
        toml::Value::Integer(i) => i.to_string(),
        toml::Value::Float(f) => f.to_string(),
        toml::Value::Boolean(b) => if *b { "yes" } else { "no" }.to_string(),
        _ => return None,
    })
}

/// Where a `[section]` header is, for sections that a target ignores.
fn file_section_span(text: &str, section: &str) -> Option<Range<usize>> {
    let header = format!("[{section}]");
    let mut at = 0;
    for line in text.split_inclusive('\n') {
        if line.trim() == header {
            return Some(at..at + line.len());
        }
        at += line.len();
    }
    None
}

#[cfg(test)]
mod tests {
    use super::*;

    fn parse(text: &str) -> Result<Spec, SpecError> {
        Spec::parse(Path::new("cluster.toml"), text)
    }

    fn error(text: &str) -> String {
        parse(text).unwrap_err().to_string()
    }

    #[test]
    fn a_minimal_spec_takes_the_defaults() {
        let spec = parse("name = \"demo\"\nshards = 3\nreplicas = 1\n").unwrap();
        assert_eq!((spec.target, spec.shards, spec.replicas, spec.voters), (Target::Local, 3, 1, 5));
        assert_eq!(spec.node_count(), 6);
        assert_eq!(spec.local.base_port, DEFAULT_BASE_PORT);
        assert_eq!(spec.local_dir(), Path::new("ferrocache-deploy/demo"));
    }

    #[test]
    fn settings_keep_their_text_and_line() {
        let spec = parse("name = \"a\"\nshards = 1\n[settings]\nmaxmemory = \"64mb\"\nappendonly = false\nhz = 20\n").unwrap();
        assert_eq!(spec.settings["maxmemory"], Setting { value: "64mb".into(), line: 4 });
        assert_eq!(spec.settings["appendonly"].value, "no");
        assert_eq!(spec.settings["hz"], Setting { value: "20".into(), line: 6 });
    }

    #[test]
    fn errors_name_the_line_and_the_field() {
        assert_eq!(error("name = \"a\"\nshards = 0\n"), "cluster.toml:2: shards: 0 is out of range: give 1 to 1024");
        assert_eq!(error("name = \"a\"\nshards = 1\nreplicas = 9\n"), "cluster.toml:3: replicas: 9 is out of range: give 0 to 5");
        assert!(error("name = \"Bad_Name\"\nshards = 1\n").starts_with("cluster.toml:1: name: 'Bad_Name' must be"));
        assert!(error("name = \"a\"\nshards = 2\n[control]\nvoters = 3\n").starts_with("cluster.toml:4: control.voters: 3 cannot be"));
        assert!(error("name = \"a\"\nshards = 1\n[settings]\nbind = [1, 2]\n").starts_with("cluster.toml:4: settings.bind: give a string"));
    }

    #[test]
    fn unknown_and_mistyped_fields_are_refused_with_their_line() {
        let e = error("name = \"a\"\nshards = 1\nreplica = 1\n");
        assert!(e.starts_with("cluster.toml:3: unknown field `replica`"), "{e}");
        let e = error("name = \"a\"\nshards = \"three\"\n");
        assert!(e.starts_with("cluster.toml:2: invalid type"), "{e}");
        let e = error("name = \"a\"\nshards = 1\n[local]\nbase_prot = 7000\n");
        assert!(e.starts_with("cluster.toml:4: unknown field `base_prot`"), "{e}");
        let e = error("shards = 1\n");
        assert!(e.contains("missing field `name`"), "{e}");
    }

    #[test]
    fn sections_must_match_the_target() {
        let e = error("name = \"a\"\nshards = 1\n[[nodes]]\nhost = \"h\"\n");
        assert!(e.starts_with("cluster.toml:3: nodes: a local cluster places its own nodes"), "{e}");
        let e = error("name = \"a\"\ntarget = \"kubernetes\"\nshards = 1\n[local]\nbase_port = 7000\n");
        assert!(e.starts_with("cluster.toml:4: local: this section is for another target"), "{e}");
    }

    #[test]
    fn systemd_needs_one_listed_host_per_node() {
        let two = "name = \"a\"\ntarget = \"systemd\"\nshards = 1\nreplicas = 1\n[[nodes]]\nhost = \"h1\"\nzone = \"a\"\n[[nodes]]\nhost = \"h2\"\nport = 7000\nadmin_port = 7100\n";
        let spec = parse(two).unwrap();
        assert_eq!(spec.nodes[0].addr(), "h1:6379");
        assert_eq!(spec.nodes[0].admin_port(), 7379);
        assert_eq!(spec.nodes[1].admin_port(), 7100);
        assert_eq!(spec.nodes[0].zone.as_deref(), Some("a"));
        let e = error("name = \"a\"\ntarget = \"systemd\"\nshards = 2\n[[nodes]]\nhost = \"h1\"\n");
        assert!(e.starts_with("cluster.toml:3: nodes: 2 shard(s) × 1 node(s) each need 2 [[nodes]] entries; the spec lists 1"), "{e}");
        let dup = "name = \"a\"\ntarget = \"systemd\"\nshards = 2\n[[nodes]]\nhost = \"h\"\n[[nodes]]\nhost = \"h\"\n";
        assert!(error(dup).starts_with("cluster.toml:6: nodes: h:6379 uses a port"), "{}", error(dup));
    }

    #[test]
    fn server_args_carry_ports_files_and_settings() {
        let spec = parse("name = \"a\"\nshards = 1\n[settings]\nmaxmemory = \"1mb\"\n[security]\ntoken_file = \"t.toml\"\n").unwrap();
        let at = Launch {
            bind: "127.0.0.1".into(),
            port: 7000,
            admin_bind: "127.0.0.1".into(),
            admin_port: 8000,
            admin_advertise: None,
            data_dir: "d/7000".into(),
            announce: None,
        };
        assert_eq!(
            spec.server_args(&at).join(" "),
            "server --cluster --bind 127.0.0.1 --port 7000 --admin-bind 127.0.0.1 --admin-port 8000 --data-dir d/7000 --token-file t.toml --set maxmemory=1mb"
        );
    }

    #[test]
    fn local_clusters_are_bounded() {
        assert!(error("name = \"a\"\nshards = 40\nreplicas = 1\n").starts_with("cluster.toml:2: shards: 80 nodes is more than 64"));
        assert!(error("name = \"a\"\nshards = 1\n[local]\nbase_port = 65000\n").starts_with("cluster.toml:3: local.base_port: 65000 leaves no room"));
    }
}
