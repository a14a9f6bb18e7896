//! Recording client operations of a fault test and checking them.
//!
//! The workload is a single-key register: puts of unique values (plain or compare-and-swap on
//! the key's mod revision) and linearizable gets. Each operation is recorded with its invoke
//! and completion times (monotonic, nanoseconds since the recorder started) and its outcome:
//! a definite answer, a CAS refused because the key had changed, or *unknown* (timeout, reset
//! connection, 5xx: the write may or may not have taken effect, now or later).
//!
//! [`check_linearizable`] searches for a legal sequential order in the Wing & Gong style with
//! Lowe's memoisation (the scheme Porcupine and Knossos use): walk the history in time order,
//! linearize any pending call whose model step is legal, and backtrack when a completed
//! operation could not be placed before its return; `(set of linearized ops, model state)`
//! pairs already explored are skipped. Unknown operations never return, so they may take
//! effect at any point after their invocation or not at all; unknown writes whose value no
//! one saw are interchangeable and tried in a fixed order (see `ghost_ranks`), which keeps a
//! history with a hundred timed-out writes as cheap to check as one without.
//!
//! The model is a register holding a value id (0 = key absent) and the revision that wrote it:
//! a put with a known revision must carry a higher revision than the current one, so the
//! checker also verifies that revisions grow in the order the writes took effect. Besides the
//! search, [`check_revisions`] verifies that each value is seen at exactly one revision (a value
//! applied twice would break that) and [`check_watch`] that a watcher saw exactly the key's
//! history: every event once, in revision order.

use std::collections::{HashMap, HashSet};
use std::sync::Mutex;
use std::time::Instant;

/// A value id; values written are unique, 0 means "no value".
pub type Value = u32;

/// What a client asked for.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Call {
    Get,
    Put { value: Value },
    /// Put `value` only if the key still holds `expect` (sent as `if_revision` = the mod
    /// revision at which `expect` was read).
    Cas { expect: Value, value: Value },
}

/// What it got back.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Ret {
    /// A read of `value`, last written at `revision` (0 when absent).
    Read { value: Value, revision: u64 },
    /// An acknowledged write, applied at `revision`.
    Written { revision: u64 },
    /// A CAS refused because the key did not hold the expected value (no effect).
    Refused,
    /// No definite answer: the write may have taken effect.
    Unknown,
}

#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Op {
    pub client: usize,
    /// Index of the node the request went to.
    pub node: usize,
    pub call: Call,
    pub ret: Ret,
    /// Nanoseconds since the recorder started.
    pub invoke: u64,
    /// `u64::MAX` for unknown outcomes.
    pub complete: u64,
}

/// Thread-safe recorder of a history.
pub struct Recorder {
    start: Instant,
    ops: Mutex<Vec<Op>>,
}

/// An invoked operation waiting for its outcome.
#[must_use]
pub struct Pending {
    client: usize,
    node: usize,
    call: Call,
    invoke: u64,
}

impl Default for Recorder {
    fn default() -> Recorder {
        Recorder { start: Instant::now(), ops: Mutex::new(Vec::new()) }
    }
}

impl Recorder {
    /// Nanoseconds since the recorder started.
    pub fn now(&self) -> u64 {
        self.start.elapsed().as_nanos() as u64
    }

    pub fn invoke(&self, client: usize, node: usize, call: Call) -> Pending {
        Pending { client, node, call, invoke: self.now() }
    }

    /// Records the outcome; `None` drops the operation (it certainly had no effect, e.g. the
    /// connection was refused, or it was a read that failed).
    pub fn complete(&self, pending: Pending, ret: Option<Ret>) {
        let Some(ret) = ret else { return };
        let complete = if ret == Ret::Unknown { u64::MAX } else { self.now() };
        let op = Op { client: pending.client, node: pending.node, call: pending.call, ret, invoke: pending.invoke, complete };
        self.ops.lock().unwrap().push(op);
    }

    pub fn ops(&self) -> Vec<Op> {
        self.ops.lock().unwrap().clone()
    }
}

/// Revision of each value seen in acknowledgements and reads.
fn known_revisions(ops: &[Op]) -> HashMap<Value, u64> {
    let mut revisions = HashMap::from([(0, 0)]);
    for op in ops {
        match (op.call, op.ret) {
            (_, Ret::Read { value, revision }) => {
                revisions.insert(value, revision);
            }
            (Call::Put { value } | Call::Cas { value, .. }, Ret::Written { revision }) => {
                revisions.insert(value, revision);
            }
            _ => {}
        }
    }
    revisions
}

