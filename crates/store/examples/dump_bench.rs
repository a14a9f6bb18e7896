//! Throughput of the DUMP payload codec and of the slot-migration API, on
//! 1M keys with 64-byte string values (the size `bench/` uses elsewhere).
//!
//! `cargo run --release -p ferrocache-store --example dump_bench [keys]`
//!
//! Prints, for each phase, keys per second and MB/s of payload bytes:
//! - encode / decode: `dump::encode` (a new `Vec` per payload, as DUMP),
//!   `dump::encode_into` one reused buffer, and `dump::decode` (which
//!   builds the value, as RESTORE), each alone;
//! - slot batches: `Db::move_slot_batch` over every slot (1000 keys or
//!   256 KB a batch), delivered by `Db::restore` of each key into a second
//!   database: a migration's work without the network.

use std::time::Instant;

use ferrocache_store::dump;
use ferrocache_store::{Db, StrValue, Value};

fn report(phase: &str, keys: usize, bytes: usize, secs: f64) {
    println!("{phase:<32} {:>8.0} k keys/s {:>8.1} MB/s  ({keys} keys, {:.1} MB, {secs:.3} s)", keys as f64 / secs / 1e3, bytes as f64 / secs / 1e6, bytes as f64 / 1e6);
}

fn main() {
    let n: usize = std::env::args().nth(1).and_then(|a| a.parse().ok()).unwrap_or(1_000_000);
    let values: Vec<Value> = (0..n).map(|i| Value::Str(StrValue::new(format!("{i:064}").as_bytes()))).collect();

    let t = Instant::now();
    let payloads: Vec<Vec<u8>> = values.iter().map(dump::encode).collect();
    let bytes: usize = payloads.iter().map(Vec::len).sum();
    report("encode", n, bytes, t.elapsed().as_secs_f64());

    let t = Instant::now();
    let mut buf = Vec::with_capacity(256);
    for v in &values {
        buf.clear();
        dump::encode_into(v, &mut buf);
    }
    let reused = t.elapsed().as_secs_f64();
    report("encode into one reused buffer", n, bytes, reused);

    let t = Instant::now();
    let decoded = payloads.iter().filter(|p| dump::decode(p).is_ok()).count();
    let decode = t.elapsed().as_secs_f64();
    report("decode", n, bytes, decode);
    report("encode (reused buffer) + decode", n, bytes, reused + decode);
    assert_eq!(decoded, n);

    let (src, dst) = (Db::new(), Db::new());
    for (i, v) in values.into_iter().enumerate() {
        let key = format!("key:{i}");
        src.lock(key.as_bytes(), 0).set(key.as_bytes(), v);
    }
    let t = Instant::now();
    let (mut moved, mut moved_bytes) = (0, 0);
    for slot in 0..ferrocache_topology::SLOT_COUNT {
        loop {
            let sent = src
                .move_slot_batch(slot, 1000, 256 << 10, 0, |batch| {
                    for (key, payload, at) in batch {
                        dst.restore(key, payload, *at, true, 0)?;
                        moved_bytes += payload.len();
                    }
                    Ok::<(), ferrocache_store::db::RestoreError>(())
                })
                .expect("restores");
            if sent.keys == 0 {
                break;
            }
            moved += sent.keys;
        }
    }
    report("slot batches: move (dump+restore+delete)", moved, moved_bytes, t.elapsed().as_secs_f64());
    assert_eq!((moved, src.key_count(), dst.key_count()), (n, 0, n));
}
