//! Node settings in the control plane: the keys, the layering and the checksum shared by the
//! nodes that apply them (the binary's `node_settings`), the CLI that rolls them out and the
//! alert rules that look for drift. Values are JSON objects of setting name to text.

use std::collections::BTreeMap;

use serde::{Deserialize, Serialize};

/// Under which all of them live: the fleet's, each node's overlay and each node's report.
pub const PREFIX: &str = "cluster/config/";
pub const FLEET_KEY: &str = "cluster/config/settings";
pub const NODE_PREFIX: &str = "cluster/config/nodes/";
pub const STATUS_PREFIX: &str = "cluster/config/status/";

/// Settings by name, in a stable order (the checksum is over their JSON).
pub type Settings = BTreeMap<String, String>;

/// What a node reports after each change.
#[derive(Debug, Clone, PartialEq, Serialize, Deserialize)]
pub struct Report {
    /// The newest revision of the two keys it applied (0: neither exists).
    pub revision: u64,
    /// SHA-256 of the JSON of the settings in force.
    pub checksum: String,
    pub settings: Settings,
    /// Why the asked-for settings were refused (the node kept its previous ones).
    pub error: Option<String>,
}

/// The settings a node should run with: the fleet's, overlaid with its own.
pub fn effective(fleet: Option<&[u8]>, node: Option<&[u8]>) -> Result<Settings, String> {
    let mut out = Settings::new();
    for (what, bytes) in [("fleet settings", fleet), ("node settings", node)] {
        if let Some(bytes) = bytes {
            let layer: Settings = serde_json::from_slice(bytes).map_err(|e| format!("the {what} are not an object of texts: {e}"))?;
            out.extend(layer);
        }
    }
    Ok(out)
}

pub fn checksum(settings: &Settings) -> String {
    crate::state::sha256_hex(&serde_json::to_vec(settings).unwrap_or_default())
}

/// Whether a node runs the settings it should, judged by its report.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Sync {
    InSync,
    /// It reported nothing although it should run some settings.
    NoReport,
    /// It refused the settings asked of it (and kept its previous ones).
    Refused,
    /// It reported other settings than those it should run.
    Drift,
}

impl Sync {
    /// The word `ferrocache config status` shows.
    pub fn name(self) -> &'static str {
        match self {
            Sync::InSync => "in sync",
            Sync::NoReport => "no report",
            Sync::Refused => "refused",
            Sync::Drift => "drift",
        }
    }
}

/// Compares a node's `report` with the checksum of what it should run; a node asked to run no
/// settings needs no report.
pub fn sync(wanted_checksum: &str, report: Option<&Report>) -> Sync {
    match report {
        Some(r) if r.error.is_some() => Sync::Refused,
        Some(r) if r.checksum == wanted_checksum => Sync::InSync,
        Some(_) => Sync::Drift,
        None if wanted_checksum == checksum(&Settings::new()) => Sync::InSync,
        None => Sync::NoReport,
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn sync_compares_the_report_with_what_the_node_should_run() {
        let wanted = checksum(&Settings::from([("hz".into(), "20".into())]));
        let report = |checksum: &str, error: Option<&str>| Report { revision: 3, checksum: checksum.into(), settings: Settings::new(), error: error.map(Into::into) };
        assert_eq!(sync(&wanted, Some(&report(&wanted, None))), Sync::InSync);
        assert_eq!(sync(&wanted, Some(&report("other", None))), Sync::Drift);
        assert_eq!(sync(&wanted, Some(&report(&wanted, Some("'hz': bad")))), Sync::Refused);
        assert_eq!(sync(&wanted, None), Sync::NoReport);
        assert_eq!(sync(&checksum(&Settings::new()), None), Sync::InSync, "nothing asked, nothing to report");
    }

    #[test]
    fn a_node_layer_overrides_the_fleet() {
        let s = effective(Some(br#"{"maxmemory":"1mb","hz":"10"}"#), Some(br#"{"maxmemory":"2mb"}"#)).unwrap();
        assert_eq!(s, Settings::from([("hz".into(), "10".into()), ("maxmemory".into(), "2mb".into())]));
        assert_eq!(effective(None, None).unwrap(), Settings::new());
        assert!(effective(Some(b"[1]"), None).unwrap_err().contains("fleet settings"));
    }

    #[test]
    fn the_checksum_does_not_depend_on_insertion_order() {
        let a = Settings::from([("a".into(), "1".into()), ("b".into(), "2".into())]);
        let mut b = Settings::new();
        b.insert("b".into(), "2".into());
        b.insert("a".into(), "1".into());
        assert_eq!(checksum(&a), checksum(&b));
        assert_eq!(checksum(&a).len(), 64);
    }
}
