//! The rendered files for the examples, against the golden copies under `testdata/`
//! (`FERROCACHE_BLESS=1 cargo test -p ferrocache-deploy --test render` rewrites them), and
//! checked by the tools that will read them: `systemd-analyze verify` for the units,
//! `kubernetes-validate --strict` for the manifests.

use std::path::{Path, PathBuf};
use std::process::Command;

use ferrocache_deploy::render::{self, File};
use ferrocache_deploy::spec::{Spec, Target};

fn repo() -> PathBuf {
    Path::new(env!("CARGO_MANIFEST_DIR")).join("../..")
}

fn example(name: &str) -> Spec {
    Spec::load(&repo().join("examples").join(name)).unwrap_or_else(|e| panic!("{e}"))
}

fn rendered(target: Target) -> Vec<File> {
    render::files(&example(&format!("{}.toml", target.name())), target).unwrap_or_else(|e| panic!("{e}"))
}

/// Every file under `dir`, relative to it, sorted.
fn listing(dir: &Path) -> Vec<PathBuf> {
    fn walk(root: &Path, dir: &Path, out: &mut Vec<PathBuf>) {
        for entry in std::fs::read_dir(dir).into_iter().flatten().flatten() {
            let path = entry.path();
            if path.is_dir() {
                walk(root, &path, out);
            } else {
                out.push(path.strip_prefix(root).expect("under root").to_path_buf());
            }
        }
    }
    let mut out = Vec::new();
    walk(dir, dir, &mut out);
    out.sort();
    out
}

/// The rendered files must be the golden ones, no more and no fewer.
fn golden(target: Target) {
    let files = rendered(target);
    let dir = Path::new(env!("CARGO_MANIFEST_DIR")).join("testdata").join(target.name());
    if std::env::var("FERROCACHE_BLESS").is_ok_and(|v| v == "1") {
        let _ = std::fs::remove_dir_all(&dir);
        render::render(&example(&format!("{}.toml", target.name())), target, &dir).unwrap_or_else(|e| panic!("{e}"));
        return;
    }
    let bless = format!("run `FERROCACHE_BLESS=1 cargo test -p ferrocache-deploy --test render` and review the diff of {}", dir.display());
    let mut want: Vec<PathBuf> = files.iter().map(|f| f.path.clone()).collect();
    want.sort();
    assert_eq!(listing(&dir), want, "the rendered files differ from the golden ones: {bless}");
    for file in &files {
        let have = std::fs::read_to_string(dir.join(&file.path)).unwrap_or_default();
        assert!(have == file.text, "{} differs from its golden copy: {bless}\n--- rendered:\n{}", file.path.display(), file.text);
    }
}

#[test]
fn systemd_files_match_the_golden_copies() {
    golden(Target::Systemd);
}

/// `systemd-analyze verify` on every unit, with the example's binary pointed at one that exists
/// here: verify checks that `ExecStart`'s program is there, and this machine has no
/// `/usr/local/bin/ferrocache`. Nothing else may be reported.
#[test]
fn systemd_units_pass_systemd_analyze_verify() {
    let analyze = Path::new("/usr/bin/systemd-analyze");
    if !analyze.exists() {
        eprintln!("SKIPPED: systemd-analyze is not installed (Debian's `systemd` package has it)");
        return;
    }
    let mut spec = example("systemd.toml");
    spec.systemd.binary = "/bin/true".into();
    let dir = std::env::temp_dir().join(format!("ferrocache-render-verify-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = render::render(&spec, Target::Systemd, &dir).unwrap_or_else(|e| panic!("{e}"));
    let units: Vec<&PathBuf> = written.iter().filter(|p| p.extension().is_some_and(|e| e == "service")).collect();
    assert_eq!(units.len(), spec.nodes.len());
    for unit in units {
        let out = Command::new(analyze).arg("verify").arg("--man=no").arg(unit).output().expect("run systemd-analyze");
        let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
        assert!(out.status.success() && report.trim().is_empty(), "systemd-analyze verify {}:\n{report}", unit.display());
    }
    std::fs::remove_dir_all(&dir).unwrap();
}

#[test]
fn kubernetes_files_match_the_golden_copies() {
    golden(Target::Kubernetes);
}

/// Installs the validator the way scripts/test.sh does, if it is missing; `None` when it
/// cannot be installed.
fn kubernetes_validate() -> Option<PathBuf> {
    let found = || {
        let out = Command::new("sh").args(["-c", "command -v kubernetes-validate"]).output().ok()?;
        let path = String::from_utf8_lossy(&out.stdout).trim().to_string();
        (out.status.success() && !path.is_empty()).then(|| PathBuf::from(path))
    };
    if let Some(path) = found() {
        return Some(path);
    }
    for extra in [&[][..], &["--break-system-packages"][..]] {
        let installed = Command::new("python3").args(["-m", "pip", "install", "--quiet", "kubernetes-validate"]).args(extra).status();
        if installed.is_ok_and(|s| s.success()) {
            return found();
        }
    }
    None
}

/// The manifests against the Kubernetes API schemas, strictly (no field the API does not
/// know), for the validator's default version (a recent one).
#[test]
fn kubernetes_manifests_pass_kubernetes_validate_strict() {
    let Some(validator) = kubernetes_validate() else {
        eprintln!("SKIPPED: kubernetes-validate is not installed and `python3 -m pip install kubernetes-validate` failed");
        return;
    };
    let dir = std::env::temp_dir().join(format!("ferrocache-render-validate-{}", std::process::id()));
    let _ = std::fs::remove_dir_all(&dir);
    let written = render::render(&example("kubernetes.toml"), Target::Kubernetes, &dir).unwrap_or_else(|e| panic!("{e}"));
    let manifests: Vec<&PathBuf> = written.iter().filter(|p| p.extension().is_some_and(|e| e == "yaml")).collect();
    assert_eq!(manifests.len(), 1);
    let out = Command::new(&validator).arg("--strict").args(&manifests).output().expect("run kubernetes-validate");
    let report = format!("{}{}", String::from_utf8_lossy(&out.stdout), String::from_utf8_lossy(&out.stderr));
    assert!(out.status.success(), "kubernetes-validate --strict:\n{report}");
    // One line per object: `INFO FILE passed for resource KIND/NAME against version V`.
    let valid = report.lines().filter(|l| l.contains(" passed for resource ")).count();
    assert_eq!(valid, 6, "{report}");
    std::fs::remove_dir_all(&dir).unwrap();
}
