//! Set commands (SADD, SINTER, SSCAN, ...).
//!
//! Redis semantics worth knowing here: a set is created as an intset when
//! its first member is an integer; the multi-key operations read every
//! source (so WRONGTYPE wins over a missing key) and treat a missing key as
//! an empty set; the *STORE forms replace the destination (any type, TTL
//! dropped) and delete it when the result is empty; SPOP's count must be
//! positive while SRANDMEMBER's may be negative (repeats allowed).

use std::collections::HashSet;

use bytes::Bytes;
use ferrocache_store::set::{Member, Set};
use ferrocache_store::{sample, DbGuard, Value};

use crate::args::{int, is};
use crate::cmd::hashes::{peek, random_count, read, scan_collection, update, Typed};
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};

pub static COMMANDS: &[Spec] = &[
    spec("sadd", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "set", "1.0.0", "Adds one or more members to a set. Creates the key if it doesn't exist.", sadd),
    spec("srem", -3, WRITE | FAST, (1, 1, 1), "set", "1.0.0", "Removes one or more members from a set. Deletes the set if the last member was removed.", srem),
    spec("smembers", 2, READONLY, (1, 1, 1), "set", "1.0.0", "Returns all members of a set.", smembers),
    spec("sismember", 3, READONLY | FAST, (1, 1, 1), "set", "1.0.0", "Determines whether a member belongs to a set.", sismember),
    spec("smismember", -3, READONLY | FAST, (1, 1, 1), "set", "6.2.0", "Determines whether multiple members belong to a set.", smismember),
    spec("scard", 2, READONLY | FAST, (1, 1, 1), "set", "1.0.0", "Returns the number of members in a set.", scard),
    spec("spop", -2, WRITE | FAST, (1, 1, 1), "set", "1.0.0", "Returns one or more random members from a set after removing them. Deletes the set if the last member was popped.", spop),
    spec("srandmember", -2, READONLY, (1, 1, 1), "set", "1.0.0", "Get one or multiple random members from a set", srandmember),
    spec("smove", 4, WRITE | FAST, (1, 2, 1), "set", "1.0.0", "Moves a member from one set to another.", smove),
    spec("sinter", -2, READONLY, (1, -1, 1), "set", "1.0.0", "Returns the intersect of multiple sets.", sinter),
    spec("sintercard", -3, READONLY, (0, 0, 0), "set", "7.0.0", "Returns the number of members of the intersect of multiple sets.", sintercard).numkeys_at(1),
    spec("sunion", -2, READONLY, (1, -1, 1), "set", "1.0.0", "Returns the union of multiple sets.", sunion),
    spec("sdiff", -2, READONLY, (1, -1, 1), "set", "1.0.0", "Returns the difference of multiple sets.", sdiff),
    spec("sinterstore", -3, WRITE | DENYOOM, (1, -1, 1), "set", "1.0.0", "Stores the intersect of multiple sets in a key.", sinterstore),
    spec("sunionstore", -3, WRITE | DENYOOM, (1, -1, 1), "set", "1.0.0", "Stores the union of multiple sets in a key.", sunionstore),
    spec("sdiffstore", -3, WRITE | DENYOOM, (1, -1, 1), "set", "1.0.0", "Stores the difference of multiple sets in a key.", sdiffstore),
    spec("sscan", -3, READONLY, (1, 1, 1), "set", "2.6.0", "Iterates over members of a set.", sscan),
];

impl Typed for Set {
    fn of(v: &Value) -> Option<&Self> {
        if let Value::Set(s) = v { Some(s) } else { None }
    }

    fn of_mut(v: &mut Value) -> Option<&mut Self> {
        if let Value::Set(s) = v { Some(s) } else { None }
    }

    fn wrap(self) -> Value {
        Value::Set(self)
    }

    fn is_empty(&self) -> bool {
        Set::is_empty(self)
    }
}

fn member(ctx: &mut Ctx, m: Member) {
    ctx.out.bulk(m.bytes(&mut itoa::Buffer::new()));
}

/// Runs `f` on the set under `key` for a read (None if missing).
fn with_set<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&mut Ctx, Option<&Set>) -> R) -> Result<R, CmdError> {
    let mut g = ctx.db().lock(key, ctx.now);
    let s = read::<Set>(&mut g, key)?;
    Ok(f(ctx, s))
}

fn sadd(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let added = update(&mut g, &args[1], || Some(Set::for_member(&args[2])), |s: &mut Set| {
        let n = args[2..].iter().filter(|m| s.add(m)).count();
        Ok((n, n > 0))
    })?;
    ctx.out.int(added.unwrap_or(0) as i64);
    Ok(())
}

fn srem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let removed = update(&mut g, &args[1], || None, |s: &mut Set| {
        let n = args[2..].iter().filter(|m| s.remove(m)).count();
        Ok((n, n > 0))
    })?;
    ctx.out.int(removed.unwrap_or(0) as i64);
    Ok(())
}

fn smembers(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    with_set(ctx, &args[1], |ctx, s| {
        ctx.out.set(s.map_or(0, Set::len));
        s.into_iter().flat_map(Set::iter).for_each(|m| member(ctx, m));
    })
}

