//! Hash commands (HSET, HGET, ...), and the typed access to a key's
//! collection that the set family shares ([`Typed`], [`read`], [`update`]).
//!
//! Redis semantics worth knowing here: argument errors (a bad increment,
//! a bad HRANDFIELD count) are reported before WRONGTYPE; a hash left
//! without fields is deleted ([`DbGuard::modified`] does it); HRANDFIELD
//! with a negative count may repeat fields.

use bytes::Bytes;
use ferrocache_store::hash::{Hash, Pair};
use ferrocache_store::{sample, DbGuard, Value};

use crate::args::{int, is};
use crate::cmd::scan::{self, ScanArgs};
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};
use crate::float80;

pub static COMMANDS: &[Spec] = &[
    spec("hset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), "hash", "2.0.0", "Creates or modifies the value of a field in a hash.", hset),
    spec("hsetnx", 4, WRITE | DENYOOM | FAST, (1, 1, 1), "hash", "2.0.0", "Sets the value of a field in a hash only when the field doesn't exist.", hsetnx),
    spec("hmset", -4, WRITE | DENYOOM | FAST, (1, 1, 1), "hash", "2.0.0", "Sets the values of multiple fields.", hmset),
    spec("hget", 3, READONLY | FAST, (1, 1, 1), "hash", "2.0.0", "Returns the value of a field in a hash.", hget),
    spec("hmget", -3, READONLY | FAST, (1, 1, 1), "hash", "2.0.0", "Returns the values of all fields in a hash.", hmget),
    spec("hgetall", 2, READONLY, (1, 1, 1), "hash", "2.0.0", "Returns all fields and values in a hash.", hgetall),
    spec("hdel", -3, WRITE | FAST, (1, 1, 1), "hash", "2.0.0", "Deletes one or more fields and their values from a hash. Deletes the hash if no fields remain.", hdel),
    spec("hexists", 3, READONLY | FAST, (1, 1, 1), "hash", "2.0.0", "Determines whether a field exists in a hash.", hexists),
    spec("hlen", 2, READONLY | FAST, (1, 1, 1), "hash", "2.0.0", "Returns the number of fields in a hash.", hlen),
    spec("hkeys", 2, READONLY, (1, 1, 1), "hash", "2.0.0", "Returns all fields in a hash.", hkeys),
    spec("hvals", 2, READONLY, (1, 1, 1), "hash", "2.0.0", "Returns all values in a hash.", hvals),
    spec("hstrlen", 3, READONLY | FAST, (1, 1, 1), "hash", "3.2.0", "Returns the length of the value of a field.", hstrlen),
    spec("hincrby", 4, WRITE | DENYOOM | FAST, (1, 1, 1), "hash", "2.0.0", "Increments the integer value of a field in a hash by a number. Uses 0 as initial value if the field doesn't exist.", hincrby),
    spec("hincrbyfloat", 4, WRITE | DENYOOM | FAST, (1, 1, 1), "hash", "2.6.0", "Increments the floating point value of a field by a number. Uses 0 as initial value if the field doesn't exist.", hincrbyfloat),
    spec("hrandfield", -2, READONLY, (1, 1, 1), "hash", "6.2.0", "Returns one or more random fields from a hash.", hrandfield),
    spec("hscan", -3, READONLY, (1, 1, 1), "hash", "2.8.0", "Iterates over fields and values of a hash.", hscan),
];

/// A collection type stored in a [`Value`] variant.
pub(crate) trait Typed: Sized {
    fn of(v: &Value) -> Option<&Self>;
    fn of_mut(v: &mut Value) -> Option<&mut Self>;
    fn wrap(self) -> Value;
    fn is_empty(&self) -> bool;
}

impl Typed for Hash {
    fn of(v: &Value) -> Option<&Self> {
        if let Value::Hash(h) = v { Some(h) } else { None }
    }

    fn of_mut(v: &mut Value) -> Option<&mut Self> {
        if let Value::Hash(h) = v { Some(h) } else { None }
    }

    fn wrap(self) -> Value {
        Value::Hash(self)
    }

    fn is_empty(&self) -> bool {
        Hash::is_empty(self)
    }
}

/// The collection under `key` for a command's read (counts a keyspace
/// hit or miss), or WRONGTYPE.
pub(crate) fn read<'g, T: Typed>(g: &'g mut DbGuard, key: &[u8]) -> Result<Option<&'g T>, CmdError> {
    match g.read(key) {
        None => Ok(None),
        Some(e) => T::of(&e.value).map(Some).ok_or(CmdError::WrongType),
    }
}

/// Like [`read`], without counting (a second look at a key already read).
pub(crate) fn peek<'g, T: Typed>(g: &'g mut DbGuard, key: &[u8]) -> Result<Option<&'g T>, CmdError> {
    match g.get(key) {
        None => Ok(None),
        Some(e) => T::of(&e.value).map(Some).ok_or(CmdError::WrongType),
    }
}

