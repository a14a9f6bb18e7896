//! Eviction policies: what an entry's 32-bit `meta` word means under each
//! policy, how an access updates it, and which sampled key is the best to
//! evict.
//!
//! Like Redis, eviction is approximated by sampling: a few random keys are
//! looked at and the best candidate goes (for the LRU, LFU and TTL policies
//! through a small pool of the best candidates seen so far, see
//! [`crate::db::Db::evict_one`]). The per-key state is one `u32`, reused by
//! whichever policy is active; switching policies at run time leaves old
//! words to be reinterpreted until keys are touched again, as Redis says
//! ("LRU and LFU data will take some time to adjust").
//!
//! - LRU: the low 32 bits of the last access time in milliseconds (finer
//!   than Redis's one-second clock, so keys touched within the same second
//!   are still ordered); age compares with wrapping arithmetic.
//! - LFU: Redis's layout: 16 bits of "last decrement time" in minutes and
//!   an 8-bit logarithmic counter, with `lfu-log-factor` and `lfu-decay-time`.
//! - S3-FIFO (Yang et al., SOSP'23), sampled: one bit says whether the key
//!   is in the main queue (else the small one), two bits count accesses
//!   (saturating at 3), 29 bits hold the time (ms) it entered its queue. The
//!   queues are not linked lists: FIFO order is approximated by evicting the
//!   oldest of a sample, as Redis approximates LRU. New keys enter the small
//!   queue; a key leaving the small queue moves to main if it was read
//!   since it came in, else it is evicted (and remembered in a ghost filter,
//!   so that its quick return goes straight to main); a key leaving main
//!   with a non-zero count is reinserted with the count decremented. While
//!   the small queue holds at most 10% of the keys, only main is evicted
//!   from, so a one-time scan only churns the small queue.

/// `maxmemory-policy`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Policy {
    NoEviction,
    AllkeysLru,
    AllkeysLfu,
    AllkeysRandom,
    VolatileLru,
    VolatileLfu,
    VolatileRandom,
    VolatileTtl,
    AllkeysS3fifo,
}

/// How a policy ranks keys.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Kind {
    None,
    Lru,
    Lfu,
    Random,
    Ttl,
    S3fifo,
}

const POLICIES: &[(Policy, &str)] = &[
    (Policy::NoEviction, "noeviction"),
    (Policy::AllkeysLru, "allkeys-lru"),
    (Policy::AllkeysLfu, "allkeys-lfu"),
    (Policy::AllkeysRandom, "allkeys-random"),
    (Policy::VolatileLru, "volatile-lru"),
    (Policy::VolatileLfu, "volatile-lfu"),
    (Policy::VolatileRandom, "volatile-random"),
    (Policy::VolatileTtl, "volatile-ttl"),
    (Policy::AllkeysS3fifo, "allkeys-s3fifo"),
];

impl Policy {
    /// The policy named `name` (case-insensitive), as CONFIG SET takes it.
    pub fn parse(name: &str) -> Option<Policy> {
        POLICIES.iter().find(|(_, n)| n.eq_ignore_ascii_case(name)).map(|(p, _)| *p)
    }

    pub fn name(self) -> &'static str {
        POLICIES.iter().find(|(p, _)| *p == self).map_or("noeviction", |(_, n)| n)
    }

    /// Every accepted name, comma-separated (for error messages).
    pub fn names() -> String {
        POLICIES.iter().map(|(_, n)| *n).collect::<Vec<_>>().join(", ")
    }

    /// Whether only keys with a TTL may be evicted.
    pub fn volatile_only(self) -> bool {
        matches!(self, Policy::VolatileLru | Policy::VolatileLfu | Policy::VolatileRandom | Policy::VolatileTtl)
    }

    pub fn kind(self) -> Kind {
        match self {
            Policy::NoEviction => Kind::None,
            Policy::AllkeysLru | Policy::VolatileLru => Kind::Lru,
            Policy::AllkeysLfu | Policy::VolatileLfu => Kind::Lfu,
            Policy::AllkeysRandom | Policy::VolatileRandom => Kind::Random,
            Policy::VolatileTtl => Kind::Ttl,
            Policy::AllkeysS3fifo => Kind::S3fifo,
        }
    }

    fn index(self) -> u64 {
        POLICIES.iter().position(|(p, _)| *p == self).unwrap_or(0) as u64
    }
}

