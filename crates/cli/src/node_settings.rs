//! Node settings from the control plane: every cluster node applies the fleet's settings
//! (`cluster/config/settings`) overlaid with its own (`cluster/config/nodes/<id>`, how a canary
//! gets a change first), live, as CONFIG SET would, and reports what it applied under
//! `cluster/config/status/<id>`: the revision, the checksum of the settings in force, and the
//! error if it refused them. `ferrocache config status` compares the reports with what the
//! control plane asks for.
//!
//! Values are JSON objects of setting name to text (`{"maxmemory": "256mb"}`). A change is all
//! or nothing, like CONFIG SET: one bad value and the node keeps its settings and reports why.
//! A setting that leaves both objects goes back to the value the node started with.

use std::sync::Arc;

use ferrocache_control::settings::{NODE_PREFIX, Report, STATUS_PREFIX, Settings, checksum, effective};
use ferrocache_control::{KeyValueAt, MapAccess};
use ferrocache_server::Shared;
use ferrocache_topology::map::NodeId;

/// Follows this node's settings in the control plane, applies them and reports.
pub fn follow(shared: &Arc<Shared>, maps: &MapAccess, id: &NodeId) {
    let keys = vec![ferrocache_control::settings::FLEET_KEY.to_string(), format!("{NODE_PREFIX}{id}")];
    let (reports, shared) = (tokio::sync::mpsc::unbounded_channel::<Report>(), shared.clone());
    let (tx, mut rx) = reports;
    // What the node started with, for settings that leave the control plane.
    let mut started: Settings = Settings::new();
    maps.follow_keys(keys, move |values: Vec<Option<KeyValueAt>>| {
        let revision = values.iter().flatten().map(|v| v.mod_revision).max().unwrap_or(0);
        let data = |i: usize| values[i].as_ref().map(|v| v.data.as_slice());
        let report = match effective(data(0), data(1)).and_then(|wanted| apply(&shared, &wanted, &mut started)) {
            Ok(settings) => Report { revision, checksum: checksum(&settings), settings, error: None },
            Err(error) => {
                tracing::warn!("node settings at revision {revision} refused: {error}");
                let settings = in_force(&shared, &started);
                Report { revision, checksum: checksum(&settings), settings, error: Some(error) }
            }
        };
        if let Some(cluster) = &shared.cluster {
            let applied = ferrocache_server::cluster::AppliedSettings { revision, checksum: report.checksum.clone(), refused: report.error.is_some() };
            *cluster.settings.lock() = Some(applied);
        }
        // Nothing asked and nothing refused: nothing to report (the node may not even be a
        // member of a cluster yet).
        if revision > 0 || report.error.is_some() {
            let _ = tx.send(report);
        }
    });
    let (maps, key, actor) = (maps.clone(), format!("{STATUS_PREFIX}{id}"), format!("node {id}"));
    tokio::spawn(async move {
        while let Some(mut report) = rx.recv().await {
            // Only the newest report matters.
            while let Ok(newer) = rx.try_recv() {
                report = newer;
            }
            let value = serde_json::to_value(&report).unwrap_or_default();
            // The node may not be a member yet, or the leader may be changing: retry until the
            // report lands or a newer one replaces it.
            while let Err(e) = maps.put_json(&actor, &key, &value).await {
                tracing::debug!("reporting node settings: {}", e.message);
                tokio::time::sleep(std::time::Duration::from_millis(200)).await;
                if !rx.is_empty() {
                    break;
                }
            }
        }
    });
}

/// Applies `wanted` (all or nothing) and returns the settings now in force: `wanted` plus the
/// start values of settings the control plane no longer gives.
fn apply(shared: &Shared, wanted: &Settings, started: &mut Settings) -> Result<Settings, String> {
    let mut config = shared.config.write();
    for name in wanted.keys() {
        if !started.contains_key(name) {
            let p = ferrocache_server::config::param(name).ok_or_else(|| format!("unknown setting '{name}'"))?;
            if !p.mutable {
                return Err(format!("'{name}' cannot change while the node runs: put it in the spec's [settings] so that nodes start with it"));
            }
            started.insert(name.clone(), (p.get)(&config));
        }
    }
    let mut target = started.clone();
    target.extend(wanted.iter().map(|(k, v)| (k.clone(), v.clone())));
    let pairs: Vec<(&str, &str)> = target.iter().map(|(k, v)| (k.as_str(), v.as_str())).collect();
    config.set_at_runtime(&pairs).map_err(|e| match e {
        ferrocache_server::config::RuntimeSetError::Unknown(name) => format!("unknown setting '{name}'"),
        ferrocache_server::config::RuntimeSetError::Rejected { name, reason } => format!("'{name}': {reason}"),
    })?;
    drop(config);
    ferrocache_server::evict::sync_tuning(shared);
    // Settings back at their start value are no longer the control plane's.
    started.retain(|k, _| wanted.contains_key(k));
    Ok(wanted.clone())
}

/// The current values of the settings the control plane set.
fn in_force(shared: &Shared, started: &Settings) -> Settings {
    let config = shared.config.read();
    started
        .keys()
        .filter_map(|name| ferrocache_server::config::param(name).map(|p| (name.clone(), (p.get)(&config))))
        .collect()
}
