//! Watch streams: history catch-up followed by live events, with no gap and no duplicate.
//!
//! The stream subscribes to the apply broadcast *before* reading history, so an event applied
//! in between shows up in both and is dropped the second time by revision. If the stream falls
//! behind the broadcast (or a snapshot replaced the state) it catches up from history again;
//! if that history was compacted meanwhile, the stream ends with the `compacted` error.

use std::sync::Arc;

use tokio::sync::{broadcast, mpsc};
use tokio_util::sync::CancellationToken;

use crate::command::SmError;
use crate::raft::state_machine::{SmShared, WatchSignal};
use crate::state::Event;

/// Which keys a watch follows.
#[derive(Debug, Clone)]
pub enum Filter {
    Key(String),
    Prefix(String),
}

impl Filter {
    /// The key or prefix: every watched key starts with it.
    pub fn prefix(&self) -> &str {
        match self {
            Filter::Key(k) | Filter::Prefix(k) => k,
        }
    }

    fn matches(&self, key: &str) -> bool {
        match self {
            Filter::Key(k) => k == key,
            Filter::Prefix(p) => key.starts_with(p.as_str()),
        }
    }
}

/// Items a watch stream yields; an `Err` is the last item.
pub type WatchItem = Result<Event, SmError>;

/// Starts a watch from `from_revision` (0 = only changes after now). Fails at once if that
/// revision is compacted.
pub fn start(shared: Arc<SmShared>, filter: Filter, from_revision: u64, cancel: CancellationToken) -> Result<mpsc::Receiver<WatchItem>, SmError> {
    let signals = shared.events.subscribe();
    let (initial, seen) = {
        let data = shared.data.read();
        let current = data.kv.revision();
        let from = if from_revision == 0 { current + 1 } else { from_revision };
        (data.kv.events_from(from, filter.prefix())?, current.max(from - 1))
    };
    let (tx, rx) = mpsc::channel(256);
    let stream = Stream { shared, filter, seen, tx };
    tokio::spawn(stream.run(initial, signals, cancel));
    Ok(rx)
}

struct Stream {
    shared: Arc<SmShared>,
    filter: Filter,
    /// Every event up to this revision has been delivered (or was before the start).
    seen: u64,
    tx: mpsc::Sender<WatchItem>,
}

impl Stream {
    async fn run(mut self, initial: Vec<Event>, mut signals: broadcast::Receiver<WatchSignal>, cancel: CancellationToken) {
        if self.send_all(&initial, 0).await.is_err() {
            return;
        }
        loop {
            let signal = tokio::select! {
                _ = cancel.cancelled() => return,
                _ = self.tx.closed() => return,
                signal = signals.recv() => signal,
            };
            let delivered = match signal {
                Ok(WatchSignal::Events(events)) => {
                    let floor = self.seen;
                    let sent = self.send_all(&events, floor).await;
                    self.seen = self.seen.max(events.last().map_or(0, |e| e.revision));
                    sent
                }
                Ok(WatchSignal::Resync) | Err(broadcast::error::RecvError::Lagged(_)) => self.catch_up().await,
                Err(broadcast::error::RecvError::Closed) => return,
            };
            if delivered.is_err() {
                return;
            }
        }
    }

    /// Sends the matching events newer than `floor`; `Err` when the receiver is gone.
    async fn send_all(&self, events: &[Event], floor: u64) -> Result<(), ()> {
        for event in events.iter().filter(|e| e.revision > floor && self.filter.matches(&e.key)) {
            self.tx.send(Ok(event.clone())).await.map_err(drop)?;
        }
        Ok(())
    }

    /// Re-reads history after `seen`; a compacted gap ends the stream with the error.
    async fn catch_up(&mut self) -> Result<(), ()> {
        let read = {
            let data = self.shared.data.read();
            data.kv.events_from(self.seen + 1, self.filter.prefix()).map(|events| (events, data.kv.revision()))
        };
        match read {
            Ok((events, current)) => {
                self.send_all(&events, self.seen).await?;
                self.seen = self.seen.max(current);
                Ok(())
            }
            Err(e) => {
                let _ = self.tx.send(Err(e)).await;
                Err(())
            }
        }
    }
}

/// Most events one long-poll answer carries (a revision is never split).
const POLL_BATCH: usize = 1000;

/// Long-poll form of a watch: waits up to `wait` for events at or after `from_revision`
/// (0 = after now) and returns them with the revision to poll from next. Reads the state
/// directly, so an answer is exact even if the wait ends while an event is being applied.
pub async fn poll(shared: &SmShared, filter: &Filter, from_revision: u64, wait: std::time::Duration) -> Result<(Vec<Event>, u64), SmError> {
    let mut revisions = shared.revision.subscribe();
    let deadline = tokio::time::Instant::now() + wait;
    let mut from = from_revision;
    loop {
        revisions.borrow_and_update();
        let (events, current) = {
            let data = shared.data.read();
            let current = data.kv.revision();
            if from == 0 {
                from = current + 1;
            }
            (data.kv.events_from(from, filter.prefix())?, current)
        };
        let mut batch: Vec<Event> = Vec::new();
        for event in events.into_iter().filter(|e| filter.matches(&e.key)) {
            if batch.len() >= POLL_BATCH && batch.last().is_some_and(|last| last.revision != event.revision) {
                break;
            }
            batch.push(event);
        }
        if let Some(last) = batch.last() {
            let next = last.revision + 1;
            return Ok((batch, next));
        }
        let next = from.max(current + 1);
        if tokio::time::timeout_at(deadline, revisions.changed()).await.is_err() {
            return Ok((Vec::new(), next));
        }
    }
}
