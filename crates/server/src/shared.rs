//! State shared by all connections of one server.

use std::sync::atomic::{AtomicBool, AtomicU64, Ordering};

use ferrocache_store::Db;
use parking_lot::{Mutex, RwLock};
use tokio::sync::Notify;

use crate::client::Registry;
use crate::config::Config;
use crate::pubsub::PubSub;

/// Everything a command may reach beyond its own client.
pub struct Shared {
    pub dbs: Box<[Db]>,
    pub config: RwLock<Config>,
    pub clients: Registry,
    /// Clients waiting in blocking commands (BLPOP, ...).
    pub blocking: crate::blocking::Blocking,
    /// Pub/sub channels and patterns → subscribers.
    pub pubsub: PubSub,
    pub stats: Stats,
    /// Per-command calls, errors and latency (INFO commandstats, ...).
    pub cmdstats: crate::cmdstats::CommandStats,
    /// SLOWLOG's entries and thresholds.
    pub slowlog: crate::slowlog::SlowLog,
    /// LATENCY's event history and threshold.
    pub latency: crate::latency::LatencyMonitor,
    /// Clients in MONITOR mode.
    pub monitors: crate::monitor::Monitors,
    /// Ordinary commands hold this shared; EXEC and other commands that
    /// must run alone hold it exclusively, so their effects are atomic.
    pub gate: RwLock<()>,
    pub shutdown: Shutdown,
    /// 40 hex chars, new each start (INFO `run_id`).
    pub run_id: String,
    /// Unix ms at start.
    pub started: u64,
    /// The TCP port actually bound (differs from config when it was 0).
    pub port: AtomicU64,
    /// Where to hand a connection to each event loop (set when the loops
    /// start; see [`crate::affinity`]).
    pub loops: std::sync::OnceLock<Vec<tokio::sync::mpsc::UnboundedSender<crate::conn::Moved>>>,
    /// `maxmemory`, mirrored from the config (see `evict::sync_tuning`) so
    /// that every write can check it without taking the config lock.
    pub maxmemory: AtomicU64,
    /// The cluster view and this node's place in it; Some iff the
    /// `cluster-enabled` setting is on (see [`crate::cluster`]).
    pub cluster: Option<crate::cluster::Cluster>,
    /// This node's replication: its stream, its replicas, its primary.
    pub repl: crate::repl::Replication,
    /// CLIENT PAUSE in force, if any.
    pub pause: crate::pause::Pause,
}

impl Shared {
    /// Keyspace counters (hits, misses, expired keys) of all databases.
    pub fn keyspace_stats(&self) -> ferrocache_store::db::Stats {
        let mut sum = ferrocache_store::db::Stats::default();
        for d in self.dbs.iter() {
            sum += d.stats();
        }
        sum
    }

    /// Clients blocked in BLPOP and the like, parked in WAIT or held by
    /// CLIENT PAUSE: Redis counts them all as blocked.
    pub fn blocked_clients(&self) -> usize {
        self.blocking.blocked_clients() + self.stats.parked.load(Ordering::Relaxed)
    }

    pub fn new(config: Config) -> Self {
        let dbs = (0..config.databases).map(|_| Db::new()).collect();
        let maxmemory = AtomicU64::new(config.maxmemory);
        let cluster = config.cluster_enabled.then(crate::cluster::Cluster::default);
        let run_id = crate::repl::new_replid();
        let repl = crate::repl::Replication::new(config.repl_backlog_size);
        let cmdstats = crate::cmdstats::CommandStats::new(crate::table::table().ids(), config.io_threads);
        let slowlog = crate::slowlog::SlowLog::new(config.slowlog_log_slower_than, config.slowlog_max_len);
        let latency_threshold = config.latency_monitor_threshold;
        Shared {
            dbs,
            config: RwLock::new(config),
            clients: Registry::default(),
            blocking: Default::default(),
            pubsub: PubSub::default(),
            stats: Stats::default(),
            cmdstats,
            slowlog,
            latency: crate::latency::LatencyMonitor::new(latency_threshold),
            monitors: crate::monitor::Monitors::default(),
            gate: RwLock::new(()),
            shutdown: Shutdown::default(),
            run_id,
            started: ferrocache_store::clock::now_ms(),
            port: AtomicU64::new(0),
            loops: std::sync::OnceLock::new(),
            maxmemory,
            cluster,
            repl,
            pause: Default::default(),
        }
    }
}

/// Server-wide counters (INFO stats).
#[derive(Debug, Default)]
pub struct Stats {
    pub commands: AtomicU64,
    pub net_input_bytes: AtomicU64,
    pub net_output_bytes: AtomicU64,
    /// Clients closed for overrunning their output buffer limit.
    pub obuf_closed: AtomicU64,
    /// Highest keyspace memory seen by a write under a limit or by the
    /// background tick (see `evict::used_memory_peak`).
    pub memory_peak: std::sync::atomic::AtomicUsize,
    /// Connections parked in WAIT or held by CLIENT PAUSE (see [`crate::park`]).
    pub parked: std::sync::atomic::AtomicUsize,
    /// Recent (Unix ms, commands) samples for instantaneous_ops_per_sec.
    pub samples: Mutex<std::collections::VecDeque<(u64, u64)>>,
}

impl Stats {
    /// Records a sample; called by the background task each tick.
    pub fn sample(&self, now: u64) {
        let mut s = self.samples.lock();
        s.push_back((now, self.commands.load(Ordering::Relaxed)));
        while s.len() > 16 {
            s.pop_front();
        }
    }

    /// Commands per second over the last samples (about 1.6 s at hz 10).
    pub fn ops_per_sec(&self) -> u64 {
        let s = self.samples.lock();
        match (s.front(), s.back()) {
            (Some(a), Some(b)) if b.0 > a.0 => (b.1 - a.1) * 1000 / (b.0 - a.0),
            _ => 0,
        }
    }
}

/// The shutdown signal: SIGINT/SIGTERM or SHUTDOWN.
#[derive(Debug, Default)]
pub struct Shutdown {
    requested: AtomicBool,
    notify: Notify,
}

impl Shutdown {
    pub fn request(&self) {
        self.requested.store(true, Ordering::SeqCst);
        self.notify.notify_waiters();
    }

    pub fn is_requested(&self) -> bool {
        self.requested.load(Ordering::SeqCst)
    }

    /// Resolves once shutdown has been requested.
    pub async fn wait(&self) {
        loop {
            let notified = self.notify.notified();
            if self.is_requested() {
                return;
            }
            notified.await;
        }
    }
}
