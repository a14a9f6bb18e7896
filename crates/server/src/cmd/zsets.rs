//! Sorted-set commands (ZADD, ZRANGE, ...).
//!
//! The ordered structure lives in [`ferrocache_store::zset`]; this module
//! parses arguments in Redis's order (so the same bad command gets the
//! same error), walks ranges and writes replies. Reply shapes: scores are
//! doubles (RESP3 `,`, RESP2 bulk), and WITHSCORES replies are flat
//! `member, score` arrays in RESP2 but arrays of `[member, score]` pairs
//! in RESP3, as Redis 7.0 answers.
//!
//! The pop logic is public ([`pop`], [`pop_first`], [`reply_pop`],
//! [`reply_mpop`]) so the blocking BZPOPMIN/BZPOPMAX/BZMPOP can call it.

use std::collections::HashMap;

use bytes::Bytes;
use ferrocache_resp::ReplyBuf;
use ferrocache_store::set::Set;
use ferrocache_store::zset::{AddFlags, Added, Lex, LexRange, ScoreRange, ZSet};
use ferrocache_store::{DbGuard, Value};
use rand::RngExt;

use super::scan::{self, ScanArgs};
use crate::args::{int, is, strtod};
use crate::blocking::{self, Serving};
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};

const G: &str = "sorted-set";

