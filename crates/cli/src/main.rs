//! The `ferrocache` binary: a thin shell over the library crates.
//!
//! `ferrocache server` runs a node. Settings come from built-in defaults,
//! then the TOML file given with `--config`, then command-line flags; any
//! unknown or invalid setting stops the start with a message that names it
//! and exit code 2.

use std::process::ExitCode;

use clap::{Parser, Subcommand};
use ferrocache_server::{Config, Server};

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
    /// Run a cache node that speaks the Redis protocol.
    Server(ServerArgs),
}

#[derive(clap::Args)]
struct ServerArgs {
    /// TOML file of settings (keys are the setting names below, e.g. `port = 7000`).
    #[arg(long, value_name = "FILE")]
    config: Option<std::path::PathBuf>,
    /// Addresses to listen on [default: 127.0.0.1].
    #[arg(long, num_args = 1.., value_name = "ADDR")]
    bind: Vec<String>,
    /// TCP port for clients [default: 6379; 0 picks a free port].
    #[arg(long)]
    port: Option<String>,
    /// Password clients must give with AUTH or HELLO.
    #[arg(long)]
    requirepass: Option<String>,
    /// Number of databases [default: 16].
    #[arg(long)]
    databases: Option<String>,
    /// Most clients connected at once [default: 10000].
    #[arg(long)]
    maxclients: Option<String>,
    /// Largest bulk string a client may send, e.g. 512mb [default: 512mb].
    #[arg(long, value_name = "SIZE")]
    proto_max_bulk_len: Option<String>,
    /// trace, debug, info, warn or error [default: info].
    #[arg(long)]
    log_level: Option<String>,
    /// Any other setting, as NAME=VALUE (repeatable), e.g. --set timeout=300.
    #[arg(long = "set", value_name = "NAME=VALUE")]
    set: Vec<String>,
}

impl ServerArgs {
    /// Defaults, then the file, then the flags.
    fn config(&self) -> Result<Config, String> {
        let mut config = Config::default();
        if let Some(path) = &self.config {
            let text = std::fs::read_to_string(path).map_err(|e| format!("cannot read config file {}: {e}", path.display()))?;
            config.apply_toml(&text, &path.display().to_string()).map_err(|e| e.to_string())?;
        }
        let mut pairs: Vec<(String, String)> = Vec::new();
        if !self.bind.is_empty() {
            pairs.push(("bind".into(), self.bind.join(" ")));
        }
        let flags = [
            ("port", &self.port),
            ("requirepass", &self.requirepass),
            ("databases", &self.databases),
            ("maxclients", &self.maxclients),
            ("proto-max-bulk-len", &self.proto_max_bulk_len),
            ("log-level", &self.log_level),
        ];
        pairs.extend(flags.iter().filter_map(|(n, v)| v.as_ref().map(|v| (n.to_string(), v.clone()))));
        for s in &self.set {
            let (n, v) = s.split_once('=').ok_or_else(|| format!("--set expects NAME=VALUE, got '{s}'"))?;
            pairs.push((n.trim().to_string(), v.to_string()));
        }
        for (name, value) in pairs {
            config.apply(&name, &value).map_err(|e| e.to_string())?;
        }
        Ok(config)
    }
}

fn main() -> ExitCode {
    ferrocache_store::memory::set_allocator_name(ALLOCATOR_NAME);
    let cli = Cli::parse();
    match cli.command {
        Command::Server(args) => {
            let config = match args.config() {
                Ok(c) => c,
                Err(e) => {
                    eprintln!("ferrocache: {e}");
                    return ExitCode::from(2);
                }
            };
            run_server(config)
        }
    }
}

fn run_server(config: Config) -> ExitCode {
    let filter = tracing_subscriber::EnvFilter::try_from_default_env()
        .unwrap_or_else(|_| tracing_subscriber::EnvFilter::new(format!("{}", config.log_level)));
    tracing_subscriber::fmt().with_env_filter(filter).with_target(false).init();
    let runtime = match tokio::runtime::Builder::new_multi_thread().enable_all().build() {
        Ok(r) => r,
        Err(e) => {
            eprintln!("ferrocache: cannot start the runtime: {e}");
            return ExitCode::FAILURE;
        }
    };
    runtime.block_on(async {
        let server = match Server::bind(config).await {
            Ok(s) => s,
            Err(e) => {
                eprintln!("ferrocache: {e}");
                return ExitCode::FAILURE;
            }
        };
        ferrocache_store::memory::mark_startup();
        let shared = server.shared();
        ferrocache_server::evict::sync_tuning(&shared);
        tokio::spawn(async move {
            wait_for_signal().await;
            tracing::info!("signal received");
            shared.shutdown.request();
        });
        match server.run().await {
            Ok(()) => ExitCode::SUCCESS,
            Err(e) => {
                eprintln!("ferrocache: {e}");
                ExitCode::FAILURE
            }
        }
    })
}

async fn wait_for_signal() {
    use tokio::signal::unix::{signal, SignalKind};
    let mut term = signal(SignalKind::terminate()).expect("SIGTERM handler");
    tokio::select! {
        _ = tokio::signal::ctrl_c() => {}
        _ = term.recv() => {}
    }
}
