//! Whom a node follows: REPLICAOF says so in standalone mode, the cluster map in cluster mode
//! (where the control plane assigns replicas and promotes them on failover). Both end here.

use std::sync::atomic::Ordering;
use std::sync::Arc;

use ferrocache_topology::map::ClusterMap;
use tracing::info;

use super::replica::Link;
use crate::shared::Shared;

/// Follows the primary at `host:port`, dropping this node's data for its copy. False when
/// already following it.
pub fn follow(shared: &Arc<Shared>, host: String, port: u16) -> bool {
    let mut current = shared.repl.link.lock();
    if current.as_ref().is_some_and(|l| l.host == host && l.port == port) {
        return false;
    }
    if let Some(old) = current.take() {
        old.stopped.store(true, Ordering::Relaxed);
    }
    info!("following the primary at {host}:{port}");
    passive_expiry(shared, true);
    let link = Arc::new(Link::new(host, port));
    *current = Some(link.clone());
    drop(current);
    tokio::spawn(super::replica::run(shared.clone(), link));
    true
}

/// Stops following (if it did) and makes this node a primary with the data it has; its stream
/// starts anew, under a new id.
pub fn unfollow(shared: &Shared) {
    if let Some(link) = shared.repl.link.lock().take() {
        link.stopped.store(true, Ordering::Relaxed);
        shared.repl.set_replid(super::new_replid());
        passive_expiry(shared, false);
        info!("no longer a replica of {}:{}", link.host, link.port);
    }
}

/// A replica leaves expired keys to its primary's DELs (see `Db::set_passive_expiry`).
fn passive_expiry(shared: &Shared, on: bool) {
    for db in shared.dbs.iter() {
        db.set_passive_expiry(on);
    }
}

/// In cluster mode: follows the primary of the shard `map` makes this node a replica of, or
/// nobody when it is a primary (promoted, perhaps) or not in the map.
pub fn follow_map(shared: &Arc<Shared>, map: &ClusterMap) {
    let Some(me) = shared.cluster.as_ref().and_then(|c| c.my_id()) else { return };
    let primary = map.shards.iter().find(|s| s.replicas.contains(&me)).and_then(|s| map.node(&s.primary));
    match primary.and_then(|p| p.addr.rsplit_once(':').and_then(|(host, port)| Some((host.to_string(), port.parse().ok()?)))) {
        Some((host, port)) => {
            follow(shared, host, port);
        }
        None => unfollow(shared),
    }
}
