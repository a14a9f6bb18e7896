//! Periodic work, `hz` times a second: the active expiry cycle (reclaims
//! expired keys nobody reads again), the ops/sec sampler and the memory
//! peak.
//!
//! Expiry work is bounded per tick: it stops when a step finds few expired
//! keys (under 10%, as Redis's cycle does) or when its time budget is spent.

use std::sync::Arc;
use std::time::{Duration, Instant};

use ferrocache_store::clock::now_ms;

use crate::shared::Shared;

/// Keys examined per expiry step.
const STEP_KEYS: usize = 200;
/// Time budget of one tick's expiry work.
const TICK_BUDGET: Duration = Duration::from_millis(10);

pub async fn run(shared: Arc<Shared>) {
    loop {
        let hz = shared.config.read().hz.max(1);
        tokio::select! {
            _ = tokio::time::sleep(Duration::from_millis(1000 / hz as u64)) => {}
            _ = shared.shutdown.wait() => return,
        }
        let now = now_ms();
        shared.stats.sample(now);
        crate::pause::refresh(&shared, now);
        crate::evict::note_peak(&shared, crate::evict::used_memory(&shared));
        expire_cycle(&shared, now);
    }
}

/// One active expiry tick over all databases.
pub fn expire_cycle(shared: &Shared, now: u64) {
    // A replica's keys expire when its primary's stream deletes them, never on its own clock;
    // a write pause stops expiry, as Redis's does, so that the data and the stream stand still.
    if shared.repl.is_replica() || shared.pause.stops_writes(now) {
        return;
    }
    let start = Instant::now();
    for db in shared.dbs.iter() {
        // Not while EXEC runs: a key its commands touched must not go before their entries are
        // appended as one block (see `repl::propagate`).
        let _running = shared.gate.read();
        loop {
            let (examined, expired) = db.active_expire(STEP_KEYS, now);
            if examined == 0 || expired * 10 < examined || start.elapsed() > TICK_BUDGET {
                break;
            }
        }
        if start.elapsed() > TICK_BUDGET {
            return;
        }
    }
}