/// The eviction settings the keyspace needs on every access.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Tuning {
    pub policy: Policy,
    /// `maxmemory-samples`.
    pub samples: u32,
    /// `lfu-log-factor` (Redis default 10).
    pub lfu_log_factor: u32,
    /// `lfu-decay-time` in minutes (Redis default 1; 0 = never decay).
    pub lfu_decay_time: u32,
}

impl Default for Tuning {
    fn default() -> Self {
        Tuning { policy: Policy::NoEviction, samples: 5, lfu_log_factor: 10, lfu_decay_time: 1 }
    }
}

impl Tuning {
    /// Packs into one word so that it can live in an atomic:
    /// policy 4 bits, samples 12 bits (clamped), log factor 16 bits (clamped), decay 32 bits.
    pub(crate) fn pack(self) -> u64 {
        self.policy.index()
            | u64::from(self.samples.min(0xfff)) << 4
            | u64::from(self.lfu_log_factor.min(0xffff)) << 16
            | u64::from(self.lfu_decay_time) << 32
    }

    pub(crate) fn unpack(w: u64) -> Tuning {
        Tuning {
            policy: POLICIES[(w & 0xf) as usize % POLICIES.len()].0,
            samples: ((w >> 4) & 0xfff) as u32,
            lfu_log_factor: ((w >> 16) & 0xffff) as u32,
            lfu_decay_time: (w >> 32) as u32,
        }
    }
}

/// A new key's counter under LFU, so that it is not evicted at once.
pub const LFU_INIT_VAL: u8 = 5;

/// Minutes, 16 bits, as Redis's LFU "last decrement time".
fn minutes(now_ms: u64) -> u32 {
    ((now_ms / 60_000) & 0xffff) as u32
}

/// Minutes since `ldt`, on the 16-bit wrapping clock.
fn minutes_since(ldt: u32, now_ms: u64) -> u32 {
    minutes(now_ms).wrapping_sub(ldt) & 0xffff
}

/// The LFU counter after decay: one step per `decay_time` minutes elapsed.
pub fn lfu_counter(meta: u32, t: &Tuning, now_ms: u64) -> u8 {
    let counter = meta & 0xff;
    let periods = minutes_since(meta >> 8, now_ms).checked_div(t.lfu_decay_time).unwrap_or(0);
    counter.saturating_sub(periods) as u8
}

/// Logarithmic increment: the higher the counter, the less likely.
fn lfu_log_incr(counter: u8, log_factor: u32) -> u8 {
    if counter == u8::MAX {
        return counter;
    }
    let base = f64::from(counter.saturating_sub(LFU_INIT_VAL));
    let p = 1.0 / (base * f64::from(log_factor) + 1.0);
    if rand::random::<f64>() < p { counter + 1 } else { counter }
}

fn lfu_word(counter: u8, now_ms: u64) -> u32 {
    minutes(now_ms) << 8 | u32::from(counter)
}

const S3_MAIN: u32 = 1 << 31;
const S3_FREQ_SHIFT: u32 = 29;
const S3_STAMP: u32 = (1 << S3_FREQ_SHIFT) - 1;

fn s3_freq(meta: u32) -> u32 {
    (meta >> S3_FREQ_SHIFT) & 3
}

fn s3_word(main: bool, freq: u32, now_ms: u64) -> u32 {
    (if main { S3_MAIN } else { 0 }) | freq.min(3) << S3_FREQ_SHIFT | (now_ms as u32 & S3_STAMP)
}

/// Whether an S3-FIFO key is in the main queue.
pub fn s3_in_main(meta: u32) -> bool {
    meta & S3_MAIN != 0
}

