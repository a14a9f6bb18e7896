//! Throughput of the request parser on the shapes a server sees most:
//! pipelined small commands, and one large value arriving in socket-sized
//! reads. Run with `cargo bench -p ferrocache-resp`; no harness, so it needs
//! nothing beyond the crate. Under `cargo test --benches` (no `--bench`
//! argument) each case runs once, as a smoke test.

use bytes::BytesMut;
use ferrocache_resp::{Frame, Limits, RequestParser};
use std::hint::black_box;
use std::time::Instant;

/// Parses `input` fed in reads of `read_size` bytes; returns the request count.
fn parse_in_reads(input: &[u8], read_size: usize) -> usize {
    let limits = Limits::default();
    let mut parser = RequestParser::new();
    let mut buf = BytesMut::with_capacity(read_size);
    let mut requests = 0;
    for read in input.chunks(read_size) {
        buf.extend_from_slice(read);
        while let Some(args) = parser.parse(&mut buf, &limits).expect("valid input") {
            black_box(args);
            requests += 1;
        }
    }
    requests
}

fn measure(name: &str, input: &[u8], read_size: usize, rounds: usize) {
    let start = Instant::now();
    let mut requests = 0;
    for _ in 0..rounds {
        requests += parse_in_reads(input, read_size);
    }
    let secs = start.elapsed().as_secs_f64();
    let mib = (input.len() * rounds) as f64 / (1024.0 * 1024.0);
    println!(
        "{name:<28} {:>8.0} MiB/s {:>12.0} requests/s",
        mib / secs,
        requests as f64 / secs
    );
}

fn main() {
    let rounds = if std::env::args().any(|a| a == "--bench") {
        20
    } else {
        1
    };
    let set = Frame::command(&[b"SET", b"key:000000123456", &[b'x'; 32]]);
    let pipelined = set.repeat(100_000);
    measure("pipelined SET, 16 KiB reads", &pipelined, 16 * 1024, rounds);

    let get = b"GET key:000000123456\r\n".repeat(100_000);
    measure("inline GET, 16 KiB reads", &get, 16 * 1024, rounds);

    let big = Frame::command(&[b"SET", b"k", &vec![b'v'; 64 * 1024 * 1024]]);
    measure("64 MiB SET, 64 KiB reads", &big, 64 * 1024, rounds.min(5));
}
