//! Which primary owns which slots: the weighted share of each, the first
//! split of a new cluster, and the plan that reaches new shares by moving
//! the fewest slots.
//!
//! Why the fewest moves matter: moving a slot streams all of its keys to
//! another node, so a plan that reshuffles slots an owner may keep costs
//! bandwidth and time for nothing. Adding an N-th primary of equal weight
//! should move about 1/N of the slots, all of them to the new one.
//!
//! Owners are numbered `0..n` by the caller (their order in the cluster
//! map); weights are relative (the seeds' weighted balancing; 0 drains).

use crate::slot::SLOT_COUNT;

const SLOTS: usize = SLOT_COUNT as usize;

/// A run of slots, both ends included (as CLUSTER SLOTS reports them).
#[derive(Debug, Clone, Copy, PartialEq, Eq, PartialOrd, Ord, serde::Serialize, serde::Deserialize)]
pub struct SlotRange {
    pub start: u16,
    pub end: u16,
}

impl SlotRange {
    pub fn len(&self) -> usize {
        usize::from(self.end - self.start) + 1
    }

    /// Never: a range holds at least one slot.
    pub fn is_empty(&self) -> bool {
        false
    }

    pub fn contains(&self, slot: u16) -> bool {
        (self.start..=self.end).contains(&slot)
    }
}

/// The runs of consecutive slots in `slots` (sorted, no duplicates).
pub fn ranges(slots: &[u16]) -> Vec<SlotRange> {
    let mut out: Vec<SlotRange> = Vec::new();
    for &s in slots {
        match out.last_mut() {
            Some(r) if u32::from(r.end) + 1 == u32::from(s) => r.end = s,
            _ => out.push(SlotRange { start: s, end: s }),
        }
    }
    out
}

/// How many slots each owner should have: proportional to its weight, by
/// rounding the running total (owner `i` ends at slot
/// `round(weights[..=i] / total * 16384) - 1`), which is how
/// `redis-cli --cluster create` splits equal masters. All weights 0: an
/// error, nobody could own slots.
pub fn targets(weights: &[u32]) -> Result<Vec<usize>, PlacementError> {
    let total: u64 = weights.iter().map(|&w| u64::from(w)).sum();
    if total == 0 {
        return Err(PlacementError::NoWeight);
    }
    // round(cum * SLOTS / total), halves up.
    let boundary = |cum: u64| ((2 * cum * SLOTS as u64 + total) / (2 * total)) as usize;
    let mut cum = 0u64;
    Ok(weights
        .iter()
        .map(|&w| {
            let start = boundary(cum);
            cum += u64::from(w);
            boundary(cum) - start
        })
        .collect())
}

/// The first assignment of a cluster: each owner one run of consecutive
/// slots, in owner order, sized by [`targets`] (None for a weight that
/// gets no slot).
pub fn split(weights: &[u32]) -> Result<Vec<Option<SlotRange>>, PlacementError> {
    let mut start = 0usize;
    Ok(targets(weights)?
        .into_iter()
        .map(|n| {
            let run = (n > 0).then(|| SlotRange { start: start as u16, end: (start + n - 1) as u16 });
            start += n;
            run
        })
        .collect())
}

/// One step of a plan: `slot` goes from `from` (None: nobody owns it yet)
/// to `to`.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub struct Move {
    pub slot: u16,
    pub from: Option<usize>,
    pub to: usize,
}

/// The moves that give every owner its [`targets`] share, moving only
/// slots of owners above their share (their highest slots, so the rest
/// stay in runs) and slots nobody owns. `owner_of[s]` is slot `s`'s owner;
/// owners are `0..weights.len()`.
pub fn rebalance(owner_of: &[Option<usize>], weights: &[u32]) -> Result<Vec<Move>, PlacementError> {
    if owner_of.len() != SLOTS {
        return Err(PlacementError::SlotCount(owner_of.len()));
    }
    if let Some(&bad) = owner_of.iter().flatten().find(|&&o| o >= weights.len()) {
        return Err(PlacementError::UnknownOwner(bad));
    }
    let want = targets(weights)?;
    let mut held = vec![0usize; weights.len()];
    owner_of.iter().flatten().for_each(|&o| held[o] += 1);
    // Slots to hand out: nobody's, then each surplus owner's highest ones.
    let mut surplus: Vec<usize> = held.iter().zip(&want).map(|(&h, &w)| h.saturating_sub(w)).collect();
    let mut free: Vec<(u16, Option<usize>)> = (0..SLOTS).filter(|&s| owner_of[s].is_none()).map(|s| (s as u16, None)).collect();
    for s in (0..SLOTS).rev() {
        if let Some(o) = owner_of[s]
            && surplus[o] > 0
        {
            surplus[o] -= 1;
            free.push((s as u16, Some(o)));
        }
    }
    free.sort_by_key(|&(s, _)| s);
    // Receivers in owner order, each filled up to its share.
    let mut moves = Vec::with_capacity(free.len());
    let mut slots = free.into_iter();
    for (to, (&h, &w)) in held.iter().zip(&want).enumerate() {
        for (slot, from) in slots.by_ref().take(w.saturating_sub(h)) {
            moves.push(Move { slot, from, to });
        }
    }
    Ok(moves)
}