pub static COMMANDS: &[Spec] = &[
    spec("zadd", -4, WRITE | DENYOOM | FAST, (1, 1, 1), G, "1.2.0", "Adds one or more members to a sorted set, or updates their scores. Creates the key if it doesn't exist.", zadd),
    spec("zincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), G, "1.2.0", "Increments the score of a member in a sorted set.", zincrby),
    spec("zrem", -3, WRITE | FAST, (1, 1, 1), G, "1.2.0", "Removes one or more members from a sorted set. Deletes the sorted set if all members were removed.", zrem),
    spec("zscore", 3, READONLY | FAST, (1, 1, 1), G, "1.2.0", "Returns the score of a member in a sorted set.", zscore),
    spec("zmscore", -3, READONLY | FAST, (1, 1, 1), G, "6.2.0", "Returns the score of one or more members in a sorted set.", zmscore),
    spec("zcard", 2, READONLY | FAST, (1, 1, 1), G, "1.2.0", "Returns the number of members in a sorted set.", zcard),
    spec("zcount", 4, READONLY | FAST, (1, 1, 1), G, "2.0.0", "Returns the count of members in a sorted set that have scores within a range.", zcount),
    spec("zlexcount", 4, READONLY | FAST, (1, 1, 1), G, "2.8.9", "Returns the number of members in a sorted set within a lexicographical range.", zlexcount),
    spec("zrank", -3, READONLY | FAST, (1, 1, 1), G, "2.0.0", "Returns the index of a member in a sorted set ordered by ascending scores.", zrank),
    spec("zrevrank", -3, READONLY | FAST, (1, 1, 1), G, "2.0.0", "Returns the index of a member in a sorted set ordered by descending scores.", zrevrank),
    spec("zrange", -4, READONLY, (1, 1, 1), G, "1.2.0", "Returns members in a sorted set within a range of indexes.", zrange),
    spec("zrangestore", -5, WRITE | DENYOOM, (1, 2, 1), G, "6.2.0", "Stores a range of members from sorted set in a key.", zrangestore),
    spec("zrevrange", -4, READONLY, (1, 1, 1), G, "1.2.0", "Returns members in a sorted set within a range of indexes in reverse order.", zrevrange),
    spec("zrangebyscore", -4, READONLY, (1, 1, 1), G, "1.0.5", "Returns members in a sorted set within a range of scores.", zrangebyscore),
    spec("zrevrangebyscore", -4, READONLY, (1, 1, 1), G, "2.2.0", "Returns members in a sorted set within a range of scores in reverse order.", zrevrangebyscore),
    spec("zrangebylex", -4, READONLY, (1, 1, 1), G, "2.8.9", "Returns members in a sorted set within a lexicographical range.", zrangebylex),
    spec("zrevrangebylex", -4, READONLY, (1, 1, 1), G, "2.8.9", "Returns members in a sorted set within a lexicographical range in reverse order.", zrevrangebylex),
    spec("zpopmin", -2, WRITE | FAST, (1, 1, 1), G, "5.0.0", "Returns the lowest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zpopmin),
    spec("zpopmax", -2, WRITE | FAST, (1, 1, 1), G, "5.0.0", "Returns the highest-scoring members from a sorted set after removing them. Deletes the sorted set if the last member was popped.", zpopmax),
    spec("bzpopmin", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), G, "5.0.0", "Removes and returns the member with the lowest score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", bzpopmin),
    spec("bzpopmax", -3, WRITE | NOSCRIPT | BLOCKING | FAST, (1, -2, 1), G, "5.0.0", "Removes and returns the member with the highest score from one or more sorted sets. Blocks until a member available otherwise.  Deletes the sorted set if the last element was popped.", bzpopmax),
    spec("bzmpop", -5, WRITE | BLOCKING, (0, 0, 0), G, "7.0.0", "Removes and returns a member by score from one or more sorted sets. Blocks until a member is available otherwise. Deletes the sorted set if the last element was popped.", bzmpop).numkeys_at(2),
    spec("zmpop", -4, WRITE, (0, 0, 0), G, "7.0.0", "Returns the highest- or lowest-scoring members from one or more sorted sets after removing them. Deletes the sorted set if the last member was popped.", zmpop).numkeys_at(1),
    spec("zremrangebyrank", 4, WRITE, (1, 1, 1), G, "2.0.0", "Removes members in a sorted set within a range of indexes. Deletes the sorted set if all members were removed.", zremrangebyrank),
    spec("zremrangebyscore", 4, WRITE, (1, 1, 1), G, "1.2.0", "Removes members in a sorted set within a range of scores. Deletes the sorted set if all members were removed.", zremrangebyscore),
    spec("zremrangebylex", 4, WRITE, (1, 1, 1), G, "2.8.9", "Removes members in a sorted set within a lexicographical range. Deletes the sorted set if all members were removed.", zremrangebylex),
    spec("zunion", -3, READONLY, (0, 0, 0), G, "6.2.0", "Returns the union of multiple sorted sets.", zunion).numkeys_at(1),
    spec("zinter", -3, READONLY, (0, 0, 0), G, "6.2.0", "Returns the intersect of multiple sorted sets.", zinter).numkeys_at(1),
    spec("zdiff", -3, READONLY, (0, 0, 0), G, "6.2.0", "Returns the difference between multiple sorted sets.", zdiff).numkeys_at(1),
    spec("zunionstore", -4, WRITE | DENYOOM, (1, 1, 1), G, "2.0.0", "Stores the union of multiple sorted sets in a key.", zunionstore).numkeys_at(2),
    spec("zinterstore", -4, WRITE | DENYOOM, (1, 1, 1), G, "2.0.0", "Stores the intersect of multiple sorted sets in a key.", zinterstore).numkeys_at(2),
    spec("zdiffstore", -4, WRITE | DENYOOM, (1, 1, 1), G, "6.2.0", "Stores the difference of multiple sorted sets in a key.", zdiffstore).numkeys_at(2),
    spec("zintercard", -3, READONLY, (0, 0, 0), G, "7.0.0", "Returns the number of members of the intersect of multiple sorted sets.", zintercard).numkeys_at(1),
    spec("zrandmember", -2, READONLY, (1, 1, 1), G, "6.2.0", "Returns one or more random members from a sorted set.", zrandmember),
    spec("zscan", -3, READONLY, (1, 1, 1), G, "2.8.0", "Iterates over members and scores of a sorted set.", zscan),
];

// ---------------------------------------------------------------- parsing

/// A ZADD/ZINCRBY score.
fn score_arg(arg: &[u8]) -> Result<f64, CmdError> {
    strtod(arg, false).ok_or(CmdError::NotFloat)
}

/// `min max` of ZRANGEBYSCORE and friends (`(` = exclusive).
fn score_range(min: &[u8], max: &[u8]) -> Result<ScoreRange, CmdError> {
    let bound = |arg: &[u8]| match arg.split_first() {
        Some((b'(', rest)) => strtod(rest, true).map(|v| (v, true)),
        _ => strtod(arg, true).map(|v| (v, false)),
    };
    match (bound(min), bound(max)) {
        (Some((min, min_ex)), Some((max, max_ex))) => Ok(ScoreRange { min, min_ex, max, max_ex }),
        _ => Err(CmdError::err("min or max is not a float")),
    }
}

/// `min max` of ZRANGEBYLEX and friends (`-`, `+`, `[x`, `(x`).
fn lex_range(min: &[u8], max: &[u8]) -> Result<LexRange, CmdError> {
    let bound = |arg: &[u8]| match arg {
        b"-" => Some(Lex::Min),
        b"+" => Some(Lex::Max),
        [b'[', rest @ ..] => Some(Lex::Incl(rest.to_vec())),
        [b'(', rest @ ..] => Some(Lex::Excl(rest.to_vec())),
        _ => None,
    };
    match (bound(min), bound(max)) {
        (Some(min), Some(max)) => Ok(LexRange { min, max }),
        _ => Err(CmdError::err("min or max not valid string range item")),
    }
}

/// A count that must be positive (ZPOPMIN's), with Redis's message.
fn positive(arg: &[u8]) -> Result<usize, CmdError> {
    let n = int(arg).ok().filter(|&n| n >= 0);
    n.map(|n| n as usize).ok_or_else(|| CmdError::err("value is out of range, must be positive"))
}

/// `numkeys` of the multi-key commands: 1..=remaining, with their errors.
fn numkeys(args: &[Bytes], at: usize) -> Result<usize, CmdError> {
    let n = int(&args[at])?;
    if n < 1 {
        let name = String::from_utf8_lossy(&args[0]).to_ascii_lowercase();
        return Err(CmdError::err(format!("at least 1 input key is needed for '{name}' command")));
    }
    if n as u64 > (args.len() - at - 1) as u64 {
        return Err(CmdError::Syntax);
    }
    Ok(n as usize)
}

// ---------------------------------------------------------------- access

/// The sorted set under `key` for a read (counts hits/misses), or WRONGTYPE.
fn read_zset<'g>(g: &'g mut DbGuard, key: &[u8]) -> Result<Option<&'g ZSet>, CmdError> {
    match g.read(key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// An input of ZUNION/ZINTER/ZDIFF (and their STORE forms, ZINTERCARD):
/// a sorted set, or a plain set whose members all score 1, as in Redis.
#[derive(Clone, Copy)]
enum Input<'g> {
    Sorted(&'g ZSet),
    Plain(&'g Set),
}

impl Input<'_> {
    fn len(&self) -> usize {
        match self {
            Input::Sorted(z) => z.len(),
            Input::Plain(s) => s.len(),
        }
    }

    fn score(&self, member: &[u8]) -> Option<f64> {
        match self {
            Input::Sorted(z) => z.score(member),
            Input::Plain(s) => s.contains(member).then_some(1.0),
        }
    }

    fn for_each(&self, mut f: impl FnMut(&[u8], f64)) {
        match self {
            Input::Sorted(z) => z.iter().for_each(|(m, s)| f(m, s)),
            Input::Plain(s) => {
                let mut buf = itoa::Buffer::new();
                s.iter().for_each(|m| f(m.bytes(&mut buf), 1.0));
            }
        }
    }
}

/// A set-operation input under `key` (`read`: a command's read, counting
/// hits and misses; else a quiet look), or WRONGTYPE.
fn input<'g>(g: &'g mut DbGuard, key: &[u8], read: bool) -> Result<Option<Input<'g>>, CmdError> {
    let entry = if read { g.read(key) } else { g.get(key) };
    match entry.map(|e| &e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(Input::Sorted(z))),
        Some(Value::Set(s)) => Ok(Some(Input::Plain(s))),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The sorted set under `key` for in-place change, or WRONGTYPE.
