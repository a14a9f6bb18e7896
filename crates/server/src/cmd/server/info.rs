//! INFO: the server's state as `field:value` lines in `# Section` blocks,
//! with Redis's section and field names, so monitoring tools, `redis-cli
//! info` and client libraries read it unchanged.
//!
//! Layout as Redis: each section is `# Title\r\n` then one `name:value\r\n`
//! line per field; sections are separated by an empty line and always come
//! in the fixed order of [`SECTIONS`], whatever order they were asked in.
//! Fields for features Ferrocache does not have yet (persistence,
//! replication) show their idle values.

use std::fmt::{Display, Write as _};
use std::sync::atomic::Ordering;
use std::time::{SystemTime, UNIX_EPOCH};

use bytes::Bytes;
use ferrocache_store::memory;

use crate::args::is;
use crate::command::{CmdResult, Ctx};
use crate::pubsub::Space;

/// One section's writer.
type Writer = fn(&Ctx, &mut Info);

/// Every section, in output order: (name, title, writer, in the default
/// set). `all` and `everything` select every one of them; `default` (and no
/// argument) leaves out the long per-command ones, as Redis does.
const SECTIONS: &[(&str, &str, Writer, bool)] = &[
    ("server", "Server", server, true),
    ("clients", "Clients", clients, true),
    ("memory", "Memory", memory, true),
    ("persistence", "Persistence", persistence, true),
    ("stats", "Stats", stats, true),
    ("replication", "Replication", replication, true),
    ("cpu", "CPU", cpu, true),
    ("modules", "Modules", |_, _| {}, true),
    ("commandstats", "Commandstats", super::info_stats::commandstats, false),
    ("errorstats", "Errorstats", super::info_stats::errorstats, true),
    ("latencystats", "Latencystats", super::info_stats::latencystats, false),
    ("cluster", "Cluster", cluster, true),
    ("keyspace", "Keyspace", keyspace, true),
];

/// The text being built.
pub(super) struct Info(String);

impl Info {
    pub(super) fn field(&mut self, name: &str, value: impl Display) {
        let _ = write!(self.0, "{name}:{value}\r\n");
    }

    /// A byte count and its `_human` twin.
    fn bytes(&mut self, name: &str, n: u64) {
        self.field(name, n);
        self.field(&format!("{name}_human"), human_bytes(n));
    }
}

/// `INFO [section ...]`. Unknown sections select nothing.
pub fn info(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let default = |a: &Bytes| is(a, "default");
    let wanted = |&&(name, _, _, in_default): &&(&str, &str, Writer, bool)| {
        (args.len() == 1 && in_default)
            || args[1..].iter().any(|a| is(a, name) || is(a, "all") || is(a, "everything") || (in_default && default(a)))
    };
    let mut text = Info(String::new());
    for (_, title, write, _) in SECTIONS.iter().filter(wanted) {
        if !text.0.is_empty() {
            text.0.push_str("\r\n");
        }
        let _ = write!(text.0, "# {title}\r\n");
        write(ctx, &mut text);
    }
    ctx.out.verbatim("txt", text.0.as_bytes());
    Ok(())
}

fn server(ctx: &Ctx, i: &mut Info) {
    let shared = ctx.shared;
    let uptime = ctx.now.saturating_sub(shared.started) / 1000;
    let hz = shared.config.read().hz;
    let usec = SystemTime::now().duration_since(UNIX_EPOCH).unwrap_or_default().as_micros();
    let exe = std::env::current_exe().map(|p| p.display().to_string()).unwrap_or_default();
    i.field("redis_version", crate::REDIS_VERSION);
    i.field("ferrocache_version", env!("CARGO_PKG_VERSION"));
    i.field("redis_git_sha1", "00000000");
    i.field("redis_git_dirty", 0);
    i.field("redis_build_id", "0");
    i.field("redis_mode", if shared.cluster.is_some() { "cluster" } else { "standalone" });
    i.field("os", os_name());
    i.field("arch_bits", usize::BITS);
    i.field("multiplexing_api", if cfg!(target_os = "linux") { "epoll" } else { "kqueue" });
    i.field("atomicvar_api", "c11-builtin");
    // Built by rustc, not gcc: Redis's field, with no compiler of that name to report.
    i.field("gcc_version", "0.0.0");
    i.field("process_id", std::process::id());
    i.field("process_supervised", "no");
    i.field("run_id", &shared.run_id);
    i.field("monotonic_clock", "POSIX clock_gettime");
    i.field("tcp_port", shared.port.load(Ordering::Relaxed));
    i.field("server_time_usec", usec);
    i.field("uptime_in_seconds", uptime);
    i.field("uptime_in_days", uptime / 86400);
    i.field("hz", hz);
    i.field("configured_hz", hz);
    // Redis's LRU clock: seconds, modulo 2^24.
    i.field("lru_clock", (usec / 1_000_000) as u64 & ((1 << 24) - 1));
    i.field("executable", exe);
    i.field("config_file", "");
    i.field("io_threads_active", 0);
}

