//! `ferrocache cluster failover NODE`: a planned switchover of one shard to a replica, losing
//! no write at all — the step a rolling upgrade takes before it restarts a primary.
//!
//! Why in this order: writes on the primary are paused first (`CLIENT PAUSE WRITE`: clients'
//! writes wait, nothing is refused), so its stream stops growing; once the chosen replica has
//! applied every byte of it, the new map (the replica as primary, the old primary as its
//! replica) is written through the control plane; only when the old primary routes by that map
//! are its writes released, and those held are answered with MOVED to the new primary. An
//! automatic failover after a crash decides from leases instead (see the control plane's
//! failover controller); this one needs both nodes up.

use std::time::Duration;

use ferrocache_resp::Frame;
use ferrocache_server::peer::{info_field, map_epoch, PeerConn, CLUSTER_INFO};
use ferrocache_topology::map::{NodeId, NodeState};

use crate::cluster_cmd::{find_node, read_map, write_map, Ctx};
use crate::conn::CliError;

/// How long one node may take to answer.
const NODE_TIMEOUT: Duration = Duration::from_secs(5);

/// Switches the shard `name` serves in (named by any of its nodes) over to `to`, or to its most
/// up-to-date replica; writes stay paused for at most `pause`.
pub async fn failover(ctx: &Ctx, name: &str, existing: &str, to: Option<&str>, pause: Duration) -> Result<(), CliError> {
    let seed = ctx.probe(existing).await?;
    let (revision, map) = read_map(&seed.client).await?;
    let map = map.ok_or_else(|| CliError::failed(format!("{existing} has no cluster map")))?;
    let named = find_node(&map, name)?;
    let shard = map.shard_of_node(&named.id).ok_or_else(|| CliError::failed(format!("{} serves in no shard", named.addr)))?;
    let shard = &map.shards[shard];
    let old = map.node(&shard.primary).expect("a valid map names its primaries");
    let up: Vec<&NodeId> = shard.replicas.iter().filter(|r| map.node(r).is_some_and(|n| n.state == NodeState::Up)).collect();
    let target = match to {
        Some(to) => {
            let node = find_node(&map, to)?;
            if !up.contains(&&node.id) {
                return Err(CliError::failed(format!("{} is not an up replica of {}'s shard", node.addr, old.addr)));
            }
            node
        }
        None => {
            let mut best = None;
            for id in &up {
                let node = map.node(id).expect("listed");
                if let Ok(offset) = replica_offset(&node.addr).await
                    && best.as_ref().is_none_or(|(o, _)| offset > *o)
                {
                    best = Some((offset, node));
                }
            }
            best.map(|(_, n)| n).ok_or_else(|| CliError::failed(format!("{}'s shard has no replica that is up and answering", old.addr)))?
        }
    };
    let next = map.promote(&target.id).map_err(|e| CliError::failed(e.to_string()))?;

    let mut primary = PeerConn::connect(&old.addr, NODE_TIMEOUT).await.map_err(|e| CliError::failed(e.to_string()))?;
    let ms = pause.as_millis().to_string();
    expect_ok(primary.call(&[b"CLIENT", b"PAUSE", ms.as_bytes(), b"WRITE"]).await, "CLIENT PAUSE")?;
    println!("Writes paused on {} (for at most {} ms)", old.addr, pause.as_millis());
    let switched = switch(&mut primary, &old.addr, &target.addr, pause, &seed.client, &next, revision).await;
    let released = expect_ok(primary.call(&[b"CLIENT", b"UNPAUSE"]).await, "CLIENT UNPAUSE");
    switched?;
    released?;
    println!("[OK] {} is the primary of the shard (epoch {}); {} follows it", target.addr, next.epoch, old.addr);
    Ok(())
}

/// With writes paused: waits for the replica to catch up, writes the new map, and waits until
/// both nodes route by it.
async fn switch(
    primary: &mut PeerConn,
    old: &str,
    new: &str,
    pause: Duration,
    client: &ferrocache_control::client::Client,
    next: &ferrocache_topology::map::ClusterMap,
    revision: u64,
) -> Result<(), CliError> {
    let deadline = tokio::time::Instant::now() + pause.mul_f64(0.8);
    let wait = |what: String| {
        let late = tokio::time::Instant::now() >= deadline;
        async move {
            if late {
                return Err(CliError::failed(format!("{what} within the pause; nothing was switched, writes resume on the old primary")));
            }
            tokio::time::sleep(Duration::from_millis(10)).await;
            Ok(())
        }
    };
    loop {
        let info = primary.call_text(&[b"INFO", b"replication"]).await.map_err(|e| CliError::failed(e.to_string()))?;
        let end: u64 = info_field(&info, "master_repl_offset").and_then(|o| o.parse().ok()).unwrap_or(0);
        let applied = replica_offset(new).await.unwrap_or(0);
        if applied >= end {
            println!("{new} has every write ({end} bytes of stream)");
            break;
        }
        wait(format!("{new} did not catch up ({applied} of {end} bytes)")).await?;
    }
    write_map(client, next, revision).await?;
    for addr in [old, new] {
        loop {
            let epoch = match PeerConn::connect(addr, NODE_TIMEOUT).await {
                Ok(mut conn) => conn.call_text(CLUSTER_INFO).await.ok().and_then(|info| map_epoch(&info)),
                Err(_) => None,
            };
            if epoch.is_some_and(|e| e >= next.epoch) {
                break;
            }
            // The map is written: past this point the switch stands, so keep waiting.
            tokio::time::sleep(Duration::from_millis(10)).await;
        }
    }
    Ok(())
}

/// A replica's applied offset (the last element of its ROLE reply).
async fn replica_offset(addr: &str) -> Result<u64, CliError> {
    let mut conn = PeerConn::connect(addr, NODE_TIMEOUT).await.map_err(|e| CliError::failed(e.to_string()))?;
    match conn.call(&[b"ROLE"]).await.map_err(|e| CliError::failed(e.to_string()))? {
        Frame::Array(items) => match items.as_slice() {
            [Frame::Bulk(role), .., Frame::Integer(offset)] if &role[..] == b"slave" => Ok(*offset as u64),
            _ => Err(CliError::failed(format!("{addr} is not a replica"))),
        },
        other => Err(CliError::failed(format!("{addr} answered ROLE with {other:?}"))),
    }
}

fn expect_ok(reply: Result<Frame, ferrocache_server::peer::PeerError>, what: &str) -> Result<(), CliError> {
    match reply {
        Ok(Frame::Simple(s)) if &s[..] == b"OK" => Ok(()),
        Ok(other) => Err(CliError::failed(format!("{what} answered {other:?}"))),
        Err(e) => Err(CliError::failed(format!("{what}: {e}"))),
    }
}
