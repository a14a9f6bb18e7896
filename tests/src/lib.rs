//! Test harness for end-to-end tests: start servers, talk RESP to them,
//! compare Ferrocache with the real Redis.
//!
//! - [`start`] runs a Ferrocache server in this process on a free port
//!   (fast; used by most protocol tests);
//! - [`ProcessServer`] runs the `ferrocache` binary, for tests that need a
//!   real process (signals, exit codes, external clients);
//! - [`RedisServer`] runs the reference `redis-server`;
//! - [`cluster::LocalCluster`] runs `ferrocache server --cluster` nodes formed by the CLI;
//! - [`Conn`] is a raw RESP client that returns exact [`Frame`]s, so tests
//!   can assert Redis's exact reply shapes and error strings;
//! - [`netns::Netns`] is a second network "host" for partition tests;
//! - [`diff`] generates random command sequences and checks that Ferrocache
//!   answers them exactly as Redis does.
//!
//! Servers bind 127.0.0.1 only (partition tests: the addresses of their namespace's link), and stop when their handle is dropped.
//! Every read is bounded by a timeout, so a stuck server fails a test
//! rather than hanging it.

pub mod cluster;
mod conn;
pub mod diff;
mod inproc;
pub mod netns;
mod process;
pub mod reply;

pub use conn::{await_blocked, show_args, wait_for_ping, Conn, Drained, READ_TIMEOUT};
pub use ferrocache_resp::Frame;
pub use inproc::{start, start_with, TestServer};
pub use process::{
    ferrocache_bin, free_port, run_bounded, wait_bounded, workspace_root, Ferrocache, ProcessServer, Program, Redis, RedisServer, Server,
};
