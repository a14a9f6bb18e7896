//! Watch delivery latency: `watchers` streams on a prefix, spread over the endpoints, then one
//! writer puts `events` values to the leader at a steady pace. Each value carries the time its
//! put was sent and a sequence number, so every watcher measures put-to-event latency and
//! counts the events it missed (or got twice).

use std::collections::BTreeSet;
use std::sync::Arc;
use std::sync::atomic::{AtomicUsize, Ordering};
use std::time::{Duration, SystemTime, UNIX_EPOCH};

use tokio::sync::Notify;

use crate::api::{System, client};
use crate::stats::percentile_ms;

pub struct Config {
    pub system: System,
    pub endpoints: Vec<String>,
    pub watchers: usize,
    pub events: usize,
    pub interval: Duration,
    pub value_size: usize,
}

const PREFIX: &str = "bench/watch/";

/// How long watchers wait for the last events after the last put.
const DRAIN: Duration = Duration::from_secs(5);

fn unix_nanos() -> u128 {
    SystemTime::now().duration_since(UNIX_EPOCH).map_or(0, |d| d.as_nanos())
}

/// `t=<unix nanos>;seq=<n>;` padded to `size` bytes.
fn stamped_value(seq: usize, size: usize) -> Vec<u8> {
    let mut value = format!("t={};seq={seq};", unix_nanos()).into_bytes();
    value.resize(size.max(value.len()), b'x');
    value
}

fn parse_stamp(value: &[u8]) -> Option<(u128, usize)> {
    let text = std::str::from_utf8(value).ok()?;
    let mut fields = text.split(';');
    let t = fields.next()?.strip_prefix("t=")?.parse().ok()?;
    let seq = fields.next()?.strip_prefix("seq=")?.parse().ok()?;
    Some((t, seq))
}

/// What one watcher received.
#[derive(Default)]
struct Received {
    latencies: Vec<Duration>,
    seqs: BTreeSet<usize>,
    duplicates: usize,
    error: Option<String>,
}

pub async fn run(config: Config) -> Result<(), String> {
    let http = client(None);
    let leader = config.system.leader(&http, &config.endpoints).await?;
    let ready = Arc::new(AtomicUsize::new(0));
    let done = Arc::new(Notify::new());
    let watchers: Vec<_> = (0..config.watchers)
        .map(|i| {
            let (http, system, endpoint) = (http.clone(), config.system, config.endpoints[i % config.endpoints.len()].clone());
            let (ready, done, events) = (ready.clone(), done.clone(), config.events);
            tokio::spawn(async move { watch(system, &http, &endpoint, events, &ready, &done).await })
        })
        .collect();
    let deadline = tokio::time::Instant::now() + Duration::from_secs(60);
    while ready.load(Ordering::Relaxed) < config.watchers {
        if tokio::time::Instant::now() > deadline {
            return Err(format!("only {} of {} watchers started", ready.load(Ordering::Relaxed), config.watchers));
        }
        tokio::time::sleep(Duration::from_millis(20)).await;
    }

    let writer = client(Some(Duration::from_secs(10)));
    let mut put_errors = 0;
    let mut tick = tokio::time::interval(config.interval);
    for seq in 0..config.events {
        tick.tick().await;
        let key = format!("{PREFIX}{}", seq % 10);
        let ok = config.system.put(&writer, &leader, &key, &stamped_value(seq, config.value_size)).send().await.is_ok_and(|r| r.status().is_success());
        if !ok {
            put_errors += 1;
        }
    }
    tokio::time::sleep(DRAIN).await;
    done.notify_waiters();

    let (mut latencies, mut missed, mut duplicates, mut failed) = (Vec::new(), 0, 0, 0);
    for w in watchers {
        let r = w.await.map_err(|e| e.to_string())?;
        missed += config.events - r.seqs.len();
        duplicates += r.duplicates;
        if let Some(e) = r.error {
            failed += 1;
            eprintln!("watcher failed: {e}");
        }
        latencies.extend(r.latencies);
    }
    println!(
        "RESULT watch system={} watchers={} events={} deliveries={} p50_ms={:.2} p99_ms={:.2} max_ms={:.2} missed={missed} duplicates={duplicates} failed_watchers={failed} put_errors={put_errors}",
        config.system.name(),
        config.watchers,
        config.events,
        latencies.len(),
        percentile_ms(&mut latencies, 50.0),
        percentile_ms(&mut latencies, 99.0),
        percentile_ms(&mut latencies, 100.0),
    );
    Ok(())
}

/// Counts a watcher as ready once (when its stream is live, or when it gave up, so the run
/// never waits for a watcher that failed to start).
struct Ready<'a>(Option<&'a AtomicUsize>);

impl Ready<'_> {
    fn mark(&mut self) {
        if let Some(count) = self.0.take() {
            count.fetch_add(1, Ordering::Relaxed);
        }
    }
}

impl Drop for Ready<'_> {
    fn drop(&mut self) {
        self.mark();
    }
}

/// One watcher: opens the stream, reports ready once it is live, then records events until it
/// has all of them or `done` is signalled.
async fn watch(system: System, http: &reqwest::Client, endpoint: &str, events: usize, ready: &AtomicUsize, done: &Notify) -> Received {
    let mut received = Received::default();
    let mut ready = Ready(Some(ready));
    let finished = done.notified();
    tokio::pin!(finished);
    let mut resp = match system.watch(http, endpoint, PREFIX).send().await {
        Ok(resp) if resp.status().is_success() => resp,
        Ok(resp) => {
            received.error = Some(format!("watch answered {}", resp.status()));
            return received;
        }
        Err(e) => {
            received.error = Some(e.to_string());
            return received;
        }
    };
    let mut buf = String::new();
    while received.seqs.len() < events {
        if system.watch_created(&buf) {
            ready.mark();
        }
        let chunk = tokio::select! {
            _ = &mut finished => break,
            chunk = resp.chunk() => chunk,
        };
        let now = unix_nanos();
        match chunk {
            Ok(Some(bytes)) => buf.push_str(&String::from_utf8_lossy(&bytes)),
            Ok(None) => {
                received.error = Some("stream ended".into());
                break;
            }
            Err(e) => {
                received.error = Some(e.to_string());
                break;
            }
        }
        if system.watch_created(&buf) {
            ready.mark();
        }
        match system.take_events(&mut buf) {
            Ok(values) => values.iter().filter_map(|v| parse_stamp(v)).for_each(|(sent, seq)| {
                received.latencies.push(Duration::from_nanos(now.saturating_sub(sent) as u64));
                if !received.seqs.insert(seq) {
                    received.duplicates += 1;
                }
            }),
            Err(e) => {
                received.error = Some(e);
                break;
            }
        }
    }
    received
}
