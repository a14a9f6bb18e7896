//! LATENCY DOCTOR's report and LATENCY GRAPH's chart: plain text made from the latency
//! monitor's samples (see [`crate::latency`]), for a person at `redis-cli`.
//!
//! Redis answers these with prose and a vertical ASCII chart. The report here says, per event,
//! how often it spiked, how badly, how long ago, and what usually causes it; the chart is one
//! line per recorded second, oldest first, with its age and a bar, so it reads the same at any
//! terminal width. Both are pure functions of the samples and the current time, so tests can
//! pin their wording.

use std::fmt::Write;

use crate::latency::{Latest, Sample, HISTORY_LEN};

/// The widest bar of [`graph`], in characters.
const BAR: u64 = 40;

/// What is usually behind an event, and where to look.
fn advice(event: &str) -> &'static str {
    match event {
        "command" => {
            "Commands slower than the threshold usually work on a large value or collection \
             (KEYS, SMEMBERS, HGETALL, LRANGE 0 -1, SORT, DEL of a big key). SLOWLOG GET names \
             them; SCAN, SSCAN, HSCAN and ZSCAN walk a collection in steps, and UNLINK frees a \
             big key without waiting."
        }
        "fast-command" => {
            "A command of constant cost (GET, SET, INCR...) took longer than the threshold, so \
             the server was not getting the CPU: look at the host's load, CPU steal and \
             swapping (INFO cpu, vmstat) and at what else runs on the machine."
        }
        _ => "See LATENCY HISTORY for when it happened.",
    }
}

/// LATENCY DOCTOR: a report on every event in `events` (each with its samples, oldest first),
/// under `threshold_ms` (0: the monitor is off), at Unix second `now`.
pub fn doctor(threshold_ms: u64, events: &[(Latest, Vec<Sample>)], now: u64) -> String {
    if threshold_ms == 0 && events.is_empty() {
        return "The latency monitor is off (latency-monitor-threshold is 0), so nothing is recorded.\n\
                Turn it on with CONFIG SET latency-monitor-threshold <milliseconds>, for example 100.\n"
            .to_string();
    }
    let mut out = String::new();
    let monitor = match threshold_ms {
        0 => "off now (latency-monitor-threshold is 0); what it recorded before".to_string(),
        t => format!("on, recording commands that take {t} ms or more"),
    };
    let _ = writeln!(out, "Latency monitor: {monitor}.");
    if events.is_empty() {
        out.push_str("No event was recorded since it was turned on or last reset: nothing to worry about.\n");
        return out;
    }
    for (latest, samples) in events {
        let count = samples.len();
        let average = samples.iter().map(|s| s.1).sum::<u64>() / count.max(1) as u64;
        let _ = write!(
            out,
            "\n{}: {count} second(s) with a spike among the last {HISTORY_LEN} kept; the latest {} ms {} ago, \
             the worst {} ms, {average} ms on average",
            latest.event,
            latest.latest_ms,
            age(now, latest.time),
            latest.max_ms,
        );
        if let (Some(first), Some(last), true) = (samples.first(), samples.last(), count > 1) {
            let _ = write!(out, ", one every {} s", (last.0 - first.0) / (count as u64 - 1));
        }
        let _ = writeln!(out, ".\n  {}", advice(&latest.event));
    }
    out
}

/// LATENCY GRAPH: `event`'s samples (oldest first, at least one), a line each with its age, its
/// milliseconds and a bar scaled to the largest shown; `max_ms` is the worst ever recorded.
pub fn graph(event: &str, samples: &[Sample], max_ms: u64, now: u64) -> String {
    let top = samples.iter().map(|s| s.1).max().unwrap_or(0).max(1);
    let mut out = format!("{event}: {} second(s) with a spike, oldest first; the worst ever {max_ms} ms\n", samples.len());
    let _ = writeln!(out, "{:>8} {:>8}", "ago", "ms");
    for &(time, ms) in samples {
        let width = (ms * BAR).div_ceil(top) as usize;
        let _ = writeln!(out, "{:>8} {ms:>8} {}", age(now, time), "#".repeat(width));
    }
    out
}

/// How long before `now` Unix second `time` was, as `45s`, `12m05s` or `3h07m`.
fn age(now: u64, time: u64) -> String {
    let secs = now.saturating_sub(time);
    match secs {
        0..60 => format!("{secs}s"),
        60..3600 => format!("{}m{:02}s", secs / 60, secs % 60),
        _ => format!("{}h{:02}m", secs / 3600, secs % 3600 / 60),
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn latest(event: &str, time: u64, latest_ms: u64, max_ms: u64) -> Latest {
        Latest { event: event.into(), time, latest_ms, max_ms }
    }

    #[test]
    fn the_doctor_says_when_the_monitor_is_off_or_has_nothing() {
        assert!(doctor(0, &[], 100).starts_with("The latency monitor is off"));
        let quiet = doctor(100, &[], 100);
        assert!(quiet.contains("recording commands that take 100 ms or more") && quiet.contains("nothing to worry about"), "{quiet}");
    }

    #[test]
    fn the_doctor_reports_each_event_with_what_to_do() {
        let events = vec![
            (latest("command", 1_000, 150, 420), vec![(900, 420), (940, 30), (1_000, 150)]),
            (latest("fast-command", 970, 12, 12), vec![(970, 12)]),
        ];
        let report = doctor(10, &events, 1_060);
        assert!(report.contains("command: 3 second(s) with a spike among the last 160 kept; the latest 150 ms 1m00s ago, the worst 420 ms, 200 ms on average, one every 50 s."), "{report}");
        assert!(report.contains("SLOWLOG GET"), "{report}");
        assert!(report.contains("fast-command: 1 second(s) with a spike among the last 160 kept; the latest 12 ms 1m30s ago, the worst 12 ms, 12 ms on average.\n"), "{report}");
        assert!(report.contains("CPU steal"), "{report}");
        assert!(doctor(0, &events, 1_060).contains("off now"), "samples from before the monitor was turned off are still reported");
    }

    #[test]
    fn the_graph_has_a_line_per_second_with_a_scaled_bar() {
        let chart = graph("command", &[(1_000, 40), (1_030, 10), (4_700, 1)], 55, 4_705);
        let lines: Vec<&str> = chart.lines().collect();
        assert_eq!(lines[0], "command: 3 second(s) with a spike, oldest first; the worst ever 55 ms");
        assert_eq!(lines[1], "     ago       ms");
        assert_eq!(lines[2], format!("   1h01m       40 {}", "#".repeat(40)));
        assert_eq!(lines[3], format!("   1h01m       10 {}", "#".repeat(10)));
        assert_eq!(lines[4], "      5s        1 #", "a spike is never drawn empty");
    }
}
