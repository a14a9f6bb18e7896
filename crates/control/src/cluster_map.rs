//! The cluster map as control-plane state: one JSON value under [`MAP_KEY`].
//!
//! Keeping the map in the config KV gives it what every other setting has for free: Raft
//! replication, history, watch, compare-and-swap and the audit trail. What the KV alone would
//! not ensure is checked here before a write is proposed (on the leader, against its current
//! state): the value must be a valid [`ClusterMap`] and its epoch must grow, so data nodes,
//! which keep the newest epoch they have seen, never miss a change. Deleting the map or rolling
//! it back to an older epoch would break that rule, so both are refused; a change of topology
//! is always a new map written by the `ferrocache cluster` commands.
//!
//! Beside it, under [`REBALANCE_KEY`], the plan of the last rebalance: the map lists only the
//! slots moving now, the plan lets the dashboard tell how far the whole rebalance has come.

use ferrocache_topology::map::{ClusterMap, RebalancePlan};

use crate::command::{Op, PutOp, TxnAction};
use crate::error::ApiError;
use crate::state::ConfigState;

/// Where the map lives in the config KV.
pub const MAP_KEY: &str = "cluster/map";

/// Where the plan of the last rebalance is kept, written by the rebalancer as it starts.
pub const REBALANCE_KEY: &str = "cluster/rebalance";

/// The current map and the revision that wrote it, if there is one.
pub fn current(state: &ConfigState) -> Result<Option<(u64, ClusterMap)>, String> {
    let Some(record) = state.get(MAP_KEY, None).map_err(|e| e.to_string())? else {
        return Ok(None);
    };
    let Some(value) = &record.value else { return Ok(None) };
    let map = serde_json::from_slice(&value.data).map_err(|e| format!("{MAP_KEY} holds no valid map: {e}"))?;
    Ok(Some((record.mod_revision, map)))
}

/// The plan of the last rebalance, if one was recorded.
pub fn rebalance_plan(state: &ConfigState) -> Option<RebalancePlan> {
    let record = state.get(REBALANCE_KEY, None).ok()??;
    serde_json::from_slice(&record.value.as_ref()?.data).ok()
}

/// Refuses writes that would leave the map invalid, unchanged in epoch, or gone.
pub fn check_op(state: &ConfigState, op: &Op) -> Result<(), ApiError> {
    let covers = |key: &str, prefix: bool| if prefix { MAP_KEY.starts_with(key) } else { key == MAP_KEY };
    let refused = || ApiError::bad_request(format!("{MAP_KEY} cannot be deleted or rolled back; change the topology with `ferrocache cluster`"));
    match op {
        Op::Put(put) => check_put(state, put),
        Op::Delete(d) if covers(&d.key, d.prefix) => Err(refused()),
        Op::Rollback(r) if covers(&r.key, r.prefix) => Err(refused()),
        Op::Txn(txn) => txn.success.iter().chain(&txn.failure).try_for_each(|action| match action {
            TxnAction::Put(put) => check_put(state, put),
            TxnAction::Delete(d) if covers(&d.key, d.prefix) => Err(refused()),
            TxnAction::Delete(_) => Ok(()),
        }),
        _ => Ok(()),
    }
}