/// Runs `f` on the collection under `key`, created by `create` if the key
/// is missing (None: leave it missing and return None). `f` returns its
/// result and whether it changed the collection; a change is reported to
/// the keyspace (accounting, WATCH, deletion when left empty), and a new
/// collection is stored only if `f` succeeded and left it non-empty.
pub(crate) fn update<T: Typed, R>(
    g: &mut DbGuard,
    key: &[u8],
    create: impl FnOnce() -> Option<T>,
    f: impl FnOnce(&mut T) -> Result<(R, bool), CmdError>,
) -> Result<Option<R>, CmdError> {
    match g.get_mut(key) {
        Some(e) => {
            let (r, changed) = f(T::of_mut(&mut e.value).ok_or(CmdError::WrongType)?)?;
            if changed {
                g.modified(key);
            }
            Ok(Some(r))
        }
        None => {
            let Some(mut t) = create() else { return Ok(None) };
            let (r, _) = f(&mut t)?;
            if !t.is_empty() {
                g.set(key, t.wrap());
            }
            Ok(Some(r))
        }
    }
}

/// [`update`] on a hash, creating it if missing.
fn update_hash<R>(ctx: &Ctx, key: &[u8], f: impl FnOnce(&mut Hash) -> Result<(R, bool), CmdError>) -> Result<R, CmdError> {
    let mut g = ctx.db().lock(key, ctx.now);
    let r = update(&mut g, key, || Some(Hash::default()), f)?;
    Ok(r.expect("created when missing"))
}

/// Runs `f` on the hash under `key` for a read (None if missing).
fn with_hash<R>(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&mut Ctx, Option<&Hash>) -> R) -> Result<R, CmdError> {
    let mut g = ctx.db().lock(key, ctx.now);
    let h = read::<Hash>(&mut g, key)?;
    Ok(f(ctx, h))
}

/// Sets HSET/HMSET's field-value pairs; returns how many fields are new.
fn set_pairs(ctx: &Ctx, args: &[Bytes]) -> Result<i64, CmdError> {
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(String::from_utf8_lossy(&args[0]).to_lowercase()));
    }
    update_hash(ctx, &args[1], |h| {
        let added = args[2..].chunks_exact(2).filter(|p| h.set(&p[0], &p[1])).count();
        Ok((added as i64, true))
    })
}

fn hset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let added = set_pairs(ctx, args)?;
    ctx.out.int(added);
    Ok(())
}

fn hmset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_pairs(ctx, args)?;
    ctx.out.ok();
    Ok(())
}

fn hsetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let added = update_hash(ctx, &args[1], |h| {
        let added = !h.contains(&args[2]) && h.set(&args[2], &args[3]);
        Ok((added, added))
    })?;
    ctx.out.int(added as i64);
    Ok(())
}

fn bulk_or_null(ctx: &mut Ctx, v: Option<&[u8]>) {
    match v {
        Some(v) => ctx.out.bulk(v),
        None => ctx.out.null(),
    }
}

fn hget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    with_hash(ctx, &args[1], |ctx, h| bulk_or_null(ctx, h.and_then(|h| h.get(&args[2]))))
}

fn hmget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    with_hash(ctx, &args[1], |ctx, h| {
        ctx.out.array(args.len() - 2);
        for field in &args[2..] {
            bulk_or_null(ctx, h.and_then(|h| h.get(field)));
        }
    })
}

fn hgetall(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    with_hash(ctx, &args[1], |ctx, h| {
        ctx.out.map(h.map_or(0, Hash::len));
        for (field, value) in h.into_iter().flat_map(Hash::iter) {
            ctx.out.bulk(field);
            ctx.out.bulk(value);
        }
    })
}

/// HKEYS / HVALS: one side of every pair.
fn one_side(ctx: &mut Ctx, key: &[u8], side: fn(Pair) -> &[u8]) -> CmdResult {
    with_hash(ctx, key, |ctx, h| {
        ctx.out.array(h.map_or(0, Hash::len));
        for pair in h.into_iter().flat_map(Hash::iter) {
            ctx.out.bulk(side(pair));
        }
    })
}

fn hkeys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    one_side(ctx, &args[1], |p| p.0)
}

fn hvals(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    one_side(ctx, &args[1], |p| p.1)
}

fn hdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let removed = update(&mut g, &args[1], || None, |h: &mut Hash| {
        let n = args[2..].iter().filter(|f| h.remove(f)).count();
        Ok((n, n > 0))
    })?;
    ctx.out.int(removed.unwrap_or(0) as i64);
    Ok(())
}

/// Replies with an integer computed from the hash (0 for a missing key).
fn hash_int(ctx: &mut Ctx, key: &[u8], f: impl FnOnce(&Hash) -> usize) -> CmdResult {
    with_hash(ctx, key, |ctx, h| ctx.out.int(h.map_or(0, f) as i64))
}

fn hexists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    hash_int(ctx, &args[1], |h| h.contains(&args[2]) as usize)
}

fn hlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    hash_int(ctx, &args[1], Hash::len)
}

fn hstrlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    hash_int(ctx, &args[1], |h| h.get(&args[2]).map_or(0, <[u8]>::len))
}

