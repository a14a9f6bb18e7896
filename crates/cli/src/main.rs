//! The `ferrocache` binary: a thin shell over the library crates.
//!
//! `ferrocache server` runs a node (see [`server`]). Every other command is the operator CLI of
//! the control plane, talking HTTP to a node's admin API (`--url`, default
//! `http://127.0.0.1:7379`, or `FERROCACHE_URL`; `--token` or `FERROCACHE_TOKEN`): `config`,
//! `lease`, `lock`, `audit`, `backup`, `members` and `status`; `cluster` talks to nodes by their client
//! address instead (see [`cluster_cmd`]). They print text for people by default and
//! JSON with `--output json`; a failure is one line on stderr with exit code 1, a wrong command
//! line exit code 2.

mod audit;
mod backup;
mod cluster_cmd;
mod cluster_failover;
mod cluster_node;
mod config_cmd;
mod conn;
mod deploy_cmd;
mod diff;
mod lease;
mod lock;
mod members;
mod monitor;
mod node_settings;
mod output;
mod rollout;
mod server;
mod top;
mod upgrade;

use std::process::ExitCode;

use clap::{Parser, Subcommand};

use conn::Conn;

use ferrocache_store::memory::CountingAlloc;

// The allocator, chosen by measurement (bench/README-memory.md), wrapped
// so that `used_memory` counts live bytes. Features pick another for
// comparison: `--no-default-features` (system allocator) or
// `--no-default-features --features mimalloc`.
#[cfg(feature = "jemalloc")]
#[global_allocator]
static ALLOC: CountingAlloc<tikv_jemallocator::Jemalloc> = CountingAlloc(tikv_jemallocator::Jemalloc);
#[cfg(feature = "jemalloc")]
const ALLOCATOR_NAME: &str = "jemalloc-5.3.0";

#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
#[global_allocator]
static ALLOC: CountingAlloc<mimalloc::MiMalloc> = CountingAlloc(mimalloc::MiMalloc);
#[cfg(all(feature = "mimalloc", not(feature = "jemalloc")))]
const ALLOCATOR_NAME: &str = "mimalloc";

#[cfg(not(any(feature = "mimalloc", feature = "jemalloc")))]
#[global_allocator]
static ALLOC: CountingAlloc<std::alloc::System> = CountingAlloc(std::alloc::System);
#[cfg(not(any(feature = "mimalloc", feature = "jemalloc")))]
const ALLOCATOR_NAME: &str = "libc";

#[derive(Parser)]
#[command(name = "ferrocache", version, about = "A Redis-compatible distributed cache")]
struct Cli {
    #[command(subcommand)]
    command: Command,
}

#[derive(Subcommand)]
enum Command {
    /// Run a cache node that speaks the Redis protocol (and the control plane beside it).
    Server(Box<server::ServerArgs>),
    /// Read, write, diff, roll back and watch config keys.
    Config {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        cmd: config_cmd::ConfigCmd,
    },
    /// Grant, renew, revoke and list leases.
    Lease {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        cmd: lease::LeaseCmd,
    },
    /// Run a command while holding a cluster-wide lock: `ferrocache lock NAME -- COMMAND ARGS...`.
    Lock {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        args: lock::LockArgs,
    },
    /// List and verify the hash-chained audit log.
    Audit {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        cmd: audit::AuditCmd,
    },
    /// Save the whole control plane to a file, inspect such a file, restore it (disaster recovery).
    Backup {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        cmd: backup::BackupCmd,
    },
    /// List, add and remove control-plane members.
    Members {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        cmd: members::MembersCmd,
    },
    /// Form, inspect and reshape a cluster of `ferrocache server --cluster` nodes.
    Cluster(cluster_cmd::ClusterArgs),
    /// Deploy, scale and inspect a cluster described by one spec file (cluster.toml).
    Deploy(deploy_cmd::DeployArgs),
    /// Run a local cluster (3 shards × 1 replica by default) in the foreground until Ctrl-C.
    Up(deploy_cmd::UpArgs),
    /// The cluster's alerts, and its alert rules for Prometheus.
    Monitor {
        #[command(flatten)]
        conn: Conn,
        #[command(subcommand)]
        cmd: monitor::MonitorCmd,
    },
    /// Every node's ops/s, hit ratio, memory, clients and lag, refreshed every second.
    Top {
        #[command(flatten)]
        conn: Conn,
        #[command(flatten)]
        args: top::TopArgs,
    },
    /// The node's Raft state and the cluster's members.
    Status {
        #[command(flatten)]
        conn: Conn,
    },
}

fn main() -> ExitCode {
    ferrocache_store::memory::set_allocator_name(ALLOCATOR_NAME);
    match Cli::parse().command {
        Command::Server(args) => server::main(*args),
        Command::Config { conn, cmd } => conn::run(conn, async |ctx| config_cmd::run(&ctx, cmd).await.map(|()| 0)),
        Command::Lease { conn, cmd } => conn::run(conn, async |ctx| lease::run(&ctx, cmd).await.map(|()| 0)),
        Command::Lock { conn, args } => conn::run(conn, async |ctx| lock::run(&ctx, args).await),
        Command::Audit { conn, cmd } => conn::run(conn, async |ctx| audit::run(&ctx, cmd).await.map(|()| 0)),
        Command::Backup { conn, cmd } => conn::run(conn, async |ctx| backup::run(&ctx, cmd).await.map(|()| 0)),
        Command::Members { conn, cmd } => conn::run(conn, async |ctx| members::run(&ctx, cmd).await.map(|()| 0)),
        Command::Cluster(args) => cluster_cmd::main(args),
        Command::Deploy(args) => deploy_cmd::main(args),
        Command::Up(args) => deploy_cmd::up(args),
        Command::Monitor { conn, cmd } => conn::run(conn, async |ctx| monitor::run(&ctx, cmd).await),
        Command::Top { conn, args } => conn::run(conn, async |ctx| top::run(&ctx, args).await),
        Command::Status { conn } => conn::run(conn, async |ctx| members::status(&ctx).await.map(|()| 0)),
    }
}