fn zset_mut<'g>(g: &'g mut DbGuard, key: &[u8]) -> Result<Option<&'g mut ZSet>, CmdError> {
    match g.get_mut(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::ZSet(z)) => Ok(Some(z)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Replaces `dst` with `entries` (deleting it when empty); replies the count.
fn store(ctx: &mut Ctx, g: &mut DbGuard, dst: &[u8], entries: Vec<(Vec<u8>, f64)>) {
    let n = entries.len();
    if n == 0 {
        g.remove(dst);
    } else {
        g.set(dst, Value::ZSet(ZSet::from_entries(entries)));
    }
    ctx.out.int(n as i64);
}

// ---------------------------------------------------------------- replies

/// Members, with their scores when `withscores`: RESP2 flat, RESP3 pairs.
pub fn reply_elements<M: AsRef<[u8]>>(out: &mut ReplyBuf, items: &[(M, f64)], withscores: bool) {
    let pairs = withscores && out.resp3;
    out.array(if withscores && !pairs { items.len() * 2 } else { items.len() });
    for (m, s) in items {
        if pairs {
            out.array(2);
        }
        out.bulk(m.as_ref());
        if withscores {
            out.double(*s);
        }
    }
}

/// ZPOPMIN/ZPOPMAX's reply: with a COUNT argument like WITHSCORES
/// elements; without one, one flat `[member, score]` (or empty).
pub fn reply_pop(out: &mut ReplyBuf, items: &[(Vec<u8>, f64)], counted: bool) {
    if counted {
        return reply_elements(out, items, true);
    }
    out.array(items.len() * 2);
    for (m, s) in items {
        out.bulk(m);
        out.double(*s);
    }
}

/// ZMPOP's reply: `[key, [[member, score], ...]]` in both protocols.
pub fn reply_mpop(out: &mut ReplyBuf, key: &[u8], items: &[(Vec<u8>, f64)]) {
    out.array(2);
    out.bulk(key);
    out.array(items.len());
    for (m, s) in items {
        out.array(2);
        out.bulk(m);
        out.double(*s);
    }
}

// ---------------------------------------------------------------- ZADD

/// What one ZADD did, for its reply.
#[derive(Default)]
struct AddTotals {
    added: i64,
    changed: i64,
    /// INCR's resulting score (None when NX/XX/GT/LT skipped it).
    last: Option<f64>,
}

fn add_all(z: &mut ZSet, pairs: &[(f64, &Bytes)], flags: AddFlags) -> Result<AddTotals, CmdError> {
    let mut t = AddTotals::default();
    for (score, member) in pairs {
        let outcome = z.add(member, *score, flags).map_err(|_| CmdError::err("resulting score is not a number (NaN)"))?;
        t.last = match outcome {
            Added::New(s) => {
                t.added += 1;
                Some(s)
            }
            Added::Changed(s) => {
                t.changed += 1;
                Some(s)
            }
            Added::Same(s) => Some(s),
            Added::Skipped => None,
        };
    }
    Ok(t)
}

fn zadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zadd_generic(ctx, args, AddFlags::default())
}

/// ZINCRBY is ZADD with INCR (it even takes ZADD's flags, which then
/// leave an odd argument count: a syntax error).
fn zincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    zadd_generic(ctx, args, AddFlags { incr: true, ..AddFlags::default() })
}

