//! The `ferrocache server` command line: settings from flags and a TOML
//! file, and clear errors (exit code 2) for bad ones.

use std::process::Command;
use std::time::Duration;

use ferrocache_e2e::reply::*;
use ferrocache_e2e::{ferrocache_bin, run_bounded, ProcessServer};

/// Runs `ferrocache server ARGS` expecting it to refuse to start.
fn refused(args: &[&str]) -> (Option<i32>, String) {
    let mut cmd = Command::new(ferrocache_bin());
    cmd.arg("server").args(args);
    let out = run_bounded(cmd, b"", Duration::from_secs(10));
    (out.status.code(), String::from_utf8_lossy(&out.stderr).into_owned())
}

#[test]
fn bad_flag_values_name_the_setting() {
    let (code, err) = refused(&["--port", "abc"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("'port'") && err.contains("accepted"), "{err}");
    let (code, err) = refused(&["--databases", "0"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("'databases'"), "{err}");
    let (code, err) = refused(&["--set", "nosuch=1"]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown setting 'nosuch'") && err.contains("maxclients"), "{err}");
}

#[test]
fn bad_config_files_are_refused() {
    let dir = std::env::temp_dir().join(format!("ferrocache-cli-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let unknown = dir.join("unknown.toml");
    std::fs::write(&unknown, "prot = 7000\n").unwrap();
    let (code, err) = refused(&["--config", unknown.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("unknown setting 'prot'") && err.contains("unknown.toml"), "{err}");
    let broken = dir.join("broken.toml");
    std::fs::write(&broken, "port = = 1\n").unwrap();
    let (code, err) = refused(&["--config", broken.to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("broken.toml"), "{err}");
    let (code, err) = refused(&["--config", dir.join("missing.toml").to_str().unwrap()]);
    assert_eq!(code, Some(2), "{err}");
    assert!(err.contains("cannot read config file"), "{err}");
    std::fs::remove_dir_all(&dir).ok();
}

#[test]
fn config_file_settings_apply_and_flags_override_them() {
    let dir = std::env::temp_dir().join(format!("ferrocache-cli-ok-{}", std::process::id()));
    std::fs::create_dir_all(&dir).unwrap();
    let file = dir.join("node.toml");
    std::fs::write(&file, "requirepass = \"from-file\"\ndatabases = 4\nmaxclients = 77\n").unwrap();
    let server = ProcessServer::start_with(&["--config", file.to_str().unwrap(), "--maxclients", "55"]);
    let mut c = server.conn();
    assert_eq!(c.cmd(&["PING"]), err("NOAUTH Authentication required."));
    assert_eq!(c.cmd(&["AUTH", "from-file"]), ok());
    assert_eq!(c.cmd(&["CONFIG", "GET", "databases"]), bulks(&["databases", "4"]));
    assert_eq!(c.cmd(&["CONFIG", "GET", "maxclients"]), bulks(&["maxclients", "55"]));
    std::fs::remove_dir_all(&dir).ok();
}