/// Milliseconds since an S3-FIFO key entered its queue (29-bit clock).
pub fn s3_age(meta: u32, now_ms: u64) -> u64 {
    u64::from((now_ms as u32).wrapping_sub(meta) & S3_STAMP)
}

/// The meta word of a key just written. `old` is the previous word when
/// the key existed (an overwrite counts as an access, and keeps LFU and
/// S3-FIFO history, as Redis keeps LFU data on overwrite); `ghost` says the
/// key was recently evicted from the S3-FIFO small queue.
pub fn on_insert(old: Option<u32>, t: &Tuning, now_ms: u64, ghost: bool) -> u32 {
    match (old, t.policy.kind()) {
        (Some(m), _) => on_access(m, t, now_ms),
        (None, Kind::Lfu) => lfu_word(LFU_INIT_VAL, now_ms),
        (None, Kind::S3fifo) => s3_word(ghost, 0, now_ms),
        (None, _) => now_ms as u32,
    }
}

/// The meta word after a read of the key.
pub fn on_access(meta: u32, t: &Tuning, now_ms: u64) -> u32 {
    match t.policy.kind() {
        Kind::Lfu => lfu_word(lfu_log_incr(lfu_counter(meta, t, now_ms), t.lfu_log_factor), now_ms),
        Kind::S3fifo => meta & !(3 << S3_FREQ_SHIFT) | (s3_freq(meta) + 1).min(3) << S3_FREQ_SHIFT,
        _ => now_ms as u32,
    }
}

/// The meta word a restored key gets for RESTORE's `IDLETIME` (seconds)
/// or `FREQ` (counter), as Redis's `objectSetLRUOrLFU`: FREQ counts only
/// under an LFU policy, IDLETIME only under the others, and S3-FIFO has
/// no equivalent. None leaves the word a new key gets.
pub fn restored_meta(t: &Tuning, now_ms: u64, idle_secs: Option<u64>, freq: Option<u8>) -> Option<u32> {
    match t.policy.kind() {
        Kind::Lfu => freq.map(|f| lfu_word(f, now_ms)),
        Kind::S3fifo => None,
        // The LRU stamp of `idle` ago; an idle time past half the 32-bit
        // millisecond clock stays the oldest the clock can tell apart.
        _ => idle_secs.map(|idle| now_ms.wrapping_sub(idle.saturating_mul(1000).min(u64::from(u32::MAX / 2))) as u32),
    }
}

/// How good a victim the key is: higher goes first (Redis's "idle" score).
pub fn score(meta: u32, expire_at: Option<u64>, t: &Tuning, now_ms: u64) -> u64 {
    match t.policy.kind() {
        Kind::Lfu => u64::from(u8::MAX - lfu_counter(meta, t, now_ms)),
        Kind::Ttl => u64::MAX - expire_at.unwrap_or(u64::MAX),
        Kind::S3fifo => s3_age(meta, now_ms),
        _ => u64::from((now_ms as u32).wrapping_sub(meta)),
    }
}

/// What S3-FIFO does with the oldest sampled key of a queue.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum S3Step {
    /// Evict it (from the small queue: remember it in the ghost filter).
    Evict { from_small: bool },
    /// Keep it, with this new meta word (moved to main, or reinserted).
    Keep(u32),
}

/// S3-FIFO's decision for the oldest key of its queue.
pub fn s3_step(meta: u32, now_ms: u64) -> S3Step {
    let freq = s3_freq(meta);
    match (s3_in_main(meta), freq) {
        (false, 0) => S3Step::Evict { from_small: true },
        (false, _) => S3Step::Keep(s3_word(true, 0, now_ms)),
        (true, 0) => S3Step::Evict { from_small: false },
        (true, f) => S3Step::Keep(s3_word(true, f - 1, now_ms)),
    }
}

/// The small queue's target share of the keys (S3-FIFO uses 10%).
pub const S3_SMALL_PERCENT: usize = 10;

