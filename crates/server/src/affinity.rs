//! Hot-shard affinity: a connection whose commands keep locking the same
//! keyspace shard moves to the event loop that shard belongs to
//! (`shard % loops`).
//!
//! Why: a connection stays on the event loop that accepted it, so the
//! clients of one hot key (a queue, a leaderboard, a counter) are spread
//! over every loop, and the loops take turns on that key's shard lock. On
//! a small machine the turns cost more than the work: with two loops and
//! one key, server CPU per request measured up to twice what one loop
//! needs. Gathering those clients on one loop makes the hot key
//! single-threaded, as in Redis, while clients of spread-out keys stay
//! where they were accepted (their streaks never get long).
//!
//! A connection moves only between batches, with no reply pending and no
//! per-connection state tied to its loop (see `conn`), at most once per
//! [`COOLDOWN_MS`], so a client alternating between hot keys of different
//! loops cannot bounce.

use std::cell::Cell;

/// Consecutive commands on one shard before the connection moves.
pub const STREAK: u32 = 64;
/// Least time between two moves of one connection.
pub const COOLDOWN_MS: u64 = 1000;

thread_local! {
    /// This thread's event-loop number (0 on threads that are not loops).
    static LOOP: Cell<usize> = const { Cell::new(0) };
}

/// Records the event-loop number of the calling thread.
pub fn set_current_loop(index: usize) {
    LOOP.set(index);
}

/// The event-loop number of the calling thread.
pub fn current_loop() -> usize {
    LOOP.get()
}

/// The event loop that serves clients of `shard`, among `loops`.
pub fn home(shard: usize, loops: usize) -> usize {
    shard % loops.max(1)
}

/// One connection's recent shards.
#[derive(Debug, Default)]
pub struct Affinity {
    shard: Option<usize>,
    streak: u32,
    /// Unix ms of the last move (0: never moved).
    moved_at: u64,
}

impl Affinity {
    /// Notes the shard a command locked alone (None: it locked no shard
    /// or several, which does not break a streak). Returns the loop the
    /// connection should move to, if it is time to.
    pub fn note(&mut self, shard: Option<usize>, here: usize, loops: usize, now: u64) -> Option<usize> {
        let shard = shard?;
        if self.shard == Some(shard) {
            self.streak = self.streak.saturating_add(1);
        } else {
            (self.shard, self.streak) = (Some(shard), 1);
        }
        let target = home(shard, loops);
        let due = self.streak >= STREAK && target != here && (self.moved_at == 0 || now >= self.moved_at + COOLDOWN_MS);
        due.then_some(target)
    }

    /// Records that the connection moved at `now`.
    pub fn moved(&mut self, now: u64) {
        self.moved_at = now.max(1);
        self.streak = 0;
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    fn run(a: &mut Affinity, shards: &[usize], here: usize, now: u64) -> Option<usize> {
        shards.iter().filter_map(|&s| a.note(Some(s), here, 2, now)).last()
    }

    #[test]
    fn a_streak_on_another_loops_shard_moves_the_connection() {
        let mut a = Affinity::default();
        let hot = vec![3; STREAK as usize - 1];
        assert_eq!(run(&mut a, &hot, 0, 10), None, "not yet");
        assert_eq!(a.note(Some(3), 0, 2, 10), Some(1));
    }

    #[test]
    fn a_streak_on_this_loops_shard_stays() {
        let mut a = Affinity::default();
        assert_eq!(run(&mut a, &vec![4; 500], 0, 10), None);
    }

    #[test]
    fn spread_keys_and_one_loop_never_move() {
        let mut a = Affinity::default();
        let spread: Vec<usize> = (0..10_000).map(|i| (i * 7) % 64).collect();
        assert_eq!(run(&mut a, &spread, 0, 10), None);
        let mut b = Affinity::default();
        assert!((0..500).all(|_| b.note(Some(3), 0, 1, 10).is_none()));
    }

    #[test]
    fn commands_without_one_shard_do_not_break_a_streak() {
        let mut a = Affinity::default();
        for _ in 0..STREAK - 1 {
            assert_eq!(a.note(Some(5), 0, 2, 10), None);
            assert_eq!(a.note(None, 0, 2, 10), None);
        }
        assert_eq!(a.note(Some(5), 0, 2, 10), Some(1));
    }

    #[test]
    fn a_moved_connection_waits_out_the_cooldown() {
        let mut a = Affinity::default();
        a.moved(1000);
        let hot = vec![2; 2 * STREAK as usize];
        assert_eq!(run(&mut a, &hot, 1, 1000 + COOLDOWN_MS - 1), None, "too soon to move back");
        assert_eq!(a.note(Some(2), 1, 2, 1000 + COOLDOWN_MS), Some(0));
    }
}
