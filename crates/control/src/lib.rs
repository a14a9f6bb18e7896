//! Ferrocache's control plane and config center.
//!
//! A Raft group (openraft, with log, vote and snapshots in redb) replicates a versioned
//! config-KV state machine with watch, history, rollback, leases, locks and a hash-chained
//! audit log, served as HTTP/JSON under `/v1/` on the admin port, which also carries Raft RPC.
//!
//! Start a node with [`ControlNode::start`]; by default it is a single-voter cluster of its own,
//! or it joins a running cluster through `ControlConfig::join`.

pub mod alerts;
pub mod auth;
pub mod backup;
pub mod client;
pub mod command;
pub mod config;
pub mod error;
pub mod exposition;
pub mod history;
mod failover;
mod housekeeping;
mod http;
mod node;
mod proposer;
pub mod raft;
pub mod schema;
mod scrape;
pub mod settings;
pub mod state;
pub mod tls;
#[cfg(test)]
mod test_nodes;
pub mod cluster_map;
pub mod liveness;
mod validate;
pub mod watch;

pub use config::{ControlConfig, Timers};
pub use tls::TlsFiles;
pub use error::ApiError;
pub use node::{ControlHandle, ControlNode, KeyValueAt, MapAccess, Member, StartError, Status};
