//! The Raft side: openraft type configuration, redb-backed storage and the HTTP network.
//!
//! Layout follows openraft's examples: storage (log store, state machine) and network are
//! separate modules; the application (HTTP API, node lifecycle) lives outside this module.

// openraft's `StorageError` is large and is what its traits return; boxing it locally only to
// unbox it at every trait boundary would not help.
#![allow(clippy::result_large_err)]

pub mod db;
pub mod log_store;
pub mod network;
pub mod state_machine;

use std::io::Cursor;

use serde::Serialize;
use serde::de::DeserializeOwned;

use crate::command::{Request, Response};

openraft::declare_raft_types!(
    /// Ferrocache's openraft types: u64 node ids, nodes addressed by their admin URL.
    pub TypeConfig:
        D = Request,
        R = Response,
        NodeId = u64,
        Node = openraft::BasicNode,
        Entry = openraft::Entry<TypeConfig>,
        SnapshotData = Cursor<Vec<u8>>,
        AsyncRuntime = openraft::TokioRuntime,
);

pub type NodeId = u64;
pub type Node = openraft::BasicNode;
pub type LogId = openraft::LogId<NodeId>;
pub type StorageError = openraft::StorageError<NodeId>;
pub type Raft = openraft::Raft<TypeConfig>;

/// MessagePack with field names: compact for byte values, tolerant of added fields. Used for
/// everything stored in redb and for node-to-node HTTP bodies.
pub fn encode<T: Serialize>(value: &T) -> Result<Vec<u8>, rmp_serde::encode::Error> {
    rmp_serde::to_vec_named(value)
}

pub fn decode<T: DeserializeOwned>(bytes: &[u8]) -> Result<T, rmp_serde::decode::Error> {
    rmp_serde::from_slice(bytes)
}

/// Content type of MessagePack bodies between nodes.
pub const MSGPACK: &str = "application/msgpack";