fn zadd_generic(ctx: &mut Ctx, args: &[Bytes], mut flags: AddFlags) -> CmdResult {
    let mut ch = false;
    let mut i = 2;
    while let Some(a) = args.get(i) {
        let flag = if is(a, "nx") {
            &mut flags.nx
        } else if is(a, "xx") {
            &mut flags.xx
        } else if is(a, "gt") {
            &mut flags.gt
        } else if is(a, "lt") {
            &mut flags.lt
        } else if is(a, "ch") {
            &mut ch
        } else if is(a, "incr") {
            &mut flags.incr
        } else {
            break;
        };
        *flag = true;
        i += 1;
    }
    let rest = &args[i..];
    if rest.is_empty() || !rest.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    if flags.nx && flags.xx {
        return Err(CmdError::err("XX and NX options at the same time are not compatible"));
    }
    if ((flags.gt || flags.lt) && flags.nx) || (flags.gt && flags.lt) {
        return Err(CmdError::err("GT, LT, and/or NX options at the same time are not compatible"));
    }
    if flags.incr && rest.len() > 2 {
        return Err(CmdError::err("INCR option supports a single increment-element pair"));
    }
    let pairs = rest.chunks(2).map(|p| Ok((score_arg(&p[0])?, &p[1]))).collect::<Result<Vec<_>, CmdError>>()?;
    let totals = add_to_key(ctx, &args[1..2], &pairs, flags)?;
    if flags.incr {
        match totals.last {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    } else {
        ctx.out.int(totals.added + if ch { totals.changed } else { 0 });
    }
    Ok(())
}

/// ZADD's write: into the existing set, or a new one (unless XX).
/// Adds to the sorted set `key` (`keys[0]`), creating it if needed, and
/// serves clients blocked on it (BZPOPMIN, ...) before unlocking.
fn add_to_key(ctx: &Ctx, keys: &[Bytes], pairs: &[(f64, &Bytes)], flags: AddFlags) -> Result<AddTotals, CmdError> {
    let key = &keys[0];
    let mut locked = blocking::lock(ctx, keys);
    let totals = add_locked(&mut locked.guard, key, pairs, flags)?;
    if totals.added > 0 {
        blocking::wake(ctx.shared, &mut locked, key);
    }
    Ok(totals)
}

fn add_locked(g: &mut DbGuard, key: &[u8], pairs: &[(f64, &Bytes)], flags: AddFlags) -> Result<AddTotals, CmdError> {
    if let Some(z) = zset_mut(g, key)? {
        let totals = add_all(z, pairs, flags)?;
        if totals.added + totals.changed > 0 {
            g.modified(key);
        }
        return Ok(totals);
    }
    if flags.xx {
        return Ok(AddTotals::default());
    }
    // Redis 7.0 picks the encoding by the first member alone; later
    // ones convert as they are added.
    let mut z = ZSet::with_hint(1, pairs.first().map_or(0, |(_, m)| m.len()));
    let totals = add_all(&mut z, pairs, flags)?;
    g.set(key, Value::ZSet(z));
    Ok(totals)
}

// ---------------------------------------------------------------- simple reads and ZREM

fn zrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut g = ctx.db().lock(key, ctx.now);
    let removed = match zset_mut(&mut g, key)? {
        Some(z) => args[2..].iter().filter(|m| z.remove(m)).count(),
        None => 0,
    };
    if removed > 0 {
        g.modified(key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn zscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    match read_zset(&mut g, &args[1])?.and_then(|z| z.score(&args[2])) {
        Some(s) => ctx.out.double(s),
        None => ctx.out.null(),
    }
    Ok(())
}

fn zmscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let z = read_zset(&mut g, &args[1])?;
    ctx.out.array(args.len() - 2);
    for m in &args[2..] {
        match z.and_then(|z| z.score(m)) {
            Some(s) => ctx.out.double(s),
            None => ctx.out.null(),
        }
    }
    Ok(())
}

/// Replies `count` of the set at `key` (0 when missing).
fn count_reply(ctx: &mut Ctx, key: &[u8], count: impl FnOnce(&ZSet) -> usize) -> CmdResult {
    let mut g = ctx.db().lock(key, ctx.now);
    let n = read_zset(&mut g, key)?.map_or(0, count);
    ctx.out.int(n as i64);
    Ok(())
}

fn zcard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    count_reply(ctx, &args[1], ZSet::len)
}

fn zcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = score_range(&args[2], &args[3])?;
    count_reply(ctx, &args[1], |z| z.count_score(&range))
}

fn zlexcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let range = lex_range(&args[2], &args[3])?;
    count_reply(ctx, &args[1], |z| z.count_lex(&range))
}

fn zrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rank_generic(ctx, args, false)
}

fn zrevrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    rank_generic(ctx, args, true)
}

/// ZRANK/ZREVRANK key member [WITHSCORE]. WITHSCORE arrived in Redis
/// 7.2 (7.0 answers an arity error); the issue asks for it, and it only
/// gives a meaning to what 7.0 refused, so it is accepted here with 7.2's
/// replies: `[rank, score]`, or a nil array for a missing member.
fn rank_generic(ctx: &mut Ctx, args: &[Bytes], rev: bool) -> CmdResult {
    let withscore = match args.get(3) {
        None => false,
        Some(_) if args.len() > 4 => return Err(CmdError::WrongArity(String::from_utf8_lossy(&args[0]).to_lowercase())),
        Some(a) if is(a, "withscore") => true,
        Some(_) => return Err(CmdError::Syntax),
    };
    let mut g = ctx.db().lock(&args[1], ctx.now);
    // The score is looked up only when asked for (a second member lookup).
    let found = read_zset(&mut g, &args[1])?.and_then(|z| {
        let r = z.rank(&args[2])?;
        Some((if rev { z.len() - 1 - r } else { r }, withscore.then(|| z.score(&args[2])).flatten()))
    });
    match (found, withscore) {
        (Some((r, Some(score))), _) => {
            ctx.out.array(2);
            ctx.out.int(r as i64);
            ctx.out.double(score);
        }
        (Some((r, None)), _) => ctx.out.int(r as i64),
        (None, false) => ctx.out.null(),
        (None, true) => ctx.out.null_array(),
    }
    Ok(())
}

// ---------------------------------------------------------------- ranges

/// Which elements a ZRANGE-like command selects.
enum Query {
    /// By index (negative from the end), both inclusive.
    Rank(i64, i64),
    Score(ScoreRange),
    Lex(LexRange),
}

/// A parsed ZRANGE-like command.
struct RangeSpec {
    query: Query,
    rev: bool,
    offset: i64,
    /// Negative: no limit.
    limit: i64,
    withscores: bool,
}

#[derive(Clone, Copy, PartialEq)]
enum By {
    Rank,
    Score,
    Lex,
}

/// Parses `<min> <max> [options]` (`args` from min on) the way Redis's
/// ZRANGE family does; `by`/`rev` are fixed by the older commands and
/// chosen by options in ZRANGE/ZRANGESTORE.
fn parse_range(args: &[Bytes], mut by: Option<By>, mut rev: Option<bool>, store: bool) -> Result<RangeSpec, CmdError> {
    let (fixed_by, fixed_rev) = (by.is_some(), rev.is_some());
    let (mut offset, mut limit, mut withscores) = (0, -1, false);
    let mut j = 2;
    while j < args.len() {
        let a = &args[j];
        if !store && is(a, "withscores") {
            withscores = true;
        } else if is(a, "limit") && args.len() - j > 2 {
            offset = int(&args[j + 1])?;
            limit = int(&args[j + 2])?;
            j += 2;
        } else if !fixed_rev && rev.is_none() && is(a, "rev") {
            rev = Some(true);
        } else if !fixed_by && by.is_none() && is(a, "bylex") {
            by = Some(By::Lex);
        } else if !fixed_by && by.is_none() && is(a, "byscore") {
            by = Some(By::Score);
        } else {
            return Err(CmdError::Syntax);
        }
        j += 1;
    }
    let (by, rev) = (by.unwrap_or(By::Rank), rev.unwrap_or(false));
    if limit != -1 && by == By::Rank {
        return Err(CmdError::err("syntax error, LIMIT is only supported in combination with either BYSCORE or BYLEX"));
    }
    if withscores && by == By::Lex {
        return Err(CmdError::err("syntax error, WITHSCORES not supported in combination with BYLEX"));
    }
    // Reverse score and lex ranges are written max first.
    let (lo, hi) = if rev && by != By::Rank { (&args[1], &args[0]) } else { (&args[0], &args[1]) };
    let query = match by {
        By::Rank => Query::Rank(int(lo)?, int(hi)?),
        By::Score => Query::Score(score_range(lo, hi)?),
        By::Lex => Query::Lex(lex_range(lo, hi)?),
    };
    Ok(RangeSpec { query, rev, offset, limit, withscores })
}

