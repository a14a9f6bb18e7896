//! Types shared by every plane about where keys live.
//!
//! The hash-slot function ([`slot`]): Ferrocache uses exactly Redis
//! Cluster's mapping (CRC16-XMODEM of the key, or of its `{hash tag}`,
//! modulo 16384) so that cluster-aware clients route every key to the right
//! node. Slot placement ([`placement`]): each primary's weighted share, a
//! new cluster's first split, and the fewest-moves rebalancing plan. The
//! cluster map ([`map`]): nodes, shards, epoch, and the slot table that
//! routing reads.

pub mod map;
pub mod placement;
pub mod slot;

pub use slot::{key_slot, SLOT_COUNT};