fn sismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    with_set(ctx, &args[1], |ctx, s| ctx.out.int(s.is_some_and(|s| s.contains(&args[2])) as i64))
}

fn smismember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    with_set(ctx, &args[1], |ctx, s| {
        ctx.out.array(args.len() - 2);
        for m in &args[2..] {
            ctx.out.int(s.is_some_and(|s| s.contains(m)) as i64);
        }
    })
}

fn scard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    with_set(ctx, &args[1], |ctx, s| ctx.out.int(s.map_or(0, Set::len) as i64))
}

fn spop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    match args.len() {
        2 => {
            let mut g = ctx.db().lock(key, ctx.now);
            let popped = update(&mut g, key, || None, |s: &mut Set| {
                let m = s.pop();
                let changed = m.is_some();
                Ok((m, changed))
            })?;
            if let Some(Some(m)) = &popped {
                crate::repl::propagate::replicate_as(crate::repl::propagate::command(&[b"SREM", key, m]));
            }
            match popped.flatten() {
                Some(m) => ctx.out.bulk(&m),
                None => ctx.out.null(),
            }
            Ok(())
        }
        3 => {
            let count = usize::try_from(int(&args[2]).unwrap_or(-1)).map_err(|_| CmdError::err("value is out of range, must be positive"))?;
            let members = pop_count(ctx, key, count)?;
            ctx.out.set(members.len());
            members.iter().for_each(|m| ctx.out.bulk(m));
            Ok(())
        }
        _ => Err(CmdError::Syntax),
    }
}

/// SPOP with a count: the whole set (deleting the key) when it holds no
/// more than `count`, else `count` random members.
fn pop_count(ctx: &Ctx, key: &[u8], count: usize) -> Result<Vec<Vec<u8>>, CmdError> {
    let mut g = ctx.db().lock(key, ctx.now);
    let Some(len) = peek::<Set>(&mut g, key)?.map(Set::len) else { return Ok(Vec::new()) };
    if count == 0 {
        return Ok(Vec::new());
    }
    if count >= len {
        crate::repl::propagate::replicate_as(crate::repl::propagate::command(&[b"DEL", key]));
        return Ok(match g.remove(key).map(|e| e.value) {
            Some(Value::Set(s)) => s.iter().map(|m| m.to_vec()).collect(),
            _ => Vec::new(),
        });
    }
    let popped: Vec<Vec<u8>> = update(&mut g, key, || None, |s: &mut Set| Ok(((0..count).filter_map(|_| s.pop()).collect(), true)))?.unwrap_or_default();
    let mut srem: Vec<&[u8]> = vec![b"SREM", key];
    srem.extend(popped.iter().map(Vec::as_slice));
    crate::repl::propagate::replicate_as(crate::repl::propagate::command(&srem));
    Ok(popped)
}

fn srandmember(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    match args.len() {
        2 => with_set(ctx, &args[1], |ctx, s| match s.filter(|s| !s.is_empty()) {
            Some(s) => member(ctx, s.random()),
            None => ctx.out.null(),
        }),
        3 => {
            let count = random_count(&args[2])?;
            with_set(ctx, &args[1], |ctx, s| random_members(ctx, s.filter(|_| count != 0), count))
        }
        _ => Err(CmdError::Syntax),
    }
}

/// SRANDMEMBER with a count: repeats for a negative count, the whole set
/// for a count at least its size, else distinct members.
fn random_members(ctx: &mut Ctx, s: Option<&Set>, count: i64) {
    let Some(s) = s else { return ctx.out.array(0) };
    if count < 0 {
        ctx.out.array(count.unsigned_abs() as usize);
        (0..count.unsigned_abs()).for_each(|_| member(ctx, s.random()));
        return;
    }
    let members: Vec<Member> = if count as u64 >= s.len() as u64 {
        s.iter().collect()
    } else {
        sample::distinct(s.len(), count as usize, || s.iter().collect(), || s.random())
    };
    ctx.out.array(members.len());
    members.into_iter().for_each(|m| member(ctx, m));
}

fn smove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (src, dst, m) = (&args[1][..], &args[2][..], &args[3][..]);
    let mut g = ctx.db().lock_many([src, dst], ctx.now);
    let moved = move_member(&mut g, src, dst, m)?;
    ctx.out.int(moved as i64);
    Ok(())
}

/// SMOVE's checks in Redis's order: missing source, types, same key,
/// membership; then the move (the source is deleted when left empty).
fn move_member(g: &mut DbGuard, src: &[u8], dst: &[u8], m: &[u8]) -> Result<bool, CmdError> {
    let Some(in_src) = peek::<Set>(g, src)?.map(|s| s.contains(m)) else { return Ok(false) };
    peek::<Set>(g, dst)?;
    if src == dst || !in_src {
        return Ok(in_src);
    }
    update(g, src, || None, |s: &mut Set| Ok(((), s.remove(m))))?;
    update(g, dst, || Some(Set::for_member(m)), |s: &mut Set| {
        let added = s.add(m);
        Ok(((), added))
    })?;
    Ok(true)
}