/// Spreads `spares` over shards as replicas: rounds in which every shard
/// (in order) takes one, until none is left, as `redis-cli --cluster
/// create` hands out the nodes beyond the primaries.
/// Each pick prefers a spare whose failure domain (zone, else host) differs
/// from the shard's primary and from the replicas it already has, so one
/// lost host or zone does not take a primary and its copy together; when
/// no such spare is left, any spare is taken. Returns, per shard, indexes
/// into `spares`.
pub fn assign_replicas(primary_domains: &[&str], spares: &[&str]) -> Vec<Vec<usize>> {
    let mut chosen = vec![Vec::new(); primary_domains.len()];
    if primary_domains.is_empty() {
        return chosen;
    }
    let mut free: Vec<usize> = (0..spares.len()).collect();
    let mut shard = 0;
    while !free.is_empty() {
        let taken: &Vec<usize> = &chosen[shard];
        let apart = |&&i: &&usize| spares[i] != primary_domains[shard] && taken.iter().all(|&t| spares[t] != spares[i]);
        let pick = free.iter().position(|i| apart(&i)).unwrap_or(0);
        chosen[shard].push(free.remove(pick));
        shard = (shard + 1) % primary_domains.len();
    }
    chosen
}

#[derive(Debug, Clone, PartialEq, Eq)]
pub enum PlacementError {
    /// Every weight is 0.
    NoWeight,
    /// The slot table does not have one entry per slot.
    SlotCount(usize),
    /// A slot's owner is not among the weighted owners.
    UnknownOwner(usize),
}

impl std::fmt::Display for PlacementError {
    fn fmt(&self, f: &mut std::fmt::Formatter<'_>) -> std::fmt::Result {
        match self {
            PlacementError::NoWeight => write!(f, "every primary has weight 0: at least one must own slots"),
            PlacementError::SlotCount(n) => write!(f, "a slot table needs {SLOTS} entries, got {n}"),
            PlacementError::UnknownOwner(o) => write!(f, "slot owner {o} has no weight"),
        }
    }
}

impl std::error::Error for PlacementError {}

#[cfg(test)]
mod tests {
    use super::*;
    use proptest::prelude::*;

    #[test]
    fn replicas_avoid_their_primarys_host_when_they_can() {
        // Three hosts, two nodes each, listed host by host: the naive pairing
        // would put each primary's replica on its own host.
        let picks = assign_replicas(&["h1", "h1", "h2"], &["h2", "h3", "h3"]);
        assert_eq!(picks, vec![vec![0], vec![1], vec![2]], "h1→h2, h1→h3, h2→h3");
        // Every spare on one primary's host: it must still get a replica.
        assert_eq!(assign_replicas(&["a"], &["a", "a"]), vec![vec![0, 1]]);
        // Round-robin; two replicas of one shard avoid each other's domain.
        let picks = assign_replicas(&["a", "b"], &["a", "a", "b", "c", "c"]);
        assert_eq!(picks.iter().map(Vec::len).collect::<Vec<_>>(), vec![3, 2]);
        assert_eq!(picks[0][..2], [2, 3], "shard a takes b, then c");
        assert_eq!(picks[1][..2], [0, 4], "shard b takes a, then c");
        assert!(assign_replicas(&[], &["x"]).iter().all(Vec::is_empty));
    }

    fn owners_after(mut owner_of: Vec<Option<usize>>, moves: &[Move]) -> Vec<Option<usize>> {
        for m in moves {
            assert_eq!(owner_of[m.slot as usize], m.from, "a move starts at the slot's owner");
            owner_of[m.slot as usize] = Some(m.to);
        }
        owner_of
    }

