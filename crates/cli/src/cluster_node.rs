//! What `ferrocache server --cluster` adds to a node: a lasting identity, a control plane that
//! waits to be made part of a cluster, and the data plane kept fed with the cluster map.
//!
//! The identity (40 hex characters, as Redis Cluster's node ids) is kept in `node-id` in the
//! data dir, so a restarted node comes back as itself, and a wiped one comes back as a new node
//! (reusing an id after losing its Raft state is unsafe). Its control-plane id is derived from
//! it unless `--node-id` is given.

use std::path::Path;
use std::sync::Arc;

use ferrocache_control::MapAccess;
use ferrocache_control::liveness::{Alive, LeaseTimes};
use ferrocache_server::Shared;
use ferrocache_topology::map::{Node, NodeId, NodeState, Shard};

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

/// How this node is reached: its client address and admin URL.
pub struct Addresses {
    pub client: String,
    pub admin: String,
    /// Whether `client` was given with `--announce` (rather than derived from the bound
    /// socket): then the node tells it in INFO, and `ferrocache cluster` records it in the map
    /// in place of the address the operator named the node by.
    pub announced: bool,
}

/// Hands the node's identity and admin URL to the data plane, then every new map; moves the
/// slots the map migrates away from this node and asks the control plane to give each drained
/// slot to its new owner. A node that joined with `--join` also enters itself in the map, as a
/// primary without slots (`ferrocache cluster rebalance` gives it its share).
pub fn serve(shared: &Arc<Shared>, maps: MapAccess, at: Addresses, id: NodeId, joined: bool, lease: LeaseTimes) {
    let admin_url = at.admin.as_str();
    let Some(cluster) = &shared.cluster else { return };
    cluster.set_identity(id.clone());
    cluster.set_admin_url(admin_url.to_string());
    if at.announced {
        cluster.set_announce(at.client.clone());
    }
    let boot = ferrocache_server::repl::new_replid();
    cluster.fence.enable(boot.clone());
    let follower = shared.clone();
    maps.follow(move |map| take_map(&follower, map));
    let (holder, me) = (shared.clone(), id.to_string());
    let (lease_maps, alive) = (maps.clone(), Alive { boot: boot.clone() });
    let current = maps.clone();
    tokio::spawn(async move {
        lease_maps
            .hold_lease(&me, alive, lease, move |until, fresh| {
                let Some(cluster) = &holder.cluster else { return };
                // After a lapse (a pause, a partition) the map may have changed, e.g. a replica
                // promoted in this node's place: route by the map the new lease was granted
                // against before taking any write, not by whatever the watcher delivered so far.
                if fresh && let Ok(Some((_, map))) = current.current() {
                    take_map(&holder, map);
                }
                cluster.fence.held_until(until);
            })
            .await
    });
    let (drained_tx, drained) = tokio::sync::mpsc::unbounded_channel();
    tokio::spawn(ferrocache_server::migrate::run(shared.clone(), drained_tx));
    if joined {
        tokio::spawn(enter_map(maps.clone(), id.clone(), at, boot.clone()));
    }
    crate::node_settings::follow(shared, &maps, &id);
    tokio::spawn(finish_drained(maps, id, drained));
}

/// Routes by `map` (unless the node has a newer one) and follows its shard's primary by it.
fn take_map(shared: &Arc<Shared>, map: ferrocache_topology::map::ClusterMap) {
    let Some(cluster) = &shared.cluster else { return };
    tracing::info!("cluster map epoch {}: {} node(s), {} shard(s)", map.epoch, map.nodes.len(), map.shards.len());
    cluster.install(map);
    ferrocache_server::repl::roles::follow_map(shared, &cluster.map());
    ferrocache_server::cluster::redirect_blocked(shared);
}

/// Adds this node to the map (once it has the cluster's state), unless it is there already.
async fn enter_map(maps: MapAccess, me: NodeId, at: Addresses, boot: String) {
    let actor = format!("node {me}");
    loop {
        match maps.current() {
            Ok(Some((_, map))) if map.node(&me).is_some() => return,
            Ok(Some((revision, mut map))) => {
                map.nodes.push(Node { id: me.clone(), addr: at.client.clone(), admin: at.admin.clone(), zone: None, weight: 1, state: NodeState::Up, boot: Some(boot.clone()) });
                map.shards.push(Shard { primary: me.clone(), replicas: Vec::new(), slots: Vec::new() });
                map.epoch += 1;
                match maps.propose(&actor, &map, revision).await {
                    Ok(()) => {
                        tracing::info!("entered the cluster map at epoch {} as a primary without slots", map.epoch);
                        return;
                    }
                    Err(e) => tracing::debug!("entering the cluster map: {}", e.message),
                }
            }
            // Not caught up with the cluster yet, or it has no map (not created yet).
            Ok(None) => {}
            Err(e) => tracing::warn!("{e}"),
        }
        tokio::time::sleep(std::time::Duration::from_millis(200)).await;
    }
}

/// Gives drained slots to their targets: each report (and any that queued up meanwhile) is one
/// new epoch of the map, written with compare-and-swap and retried if the map moved on.
async fn finish_drained(maps: MapAccess, me: NodeId, mut drained: tokio::sync::mpsc::UnboundedReceiver<u16>) {
    let actor = format!("node {me}");
    while let Some(first) = drained.recv().await {
        // Slots drain in quick succession: gather a few for one new epoch.
        tokio::time::sleep(std::time::Duration::from_millis(20)).await;
        let mut slots = vec![first];
        while let Ok(more) = drained.try_recv() {
            slots.push(more);
        }
        for _ in 0..10 {
            let current = match maps.current() {
                Ok(Some(found)) => found,
                Ok(None) => break,
                Err(e) => {
                    tracing::error!("{e}");
                    break;
                }
            };
            let (revision, map) = current;
            let mine: Vec<u16> = slots.iter().copied().filter(|&s| map.migration(s).is_some_and(|m| m.from == me)).collect();
            let Some(next) = map.finish_migrations(&mine) else { break };
            match maps.propose(&actor, &next, revision).await {
                Ok(()) => {
                    tracing::info!("{} slot(s) handed over at epoch {}", mine.len(), next.epoch);
                    break;
                }
                // The map changed meanwhile (or no leader yet): read it again, after a pause of
                // 5-25 ms that differs between sources, which otherwise collide again.
                Err(e) => {
                    tracing::debug!("handing over slots: {}", e.message);
                    let jitter = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.subsec_nanos() % 20);
                    tokio::time::sleep(std::time::Duration::from_millis(5 + u64::from(jitter))).await;
                }
            }
        }
    }
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