#[derive(Clone, Copy, PartialEq)]
enum Op {
    Inter,
    Union,
    Diff,
}

/// The members of `op` over the sets under `keys` (missing keys are empty
/// sets). Every key is read once first (type check, keyspace stats); then
/// the sets are visited one at a time: an intersection starts from the
/// smallest set and keeps what every other one contains, a difference
/// starts from the first and drops what the others contain.
fn combine(g: &mut DbGuard, keys: &[Bytes], op: Op) -> Result<Vec<Vec<u8>>, CmdError> {
    let mut lens = Vec::with_capacity(keys.len());
    for k in keys {
        lens.push(read::<Set>(g, k)?.map(Set::len));
    }
    let all = |g: &mut DbGuard, k: &[u8]| -> Vec<Vec<u8>> {
        peek::<Set>(g, k).ok().flatten().map(|s| s.iter().map(|m| m.to_vec()).collect()).unwrap_or_default()
    };
    match op {
        Op::Union => {
            let mut seen = HashSet::new();
            for k in keys {
                seen.extend(all(g, k));
            }
            Ok(seen.into_iter().collect())
        }
        Op::Inter | Op::Diff => {
            if lens.iter().any(Option::is_none) && op == Op::Inter || lens[0].is_none() {
                return Ok(Vec::new());
            }
            let first = if op == Op::Inter { (0..keys.len()).min_by_key(|&i| lens[i]).unwrap_or(0) } else { 0 };
            let mut acc = all(g, &keys[first]);
            for (_, k) in keys.iter().enumerate().filter(|&(i, _)| i != first) {
                if acc.is_empty() {
                    break;
                }
                let Ok(Some(s)) = peek::<Set>(g, k) else { continue };
                acc.retain(|m| s.contains(m) == (op == Op::Inter));
            }
            Ok(acc)
        }
    }
}

/// SINTER / SUNION / SDIFF: the result as a set reply.
fn combine_reply(ctx: &mut Ctx, args: &[Bytes], op: Op) -> CmdResult {
    let keys = &args[1..];
    let mut g = ctx.db().lock_many(keys.iter().map(|k| &k[..]), ctx.now);
    let members = combine(&mut g, keys, op)?;
    drop(g);
    ctx.out.set(members.len());
    members.iter().for_each(|m| ctx.out.bulk(m));
    Ok(())
}

/// SINTERSTORE / SUNIONSTORE / SDIFFSTORE: replaces the destination with
/// the result (built member by member, so it gets the encoding Redis would
/// give it), or deletes it when the result is empty.
fn combine_store(ctx: &mut Ctx, args: &[Bytes], op: Op) -> CmdResult {
    let (dst, keys) = (&args[1], &args[2..]);
    let mut g = ctx.db().lock_many(args[1..].iter().map(|k| &k[..]), ctx.now);
    let members = combine(&mut g, keys, op)?;
    if members.is_empty() {
        g.remove(dst);
    } else {
        let mut set = Set::default();
        for m in &members {
            set.add(m);
        }
        g.set(dst, set.wrap());
    }
    drop(g);
    ctx.out.int(members.len() as i64);
    Ok(())
}

fn sinter(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    combine_reply(ctx, args, Op::Inter)
}

fn sunion(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    combine_reply(ctx, args, Op::Union)
}

fn sdiff(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    combine_reply(ctx, args, Op::Diff)
}

fn sinterstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    combine_store(ctx, args, Op::Inter)
}

fn sunionstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    combine_store(ctx, args, Op::Union)
}

fn sdiffstore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    combine_store(ctx, args, Op::Diff)
}

/// SINTERCARD numkeys key [key ...] [LIMIT limit]; a limit of 0 is none.
fn sintercard(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let numkeys = int(&args[1]).ok().filter(|&n| n > 0).ok_or_else(|| CmdError::err("numkeys should be greater than 0"))?;
    let numkeys = usize::try_from(numkeys).ok().filter(|&n| n <= args.len() - 2).ok_or_else(|| CmdError::err("Number of keys can't be greater than number of args"))?;
    let (keys, mut opts) = (&args[2..2 + numkeys], &args[2 + numkeys..]);
    let mut limit = 0;
    while let [name, rest @ ..] = opts {
        match rest {
            [value, tail @ ..] if is(name, "limit") => {
                limit = int(value).ok().and_then(|n| usize::try_from(n).ok()).ok_or_else(|| CmdError::err("LIMIT can't be negative"))?;
                opts = tail;
            }
            _ => return Err(CmdError::Syntax),
        }
    }
    let mut g = ctx.db().lock_many(keys.iter().map(|k| &k[..]), ctx.now);
    let n = combine(&mut g, keys, Op::Inter)?.len();
    drop(g);
    ctx.out.int(if limit > 0 { n.min(limit) } else { n } as i64);
    Ok(())
}

fn sscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    scan_collection(ctx, args, |s: &Set, opts, items| {
        s.scan(opts.cursor, opts.count, |m| {
            let m = m.to_vec();
            if opts.matches(&m) {
                items.push(m);
            }
        })
    })
}
