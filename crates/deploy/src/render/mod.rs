//! `ferrocache deploy render`: the files that run a spec's nodes under another supervisor.
//!
//! The local target runs the nodes itself; the systemd and Kubernetes targets hand them to a
//! supervisor that is already on the hosts, so what `ferrocache` produces for them is files: a
//! unit per node and a README for systemd ([`systemd`]), manifests for Kubernetes
//! ([`kubernetes`]). Every node runs the command line of [`Spec::server_args`], as local nodes
//! do, so the three targets cannot drift apart; what differs is only where a node listens, the
//! address it announces and where it keeps its data dir (its [`Launch`]).
//!
//! Rendering decides nothing that needs the network: the files are a pure function of the
//! spec ([`files`]), which is what the golden-file tests check, and [`render`] writes them.
//! Forming the cluster stays `ferrocache deploy apply`, run once the nodes are up.

pub mod kubernetes;
pub mod systemd;

use std::path::{Path, PathBuf};

use crate::spec::{Launch, Spec, Target};

/// One rendered file: its path under the output directory and its text.
#[derive(Debug, Clone, PartialEq)]
pub struct File {
    pub path: PathBuf,
    pub text: String,
}

impl File {
    fn new(path: impl Into<PathBuf>, text: String) -> File {
        File { path: path.into(), text }
    }
}

/// Why a spec cannot be rendered, or its files cannot be written.
#[derive(Debug)]
pub enum RenderError {
    /// The spec does not fit the target: what to change in it.
    Spec(String),
    /// A file or directory could not be written.
    Write { path: PathBuf, error: std::io::Error },
}

impl std::fmt::Display for RenderError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            RenderError::Spec(message) => f.write_str(message),
            RenderError::Write { path, error } => write!(f, "cannot write {}: {error}", path.display()),
        }
    }
}

impl std::error::Error for RenderError {}

/// The files that run `spec` under `target`, with paths relative to the output directory.
pub fn files(spec: &Spec, target: Target) -> Result<Vec<File>, RenderError> {
    if spec.target != target {
        return Err(RenderError::Spec(format!(
            "{}: the spec's target is '{}'; rendering for {} needs target = \"{}\" (and its sections)",
            spec.path.display(),
            spec.target.name(),
            target.name(),
            target.name()
        )));
    }
    match target {
        Target::Systemd => systemd::files(spec),
        Target::Kubernetes => kubernetes::files(spec),
        Target::Local => Err(RenderError::Spec(
            "the local target runs its nodes itself: use `ferrocache deploy apply`; render is for --target systemd or kubernetes".into(),
        )),
    }
}

/// Renders `spec` for `target` into `out` (created if missing; files already there are
/// replaced) and returns the paths written, in order.
pub fn render(spec: &Spec, target: Target, out: &Path) -> Result<Vec<PathBuf>, RenderError> {
    let mut written = Vec::new();
    for file in files(spec, target)? {
        let path = out.join(&file.path);
        let write = |p: &Path| -> std::io::Result<()> {
            if let Some(dir) = p.parent() {
                std::fs::create_dir_all(dir)?;
            }
            std::fs::write(p, &file.text)
        };
        write(&path).map_err(|error| RenderError::Write { path: path.clone(), error })?;
        written.push(path);
    }
    Ok(written)
}

/// The node command line, as `ferrocache` and its arguments.
fn command(binary: &str, spec: &Spec, at: &Launch) -> Vec<String> {
    std::iter::once(binary.to_string()).chain(spec.server_args(at)).collect()
}

/// The spec file's name, for the comment that says where the files came from.
fn source_name(spec: &Spec) -> String {
    spec.path.file_name().map_or_else(|| "cluster.toml".into(), |n| n.to_string_lossy().into_owned())
}

/// `http` or `https`, as the admin port serves.
fn admin_scheme(spec: &Spec) -> &'static str {
    if spec.security.admin_tls_cert.is_some() { "https" } else { "http" }
}
