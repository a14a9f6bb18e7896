//! Ferrocache's control plane and config center.
//!
//! A Raft group (openraft, with log, vote and snapshots in redb) replicates a versioned
//! config-KV state machine with watch, history, rollback, leases, locks and a hash-chained
//! audit log, served as HTTP/JSON under `/v1/` on the admin port (which also carries Raft RPC).

pub mod command;
pub mod state;
pub mod raft;