/// `Linux 6.1.0 x86_64`, as `uname -srm` prints it.
fn os_name() -> String {
    let read = |f: &str| std::fs::read_to_string(format!("/proc/sys/kernel/{f}")).map(|s| s.trim().to_string());
    match (read("ostype"), read("osrelease")) {
        (Ok(os), Ok(release)) => format!("{os} {release} {}", std::env::consts::ARCH),
        _ => format!("{} {}", std::env::consts::OS, std::env::consts::ARCH),
    }
}

fn clients(ctx: &Ctx, i: &mut Info) {
    i.field("connected_clients", ctx.shared.clients.len());
    i.field("cluster_connections", 0);
    i.field("maxclients", ctx.shared.config.read().maxclients);
    // Not tracked (Redis samples them over recent seconds): 0.
    i.field("client_recent_max_input_buffer", 0);
    i.field("client_recent_max_output_buffer", 0);
    i.field("blocked_clients", ctx.shared.blocked_clients());
    // No client-side caching (CLIENT TRACKING): 0.
    i.field("tracking_clients", 0);
    i.field("clients_in_timeout_table", ctx.shared.blocked_clients());
}

/// `used_memory` is the keyspace's own accounting plus the startup
/// allocation: the figure `maxmemory` limits (see `crate::evict`).
fn memory(ctx: &Ctx, i: &mut Info) {
    let used = crate::evict::used_memory(ctx.shared) as u64;
    let rss = memory::rss_bytes() as u64;
    let peak = crate::evict::used_memory_peak(ctx.shared) as u64;
    let startup = memory::startup_memory() as u64;
    let backlog = ctx.shared.repl.backlog.lock().capacity() as u64;
    let (maxmemory, policy) = {
        let c = ctx.shared.config.read();
        (c.maxmemory, c.maxmemory_policy.name())
    };
    let pct = |part: u64, whole: u64| format!("{:.2}%", if whole == 0 { 0.0 } else { 100.0 * part as f64 / whole as f64 });
    let ratio = |a: u64, b: u64| format!("{:.2}", if b == 0 { 0.0 } else { a as f64 / b as f64 });
    let overhead = startup;
    let dataset = used.saturating_sub(startup);
    i.bytes("used_memory", used);
    i.bytes("used_memory_rss", rss);
    i.bytes("used_memory_peak", peak);
    i.field("used_memory_peak_perc", pct(used, peak));
    i.field("used_memory_overhead", overhead);
    i.field("used_memory_startup", startup);
    i.field("used_memory_dataset", dataset);
    i.field("used_memory_dataset_perc", pct(dataset, used.saturating_sub(startup).max(1)));
    let allocated = memory::used_memory() as u64;
    i.field("allocator_allocated", allocated);
    // The allocator's own active/resident split is not read: its live bytes and the RSS.
    i.field("allocator_active", allocated);
    i.field("allocator_resident", rss);
    let system = total_system_memory();
    i.bytes("total_system_memory", system);
    // No Lua, functions or scripts: their memory is 0.
    for name in ["used_memory_lua", "used_memory_vm_eval", "used_memory_scripts_eval", "used_memory_vm_functions", "used_memory_functions", "used_memory_scripts"] {
        if name == "used_memory_lua" || name == "used_memory_scripts" {
            i.bytes(name, 0);
        } else {
            i.field(name, 0);
        }
    }
    for name in ["number_of_cached_scripts", "number_of_functions", "number_of_libraries"] {
        i.field(name, 0);
    }
    i.bytes("used_memory_vm_total", 0);
    i.bytes("maxmemory", maxmemory);
    i.field("maxmemory_policy", policy);
    i.field("allocator_frag_ratio", "1.00");
    i.field("allocator_frag_bytes", 0);
    i.field("allocator_rss_ratio", ratio(rss, allocated));
    i.field("allocator_rss_bytes", rss.saturating_sub(allocated));
    i.field("rss_overhead_ratio", "1.00");
    i.field("rss_overhead_bytes", 0);
    i.field("mem_fragmentation_ratio", ratio(rss, used));
    i.field("mem_fragmentation_bytes", rss as i64 - used as i64);
    i.field("mem_not_counted_for_evict", 0);
    i.field("mem_replication_backlog", backlog);
    i.field("mem_total_replication_buffers", backlog);
    i.field("mem_clients_slaves", 0);
    i.field("mem_clients_normal", 0);
    i.field("mem_cluster_links", 0);
    i.field("mem_aof_buffer", 0);
    i.field("mem_allocator", memory::allocator_name());
    i.field("active_defrag_running", 0);
    i.field("lazyfree_pending_objects", 0);
    i.field("lazyfreed_objects", 0);
}