/// Whether a range walk goes on at an element.
type Keep<'r> = Box<dyn Fn(&[u8], f64) -> bool + 'r>;

/// Popped elements, in pop order.
pub type Popped = Vec<(Vec<u8>, f64)>;

/// The elements `spec` selects, in reply order.
fn select<'z>(z: &'z ZSet, spec: &RangeSpec) -> Vec<(&'z [u8], f64)> {
    let rev = spec.rev;
    let (start, keep): (Option<usize>, Keep) = match &spec.query {
        Query::Rank(start, end) => return select_rank(z, *start, *end, rev),
        Query::Score(r) => (z.score_start(r, rev), Box::new(move |_, s| if rev { r.gte_min(s) } else { r.lte_max(s) })),
        Query::Lex(r) => (z.lex_start(r, rev), Box::new(move |m, _| if rev { r.gte_min(m) } else { r.lte_max(m) })),
    };
    let Some(start) = start.filter(|_| spec.offset >= 0) else { return Vec::new() };
    let limit = usize::try_from(spec.limit).unwrap_or(usize::MAX);
    let skip = usize::try_from(spec.offset).unwrap_or(usize::MAX);
    z.iter_from(start, rev).skip(skip).take(limit).take_while(|(m, s)| keep(m, *s)).collect()
}

/// Clamps `start..=end` (negative from the end) to the set: None if empty.
fn clamp_rank(len: usize, start: i64, end: i64) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (start + len).max(0) } else { start };
    let end = if end < 0 { end + len } else { end.min(len - 1) };
    (start <= end && start < len).then_some((start as usize, end as usize))
}

fn select_rank(z: &ZSet, start: i64, end: i64, rev: bool) -> Vec<(&[u8], f64)> {
    let Some((start, end)) = clamp_rank(z.len(), start, end) else { return Vec::new() };
    let from = if rev { z.len() - 1 - start } else { start };
    z.iter_from(from, rev).take(end - start + 1).collect()
}

fn range_reply(ctx: &mut Ctx, args: &[Bytes], by: Option<By>, rev: Option<bool>) -> CmdResult {
    let spec = parse_range(&args[2..], by, rev, false)?;
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let items = read_zset(&mut g, &args[1])?.map(|z| select(z, &spec)).unwrap_or_default();
    reply_elements(ctx.out, &items, spec.withscores);
    Ok(())
}

fn zrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, None, None)
}

fn zrevrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, Some(By::Rank), Some(true))
}

fn zrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, Some(By::Score), Some(false))
}

fn zrevrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, Some(By::Score), Some(true))
}

fn zrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, Some(By::Lex), Some(false))
}

fn zrevrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    range_reply(ctx, args, Some(By::Lex), Some(true))
}

fn zrangestore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let spec = parse_range(&args[3..], None, None, true)?;
    let (dst, src) = (&args[1], &args[2]);
    let mut g = ctx.db().lock_many([&dst[..], &src[..]], ctx.now);
    let items: Vec<(Vec<u8>, f64)> =
        read_zset(&mut g, src)?.map(|z| select(z, &spec).into_iter().map(|(m, s)| (m.to_vec(), s)).collect()).unwrap_or_default();
    store(ctx, &mut g, dst, items);
    Ok(())
}

// ---------------------------------------------------------------- removal by range

fn zremrangebyrank(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (start, end) = (int(&args[2])?, int(&args[3])?);
    remove_range(ctx, &args[1], |z| clamp_rank(z.len(), start, end).map(|(s, e)| (s, e + 1)))
}

fn zremrangebyscore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = score_range(&args[2], &args[3])?;
    remove_range(ctx, &args[1], |z| z.score_start(&r, false).map(|s| (s, s + z.count_score(&r))))
}

fn zremrangebylex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let r = lex_range(&args[2], &args[3])?;
    remove_range(ctx, &args[1], |z| {
        z.lex_start(&r, false).map(|s| (s, s + z.iter_from(s, false).take_while(|(m, _)| r.lte_max(m)).count()))
    })
}

/// Removes the ascending index range `which` picks; replies the count.
fn remove_range(ctx: &mut Ctx, key: &[u8], which: impl FnOnce(&ZSet) -> Option<(usize, usize)>) -> CmdResult {
    let mut g = ctx.db().lock(key, ctx.now);
    let removed = match zset_mut(&mut g, key)? {
        Some(z) => which(z).map_or(0, |(start, end)| z.remove_range(start, end)),
        None => 0,
    };
    if removed > 0 {
        g.modified(key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

// ---------------------------------------------------------------- pops

/// Pops up to `count` of the lowest (or highest, `max`) elements of the
/// sorted set at `key`, deleting the key when it empties. None when the
/// key does not exist; WRONGTYPE for another type.
pub fn pop(g: &mut DbGuard, key: &[u8], max: bool, count: usize) -> Result<Option<Popped>, CmdError> {
    let Some(z) = zset_mut(g, key)? else { return Ok(None) };
    let items = z.pop(count, max);
    if !items.is_empty() {
        g.modified(key);
    }
    Ok(Some(items))
}

/// ZMPOP's core: pops from the first of `keys` that exists (a key of
/// another type before it is WRONGTYPE). None when none exists.
pub fn pop_first<'k>(g: &mut DbGuard, keys: &'k [Bytes], max: bool, count: usize) -> Result<Option<(&'k Bytes, Popped)>, CmdError> {
    for key in keys {
        if let Some(items) = pop(g, key, max, count)? {
            return Ok(Some((key, items)));
        }
    }
    Ok(None)
}

fn zpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_generic(ctx, args, false)
}

fn zpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop_generic(ctx, args, true)
}

