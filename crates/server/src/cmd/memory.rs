//! Memory family: MEMORY USAGE / STATS / DOCTOR / MALLOC-STATS / PURGE /
//! HELP. Figures come from the keyspace's own accounting (see
//! `crate::evict`) and the counting allocator.

use bytes::Bytes;
use ferrocache_store::{db, memory};

use crate::args::{int, is};
use crate::command::{container, flags::*, spec, CmdError, CmdResult, Ctx, Spec};
use crate::evict;

pub static COMMANDS: &[Spec] = &[container("memory", -2, "server", "4.0.0", "A container for memory diagnostics commands", MEMORY)];

static MEMORY: &[Spec] = &[
    spec("doctor", 2, 0, (0, 0, 0), "server", "4.0.0", "Outputs memory problems report", doctor),
    spec("help", 2, LOADING | STALE, (0, 0, 0), "server", "4.0.0", "Show helpful text about the different subcommands", help),
    spec("malloc-stats", 2, 0, (0, 0, 0), "server", "4.0.0", "Show allocator internal stats", malloc_stats),
    spec("purge", 2, 0, (0, 0, 0), "server", "4.0.0", "Ask the allocator to release memory", purge),
    spec("stats", 2, 0, (0, 0, 0), "server", "4.0.0", "Show memory usage details", stats),
    spec("usage", -3, READONLY, (2, 2, 1), "server", "4.0.0", "Estimate the memory usage of a key", usage),
];

/// MEMORY USAGE key [SAMPLES n]: the key, its value and its share of the
/// table (strings have nothing to sample; the option is checked and ignored).
fn usage(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    for opt in args[3..].chunks(2) {
        match opt {
            [name, n] if is(name, "samples") => {
                if int(n)? < 0 {
                    return Err(CmdError::Syntax);
                }
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    let key = &args[2];
    let mut g = ctx.db().lock(key, ctx.now);
    match g.get(key) {
        Some(e) => ctx.out.int(db::memory_usage(key, e) as i64),
        None => ctx.out.null(),
    }
    Ok(())
}

/// MEMORY STATS, with Redis's field names for what Ferrocache has.
fn stats(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let shared = ctx.shared;
    let total = evict::used_memory(shared);
    let (startup, peak) = (memory::startup_memory(), evict::used_memory_peak(shared));
    let dbs: Vec<(usize, usize)> =
        shared.dbs.iter().enumerate().filter(|(_, d)| d.key_count() > 0).map(|(i, d)| (i, d.table_bytes())).collect();
    let tables: usize = dbs.iter().map(|(_, t)| t).sum();
    let overhead = startup + tables;
    let keys = evict::key_count(shared);
    let dataset = total.saturating_sub(overhead);
    let net = total.saturating_sub(startup);
    let rss = memory::rss_bytes();
    let int_fields = [("peak.allocated", peak), ("total.allocated", total), ("startup.allocated", startup)];
    ctx.out.map(int_fields.len() + dbs.len() + 10);
    for (name, n) in int_fields {
        field_int(ctx, name, n);
    }
    for (i, table_bytes) in &dbs {
        ctx.out.bulk(format!("db.{i}").as_bytes());
        ctx.out.map(2);
        field_int(ctx, "overhead.hashtable.main", *table_bytes);
        // Expiry times live in the entries: there is no second table.
        field_int(ctx, "overhead.hashtable.expires", 0);
    }
    field_int(ctx, "overhead.total", overhead);
    field_int(ctx, "keys.count", keys);
    field_int(ctx, "keys.bytes-per-key", net.checked_div(keys).unwrap_or(0));
    field_int(ctx, "dataset.bytes", dataset);
    field_double(ctx, "dataset.percentage", percent(dataset, net));
    field_double(ctx, "peak.percentage", percent(total, peak));
    field_int(ctx, "allocator.allocated", memory::used_memory());
    field_int(ctx, "allocator.resident", rss);
    field_double(ctx, "fragmentation", if total == 0 { 0.0 } else { rss as f64 / total as f64 });
    field_int(ctx, "fragmentation.bytes", rss.saturating_sub(total));
    Ok(())
}

fn percent(part: usize, whole: usize) -> f64 {
    if whole == 0 { 0.0 } else { part as f64 * 100.0 / whole as f64 }
}

fn field_int(ctx: &mut Ctx, name: &str, n: usize) {
    ctx.out.bulk(name.as_bytes());
    ctx.out.int(n as i64);
}

fn field_double(ctx: &mut Ctx, name: &str, d: f64) {
    ctx.out.bulk(name.as_bytes());
    ctx.out.double(d);
}

/// Redis's doctor below 5 MB, else its all-clear (Ferrocache has no
/// fragmentation heuristics yet).
fn doctor(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let text = if evict::used_memory(ctx.shared) < 5 * 1024 * 1024 {
        "Hi Sam, this instance is empty or is using very little memory, my issues detector can't be used in these conditions. Please, leave for your mission on Earth and fill it with some data. The new Sam and I will be back to our programming as soon as I finished rebooting."
    } else {
        "Hi Sam, I can't find any memory issue in your instance. I can only account for what occurs on this base."
    };
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn malloc_stats(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.out.verbatim("txt", b"Stats not supported for the current allocator");
    Ok(())
}

fn purge(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.help(
        "MEMORY",
        &[
        "DOCTOR",
        "    Return memory problems reports.",
        "MALLOC-STATS",
        "    Return internal statistics report from the memory allocator.",
        "PURGE",
        "    Attempt to purge dirty pages for reclamation by the allocator.",
        "STATS",
        "    Return information about the memory usage of the server.",
        "USAGE <key> [SAMPLES <count>]",
        "    Return memory in bytes used by <key> and its value. Nested values are",
        "    sampled up to <count> times (default: 5, 0 means sample all).",
        ],
    )
}