/// Physical memory of the machine (`MemTotal` in /proc/meminfo), 0 when unknown.
fn total_system_memory() -> u64 {
    let info = std::fs::read_to_string("/proc/meminfo").unwrap_or_default();
    let kb = info.lines().find_map(|l| l.strip_prefix("MemTotal:")).and_then(|v| v.trim().trim_end_matches("kB").trim().parse::<u64>().ok());
    kb.unwrap_or(0) * 1024
}

fn persistence(ctx: &Ctx, i: &mut Info) {
    for (name, value) in [("loading", 0), ("async_loading", 0), ("rdb_changes_since_last_save", 0)] {
        i.field(name, value);
    }
    // As in Redis, whose diskless full sync is an RDB child: 1 while a replica's copy is taken.
    i.field("rdb_bgsave_in_progress", ctx.shared.repl.copying.try_lock().is_err() as u8);
    i.field("rdb_last_save_time", ctx.shared.started / 1000);
    i.field("rdb_last_bgsave_status", "ok");
    i.field("rdb_last_bgsave_time_sec", -1);
    i.field("rdb_current_bgsave_time_sec", -1);
    i.field("aof_enabled", 0);
    i.field("aof_rewrite_in_progress", 0);
    i.field("aof_rewrite_scheduled", 0);
    i.field("aof_last_rewrite_time_sec", -1);
    i.field("aof_current_rewrite_time_sec", -1);
    i.field("aof_last_bgrewrite_status", "ok");
    i.field("aof_last_write_status", "ok");
    // No RDB or AOF files and no forks: Redis's counters of them, at 0.
    for name in [
        "current_cow_peak", "current_cow_size", "current_cow_size_age", "current_save_keys_processed", "current_save_keys_total",
        "rdb_saves", "rdb_last_cow_size", "rdb_last_load_keys_expired", "rdb_last_load_keys_loaded", "aof_rewrites",
        "aof_rewrites_consecutive_failures", "aof_last_cow_size", "module_fork_in_progress", "module_fork_last_cow_size",
    ] {
        i.field(name, 0);
    }
    i.field("current_fork_perc", "0.00");
}