    fn counts(owner_of: &[Option<usize>], n: usize) -> Vec<usize> {
        let mut c = vec![0; n];
        owner_of.iter().flatten().for_each(|&o| c[o] += 1);
        c
    }

    #[test]
    fn equal_weights_split_like_redis_cli() {
        // redis-cli --cluster create with three masters: 0-5460, 5461-10922, 10923-16383.
        let runs = split(&[1, 1, 1]).unwrap();
        let expect = [(0, 5460), (5461, 10922), (10923, 16383)].map(|(start, end)| Some(SlotRange { start, end }));
        assert_eq!(runs, expect);
        assert_eq!(targets(&[0, 0]), Err(PlacementError::NoWeight));
        assert_eq!(split(&[0, 2]).unwrap(), vec![None, Some(SlotRange { start: 0, end: 16383 })]);
    }

    #[test]
    fn a_fourth_equal_primary_takes_a_quarter_from_the_others() {
        let mut owner_of = vec![None; SLOTS];
        for (o, r) in split(&[1, 1, 1]).unwrap().into_iter().enumerate() {
            let r = r.unwrap();
            (r.start..=r.end).for_each(|s| owner_of[s as usize] = Some(o));
        }
        let moves = rebalance(&owner_of, &[1, 1, 1, 1]).unwrap();
        assert_eq!(moves.len(), 4096);
        assert!(moves.iter().all(|m| m.to == 3));
        let after = owners_after(owner_of, &moves);
        assert_eq!(counts(&after, 4), vec![4096; 4]);
        // Each old owner kept one run: it gave away its highest slots.
        for o in 0..3 {
            let mine: Vec<u16> = (0..SLOTS as u16).filter(|&s| after[s as usize] == Some(o)).collect();
            assert_eq!(ranges(&mine).len(), 1, "owner {o}");
        }
    }

    #[test]
    fn a_drained_owner_gives_everything_and_receives_nothing() {
        let owner_of: Vec<Option<usize>> = (0..SLOTS).map(|s| Some(s % 2)).collect();
        let moves = rebalance(&owner_of, &[1, 0]).unwrap();
        assert_eq!(moves.len(), SLOTS / 2);
        assert_eq!(counts(&owners_after(owner_of, &moves), 2), vec![SLOTS, 0]);
        assert_eq!(rebalance(&[Some(5); SLOTS], &[1]), Err(PlacementError::UnknownOwner(5)));
        assert_eq!(rebalance(&[None; 3], &[1]), Err(PlacementError::SlotCount(3)));
    }

    #[test]
    fn ranges_join_consecutive_slots() {
        let r = |start, end| SlotRange { start, end };
        assert_eq!(ranges(&[0, 1, 2, 5, 7, 8, 16383]), vec![r(0, 2), r(5, 5), r(7, 8), r(16383, 16383)]);
        assert_eq!(r(7, 8).len(), 2);
        assert!(r(7, 8).contains(8) && !r(7, 8).contains(9));
    }

    proptest! {
        #[test]
        fn targets_are_proportional_and_cover_every_slot(weights in proptest::collection::vec(0u32..1000, 1..12)) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let t = targets(&weights).unwrap();
            prop_assert_eq!(t.iter().sum::<usize>(), SLOTS);
            let total: f64 = weights.iter().map(|&w| f64::from(w)).sum();
            for (&w, &n) in weights.iter().zip(&t) {
                let ideal = f64::from(w) * SLOTS as f64 / total;
                prop_assert!((n as f64 - ideal).abs() < 1.0, "{} slots for an ideal {}", n, ideal);
            }
        }

        #[test]
        fn rebalance_reaches_the_targets_with_the_fewest_moves(
            owners in proptest::collection::vec(proptest::option::weighted(0.95, 0usize..6), SLOTS),
            weights in proptest::collection::vec(0u32..10, 6),
        ) {
            prop_assume!(weights.iter().any(|&w| w > 0));
            let want = targets(&weights).unwrap();
            let held = counts(&owners, 6);
            let moves = rebalance(&owners, &weights).unwrap();
            let fewest = owners.iter().filter(|o| o.is_none()).count()
                + held.iter().zip(&want).map(|(&h, &w)| h.saturating_sub(w)).sum::<usize>();
            prop_assert_eq!(moves.len(), fewest);
            prop_assert!(moves.iter().all(|m| m.from.is_none_or(|f| held[f] > want[f] && f != m.to)));
            prop_assert_eq!(counts(&owners_after(owners, &moves), 6), want);
        }
    }
}
