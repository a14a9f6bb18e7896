//! What the replicas' acknowledgements tell: WAIT's count, the good replicas that
//! `min-replicas-to-write` asks for, and the loss window.
//!
//! Why offsets: every client remembers the stream's end after its last write (its "last write
//! offset", kept by dispatch from [`super::propagate::take_appended`]); a replica whose REPLCONF
//! ACK reached that offset holds the write. WAIT counts such replicas and, when too few, asks
//! them all for an ACK with `REPLCONF GETACK *` *through the stream*, as Redis does: the
//! request sits after the client's write, so the answer is about that write. The loss window
//! is what a failover to the most advanced replica would lose right now: the bytes of the
//! stream no replica has acknowledged.

use std::sync::atomic::Ordering;
use std::time::Duration;

use super::Replication;

/// A WAIT that has to wait: for `needed` replicas to acknowledge `offset`, until `deadline`
/// (Unix ms; None waits for ever).
#[derive(Debug, Clone, PartialEq)]
pub struct AckWait {
    pub offset: u64,
    pub needed: i64,
    pub deadline: Option<u64>,
}

impl Replication {
    /// Replicas attached here that acknowledged `offset` or more.
    pub fn acked(&self, offset: u64) -> usize {
        self.replicas.lock().iter().filter(|r| r.acked.load(Ordering::Relaxed) >= offset).count()
    }

    /// Wakes the WAITs: a replica acknowledged, attached or went away.
    pub fn note_ack(&self) {
        self.acks.send_modify(|n| *n = n.wrapping_add(1));
    }

    /// Asks every replica for an ACK (`REPLCONF GETACK *` in the stream), unless the stream's
    /// last entry already is that request.
    pub fn request_acks(&self) {
        if !self.active() {
            return;
        }
        let end = {
            let mut backlog = self.backlog.lock();
            if !backlog.append_getack() {
                return;
            }
            backlog.end()
        };
        self.grew.send_replace(end);
    }

    /// Waits until `wait` is met or its deadline passes; answers the replicas that acknowledged.
    pub async fn wait_for_acks(&self, wait: &AckWait) -> usize {
        let mut acks = self.acks.subscribe();
        loop {
            acks.borrow_and_update();
            let acked = self.acked(wait.offset);
            let now = ferrocache_store::clock::now_ms();
            if acked as i64 >= wait.needed || wait.deadline.is_some_and(|d| d <= now) {
                return acked;
            }
            let left = wait.deadline.map(|d| Duration::from_millis(d - now));
            tokio::select! {
                r = acks.changed() => if r.is_err() { return acked },
                () = async { match left { Some(left) => tokio::time::sleep(left).await, None => std::future::pending().await } } => {}
            }
        }
    }

    /// Replicas whose last ACK is at most `max_lag` seconds old at `now` (Unix ms): Redis's
    /// "good" replicas (INFO `min_slaves_good_slaves`).
    pub fn good_replicas(&self, now: u64, max_lag: u64) -> usize {
        let fresh = |at: u64| now.saturating_sub(at) / 1000 <= max_lag;
        self.replicas.lock().iter().filter(|r| fresh(r.acked_at.load(Ordering::Relaxed))).count()
    }

    /// `min-replicas-to-write` and `min-replicas-max-lag` as CONFIG SET left them.
    pub fn set_min_replicas(&self, to_write: u64, max_lag: u64) {
        self.min_replicas.store(to_write, Ordering::Relaxed);
        self.min_replicas_lag.store(max_lag, Ordering::Relaxed);
    }

    /// Whether writes are refused for want of good replicas (both settings non-zero and fewer
    /// good replicas than asked, as Redis decides). Never on a replica.
    pub fn too_few_replicas(&self, now: u64) -> bool {
        let (to_write, max_lag) = (self.min_replicas.load(Ordering::Relaxed), self.min_replicas_lag.load(Ordering::Relaxed));
        to_write > 0 && max_lag > 0 && !self.is_replica() && (self.good_replicas(now, max_lag) as u64) < to_write
    }

    /// Good replicas, when `min-replicas-to-write` is on (INFO shows the field only then).
    pub fn min_replicas_good(&self, now: u64) -> Option<usize> {
        let (to_write, max_lag) = (self.min_replicas.load(Ordering::Relaxed), self.min_replicas_lag.load(Ordering::Relaxed));
        (to_write > 0 && max_lag > 0).then(|| self.good_replicas(now, max_lag))
    }

    /// Bytes of the stream up to `offset` that no attached replica acknowledged (INFO
    /// `ferrocache_repl_loss_window_bytes`).
    pub fn loss_window(&self, offset: u64) -> u64 {
        loss_window(offset, self.replicas.lock().iter().map(|r| r.acked.load(Ordering::Relaxed)))
    }
}

/// `offset` minus the highest of `acked` (all of it when there is none).
fn loss_window(offset: u64, acked: impl Iterator<Item = u64>) -> u64 {
    offset.saturating_sub(acked.max().unwrap_or(0))
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn the_loss_window_is_what_the_most_advanced_replica_lacks() {
        assert_eq!(loss_window(100, std::iter::empty()), 100, "no replica: everything");
        assert_eq!(loss_window(100, [40, 90, 70].into_iter()), 10);
        assert_eq!(loss_window(100, [100].into_iter()), 0);
        assert_eq!(loss_window(100, [120].into_iter()), 0, "an ACK past the end (GETACK bytes) is no negative window");
    }

    #[test]
    fn good_replicas_are_those_acked_within_the_lag() {
        let repl = Replication::new(1024);
        let attach = |acked_at: u64| {
            let r = super::super::primary::Attached { ip: "127.0.0.1".into(), port: 1, acked: 0.into(), acked_at: acked_at.into() };
            repl.replicas.lock().push(std::sync::Arc::new(r));
        };
        attach(10_000);
        attach(20_000);
        assert_eq!(repl.good_replicas(20_999, 10), 2, "lag counts whole seconds, at most max-lag");
        assert_eq!(repl.good_replicas(21_000, 10), 1);
        assert_eq!(repl.good_replicas(21_000, 1), 1);
        repl.set_min_replicas(2, 1);
        assert!(repl.too_few_replicas(21_000));
        assert_eq!(repl.min_replicas_good(21_000), Some(1));
        repl.set_min_replicas(1, 1);
        assert!(!repl.too_few_replicas(21_000));
        repl.set_min_replicas(0, 1);
        assert!(!repl.too_few_replicas(99_000), "off");
        assert_eq!(repl.min_replicas_good(21_000), None);
    }
}