fn stats(ctx: &Ctx, i: &mut Info) {
    let shared = ctx.shared;
    let (s, c) = (&shared.stats, &shared.clients);
    let keyspace = shared.keyspace_stats();
    let load = |a: &std::sync::atomic::AtomicU64| a.load(Ordering::Relaxed);
    i.field("total_connections_received", load(&c.total_connections));
    i.field("total_commands_processed", load(&s.commands));
    i.field("instantaneous_ops_per_sec", s.ops_per_sec());
    i.field("total_net_input_bytes", load(&s.net_input_bytes));
    i.field("total_net_output_bytes", load(&s.net_output_bytes));
    let repl = &shared.repl;
    i.field("sync_full", load(&repl.sync_full));
    i.field("sync_partial_ok", load(&repl.sync_partial_ok));
    i.field("sync_partial_err", load(&repl.sync_partial_err));
    i.field("rejected_connections", load(&c.rejected));
    i.field("expired_keys", keyspace.expired);
    i.field("evicted_keys", crate::evict::evicted_keys(ctx.shared));
    i.field("evicted_clients", 0);
    i.field("keyspace_hits", keyspace.hits);
    i.field("keyspace_misses", keyspace.misses);
    i.field("pubsub_channels", shared.pubsub.count(Space::Channel));
    i.field("pubsub_patterns", shared.pubsub.count(Space::Pattern));
    i.field("pubsubshard_channels", shared.pubsub.count(Space::Shard));
    i.field("client_output_buffer_limit_disconnections", load(&s.obuf_closed));
    i.field("total_error_replies", shared.cmdstats.total_errors());
    // Every command is one read and one write of its connection here.
    i.field("total_reads_processed", load(&s.commands));
    i.field("total_writes_processed", load(&s.commands));
    for name in ["instantaneous_input_kbps", "instantaneous_output_kbps", "instantaneous_input_repl_kbps", "instantaneous_output_repl_kbps", "expired_stale_perc"] {
        i.field(name, "0.00");
    }
    // What Ferrocache does not have or does not count (no defrag, forks, client tracking,
    // MIGRATE socket cache, replica-side expiry tracking, io-thread hand-offs): 0.
    for name in [
        "total_net_repl_input_bytes", "total_net_repl_output_bytes", "expired_time_cap_reached_count", "expire_cycle_cpu_milliseconds",
        "total_eviction_exceeded_time", "current_eviction_exceeded_time", "latest_fork_usec", "total_forks", "migrate_cached_sockets",
        "slave_expires_tracked_keys", "active_defrag_hits", "active_defrag_misses", "active_defrag_key_hits", "active_defrag_key_misses",
        "total_active_defrag_time", "current_active_defrag_time", "tracking_total_keys", "tracking_total_items", "tracking_total_prefixes",
        "unexpected_error_replies", "dump_payload_sanitizations", "io_threaded_reads_processed", "io_threaded_writes_processed",
        "reply_buffer_shrinks", "reply_buffer_expands",
    ] {
        i.field(name, 0);
    }
}

/// Redis's fields, in its order: a replica's link first, then the replicas attached here,
/// then the stream.
fn replication(ctx: &Ctx, i: &mut Info) {
    let repl = &ctx.shared.repl;
    let now = ferrocache_store::clock::now_ms();
    let link = repl.link.lock().clone();
    let offset = match &link {
        Some(link) => {
            let up = link.up.load(Ordering::Relaxed);
            let offset = link.offset.load(Ordering::Relaxed);
            i.field("role", "slave");
            i.field("master_host", &link.host);
            i.field("master_port", link.port);
            i.field("master_link_status", if up { "up" } else { "down" });
            i.field("master_last_io_seconds_ago", if up { (now.saturating_sub(link.last_io.load(Ordering::Relaxed)) / 1000) as i64 } else { -1 });
            i.field("master_sync_in_progress", u8::from(!up));
            i.field("slave_read_repl_offset", offset);
            i.field("slave_repl_offset", offset);
            i.field("slave_priority", 100);
            i.field("slave_read_only", 1);
            i.field("replica_announced", 1);
            offset
        }
        None => {
            i.field("role", "master");
            repl.offset()
        }
    };
    let replicas = repl.replicas.lock().clone();
    i.field("connected_slaves", replicas.len());
    if let Some(good) = repl.min_replicas_good(now) {
        i.field("min_slaves_good_slaves", good);
    }
    for (n, r) in replicas.iter().enumerate() {
        let lag = now.saturating_sub(r.acked_at.load(Ordering::Relaxed)) / 1000;
        i.field(&format!("slave{n}"), format_args!("ip={},port={},state=online,offset={},lag={lag}", r.ip, r.port, r.acked.load(Ordering::Relaxed)));
    }
    let backlog = repl.backlog.lock();
    i.field("master_failover_state", "no-failover");
    i.field("master_replid", repl.replid());
    i.field("master_replid2", "0".repeat(40));
    i.field("master_repl_offset", offset);
    i.field("second_repl_offset", -1);
    i.field("repl_backlog_active", u8::from(repl.active()));
    i.field("repl_backlog_size", backlog.capacity());
    i.field("repl_backlog_first_byte_offset", backlog.start() + 1);
    i.field("repl_backlog_histlen", backlog.len());
    drop(backlog);
    i.field("ferrocache_repl_loss_window_bytes", repl.loss_window(offset));
}

