//! Types shared by every plane about where keys live.
//!
//! For now: the hash-slot function. Ferrocache uses exactly Redis Cluster's
//! mapping (CRC16-XMODEM of the key, or of its `{hash tag}`, modulo 16384) so
//! that cluster-aware clients route every key to the right node.

pub mod slot;

pub use slot::{key_slot, SLOT_COUNT};