/// Each value must be seen at one revision only, and each revision must hold one value.
pub fn check_revisions(ops: &[Op]) -> Result<(), String> {
    let mut by_value: HashMap<Value, u64> = HashMap::from([(0, 0)]);
    let mut by_revision: HashMap<u64, Value> = HashMap::from([(0, 0)]);
    let observations = ops.iter().filter_map(|op| match (op.call, op.ret) {
        (_, Ret::Read { value, revision }) => Some((value, revision)),
        (Call::Put { value } | Call::Cas { value, .. }, Ret::Written { revision }) => Some((value, revision)),
        _ => None,
    });
    for (value, revision) in observations {
        if let Some(seen) = by_value.insert(value, revision).filter(|r| *r != revision) {
            return Err(format!("value {value} seen at revisions {seen} and {revision}"));
        }
        if let Some(seen) = by_revision.insert(revision, value).filter(|v| *v != value) {
            return Err(format!("revision {revision} holds values {seen} and {value}"));
        }
    }
    Ok(())
}

#[derive(Debug, Clone, Copy, PartialEq, Eq, Hash)]
struct State {
    value: Value,
    revision: u64,
}

/// The register model: the state after `op`, or None if `op` cannot happen in `state`.
/// Writes here all have a known revision (unseen unknown writes are ghosts, handled apart).
fn step(state: State, op: &Op, revisions: &HashMap<Value, u64>) -> Option<State> {
    let write = |value: Value| {
        let revision = *revisions.get(&value)?;
        (revision > state.revision).then_some(State { value, revision })
    };
    match (op.call, op.ret) {
        (Call::Get, ret) => matches!(ret, Ret::Read { value, .. } if value == state.value).then_some(state),
        (Call::Put { value }, _) => write(value),
        (Call::Cas { expect, .. }, Ret::Refused) => (expect != state.value).then_some(state),
        (Call::Cas { expect, value }, Ret::Written { .. }) => if expect == state.value { write(value) } else { None },
        // Unknown: it took effect if it ran while the key held `expect`; otherwise it was refused.
        (Call::Cas { expect, value }, _) => if expect == state.value { write(value) } else { Some(state) },
    }
}

/// One end of an operation in the time-ordered list the search walks.
#[derive(Debug, Clone, Copy)]
struct Entry {
    op: usize,
    is_call: bool,
    /// For a call: its return entry.
    partner: usize,
    prev: usize,
    next: usize,
}

const NIL: usize = usize::MAX;
const HEAD: usize = 0;

/// A doubly linked list of call/return entries, from which linearized operations are lifted.
struct Events {
    entries: Vec<Entry>,
}

impl Events {
    /// Calls before returns at equal times (the ops count as overlapping: the lenient choice).
    fn new(ops: &[Op]) -> Events {
        let mut ends: Vec<(u64, bool, usize)> = ops.iter().enumerate().flat_map(|(i, op)| [(op.invoke, true, i), (op.complete, false, i)]).collect();
        ends.sort_by_key(|&(time, is_call, op)| (time, !is_call, op));
        let mut entries = vec![Entry { op: NIL, is_call: false, partner: NIL, prev: NIL, next: NIL }];
        let mut return_of = vec![NIL; ops.len()];
        for (n, &(_, is_call, op)) in ends.iter().enumerate() {
            let index = n + 1;
            entries.push(Entry { op, is_call, partner: NIL, prev: index - 1, next: NIL });
            entries[index - 1].next = index;
            if !is_call {
                return_of[op] = index;
            }
        }
        for entry in entries.iter_mut().skip(1).filter(|e| e.is_call) {
            entry.partner = return_of[entry.op];
        }
        Events { entries }
    }

    fn unlink(&mut self, i: usize) {
        let Entry { prev, next, .. } = self.entries[i];
        self.entries[prev].next = next;
        if next != NIL {
            self.entries[next].prev = prev;
        }
    }

    fn relink(&mut self, i: usize) {
        let Entry { prev, next, .. } = self.entries[i];
        self.entries[prev].next = i;
        if next != NIL {
            self.entries[next].prev = i;
        }
    }

    /// Removes a call and its return (the op is linearized).
    fn lift(&mut self, call: usize) {
        self.unlink(call);
        self.unlink(self.entries[call].partner);
    }

    /// Undoes [`Events::lift`] (in reverse order, so the links are restored exactly).
    fn unlift(&mut self, call: usize) {
        self.relink(self.entries[call].partner);
        self.relink(call);
    }
}

/// A failed check: why, and the operations involved.
#[derive(Debug)]
pub struct Violation {
    /// The completed operation that could never be placed.
    pub stuck: Op,
    /// The longest legal prefix found, in order.
    pub longest_prefix: Vec<Op>,
}

/// The value of a write nobody saw (see [`ghost_ranks`]).
const GHOST: Value = Value::MAX;

