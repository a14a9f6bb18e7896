//! What `ferrocache server --cluster` adds to a node: a lasting identity, a control plane that
//! waits to be made part of a cluster, and the data plane kept fed with the cluster map.
//!
//! The identity (40 hex characters, as Redis Cluster's node ids) is kept in `node-id` in the
//! data dir, so a restarted node comes back as itself, and a wiped one comes back as a new node
//! (reusing an id after losing its Raft state is unsafe). Its control-plane id is derived from
//! it unless `--node-id` is given.

use std::path::Path;
use std::sync::Arc;

use ferrocache_control::ControlHandle;
use ferrocache_server::Shared;
use ferrocache_topology::map::NodeId;

const ID_FILE: &str = "node-id";

/// This node's identity, created on first start.
pub fn identity(data_dir: &Path) -> Result<NodeId, String> {
    let path = data_dir.join(ID_FILE);
    match std::fs::read_to_string(&path) {
        Ok(text) => NodeId::try_from(text.trim().to_string()).map_err(|e| format!("{}: {e}; remove the data dir to start as a new node", path.display())),
        Err(e) if e.kind() == std::io::ErrorKind::NotFound => {
            std::fs::create_dir_all(data_dir).map_err(|e| format!("cannot create {}: {e}", data_dir.display()))?;
            let id = NodeId::random();
            let tmp = data_dir.join(format!("{ID_FILE}.tmp"));
            std::fs::write(&tmp, format!("{id}\n")).and_then(|()| std::fs::rename(&tmp, &path)).map_err(|e| format!("cannot write {}: {e}", path.display()))?;
            Ok(id)
        }
        Err(e) => Err(format!("cannot read {}: {e}", path.display())),
    }
}

/// The control-plane id for a node id: its first 15 hex digits (never 0).
pub fn raft_id(id: &NodeId) -> u64 {
    u64::from_str_radix(&id.as_str()[..15], 16).map_or(1, |n| n.max(1))
}

/// Hands the node's identity and admin URL to the data plane, then every new map.
pub fn serve(shared: &Arc<Shared>, control: &ControlHandle, id: NodeId) {
    let Some(cluster) = &shared.cluster else { return };
    cluster.set_identity(id);
    cluster.set_admin_url(control.url().to_string());
    let shared = shared.clone();
    control.follow_map(move |map| {
        if let Some(cluster) = &shared.cluster {
            tracing::info!("cluster map epoch {}: {} node(s), {} shard(s)", map.epoch, map.nodes.len(), map.shards.len());
            cluster.install(map);
        }
    });
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_identity_is_created_once_and_kept() {
        let dir = std::env::temp_dir().join(format!("ferrocache-identity-{}", std::process::id()));
        let _ = std::fs::remove_dir_all(&dir);
        let first = identity(&dir).unwrap();
        assert_eq!(identity(&dir).unwrap(), first);
        std::fs::write(dir.join(ID_FILE), "garbage").unwrap();
        assert!(identity(&dir).unwrap_err().contains("remove the data dir"));
        std::fs::remove_dir_all(&dir).unwrap();
        assert_ne!(raft_id(&first), 0);
    }
}