fn pop_generic(ctx: &mut Ctx, args: &[Bytes], max: bool) -> CmdResult {
    if args.len() > 3 {
        return Err(CmdError::Syntax);
    }
    let count = args.get(2).map(|c| positive(c)).transpose()?;
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let items = pop(&mut g, &args[1], max, count.unwrap_or(1))?.unwrap_or_default();
    reply_pop(ctx.out, &items, count.is_some());
    Ok(())
}

/// ZMPOP's `numkeys key... MIN|MAX [COUNT n]` (from numkeys on):
/// (keys, max, count). BZMPOP parses the same after its timeout.
pub fn parse_mpop(args: &[Bytes]) -> Result<(&[Bytes], bool, usize), CmdError> {
    crate::args::mpop(args, |w| match w {
        w if is(w, "min") => Ok(false),
        w if is(w, "max") => Ok(true),
        _ => Err(CmdError::Syntax),
    })
}

fn zmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (keys, max, count) = parse_mpop(&args[1..])?;
    let mut g = ctx.db().lock_many(keys.iter().map(|k| &k[..]), ctx.now);
    match pop_first(&mut g, keys, max, count)? {
        Some((key, items)) => reply_mpop(ctx.out, key, &items),
        None => ctx.out.null_array(),
    }
    Ok(())
}

/// The serve step of BZPOPMIN/BZPOPMAX (`[key, member, score]`) and
/// BZMPOP (ZMPOP's reply). A waited-on key now holding another type is
/// skipped, as for the list pops.
fn pop_serve(max: bool, count: usize, multi: bool) -> Box<blocking::Serve> {
    Box::new(move |sv: &mut Serving, key: &[u8]| {
        if sv.waited && sv.guard.get(key).is_some_and(|e| !matches!(e.value, Value::ZSet(_))) {
            return Ok(false);
        }
        let Some(items) = pop(sv.guard, key, max, count)?.filter(|items| !items.is_empty()) else { return Ok(false) };
        let name: &[u8] = if max { b"ZPOPMAX" } else { b"ZPOPMIN" };
        sv.replicate(&[name, key, items.len().to_string().as_bytes()]);
        if multi {
            reply_mpop(sv.out, key, &items);
        } else {
            let (member, score) = &items[0];
            sv.out.array(3);
            sv.out.bulk(key);
            sv.out.bulk(member);
            sv.out.double(*score);
        }
        Ok(true)
    })
}

fn bzpop(ctx: &mut Ctx, args: &[Bytes], max: bool) -> CmdResult {
    let deadline = blocking::parse_timeout(&args[args.len() - 1])?;
    blocking::block(ctx, &args[1..args.len() - 1], &[], deadline, ReplyBuf::null_array, pop_serve(max, 1, false))
}

fn bzpopmin(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, false)
}

fn bzpopmax(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bzpop(ctx, args, true)
}

/// BZMPOP timeout numkeys key [key ...] MIN|MAX [COUNT count]
fn bzmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // Redis reads the timeout after the other arguments.
    let (keys, max, count) = parse_mpop(&args[2..])?;
    let deadline = blocking::parse_timeout(&args[1])?;
    blocking::block(ctx, keys, &[], deadline, ReplyBuf::null_array, pop_serve(max, count, true))
}

// ---------------------------------------------------------------- set operations

#[derive(Clone, Copy, PartialEq)]
enum SetOp {
    Union,
    Inter,
    Diff,
}

#[derive(Clone, Copy)]
enum Aggregate {
    Sum,
    Min,
    Max,
}

impl Aggregate {
    /// Folds `value` into `acc`; a sum of opposite infinities is 0.
    fn fold(self, acc: &mut f64, value: f64) {
        match self {
            Aggregate::Sum => {
                *acc += value;
                if acc.is_nan() {
                    *acc = 0.0;
                }
            }
            Aggregate::Min => {
                if value < *acc {
                    *acc = value
                }
            }
            Aggregate::Max => {
                if value > *acc {
                    *acc = value
                }
            }
        }
    }
}

/// A parsed ZUNION/ZINTER/ZDIFF (and their STORE forms, and ZINTERCARD).
struct SetOpSpec<'a> {
    keys: &'a [Bytes],
    weights: Vec<f64>,
    aggregate: Aggregate,
    withscores: bool,
    /// ZINTERCARD's LIMIT (0 = none).
    limit: usize,
}

/// The keys of `numkeys key...` (`full[at]` is numkeys).
fn setop_keys(full: &[Bytes], at: usize) -> Result<&[Bytes], CmdError> {
    let n = numkeys(full, at)?;
    Ok(&full[at + 1..at + 1 + n])
}

