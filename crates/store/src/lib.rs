//! The keyspace: databases of keys with typed values and expiry.
//!
//! Layout (see DESIGN.md, "runtime"): each database is split into
//! [`db::SHARDS`] independently locked shards; a key's shard is its hash slot
//! modulo the shard count, and inside a shard each hash slot has its own
//! table. So commands on different shards never contend, and the keys of one
//! slot can be counted, enumerated or moved without touching any other slot.
//!
//! Locking is explicit: a command locks the shards of the keys it names
//! ([`db::Db::lock`], [`db::Db::lock_many`]) and works on the guard; the
//! guard applies lazy expiry and tells watchers (`WATCH`) about every change.

pub mod clock;
pub mod crc64;
pub mod db;
pub mod dump;
pub mod encoding;
pub mod evict;
pub mod glob;
pub mod hash;
pub mod hashtable;
pub mod keymap;
pub mod lazyfree;
pub mod list;
pub mod memory;
pub mod packed;
pub mod sample;
pub mod set;
pub mod value;
pub mod watch;
pub mod zset;

pub use db::{Db, DbGuard, Entry};
pub use value::{StrValue, Value};