fn hincrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = int(&args[3])?;
    let n = update_hash(ctx, &args[1], |h| {
        let current = match h.get(&args[2]) {
            Some(v) => ferrocache_store::value::parse_strict_i64(v).ok_or_else(|| CmdError::err("hash value is not an integer"))?,
            None => 0,
        };
        let n = current.checked_add(by).ok_or(CmdError::Overflow)?;
        h.set(&args[2], itoa::Buffer::new().format(n).as_bytes());
        Ok((n, true))
    })?;
    ctx.out.int(n);
    Ok(())
}

fn hincrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = float80::hash_increment(&args[3])?;
    let text = update_hash(ctx, &args[1], |h| {
        let text = float80::hincr_by_float(h.get(&args[2]).unwrap_or(b"0"), by)?;
        h.set(&args[2], text.as_bytes());
        crate::repl::propagate::replicate_as(crate::repl::propagate::command(&[b"HSET", &args[1], &args[2], text.as_bytes()]));
        Ok((text, true))
    })?;
    ctx.out.bulk(text.as_bytes());
    Ok(())
}

/// Most elements a negative random count may ask for: Redis would build
/// any reply it is asked for (and dies trying at -2^62); we refuse replies
/// that could not fit in memory anyway.
const MAX_REPEATED_PICKS: i64 = 1 << 27;

/// A random-count argument (HRANDFIELD, SRANDMEMBER): any i64 but i64::MIN.
pub(crate) fn random_count(arg: &[u8]) -> Result<i64, CmdError> {
    match int(arg)? {
        i64::MIN => Err(CmdError::err("value is out of range, value must between -9223372036854775807 and 9223372036854775807")),
        n if n < -MAX_REPEATED_PICKS => Err(CmdError::err("value is out of range")),
        n => Ok(n),
    }
}

fn hrandfield(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 2 {
        return with_hash(ctx, &args[1], |ctx, h| match h.filter(|h| !h.is_empty()) {
            Some(h) => ctx.out.bulk(h.picker()().0),
            None => ctx.out.null(),
        });
    }
    let count = random_count(&args[2])?;
    let with_values = match args.get(3) {
        _ if args.len() > 4 => return Err(CmdError::Syntax),
        Some(a) if !is(a, "withvalues") => return Err(CmdError::Syntax),
        Some(_) if count.unsigned_abs() > i64::MAX as u64 / 2 => return Err(CmdError::err("value is out of range")),
        other => other.is_some(),
    };
    with_hash(ctx, &args[1], |ctx, h| match h.filter(|_| count != 0) {
        None => ctx.out.array(0),
        Some(h) => random_fields(ctx, h, count, with_values),
    })
}

/// HRANDFIELD with a count: a negative count picks with repeats (written
/// as picked), a count at least the hash's size returns it whole, a
/// smaller one distinct fields.
fn random_fields(ctx: &mut Ctx, h: &Hash, count: i64, with_values: bool) {
    let mut pick = h.picker();
    let resp3_pairs = with_values && ctx.out.resp3;
    let header = |ctx: &mut Ctx, n: usize| ctx.out.array(if with_values && !resp3_pairs { n * 2 } else { n });
    let emit = |ctx: &mut Ctx, (field, value): Pair| {
        if resp3_pairs {
            ctx.out.array(2);
        }
        ctx.out.bulk(field);
        if with_values {
            ctx.out.bulk(value);
        }
    };
    if count < 0 {
        header(ctx, count.unsigned_abs() as usize);
        (0..count.unsigned_abs()).for_each(|_| emit(ctx, pick()));
        return;
    }
    let pairs: Vec<Pair> = if count as u64 >= h.len() as u64 {
        h.iter().collect()
    } else {
        sample::distinct(h.len(), count as usize, || h.iter().collect(), pick)
    };
    header(ctx, pairs.len());
    pairs.into_iter().for_each(|p| emit(ctx, p));
}

/// HSCAN / SSCAN: Redis checks the cursor, then the key (a missing key is
/// an empty walk whatever the options), then the options; `step` walks
/// from the cursor, collecting the reply's items.
pub(crate) fn scan_collection<T: Typed>(
    ctx: &mut Ctx,
    args: &[Bytes],
    step: impl FnOnce(&T, &ScanArgs, &mut Vec<Vec<u8>>) -> u64,
) -> CmdResult {
    ScanArgs::parse(&args[2..3], false)?;
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let mut items = Vec::new();
    let next = match read::<T>(&mut g, &args[1])? {
        None => 0,
        Some(c) => step(c, &ScanArgs::parse(&args[2..], false)?, &mut items),
    };
    drop(g);
    scan::reply(ctx, next, &items);
    Ok(())
}

fn hscan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    scan_collection(ctx, args, |h: &Hash, opts, items| {
        h.scan(opts.cursor, opts.count, |field, value| {
            if opts.matches(field) {
                items.push(field.to_vec());
                items.push(value.to_vec());
            }
        })
    })
}
