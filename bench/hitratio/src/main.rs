//! Replays a seeded workload against a Redis-protocol server used as a
//! look-aside cache (GET; on a miss, SET) and prints the hit ratio.
//!
//! Workloads (all seeded, so every server sees the same request sequence):
//! - `zipf0.9`, `zipf1.1`: Zipf-distributed keys over `--keys` keys;
//! - `scan`: Zipf 0.9, and every `--keys / 20` requests a one-time scan of
//!   `--keys / 100` keys never requested before or after;
//! - `shift`: Zipf 0.9 whose hot keys move to other keys four times.
//!
//! Requests go in pipelined batches of 256 GETs, then the misses' SETs.
//! Hits are counted after the first 20% of requests (warm-up).
//!
//!   hitratio --port 6379 --workload zipf0.9 [--keys 10000000]
//!            [--requests 2000000] [--value 64] [--seed 1]

use std::io::{BufRead, BufReader, Read, Write};
use std::net::TcpStream;

struct Args {
    port: u16,
    workload: String,
    keys: u64,
    requests: u64,
    value: usize,
    seed: u64,
}

fn parse_args() -> Result<Args, String> {
    let mut a = Args { port: 6379, workload: "zipf0.9".into(), keys: 10_000_000, requests: 2_000_000, value: 64, seed: 1 };
    let mut it = std::env::args().skip(1);
    while let Some(flag) = it.next() {
        let v = it.next().ok_or_else(|| format!("{flag} needs a value"))?;
        let num = || v.parse::<u64>().map_err(|_| format!("{flag}: '{v}' is not a number"));
        match flag.as_str() {
            "--port" => a.port = num()? as u16,
            "--workload" => a.workload = v.clone(),
            "--keys" => a.keys = num()?,
            "--requests" => a.requests = num()?,
            "--value" => a.value = num()? as usize,
            "--seed" => a.seed = num()?,
            _ => return Err(format!("unknown flag {flag}")),
        }
    }
    Ok(a)
}

/// SplitMix64: small, seeded, good enough for workload generation.
struct Rng(u64);

impl Rng {
    fn next(&mut self) -> u64 {
        self.0 = self.0.wrapping_add(0x9E37_79B9_7F4A_7C15);
        let mut z = self.0;
        z = (z ^ (z >> 30)).wrapping_mul(0xBF58_476D_1CE4_E5B9);
        z = (z ^ (z >> 27)).wrapping_mul(0x94D0_49BB_1331_11EB);
        z ^ (z >> 31)
    }

    fn unit(&mut self) -> f64 {
        (self.next() >> 11) as f64 / (1u64 << 53) as f64
    }
}

/// Zipf(s) over ranks 0..n by inverting the cumulative distribution
/// (one f64 per key, searched in O(log n)).
struct Zipf {
    cdf: Vec<f64>,
}

impl Zipf {
    fn new(n: u64, s: f64) -> Zipf {
        let mut cdf = Vec::with_capacity(n as usize);
        let mut total = 0.0;
        for rank in 1..=n {
            total += 1.0 / (rank as f64).powf(s);
            cdf.push(total);
        }
        cdf.iter_mut().for_each(|c| *c /= total);
        Zipf { cdf }
    }

    fn sample(&self, rng: &mut Rng) -> u64 {
        let u = rng.unit();
        self.cdf.partition_point(|&c| c < u) as u64
    }
}

/// Spreads ranks over the key space so that hot keys are not neighbours.
fn scatter(rank: u64, n: u64) -> u64 {
    rank.wrapping_mul(0x9E37_79B9_7F4A_7C15) % n
}