/// Parses a set operation's keys and options (`full[at]` is numkeys) in
/// Redis's order: the keys' types first (WRONGTYPE before option
/// errors), then the options this form allows.
fn parse_setop<'a>(g: &mut DbGuard, full: &'a [Bytes], at: usize, op: SetOp, store: bool, card: bool) -> Result<SetOpSpec<'a>, CmdError> {
    let keys = setop_keys(full, at)?;
    let n = keys.len();
    for k in keys {
        input(g, k, !store)?;
    }
    let mut spec = SetOpSpec { keys, weights: vec![1.0; n], aggregate: Aggregate::Sum, withscores: false, limit: 0 };
    let mut rest = &full[at + 1 + n..];
    while let Some(opt) = rest.first() {
        let weighted = op != SetOp::Diff && !card;
        if weighted && rest.len() > n && is(opt, "weights") {
            for (w, arg) in spec.weights.iter_mut().zip(&rest[1..=n]) {
                *w = strtod(arg, false).ok_or_else(|| CmdError::err("weight value is not a float"))?;
            }
            rest = &rest[n + 1..];
        } else if weighted && rest.len() >= 2 && is(opt, "aggregate") {
            spec.aggregate = match &rest[1] {
                a if is(a, "sum") => Aggregate::Sum,
                a if is(a, "min") => Aggregate::Min,
                a if is(a, "max") => Aggregate::Max,
                _ => return Err(CmdError::Syntax),
            };
            rest = &rest[2..];
        } else if !store && !card && is(opt, "withscores") {
            spec.withscores = true;
            rest = &rest[1..];
        } else if card && rest.len() >= 2 && is(opt, "limit") {
            let l = int(&rest[1]).ok().filter(|&l| l >= 0).ok_or_else(|| CmdError::err("LIMIT can't be negative"))?;
            spec.limit = usize::try_from(l).unwrap_or(usize::MAX);
            rest = &rest[2..];
        } else {
            return Err(CmdError::Syntax);
        }
    }
    Ok(spec)
}

/// A weighted score; `inf * 0` counts as 0.
fn weighted(score: f64, weight: f64) -> f64 {
    let v = score * weight;
    if v.is_nan() { 0.0 } else { v }
}

/// The result of `op` over the spec's keys, sorted by (score, member).
fn compute(g: &mut DbGuard, spec: &SetOpSpec, op: SetOp) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    // Redis folds inputs smallest first (which decides float rounding).
    let mut order: Vec<usize> = (0..spec.keys.len()).collect();
    if op != SetOp::Diff {
        let mut lens = Vec::with_capacity(order.len());
        for k in spec.keys {
            lens.push(input(g, k, false)?.map_or(0, |i| i.len()));
        }
        order.sort_by_key(|&i| lens[i]);
    }
    let mut result = match op {
        SetOp::Union => union(g, spec, &order)?,
        SetOp::Inter | SetOp::Diff => inter_or_diff(g, spec, &order, op)?,
    };
    // -0 and 0 tie (then members decide), as in the set's own order.
    result.sort_by(|a, b| a.1.partial_cmp(&b.1).unwrap_or(std::cmp::Ordering::Equal).then_with(|| a.0.cmp(&b.0)));
    Ok(result)
}

fn union(g: &mut DbGuard, spec: &SetOpSpec, order: &[usize]) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let mut acc: HashMap<Vec<u8>, f64> = HashMap::new();
    for &i in order {
        let Some(z) = input(g, &spec.keys[i], false)? else { continue };
        z.for_each(|m, s| {
            let v = weighted(s, spec.weights[i]);
            match acc.get_mut(m) {
                Some(cur) => spec.aggregate.fold(cur, v),
                None => {
                    acc.insert(m.to_vec(), v);
                }
            }
        });
    }
    Ok(acc.into_iter().collect())
}

/// Intersection (the first input's members present in all others) or
/// difference (the first input's members absent from all others).
fn inter_or_diff(g: &mut DbGuard, spec: &SetOpSpec, order: &[usize], op: SetOp) -> Result<Vec<(Vec<u8>, f64)>, CmdError> {
    let first = order[0];
    let Some(z) = input(g, &spec.keys[first], false)? else { return Ok(Vec::new()) };
    let mut acc: Vec<(Vec<u8>, f64)> = Vec::with_capacity(z.len());
    z.for_each(|m, s| acc.push((m.to_vec(), weighted(s, spec.weights[first]))));
    for &i in &order[1..] {
        let other = input(g, &spec.keys[i], false)?;
        match (op, other) {
            (SetOp::Inter, None) => return Ok(Vec::new()),
            (SetOp::Inter, Some(z)) => acc.retain_mut(|(m, acc)| match z.score(m) {
                Some(s) => {
                    spec.aggregate.fold(acc, s * spec.weights[i]);
                    true
                }
                None => false,
            }),
            (_, Some(z)) => acc.retain(|(m, _)| z.score(m).is_none()),
            (_, None) => {}
        }
    }
    Ok(acc)
}

fn setop_reply(ctx: &mut Ctx, args: &[Bytes], op: SetOp) -> CmdResult {
    let mut g = ctx.db().lock_many(setop_keys(args, 1)?.iter().map(|k| &k[..]), ctx.now);
    let spec = parse_setop(&mut g, args, 1, op, false, false)?;
    let result = compute(&mut g, &spec, op)?;
    reply_elements(ctx.out, &result, spec.withscores);
    Ok(())
}

fn setop_store(ctx: &mut Ctx, args: &[Bytes], op: SetOp) -> CmdResult {
    let dst = &args[1];
    let mut g = ctx.db().lock_many(setop_keys(args, 2)?.iter().map(|k| &k[..]).chain([&dst[..]]), ctx.now);
    let spec = parse_setop(&mut g, args, 2, op, true, false)?;
    let result = compute(&mut g, &spec, op)?;
    store(ctx, &mut g, dst, result);
    Ok(())
}

fn zunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_reply(ctx, args, SetOp::Union)
}

fn zinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_reply(ctx, args, SetOp::Inter)
}

fn zdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_reply(ctx, args, SetOp::Diff)
}

fn zunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_store(ctx, args, SetOp::Union)
}

fn zinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_store(ctx, args, SetOp::Inter)
}

