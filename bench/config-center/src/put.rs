//! Write throughput and latency: `clients` concurrent writers, each putting 256-byte values
//! (one request at a time, keep-alive) to keys of its own for a fixed time. Requests finished
//! in the warm-up are not counted.

use std::sync::Arc;
use std::time::{Duration, Instant};

use crate::api::{System, client};
use crate::stats::percentile_ms;

pub struct Config {
    pub system: System,
    pub endpoints: Vec<String>,
    /// Send every write to the leader (else spread the writers over all endpoints).
    pub leader_only: bool,
    pub clients: usize,
    pub duration: Duration,
    pub warmup: Duration,
    pub value_size: usize,
}

/// What one writer saw after the warm-up.
#[derive(Default)]
struct Tally {
    latencies: Vec<Duration>,
    errors: u64,
}

pub async fn run(config: Config) -> Result<(), String> {
    let http = client(Some(Duration::from_secs(10)));
    let targets = if config.leader_only { vec![config.system.leader(&http, &config.endpoints).await?] } else { config.endpoints.clone() };
    let value: Arc<[u8]> = (0..config.value_size).map(|i| b'a' + (i % 26) as u8).collect::<Vec<u8>>().into();
    let start = Instant::now();
    let (measure_from, end) = (start + config.warmup, start + config.warmup + config.duration);
    let writers: Vec<_> = (0..config.clients)
        .map(|c| {
            let (http, value, endpoint, system) = (http.clone(), value.clone(), targets[c % targets.len()].clone(), config.system);
            tokio::spawn(async move { writer(system, &http, &endpoint, c, &value, measure_from, end).await })
        })
        .collect();
    let mut all = Tally::default();
    for w in writers {
        let tally = w.await.map_err(|e| e.to_string())?;
        all.latencies.extend(tally.latencies);
        all.errors += tally.errors;
    }
    let secs = config.duration.as_secs_f64();
    println!(
        "RESULT put system={} target={} clients={} secs={secs} writes={} writes_per_sec={:.0} p50_ms={:.2} p99_ms={:.2} errors={}",
        config.system.name(),
        if config.leader_only { "leader" } else { "all" },
        config.clients,
        all.latencies.len(),
        all.latencies.len() as f64 / secs,
        percentile_ms(&mut all.latencies, 50.0),
        percentile_ms(&mut all.latencies, 99.0),
        all.errors,
    );
    Ok(())
}

async fn writer(system: System, http: &reqwest::Client, endpoint: &str, id: usize, value: &[u8], measure_from: Instant, end: Instant) -> Tally {
    let mut tally = Tally::default();
    let mut n = 0u64;
    while Instant::now() < end {
        let key = format!("bench/put/{id}/{}", n % 1000);
        n += 1;
        let sent = Instant::now();
        let ok = match system.put(http, endpoint, &key, value).send().await {
            Ok(resp) => resp.status().is_success() && resp.bytes().await.is_ok(),
            Err(_) => false,
        };
        let done = Instant::now();
        if sent < measure_from || done > end {
            continue;
        }
        if ok {
            tally.latencies.push(done - sent);
        } else {
            tally.errors += 1;
        }
    }
    tally
}