fn check_put(state: &ConfigState, put: &PutOp) -> Result<(), ApiError> {
    if put.key == REBALANCE_KEY {
        return serde_json::from_slice::<RebalancePlan>(&put.value)
            .map(drop)
            .map_err(|e| ApiError::bad_request(format!("{REBALANCE_KEY} must be a rebalance plan in JSON: {e}")));
    }
    if put.key != MAP_KEY {
        return Ok(());
    }
    let map: ClusterMap =
        serde_json::from_slice(&put.value).map_err(|e| ApiError::bad_request(format!("{MAP_KEY} must be a cluster map in JSON: {e}")))?;
    map.validate().map_err(|e| ApiError::bad_request(format!("invalid cluster map: {e}")))?;
    let old_epoch = current(state).ok().flatten().map_or(0, |(_, m)| m.epoch);
    if map.epoch <= old_epoch {
        return Err(ApiError::new(
            axum::http::StatusCode::CONFLICT,
            "stale_epoch",
            format!("the new map's epoch {} must be greater than the current {old_epoch}; read the map again and retry", map.epoch),
        ));
    }
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;
    use crate::command::{ContentType, DeleteOp, Request, RollbackOp};
    use ferrocache_topology::map::{Node, NodeId, NodeState, Shard};
    use ferrocache_topology::placement::SlotRange;

    fn map(epoch: u64) -> ClusterMap {
        let id = NodeId::try_from("a".repeat(40)).unwrap();
        let node = Node { id: id.clone(), addr: "127.0.0.1:7000".into(), admin: "http://127.0.0.1:8000".into(), zone: None, weight: 1, state: NodeState::Up, boot: None };
        let shard = Shard { primary: id, replicas: vec![], slots: vec![SlotRange { start: 0, end: 16383 }] };
        ClusterMap { epoch, nodes: vec![node], shards: vec![shard], migrations: vec![] }
    }

    fn put(value: Vec<u8>) -> Op {
        put_at(MAP_KEY, value)
    }

    fn put_at(key: &str, value: Vec<u8>) -> Op {
        Op::Put(PutOp { key: key.into(), value, content_type: ContentType::Json, if_revision: None, lease: None })
    }

    fn stored(epoch: u64) -> ConfigState {
        let mut state = ConfigState::new();
        state.apply(&Request { actor: "t".into(), time_ms: 1, op: put(serde_json::to_vec(&map(epoch)).unwrap()) }).unwrap();
        state
    }

    #[test]
    fn only_valid_maps_with_a_greater_epoch_are_accepted() {
        let state = stored(3);
        assert_eq!(current(&state).unwrap().unwrap().1, map(3));
        assert!(check_op(&state, &put(serde_json::to_vec(&map(4)).unwrap())).is_ok());
        let stale = check_op(&state, &put(serde_json::to_vec(&map(3)).unwrap())).unwrap_err();
        assert_eq!(stale.code, "stale_epoch");
        assert!(check_op(&state, &put(b"{\"epoch\": 9}".to_vec())).unwrap_err().message.contains("must be a cluster map"));
        let mut twice = map(5);
        twice.nodes.push(twice.nodes[0].clone());
        assert!(check_op(&state, &put(serde_json::to_vec(&twice).unwrap())).unwrap_err().message.contains("listed twice"));
        let other = Op::Put(PutOp { key: "cluster/other".into(), value: b"x".to_vec(), content_type: ContentType::Text, if_revision: None, lease: None });
        assert!(check_op(&state, &other).is_ok(), "only the map key is checked");
    }

    #[test]
    fn the_map_cannot_be_deleted_or_rolled_back() {
        let state = stored(1);
        let delete = |key: &str, prefix| Op::Delete(DeleteOp { key: key.into(), prefix, if_revision: None });
        assert!(check_op(&state, &delete(MAP_KEY, false)).is_err());
        assert!(check_op(&state, &delete("clus", true)).is_err());
        assert!(check_op(&state, &delete("cluster/mapx", false)).is_ok());
        let rollback = Op::Rollback(RollbackOp { key: MAP_KEY.into(), prefix: false, to_revision: 1 });
        assert!(check_op(&state, &rollback).is_err());
    }

    #[test]
    fn a_rebalance_plan_must_parse_and_is_read_back() {
        let mut state = stored(1);
        assert_eq!(rebalance_plan(&state), None);
        let bad = check_op(&state, &put_at(REBALANCE_KEY, b"{}".to_vec())).unwrap_err();
        assert!(bad.message.contains("must be a rebalance plan"), "{}", bad.message);
        let id = map(1).shards[0].primary.clone();
        let plan = RebalancePlan { started_ms: 7, moves: vec![ferrocache_topology::map::Migration { slot: 3, from: id.clone(), to: id }] };
        let op = put_at(REBALANCE_KEY, serde_json::to_vec(&plan).unwrap());
        check_op(&state, &op).unwrap();
        state.apply(&Request { actor: "t".into(), time_ms: 2, op }).unwrap();
        assert_eq!(rebalance_plan(&state), Some(plan));
    }
}