fn zdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    setop_store(ctx, args, SetOp::Diff)
}

fn zintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock_many(setop_keys(args, 1)?.iter().map(|k| &k[..]), ctx.now);
    let spec = parse_setop(&mut g, args, 1, SetOp::Inter, false, true)?;
    let n = compute(&mut g, &spec, SetOp::Inter)?.len();
    let n = if spec.limit > 0 { n.min(spec.limit) } else { n };
    ctx.out.int(n as i64);
    Ok(())
}

// ---------------------------------------------------------------- ZRANDMEMBER, ZSCAN

/// Most elements one negative-count ZRANDMEMBER returns (Redis has no
/// cap and would build any reply; this keeps memory bounded).
const RANDMEMBER_MAX: u64 = 1 << 24;

fn zrandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let Some(count) = args.get(2) else {
        let mut g = ctx.db().lock(&args[1], ctx.now);
        match read_zset(&mut g, &args[1])? {
            Some(z) => {
                let i = rand::rng().random_range(0..z.len());
                ctx.out.bulk(z.iter_from(i, false).next().map_or(&[][..], |(m, _)| m));
            }
            None => ctx.out.null(),
        }
        return Ok(());
    };
    let count = int(count)?;
    if count == i64::MIN {
        return Err(CmdError::err("value is out of range, value must between -9223372036854775807 and 9223372036854775807"));
    }
    let withscores = match args.get(3) {
        None => false,
        Some(w) if args.len() == 4 && is(w, "withscores") => true,
        _ => return Err(CmdError::Syntax),
    };
    if (withscores && count.unsigned_abs() > i64::MAX as u64 / 2) || (count < 0 && count.unsigned_abs() > RANDMEMBER_MAX) {
        return Err(CmdError::err("value is out of range"));
    }
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let items = match read_zset(&mut g, &args[1])? {
        Some(z) => random_members(z, count),
        None => Vec::new(),
    };
    reply_elements(ctx.out, &items, withscores);
    Ok(())
}

/// `count` random elements: distinct when positive (all of them, in
/// order, when count >= size), repeats allowed when negative.
fn random_members(z: &ZSet, count: i64) -> Vec<(&[u8], f64)> {
    let len = z.len();
    let mut rng = rand::rng();
    let at = |i: usize| z.iter_from(i, false).next();
    if count < 0 {
        return (0..count.unsigned_abs()).filter_map(|_| at(rng.random_range(0..len))).collect();
    }
    let n = count as u64;
    if n >= len as u64 {
        return z.iter().collect();
    }
    // Floyd's sampling of n distinct indexes, then read in random order.
    let mut picked: Vec<usize> = Vec::with_capacity(n as usize);
    for j in len - n as usize..len {
        let t = rng.random_range(0..=j);
        picked.push(if picked.contains(&t) { j } else { t });
    }
    picked.into_iter().filter_map(at).collect()
}

/// A score as ZSCAN shows it for a compact set: integers in plain digits
/// (Redis keeps them as listpack integers), others as doubles.
fn compact_score_text(s: f64) -> String {
    if s.fract() == 0.0 && s.abs() < 9.2e18 {
        (s as i64).to_string()
    } else {
        ferrocache_resp::write::format_double(s)
    }
}

fn zscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ScanArgs::parse(&args[2..3], false)?;
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let Some(z) = read_zset(&mut g, &args[1])? else {
        scan::reply(ctx, 0, &[] as &[&[u8]]);
        return Ok(());
    };
    let opts = ScanArgs::parse(&args[2..], false)?;
    let compact = z.encoding() == "listpack";
    let mut items: Vec<Vec<u8>> = Vec::new();
    let next = z.scan(opts.cursor, opts.count.div_ceil(2), |m, s| {
        if opts.matches(m) {
            let text = if compact { compact_score_text(s) } else { ferrocache_resp::write::format_double(s) };
            items.push(m.to_vec());
            items.push(text.into_bytes());
        }
    });
    scan::reply(ctx, next, &items);
    Ok(())
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn strtod_like_redis() {
        assert_eq!(strtod(b"0x10", false), Some(16.0));
        assert_eq!(strtod(b"-0x1p3", false), Some(-8.0));
        assert_eq!(strtod(b"0x1.8p1", false), Some(3.0));
        assert_eq!(strtod(b"1e400", false), None);
        assert_eq!(strtod(b"1e400", true), Some(f64::INFINITY));
        assert_eq!(strtod(b"1e-400", false), None);
        assert_eq!(strtod(b"1e-400", true), Some(0.0));
        assert_eq!(strtod(b" 1", false), None);
        assert_eq!(strtod(b" 1", true), Some(1.0));
        assert_eq!(strtod(b"", false), None);
        assert_eq!(strtod(b"", true), Some(0.0));
        assert_eq!(strtod(b"Infinity", false), Some(f64::INFINITY));
        assert_eq!(strtod(b"-inf", false), Some(f64::NEG_INFINITY));
        assert_eq!(strtod(b"nan", true), None);
        assert_eq!(strtod(b"5.", false), Some(5.0));
        assert_eq!(strtod(b".5", false), Some(0.5));
        assert_eq!(strtod(b"0", false), Some(0.0));
        assert_eq!(strtod(b"0e5", false), Some(0.0));
        assert_eq!(strtod(b"1 ", false), None);
        assert_eq!(strtod(b"0x", false), None);
        assert_eq!(strtod(b"abc", true), None);
    }

    #[test]
    fn rank_clamping() {
        assert_eq!(clamp_rank(3, 0, -1), Some((0, 2)));
        assert_eq!(clamp_rank(3, -100, 100), Some((0, 2)));
        assert_eq!(clamp_rank(3, 2, 1), None);
        assert_eq!(clamp_rank(3, 3, 5), None);
        assert_eq!(clamp_rank(0, 0, -1), None);
    }
}