/// The request sequence of a workload, as key ids.
fn requests(a: &Args) -> Result<Vec<u64>, String> {
    let mut rng = Rng(a.seed);
    let zipf = |s| Zipf::new(a.keys, s);
    let mut out = Vec::with_capacity(a.requests as usize);
    match a.workload.as_str() {
        "zipf0.9" | "zipf1.1" => {
            let z = zipf(if a.workload == "zipf0.9" { 0.9 } else { 1.1 });
            (0..a.requests).for_each(|_| out.push(scatter(z.sample(&mut rng), a.keys)));
        }
        "scan" => {
            let z = zipf(0.9);
            let (period, len) = ((a.keys / 20).max(1), a.keys / 100);
            let mut cold = a.keys; // ids past the Zipf key space: requested once
            while (out.len() as u64) < a.requests {
                out.push(scatter(z.sample(&mut rng), a.keys));
                if out.len() as u64 % period == 0 {
                    for _ in 0..len {
                        out.push(cold);
                        cold += 1;
                    }
                }
            }
            out.truncate(a.requests as usize);
        }
        "shift" => {
            let z = zipf(0.9);
            let phase_len = (a.requests / 4).max(1);
            for i in 0..a.requests {
                let shift = (i / phase_len) * (a.keys / 7);
                out.push(scatter(z.sample(&mut rng), a.keys).wrapping_add(shift) % a.keys);
            }
        }
        other => return Err(format!("unknown workload {other} (zipf0.9, zipf1.1, scan, shift)")),
    }
    Ok(out)
}

fn encode(out: &mut Vec<u8>, args: &[&[u8]]) {
    out.extend_from_slice(format!("*{}\r\n", args.len()).as_bytes());
    for a in args {
        out.extend_from_slice(format!("${}\r\n", a.len()).as_bytes());
        out.extend_from_slice(a);
        out.extend_from_slice(b"\r\n");
    }
}

/// Reads one reply; true if it was a hit (a non-nil bulk or a status).
fn read_reply(r: &mut BufReader<TcpStream>, line: &mut String) -> std::io::Result<bool> {
    line.clear();
    r.read_line(line)?;
    match line.as_bytes().first() {
        Some(b'$') => {
            let len: i64 = line[1..].trim().parse().unwrap_or(-1);
            if len < 0 {
                return Ok(false);
            }
            let mut skip = vec![0; len as usize + 2];
            r.read_exact(&mut skip)?;
            Ok(true)
        }
        Some(b'_') => Ok(false),
        Some(b'-') => Err(std::io::Error::other(format!("server error: {}", line.trim()))),
        _ => Ok(true),
    }
}

fn key(id: u64) -> Vec<u8> {
    format!("key:{id:010}").into_bytes()
}

fn run(a: &Args, reqs: &[u64]) -> std::io::Result<(u64, u64)> {
    let stream = TcpStream::connect(("127.0.0.1", a.port))?;
    stream.set_nodelay(true)?;
    let mut w = stream.try_clone()?;
    let mut r = BufReader::with_capacity(1 << 16, stream);
    let value = vec![b'v'; a.value];
    let warm = reqs.len() as u64 / 5;
    let (mut hits, mut counted, mut line, mut buf) = (0u64, 0u64, String::new(), Vec::new());
    for (b, batch) in reqs.chunks(256).enumerate() {
        buf.clear();
        let keys: Vec<Vec<u8>> = batch.iter().map(|&id| key(id)).collect();
        keys.iter().for_each(|k| encode(&mut buf, &[b"GET", k]));
        w.write_all(&buf)?;
        let mut misses = Vec::new();
        for (i, k) in keys.iter().enumerate() {
            let hit = read_reply(&mut r, &mut line)?;
            if (b * 256 + i) as u64 >= warm {
                counted += 1;
                hits += hit as u64;
            }
            if !hit {
                misses.push(k);
            }
        }
        buf.clear();
        misses.iter().for_each(|k| encode(&mut buf, &[b"SET", k, &value]));
        w.write_all(&buf)?;
        for _ in &misses {
            read_reply(&mut r, &mut line)?;
        }
    }
    Ok((hits, counted))
}

fn main() {
    let a = match parse_args() {
        Ok(a) => a,
        Err(e) => {
            eprintln!("hitratio: {e}");
            std::process::exit(2);
        }
    };
    let reqs = requests(&a).unwrap_or_else(|e| {
        eprintln!("hitratio: {e}");
        std::process::exit(2);
    });
    match run(&a, &reqs) {
        Ok((hits, counted)) => println!("{} {:.4}", a.workload, hits as f64 / counted.max(1) as f64),
        Err(e) => {
            eprintln!("hitratio: {e}");
            std::process::exit(1);
        }
    }
}
