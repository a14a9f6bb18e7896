//! LATENCY LATEST/HISTORY/RESET/HISTOGRAM/DOCTOR/GRAPH/HELP over
//! [`crate::latency`] and the per-command histograms of [`crate::cmdstats`],
//! with Redis's reply shapes. DOCTOR and GRAPH answer text of our own
//! (see [`crate::latency_report`]).

use std::collections::BTreeMap;

use bytes::Bytes;

use crate::cmdstats::CommandTotals;
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};
use crate::table::{subcommand, table};

const FLAGS: u32 = ADMIN | NOSCRIPT | LOADING | STALE;
/// COMMAND INFO tips, as Redis gives them: each node answers for itself.
const PER_NODE: &[&str] = &["nondeterministic_output", "request_policy:all_nodes", "response_policy:special"];
const ON_EVERY_NODE: &[&str] = &["request_policy:all_nodes", "response_policy:all_succeeded"];

pub static SUBCOMMANDS: &[Spec] = &[
    spec("doctor", 2, FLAGS, (0, 0, 0), "server", "2.8.13", "Reports on each latency event and what usually causes it.", doctor).described(&[], PER_NODE),
    spec("graph", 3, FLAGS, (0, 0, 0), "server", "2.8.13", "Draws an event's latency samples as text, a line per second.", graph).described(&[], PER_NODE),
    spec("history", 3, FLAGS, (0, 0, 0), "server", "2.8.13", "Returns an event's latency samples, oldest first.", history).described(&[], PER_NODE),
    spec("latest", 2, FLAGS, (0, 0, 0), "server", "2.8.13", "Returns each event's newest latency sample and maximum.", latest).described(&[], PER_NODE),
    spec("reset", -2, FLAGS, (0, 0, 0), "server", "2.8.13", "Forgets the samples of some or all events.", reset).described(&[], ON_EVERY_NODE),
    spec("histogram", -2, FLAGS, (0, 0, 0), "server", "7.0.0", "Returns commands' cumulative latency histograms.", histogram).described(&[], PER_NODE),
    spec("help", 2, LOADING | STALE, (0, 0, 0), "server", "2.8.13", "Show helpful text about the different subcommands", help),
];

fn now_secs() -> u64 {
    std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).map_or(0, |d| d.as_secs())
}

/// `LATENCY DOCTOR`: a report on every event, as text.
fn doctor(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let monitor = &ctx.shared.latency;
    let events: Vec<_> = monitor.latest().into_iter().map(|l| { let samples = monitor.history(&l.event); (l, samples) }).collect();
    let report = crate::latency_report::doctor(monitor.threshold_ms(), &events, now_secs());
    ctx.out.verbatim("txt", report.as_bytes());
    Ok(())
}

/// `LATENCY GRAPH event`: the event's samples drawn as text.
fn graph(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let event = crate::args::text(&args[2]);
    let monitor = &ctx.shared.latency;
    let samples = monitor.history(&event);
    let Some(max) = monitor.latest().into_iter().find(|l| l.event == event).map(|l| l.max_ms).filter(|_| !samples.is_empty()) else {
        return Err(CmdError::err(format!("no latency samples for event '{event}' (LATENCY LATEST lists the events that have some)")));
    };
    let chart = crate::latency_report::graph(&event, &samples, max, now_secs());
    ctx.out.verbatim("txt", chart.as_bytes());
    Ok(())
}

/// `LATENCY LATEST`: `[event, time, latest ms, max ms]` per event.
fn latest(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let events = ctx.shared.latency.latest();
    ctx.out.array(events.len());
    for e in events {
        ctx.out.array(4);
        ctx.out.bulk(e.event.as_bytes());
        ctx.out.int(e.time as i64);
        ctx.out.int(e.latest_ms as i64);
        ctx.out.int(e.max_ms as i64);
    }
    Ok(())
}

/// `LATENCY HISTORY event`: `[time, ms]` per sample, oldest first.
fn history(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let samples = std::str::from_utf8(&args[2]).map(|e| ctx.shared.latency.history(e)).unwrap_or_default();
    ctx.out.array(samples.len());
    for (time, ms) in samples {
        ctx.out.array(2);
        ctx.out.int(time as i64);
        ctx.out.int(ms as i64);
    }
    Ok(())
}

/// `LATENCY RESET [event ...]`: how many events were forgotten.
fn reset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let named = (args.len() > 2).then(|| args[2..].iter().map(|a| &a[..]));
    ctx.out.int(ctx.shared.latency.reset(named) as i64);
    Ok(())
}

/// `LATENCY HISTOGRAM [command ...]`: per command that ran, a map of
/// `calls` and `histogram_usec` (level in µs → cumulative calls). Named
/// commands that are unknown or never ran are left out; a container
/// stands for its subcommands, as in Redis.
fn histogram(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let totals: BTreeMap<usize, CommandTotals> = ctx.shared.cmdstats.commands().into_iter().collect();
    let t = table();
    let mut shown: Vec<usize> = Vec::new();
    if args.len() == 2 {
        let mut all: Vec<usize> = totals.keys().copied().collect();
        all.sort_by(|a, b| t.stat_name(*a).cmp(t.stat_name(*b)));
        shown = all;
    } else {
        for name in &args[2..] {
            let Some(spec) = lookup(name) else { continue };
            shown.extend(t.id(spec));
            let mut subs: Vec<&'static Spec> = spec.subcommands.iter().collect();
            subs.sort_by_key(|s| s.name);
            shown.extend(subs.into_iter().filter_map(|s| t.id(s)));
        }
    }
    let rows: Vec<(usize, Vec<(u64, u64)>)> = shown
        .into_iter()
        .filter_map(|id| totals.get(&id).map(|c| (id, crate::latency::cumulative_usec(&c.latency))))
        .filter(|(_, levels)| !levels.is_empty())
        .collect();
    ctx.out.map(rows.len());
    for (id, levels) in rows {
        ctx.out.bulk(t.stat_name(id).as_bytes());
        ctx.out.map(2);
        ctx.out.bulk(b"calls");
        ctx.out.int(levels.last().map_or(0, |l| l.1) as i64);
        ctx.out.bulk(b"histogram_usec");
        ctx.out.map(levels.len());
        for (usec, count) in levels {
            ctx.out.int(usec as i64);
            ctx.out.int(count as i64);
        }
    }
    Ok(())
}

/// A command by its name or `container|subcommand`, any case.
fn lookup(name: &[u8]) -> Option<&'static Spec> {
    match name.iter().position(|&b| b == b'|') {
        None => table().get(name),
        Some(at) => subcommand(table().get(&name[..at])?, &name[at + 1..]),
    }
}

fn help(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.help(
        "LATENCY",
        &[
            "HISTORY <event>",
            "    Return the samples of one event: [unix time, latency in ms], oldest first.",
            "LATEST",
            "    Return, per event: [event, unix time, latest latency in ms, max latency in ms].",
            "RESET [<event> ...]",
            "    Forget the samples of the events named (of all events when none is).",
            "    Reply: how many events were forgotten.",
            "HISTOGRAM [COMMAND ...]",
            "    Return, per command, its calls and a cumulative latency histogram",
            "    (microseconds, powers of two); all commands that ran when none is named.",
            "DOCTOR",
            "    Return a report on each event: how often, how bad, how recent, and what usually causes it.",
            "GRAPH <event>",
            "    Return the event's samples as text: a line per second with its age and a bar.",
        ],
    )
}