/// Unknown writes whose value no one ever saw ("ghosts") can only matter by overwriting the
/// key with a value no read returns (which may explain a refused CAS). They are interchangeable,
/// so any order that uses some can use the earliest-invoked instead: the search only ever tries
/// the earliest unused one, and needs none of them. This keeps a history with many timed-out
/// writes from multiplying the search by every subset of them. An unseen unknown CAS is treated
/// like an unseen put (it may overwrite whatever the key holds): more lenient, never stricter.
/// Returns each ghost's rank in invocation order.
fn ghost_ranks(ops: &[Op], revisions: &HashMap<Value, u64>) -> Vec<Option<usize>> {
    let mut ghosts: Vec<usize> = (0..ops.len())
        .filter(|&i| match ops[i].call {
            Call::Put { value } | Call::Cas { value, .. } => ops[i].ret == Ret::Unknown && !revisions.contains_key(&value),
            Call::Get => false,
        })
        .collect();
    ghosts.sort_by_key(|&i| (ops[i].invoke, i));
    let mut ranks = vec![None; ops.len()];
    for (rank, &i) in ghosts.iter().enumerate() {
        ranks[i] = Some(rank);
    }
    ranks
}

/// Searches for a linearization of `ops` in the register model; on success returns the order
/// found (unknown operations that were left out are not in it).
pub fn check_linearizable(ops: &[Op]) -> Result<Vec<Op>, Violation> {
    let revisions = known_revisions(ops);
    let ghosts = ghost_ranks(ops, &revisions);
    let required = ghosts.iter().filter(|g| g.is_none()).count();
    let mut events = Events::new(ops);
    let mut linearized = vec![0u64; ops.len().div_ceil(64)];
    let mut explored: HashSet<(Vec<u64>, State)> = HashSet::new();
    let mut stack: Vec<(usize, State)> = Vec::new();
    let (mut placed, mut ghosts_used) = (0, 0);
    let mut longest: Vec<usize> = Vec::new();
    // The completed operation that could not be placed when the search was deepest.
    let mut stuck: Option<(usize, usize)> = None;
    let mut state = State { value: 0, revision: 0 };
    let mut entry = events.entries[HEAD].next;
    while placed < required {
        let current = (entry != NIL).then(|| events.entries[entry]);
        if let Some(current) = current.filter(|c| c.is_call) {
            let next_state = match ghosts[current.op] {
                Some(rank) if rank != ghosts_used => None,
                Some(_) => Some(State { value: GHOST, revision: state.revision }),
                None => step(state, &ops[current.op], &revisions),
            };
            if let Some(next_state) = next_state {
                let mut bits = linearized.clone();
                bits[current.op / 64] |= 1 << (current.op % 64);
                if explored.insert((bits.clone(), next_state)) {
                    stack.push((entry, state));
                    match ghosts[current.op] {
                        Some(_) => ghosts_used += 1,
                        None => placed += 1,
                    }
                    state = next_state;
                    linearized = bits;
                    events.lift(entry);
                    if stack.len() > longest.len() {
                        longest = stack.iter().map(|(e, _)| events.entries[*e].op).collect();
                    }
                    entry = events.entries[HEAD].next;
                    continue;
                }
            }
            entry = current.next;
            continue;
        }
        if let Some(current) = current {
            // A ghost need never have happened; any other operation had to be placed by its return.
            if ghosts[current.op].is_some() {
                entry = current.next;
                continue;
            }
            if stuck.is_none_or(|(depth, _)| stack.len() > depth) {
                stuck = Some((stack.len(), current.op));
            }
        }
        // Undo the last choice and try the next candidate after it.
        let Some((call, previous)) = stack.pop() else {
            let stuck = ops[stuck.map_or(0, |(_, op)| op)];
            return Err(Violation { stuck, longest_prefix: longest.iter().map(|&i| ops[i]).collect() });
        };
        let op = events.entries[call].op;
        match ghosts[op] {
            Some(_) => ghosts_used -= 1,
            None => placed -= 1,
        }
        linearized[op / 64] &= !(1 << (op % 64));
        state = previous;
        events.unlift(call);
        entry = events.entries[call].next;
    }
    Ok(stack.iter().map(|(e, _)| ops[events.entries[*e].op]).collect())
}

/// A watcher must have seen exactly `expected` (revision, value) pairs, in that order.
pub fn check_watch(expected: &[(u64, Value)], seen: &[(u64, Value)]) -> Result<(), String> {
    if let Some(i) = seen.windows(2).position(|w| w[0].0 >= w[1].0) {
        return Err(format!("revisions out of order or repeated: {:?} then {:?}", seen[i], seen[i + 1]));
    }
    let missing: Vec<_> = expected.iter().filter(|e| !seen.contains(e)).collect();
    let extra: Vec<_> = seen.iter().filter(|e| !expected.contains(e)).collect();
    if missing.is_empty() && extra.is_empty() {
        Ok(())
    } else {
        Err(format!("{} events missing (first {:?}), {} unexpected (first {:?})", missing.len(), missing.first(), extra.len(), extra.first()))
    }
}