fn cpu(_: &Ctx, i: &mut Info) {
    let (sys, user) = cpu_times(libc::RUSAGE_SELF);
    let (sys_children, user_children) = cpu_times(libc::RUSAGE_CHILDREN);
    i.field("used_cpu_sys", sys);
    i.field("used_cpu_user", user);
    i.field("used_cpu_sys_children", sys_children);
    i.field("used_cpu_user_children", user_children);
    // The thread answering INFO: an event loop, Ferrocache's nearest to Redis's main thread.
    let (sys_thread, user_thread) = cpu_times(libc::RUSAGE_THREAD);
    i.field("used_cpu_sys_main_thread", sys_thread);
    i.field("used_cpu_user_main_thread", user_thread);
}

/// (system, user) CPU seconds of `who`, formatted `%ld.%06ld` as Redis does.
fn cpu_times(who: libc::c_int) -> (String, String) {
    let mut usage = std::mem::MaybeUninit::<libc::rusage>::zeroed();
    // SAFETY: getrusage writes a full rusage into the valid pointer; the
    // struct is zeroed beforehand, so it is initialised even on failure.
    let usage = unsafe {
        libc::getrusage(who, usage.as_mut_ptr());
        usage.assume_init()
    };
    let secs = |t: libc::timeval| format!("{}.{:06}", t.tv_sec, t.tv_usec);
    (secs(usage.ru_stime), secs(usage.ru_utime))
}

/// Redis's one field, and where this node's admin API is: the CLI finds a
/// node's control plane from its RESP address through it. Also this run's
/// boot id and whether the node may act as a primary now (see [`crate::fence`]).
fn cluster(ctx: &Ctx, i: &mut Info) {
    i.field("cluster_enabled", u8::from(ctx.shared.cluster.is_some()));
    if let Some(cluster) = &ctx.shared.cluster {
        i.field("ferrocache_admin_url", cluster.admin_url());
        if let Some(addr) = cluster.announce() {
            i.field("ferrocache_announce", addr);
        }
        if let Some(boot) = cluster.fence.boot() {
            i.field("ferrocache_boot", boot);
        }
        i.field("ferrocache_lease_held", u8::from(cluster.fence.open()));
        i.field("ferrocache_migrated_keys", cluster.stats.keys.load(std::sync::atomic::Ordering::Relaxed));
        i.field("ferrocache_migrated_bytes", cluster.stats.bytes.load(std::sync::atomic::Ordering::Relaxed));
    }
}

fn keyspace(ctx: &Ctx, i: &mut Info) {
    for (n, d) in ctx.shared.dbs.iter().enumerate() {
        let keys = d.len();
        if keys > 0 {
            i.field(&format!("db{n}"), format_args!("keys={keys},expires={},avg_ttl=0", d.volatile_len()));
        }
    }
}

/// Redis's `bytesToHuman`: `512B`, `1.50K`, `2.00M`, ...
fn human_bytes(n: u64) -> String {
    if n < 1024 {
        return format!("{n}B");
    }
    let mut value = n as f64 / 1024.0;
    for unit in ["K", "M", "G", "T"] {
        if value < 1024.0 {
            return format!("{value:.2}{unit}");
        }
        value /= 1024.0;
    }
    format!("{value:.2}P")
}

#[cfg(test)]
mod tests {
    use super::human_bytes;

    #[test]
    fn human_sizes() {
        assert_eq!(human_bytes(0), "0B");
        assert_eq!(human_bytes(1023), "1023B");
        assert_eq!(human_bytes(1024), "1.00K");
        assert_eq!(human_bytes(916464), "894.98K");
        assert_eq!(human_bytes(6651904), "6.34M");
        assert_eq!(human_bytes(3 << 30), "3.00G");
    }
}
