//! Group commit on the leader: proposals that arrive while earlier ones are being committed
//! travel together in one Raft log entry.
//!
//! Why: openraft 0.9's core appends each `client_write` as its own log write and waits for
//! that write's flush before it takes the next one, and a flush is an fsync. With one entry
//! per proposal, the leader's throughput was one fsync per write however many clients were
//! waiting (measured: 0.47–0.77× etcd with 64 writers, `bench/README-config-center.md`).
//! etcd writes everything proposed since its last round with one fsync; this module does the
//! same one level up: every proposal on the leader goes through one queue, and a batch is
//! everything queued when a commit slot frees up, proposed as one [`Op::Batch`] entry. The
//! entry is appended and fsync'd once per node, replicated once, and applied as its requests in
//! order, each with its own revision, audit record and answer.
//!
//! Durability is unchanged: a caller is answered only after the entry holding its request is
//! committed (on disk on a majority) and applied, exactly as with one entry per proposal. A
//! lone proposal is sent as it is, without the batch wrapper, so a single writer pays nothing.
//!
//! At most [`IN_FLIGHT`] batches are being committed at once: while one replicates, the next
//! is appended, and proposals that arrive meanwhile wait in the queue and form the next batch.
//! A batch stops growing at [`MAX_BATCH`] requests or [`MAX_BATCH_BYTES`] of values (a single
//! larger request still goes alone), which keeps AppendEntries bodies bounded. Since one entry
//! may carry hundreds of writes, snapshots are triggered by writes and bytes applied
//! (`snapshot_writes`, `snapshot_bytes`, see [`crate::housekeeping`]) as well as by a count of
//! log entries (`snapshot_every`).

use std::sync::Arc;

use openraft::error::{ClientWriteError, Fatal, RaftError};
use tokio::sync::{Semaphore, mpsc, oneshot};
use tokio::task::JoinHandle;
use tokio_util::sync::CancellationToken;

use crate::command::{Op, Outcome, Request, Response, SmError, TxnAction};
use crate::raft::{Node, NodeId, Raft};

/// Why a proposal was not committed (openraft's error: not the leader, membership, stopped).
pub type WriteError = RaftError<NodeId, ClientWriteError<NodeId, Node>>;

/// Batches being committed at the same time.
pub const IN_FLIGHT: usize = 2;
/// Most requests in one batch.
pub const MAX_BATCH: usize = 512;
/// A batch stops taking requests once their keys and values reach this size.
pub const MAX_BATCH_BYTES: usize = 4 * 1024 * 1024;

/// The actor recorded on a batch entry itself (its requests keep their own actors).
const BATCH_ACTOR: &str = "batch";

struct Pending {
    req: Request,
    reply: oneshot::Sender<Result<Response, WriteError>>,
}

/// The queue in front of `Raft::client_write`; cheap to share behind the node.
pub struct Proposer {
    queue: mpsc::UnboundedSender<Pending>,
}

impl Proposer {
    /// Starts the batching task; it ends when `cancel` fires.
    pub fn start(raft: Raft, cancel: CancellationToken) -> (Proposer, JoinHandle<()>) {
        let (queue, rx) = mpsc::unbounded_channel();
        (Proposer { queue }, tokio::spawn(run(raft, rx, cancel)))
    }

    /// Commits `req` (alone or in a batch) and returns what the state machine answered.
    pub async fn propose(&self, req: Request) -> Result<Response, WriteError> {
        let (reply, answer) = oneshot::channel();
        self.queue.send(Pending { req, reply }).map_err(|_| RaftError::Fatal(Fatal::Stopped))?;
        answer.await.unwrap_or(Err(RaftError::Fatal(Fatal::Stopped)))
    }
}

async fn run(raft: Raft, mut rx: mpsc::UnboundedReceiver<Pending>, cancel: CancellationToken) {
    let slots = Arc::new(Semaphore::new(IN_FLIGHT));
    // A request that did not fit the previous batch starts the next one.
    let mut carried: Option<Pending> = None;
    loop {
        let slot = tokio::select! {
            _ = cancel.cancelled() => return,
            slot = slots.clone().acquire_owned() => match slot {
                Ok(slot) => slot,
                Err(_) => return,
            },
        };
        let first = match carried.take() {
            Some(pending) => pending,
            None => tokio::select! {
                _ = cancel.cancelled() => return,
                next = rx.recv() => match next {
                    Some(pending) => pending,
                    None => return,
                },
            },
        };
        let mut bytes = request_bytes(&first.req);
        let mut batch = vec![first];
        while batch.len() < MAX_BATCH {
            let Ok(next) = rx.try_recv() else { break };
            let size = request_bytes(&next.req);
            if bytes.saturating_add(size) > MAX_BATCH_BYTES {
                carried = Some(next);
                break;
            }
            bytes += size;
            batch.push(next);
        }
        let raft = raft.clone();
        tokio::spawn(async move {
            commit(&raft, batch).await;
            drop(slot);
        });
    }
}

/// Proposes `batch` as one entry and hands each caller its own answer.
async fn commit(raft: &Raft, mut batch: Vec<Pending>) {
    if batch.len() == 1
        && let Some(one) = batch.pop()
    {
        let result = raft.client_write(one.req).await.map(|resp| resp.data);
        // A caller that gave up (timeout) no longer listens; its write still happened.
        let _ = one.reply.send(result);
        return;
    }
    let time_ms = batch.iter().map(|p| p.req.time_ms).max().unwrap_or(0);
    let (requests, replies): (Vec<Request>, Vec<_>) = batch.into_iter().map(|p| (p.req, p.reply)).unzip();
    let count = requests.len();
    let entry = Request { actor: BATCH_ACTOR.to_string(), time_ms, op: Op::Batch(requests) };
    match raft.client_write(entry).await {
        Ok(resp) => match resp.data {
            Ok(Outcome::Batch(answers)) if answers.len() == count => {
                for (reply, answer) in replies.into_iter().zip(answers) {
                    let _ = reply.send(Ok(answer));
                }
            }
            other => {
                // Cannot happen with this state machine; say so rather than guess an answer.
                let why = SmError::Invalid(format!("internal error: a batch of {count} was answered with {other:?}"));
                for reply in replies {
                    let _ = reply.send(Ok(Err(why.clone())));
                }
            }
        },
        Err(e) => {
            for reply in replies {
                let _ = reply.send(Err(e.clone()));
            }
        }
    }
}

/// The bulky part of a request: keys and values.
pub(crate) fn request_bytes(req: &Request) -> usize {
    match &req.op {
        Op::Batch(reqs) => reqs.iter().map(request_bytes).sum(),
        Op::Put(put) => put.key.len() + put.value.len(),
        Op::Txn(txn) => txn
            .success
            .iter()
            .chain(&txn.failure)
            .map(|action| match action {
                TxnAction::Put(put) => put.key.len() + put.value.len(),
                TxnAction::Delete(del) => del.key.len(),
            })
            .sum(),
        Op::Restore(restore) => restore.content_bytes as usize,
        _ => 64,
    }
}