/// A key remembered as recently evicted from the small queue, by 32-bit
/// fingerprint in a direct-mapped table of about one slot per two keys
/// (4 bytes per slot): a later insert of the same key goes to main.
/// Collisions only make it forget sooner.
#[derive(Debug, Default)]
pub struct Ghost {
    slots: Vec<u32>,
}

impl Ghost {
    fn index_and_fp(&self, hash: u64) -> (usize, u32) {
        ((hash as usize) & (self.slots.len() - 1), ((hash >> 32) as u32) | 1)
    }

    /// Remembers `hash`, sizing the table for `keys` keys.
    pub fn remember(&mut self, hash: u64, keys: usize) {
        let want = (keys / 2).max(64).next_power_of_two();
        if self.slots.len() < want / 2 || self.slots.len() > want * 2 {
            self.slots = vec![0; want];
        }
        let (i, fp) = self.index_and_fp(hash);
        self.slots[i] = fp;
    }

    /// Whether `hash` was remembered; forgets it.
    pub fn take(&mut self, hash: u64) -> bool {
        if self.slots.is_empty() {
            return false;
        }
        let (i, fp) = self.index_and_fp(hash);
        let hit = self.slots[i] == fp;
        if hit {
            self.slots[i] = 0;
        }
        hit
    }

    pub fn bytes(&self) -> usize {
        self.slots.capacity() * 4
    }
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn tuning_round_trips() {
        for (p, _) in POLICIES {
            let t = Tuning { policy: *p, samples: 7, lfu_log_factor: 10, lfu_decay_time: 3 };
            assert_eq!(Tuning::unpack(t.pack()), t);
        }
        assert_eq!(Policy::parse("ALLKEYS-LRU"), Some(Policy::AllkeysLru));
        assert_eq!(Policy::parse("lru"), None);
    }

    #[test]
    fn lfu_counts_logarithmically_and_decays() {
        let t = Tuning { policy: Policy::AllkeysLfu, ..Tuning::default() };
        let mut m = on_insert(None, &t, 0, false);
        assert_eq!(lfu_counter(m, &t, 0), LFU_INIT_VAL);
        for _ in 0..1000 {
            m = on_access(m, &t, 0);
        }
        let c = lfu_counter(m, &t, 0);
        // With factor 10, about 1000 hits give a counter near 18 (Redis's table).
        assert!((12..30).contains(&c), "{c}");
        // One point per minute of decay time.
        assert_eq!(lfu_counter(m, &t, 3 * 60_000), c - 3);
        let no_decay = Tuning { lfu_decay_time: 0, ..t };
        assert_eq!(lfu_counter(m, &no_decay, 3 * 60_000), c);
    }

    #[test]
    fn lru_score_is_age_across_wrap() {
        let t = Tuning { policy: Policy::AllkeysLru, ..Tuning::default() };
        let now = u64::from(u32::MAX) + 10;
        let m = on_insert(None, &t, now - 20, false);
        assert_eq!(score(m, None, &t, now), 20);
    }

    #[test]
    fn s3fifo_small_queue_promotes_only_accessed_keys() {
        let t = Tuning { policy: Policy::AllkeysS3fifo, ..Tuning::default() };
        let cold = on_insert(None, &t, 5, false);
        assert_eq!(s3_step(cold, 10), S3Step::Evict { from_small: true });
        let hot = on_access(cold, &t, 6);
        let S3Step::Keep(moved) = s3_step(hot, 10) else { panic!("accessed key evicted") };
        assert!(s3_in_main(moved));
        assert_eq!(s3_step(moved, 11), S3Step::Evict { from_small: false });
        let again = on_access(on_access(moved, &t, 12), &t, 12);
        assert_eq!(s3_step(again, 13), S3Step::Keep(s3_word(true, 1, 13)));
        assert!(s3_in_main(on_insert(None, &t, 5, true)));
    }

    #[test]
    fn ghost_remembers_until_taken() {
        let mut g = Ghost::default();
        assert!(!g.take(42));
        g.remember(0xdead_beef_0000_0042, 1000);
        assert!(g.take(0xdead_beef_0000_0042));
        assert!(!g.take(0xdead_beef_0000_0042));
    }
}
