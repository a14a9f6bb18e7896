//! CLIENT PAUSE / CLIENT UNPAUSE: commands are held, not refused, until the pause ends.
//!
//! Why it exists: a planned failover pauses writes on the primary, lets the replica catch up,
//! switches the slot map and unpauses; the writes held meanwhile must then be routed afresh
//! (MOVED to the new primary), not run on the old one. So the hold sits in the connection
//! loop *before* [`crate::dispatch::execute`], which routes only once the command is released.
//!
//! As in Redis 6.2+: `ALL` holds every command, `WRITE` the commands that write or may
//! replicate (the table's WRITE flag, EXEC of a transaction that writes, and PUBLISH, PFCOUNT,
//! EVAL and WAIT, whose effects reach the stream or wait on it). A second pause keeps the more
//! restrictive mode and the later end. Replicas' links are never held (they do not run through
//! the connection loop), nor the replication handshake, nor the pausing client's admin
//! commands (so it can look around and unpause). While paused, expiry and eviction delete
//! nothing (see [`ferrocache_store::Db::set_frozen`]), so the data and the stream stand still.

use std::sync::atomic::{AtomicU8, Ordering};

use bytes::Bytes;
use parking_lot::Mutex;

use crate::client::Client;
use crate::command::{flags, Spec};
use crate::shared::Shared;

/// What a pause holds.
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord)]
pub enum Mode {
    Write = 1,
    All = 2,
}

/// Commands held by a WRITE pause besides those flagged WRITE (Redis's "may replicate").
const MAY_REPLICATE: &[&str] = &["publish", "spublish", "pfcount", "eval", "evalsha", "fcall", "wait"];

/// Commands of the replication handshake: a replica may attach during a pause.
const HANDSHAKE: &[&str] = &["replconf", "psync", "sync"];

#[derive(Debug, Clone, Copy)]
struct State {
    mode: Mode,
    /// Unix ms the pause ends at.
    until: u64,
    /// The client that paused last.
    by: u64,
}

/// The server's pause (one per server).
pub struct Pause {
    state: Mutex<Option<State>>,
    /// The mode in force (0: none), read without the lock on every command.
    mode: AtomicU8,
    /// Bumped whenever the pause starts, changes or ends: held clients look again.
    changed: tokio::sync::watch::Sender<u64>,
}

impl Default for Pause {
    fn default() -> Self {
        Pause { state: Mutex::new(None), mode: AtomicU8::new(0), changed: tokio::sync::watch::channel(0).0 }
    }
}

/// The pause after `old` when `new` is asked for: the more restrictive mode, the later end.
fn merge(old: Option<State>, new: State) -> State {
    match old {
        Some(old) => State { mode: old.mode.max(new.mode), until: old.until.max(new.until), by: new.by },
        None => new,
    }
}

impl Pause {
    /// The pause in force at `now`: (mode, end in Unix ms, pausing client).
    fn current(&self, now: u64) -> Option<State> {
        if self.mode.load(Ordering::Relaxed) == 0 {
            return None;
        }
        self.state.lock().filter(|s| s.until > now)
    }

    /// Whether writes (and expiry, eviction) are stopped at `now`.
    pub fn stops_writes(&self, now: u64) -> bool {
        self.current(now).is_some()
    }

    /// INFO's view: the mode in force, if any.
    pub fn mode(&self, now: u64) -> Option<Mode> {
        self.current(now).map(|s| s.mode)
    }

    fn publish(&self, state: Option<State>) {
        self.mode.store(state.map_or(0, |s| s.mode as u8), Ordering::Relaxed);
        self.changed.send_modify(|n| *n += 1);
    }
}

/// `CLIENT PAUSE`: pauses until `until` (Unix ms) in `mode`, for client `by`.
pub fn start(shared: &Shared, mode: Mode, until: u64, by: u64) {
    let mut state = shared.pause.state.lock();
    let next = merge(*state, State { mode, until, by });
    *state = Some(next);
    shared.dbs.iter().for_each(|db| db.set_frozen(true));
    shared.pause.publish(Some(next));
}

/// `CLIENT UNPAUSE`, or the end of the pause's time.
pub fn end(shared: &Shared) {
    let mut state = shared.pause.state.lock();
    if state.take().is_some() {
        shared.dbs.iter().for_each(|db| db.set_frozen(false));
    }
    shared.pause.publish(None);
}

/// Ends the pause if its time is over (the background tick and held clients call it).
pub fn refresh(shared: &Shared, now: u64) {
    let over = shared.pause.state.lock().is_some_and(|s| s.until <= now);
    if over {
        end(shared);
    }
}

/// Whether `args` from `client` must wait for the pause to end.
pub fn holds(shared: &Shared, client: &Client, args: &[Bytes]) -> bool {
    let pause = &shared.pause;
    if pause.mode.load(Ordering::Relaxed) == 0 || client.master {
        return false;
    }
    let now = ferrocache_store::clock::now_ms();
    let Some(state) = pause.current(now) else {
        refresh(shared, now);
        return false;
    };
    let Ok((parent, spec)) = crate::dispatch::resolve(args) else { return false };
    if HANDSHAKE.contains(&parent.name) || (state.by == client.id && spec.has(flags::ADMIN)) {
        return false;
    }
    state.mode == Mode::All || may_replicate(parent, spec, client)
}

/// Whether a command writes or may add to the stream (what a WRITE pause holds).
fn may_replicate(parent: &Spec, spec: &Spec, client: &Client) -> bool {
    let writes = |s: &Spec| s.has(flags::WRITE) || MAY_REPLICATE.contains(&s.name);
    writes(spec) || writes(parent) || (parent.name == "exec" && client.multi.as_ref().is_some_and(|m| m.queued.iter().any(|(s, _)| writes(s))))
}

/// Waits until `args` from `client` is no longer held.
pub async fn released(shared: &Shared, client: &Client, args: &[Bytes]) {
    let mut changed = shared.pause.changed.subscribe();
    loop {
        changed.borrow_and_update();
        if !holds(shared, client, args) {
            return;
        }
        let now = ferrocache_store::clock::now_ms();
        let left = shared.pause.current(now).map_or(0, |s| s.until - now);
        tokio::select! {
            r = changed.changed() => if r.is_err() { return },
            () = tokio::time::sleep(std::time::Duration::from_millis(left)) => refresh(shared, ferrocache_store::clock::now_ms()),
        }
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn a_second_pause_keeps_the_stricter_mode_and_the_later_end() {
        let first = State { mode: Mode::All, until: 200, by: 1 };
        let m = merge(Some(first), State { mode: Mode::Write, until: 100, by: 2 });
        assert_eq!((m.mode, m.until, m.by), (Mode::All, 200, 2));
        let m = merge(Some(State { mode: Mode::Write, until: 100, by: 1 }), State { mode: Mode::All, until: 50, by: 1 });
        assert_eq!((m.mode, m.until), (Mode::All, 100));
        let m = merge(None, State { mode: Mode::Write, until: 7, by: 3 });
        assert_eq!((m.mode, m.until), (Mode::Write, 7));
    }
}
