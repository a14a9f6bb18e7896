//! List commands (LPUSH, LRANGE, ...) and the blocking pops.
//!
//! Every write that can make a list servable locks through
//! [`blocking::lock`] and calls [`blocking::wake`] before it releases its
//! locks, so clients blocked in BLPOP & co. get the new elements before
//! any other command can see them. The blocking commands share their
//! "serve" step with the non-blocking ones (pop, move), run once at call
//! time and again whenever a waited key gets data.

use bytes::Bytes;
use ferrocache_resp::ReplyBuf;
use ferrocache_store::list::{End, List};
use ferrocache_store::{DbGuard, Value};

use crate::args::{int, is};
use crate::blocking::{self, Serving};
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};

pub static COMMANDS: &[Spec] = &[
    spec("lpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", "1.0.0", "Prepend one or multiple elements to a list", lpush),
    spec("rpush", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", "1.0.0", "Append one or multiple elements to a list", rpush),
    spec("lpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", "2.2.0", "Prepend an element to a list, only if the list exists", lpushx),
    spec("rpushx", -3, WRITE | DENYOOM | FAST, (1, 1, 1), "list", "2.2.0", "Append an element to a list, only if the list exists", rpushx),
    spec("lpop", -2, WRITE | FAST, (1, 1, 1), "list", "1.0.0", "Remove and get the first elements in a list", lpop),
    spec("rpop", -2, WRITE | FAST, (1, 1, 1), "list", "1.0.0", "Remove and get the last elements in a list", rpop),
    spec("llen", 2, READONLY | FAST, (1, 1, 1), "list", "1.0.0", "Get the length of a list", llen),
    spec("lrange", 4, READONLY, (1, 1, 1), "list", "1.0.0", "Get a range of elements from a list", lrange),
    spec("lindex", 3, READONLY, (1, 1, 1), "list", "1.0.0", "Get an element from a list by its index", lindex),
    spec("lset", 4, WRITE | DENYOOM, (1, 1, 1), "list", "1.0.0", "Set the value of an element in a list by its index", lset),
    spec("lrem", 4, WRITE, (1, 1, 1), "list", "1.0.0", "Remove elements from a list", lrem),
    spec("ltrim", 4, WRITE, (1, 1, 1), "list", "1.0.0", "Trim a list to the specified range", ltrim),
    spec("linsert", 5, WRITE | DENYOOM, (1, 1, 1), "list", "2.2.0", "Insert an element before or after another element in a list", linsert),
    spec("lpos", -3, READONLY, (1, 1, 1), "list", "6.0.6", "Return the index of matching elements on a list", lpos),
    spec("lmove", 5, WRITE | DENYOOM, (1, 2, 1), "list", "6.2.0", "Pop an element from a list, push it to another list and return it", lmove),
    spec("rpoplpush", 3, WRITE | DENYOOM, (1, 2, 1), "list", "1.2.0", "Remove the last element in a list, prepend it to another list and return it", rpoplpush),
    spec("lmpop", -4, WRITE, (0, 0, 0), "list", "7.0.0", "Pop elements from a list", lmpop).numkeys_at(1),
    spec("blpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), "list", "2.0.0", "Remove and get the first element in a list, or block until one is available", blpop),
    spec("brpop", -3, WRITE | NOSCRIPT | BLOCKING, (1, -2, 1), "list", "2.0.0", "Remove and get the last element in a list, or block until one is available", brpop),
    spec("blmove", 6, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), "list", "6.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", blmove),
    spec("brpoplpush", 4, WRITE | DENYOOM | NOSCRIPT | BLOCKING, (1, 2, 1), "list", "2.2.0", "Pop an element from a list, push it to another list and return it; or block until one is available", brpoplpush),
    spec("blmpop", -5, WRITE | BLOCKING, (0, 0, 0), "list", "7.0.0", "Pop elements from a list, or block until one is available", blmpop).numkeys_at(2),
];

/// The list under `key` for a read (counts hits/misses), or WRONGTYPE.
fn read_list<'g>(g: &'g mut DbGuard, key: &[u8]) -> Result<Option<&'g List>, CmdError> {
    match g.read(key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The list under `key` for an in-place change, or WRONGTYPE. Call
/// `g.modified(key)` after changing it.
fn list_mut<'g>(g: &'g mut DbGuard, key: &[u8]) -> Result<Option<&'g mut List>, CmdError> {
    match g.get_mut(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::List(l)) => Ok(Some(l)),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// WRONGTYPE unless `key` is a list or absent (a push destination).
fn check_list(g: &mut DbGuard, key: &[u8]) -> CmdResult {
    match g.get(key).map(|e| &e.value) {
        None | Some(Value::List(_)) => Ok(()),
        Some(_) => Err(CmdError::WrongType),
    }
}

/// Pushes `elems` at `end` of the list at `key`, creating it unless
/// `only_existing`. Returns the new length (0 if nothing was created).
fn push_elems<'e>(g: &mut DbGuard, key: &[u8], end: End, elems: impl IntoIterator<Item = &'e [u8]>, only_existing: bool) -> Result<usize, CmdError> {
    if let Some(l) = list_mut(g, key)? {
        elems.into_iter().for_each(|e| l.push(end, e));
        let len = l.len();
        g.modified(key);
        return Ok(len);
    }
    if only_existing {
        return Ok(0);
    }
    let mut l = List::new();
    elems.into_iter().for_each(|e| l.push(end, e));
    let len = l.len();
    g.set(key, Value::List(Box::new(l)));
    Ok(len)
}

/// Pops up to `n` elements from `end`; None if the key is absent.
fn pop_n(g: &mut DbGuard, key: &[u8], end: End, n: usize) -> Result<Option<Vec<Vec<u8>>>, CmdError> {
    let Some(l) = list_mut(g, key)? else { return Ok(None) };
    let popped: Vec<Vec<u8>> = (0..n.min(l.len())).filter_map(|_| l.pop(end)).collect();
    if !popped.is_empty() {
        g.modified(key);
    }
    Ok(Some(popped))
}

/// LMOVE's step: pops from `src` at `from`, pushes to `dst` at `to`.
/// None if `src` is absent.
fn move_one(g: &mut DbGuard, src: &[u8], dst: &[u8], from: End, to: End) -> Result<Option<Vec<u8>>, CmdError> {
    if list_mut(g, src)?.is_none() {
        return Ok(None);
    }
    check_list(g, dst)?;
    let Some(elem) = pop_n(g, src, from, 1)?.and_then(|mut v| v.pop()) else { return Ok(None) };
    push_elems(g, dst, to, [&elem[..]], false)?;
    Ok(Some(elem))
}

fn push(ctx: &mut Ctx, args: &[Bytes], end: End, only_existing: bool) -> CmdResult {
    let key = &args[1];
    let mut locked = blocking::lock(ctx, &args[1..2]);
    let len = push_elems(&mut locked.guard, key, end, args[2..].iter().map(|a| &a[..]), only_existing)?;
    blocking::wake(ctx.shared, &mut locked, key);
    ctx.out.int(len as i64);
    Ok(())
}

fn lpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Head, false)
}

fn rpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Tail, false)
}

fn lpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Head, true)
}

fn rpushx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    push(ctx, args, End::Tail, true)
}

fn bulks(out: &mut ReplyBuf, elems: &[Vec<u8>]) {
    out.array(elems.len());
    elems.iter().for_each(|e| out.bulk(e));
}

/// LPOP/RPOP key [count]: one element (bulk) or, with a count, an array
/// (a missing key then answers a null array).
fn pop(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    let count = match args.len() {
        2 => None,
        3 => Some(positive(&args[2], "value is out of range, must be positive", 0)?),
        _ => return Err(CmdError::WrongArity(String::from_utf8_lossy(&args[0]).to_lowercase())),
    };
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let popped = pop_n(&mut g, &args[1], end, count.unwrap_or(1))?;
    match (popped, count) {
        (None, Some(_)) => ctx.out.null_array(),
        (None, None) => ctx.out.null(),
        (Some(v), Some(_)) => bulks(ctx.out, &v),
        (Some(v), None) => ctx.out.bulk(&v[0]),
    }
    Ok(())
}

/// An integer of at least `min`, else `ERR <msg>`.
fn positive(arg: &[u8], msg: &str, min: i64) -> Result<usize, CmdError> {
    int(arg).ok().filter(|n| *n >= min).map(|n| n as usize).ok_or_else(|| CmdError::err(msg))
}

fn lpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, End::Head)
}

fn rpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pop(ctx, args, End::Tail)
}

fn llen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let len = read_list(&mut g, &args[1])?.map_or(0, List::len);
    ctx.out.int(len as i64);
    Ok(())
}

/// Redis's range clamping (LRANGE, LTRIM): negative indexes count from
/// the end; None when the range is empty.
fn clamp(start: i64, end: i64, len: usize) -> Option<(usize, usize)> {
    let len = len as i64;
    let start = if start < 0 { (start + len).max(0) } else { start };
    let end = if end < 0 { end + len } else { end.min(len - 1) };
    (start <= end && start < len).then_some((start as usize, end as usize))
}

fn lrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (start, end) = (int(&args[2])?, int(&args[3])?);
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let Some(l) = read_list(&mut g, &args[1])? else {
        ctx.out.array(0);
        return Ok(());
    };
    match clamp(start, end, l.len()) {
        None => ctx.out.array(0),
        Some((s, e)) => {
            ctx.out.array(e - s + 1);
            l.iter_from(s).take(e - s + 1).for_each(|x| ctx.out.bulk(x));
        }
    }
    Ok(())
}

/// A list index (negative from the end) as a position, if in range.
fn position(index: i64, len: usize) -> Option<usize> {
    let i = if index < 0 { index.checked_add(len as i64)? } else { index };
    usize::try_from(i).ok().filter(|&i| i < len)
}

fn lindex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let Some(l) = read_list(&mut g, &args[1])? else {
        ctx.out.null();
        return Ok(());
    };
    match position(int(&args[2])?, l.len()).and_then(|i| l.get(i)) {
        Some(e) => ctx.out.bulk(e),
        None => ctx.out.null(),
    }
    Ok(())
}

fn lset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut g = ctx.db().lock(key, ctx.now);
    let l = list_mut(&mut g, key)?.ok_or(CmdError::NoSuchKey)?;
    let i = position(int(&args[2])?, l.len()).ok_or(CmdError::OutOfRange)?;
    l.set(i, &args[3]);
    g.modified(key);
    ctx.out.ok();
    Ok(())
}

fn lrem(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let count = int(&args[2])?;
    let key = &args[1];
    let mut g = ctx.db().lock(key, ctx.now);
    let removed = match list_mut(&mut g, key)? {
        None => 0,
        Some(l) => l.remove_matching(&args[3], count),
    };
    if removed > 0 {
        g.modified(key);
    }
    ctx.out.int(removed as i64);
    Ok(())
}

fn ltrim(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (start, end) = (int(&args[2])?, int(&args[3])?);
    let key = &args[1];
    let mut g = ctx.db().lock(key, ctx.now);
    if let Some(l) = list_mut(&mut g, key)? {
        let len = l.len();
        let (head, tail) = match clamp(start, end, len) {
            None => (len, 0),
            Some((s, e)) => (s, len - e - 1),
        };
        l.remove_end(End::Head, head);
        l.remove_end(End::Tail, tail);
        if head + tail > 0 {
            g.modified(key);
        }
    }
    ctx.out.ok();
    Ok(())
}

fn linsert(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let after = match &args[2] {
        a if is(a, "before") => false,
        a if is(a, "after") => true,
        _ => return Err(CmdError::Syntax),
    };
    let key = &args[1];
    let mut locked = blocking::lock(ctx, &args[1..2]);
    let g = &mut locked.guard;
    let Some(l) = list_mut(g, key)? else {
        ctx.out.int(0);
        return Ok(());
    };
    let Some(at) = l.position(&args[3]) else {
        ctx.out.int(-1);
        return Ok(());
    };
    l.insert(at + after as usize, &args[4]);
    let len = l.len();
    g.modified(key);
    blocking::wake(ctx.shared, &mut locked, key);
    ctx.out.int(len as i64);
    Ok(())
}

/// LPOS's options.
struct Lpos {
    rank: i64,
    count: Option<usize>,
    maxlen: usize,
}

impl Lpos {
    fn parse(opts: &[Bytes]) -> Result<Lpos, CmdError> {
        let mut o = Lpos { rank: 1, count: None, maxlen: 0 };
        let mut it = opts.iter();
        while let Some(opt) = it.next() {
            let value = it.next().ok_or(CmdError::Syntax)?;
            if is(opt, "rank") {
                o.rank = int(value)?;
                if o.rank == 0 {
                    return Err(CmdError::err(
                        "RANK can't be zero: use 1 to start from the first match, 2 from the second ... or use negative to start from the end of the list",
                    ));
                }
            } else if is(opt, "count") {
                o.count = Some(positive(value, "COUNT can't be negative", 0)?);
            } else if is(opt, "maxlen") {
                o.maxlen = positive(value, "MAXLEN can't be negative", 0)?;
            } else {
                return Err(CmdError::Syntax);
            }
        }
        Ok(o)
    }

    /// Positions of the matches LPOS reports, in scan order.
    fn matches(&self, l: &List, elem: &[u8]) -> Vec<usize> {
        let len = l.len();
        let scan = if self.maxlen == 0 { len } else { self.maxlen.min(len) };
        // Redis negates the rank in a C long: LONG_MIN stays "first match".
        let skip = if self.rank == i64::MIN { 0 } else { self.rank.unsigned_abs() as usize - 1 };
        let want = match self.count {
            None => 1,
            Some(0) => usize::MAX,
            Some(n) => n,
        };
        let hits = |(i, e): (usize, &[u8])| (e == elem).then_some(i);
        if self.rank > 0 {
            l.iter().take(scan).enumerate().filter_map(hits).skip(skip).take(want).collect()
        } else {
            l.iter().rev().take(scan).enumerate().filter_map(hits).skip(skip).take(want).map(|i| len - 1 - i).collect()
        }
    }
}

fn lpos(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = Lpos::parse(&args[3..])?;
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let found = read_list(&mut g, &args[1])?.map(|l| opts.matches(l, &args[2])).unwrap_or_default();
    match (opts.count, found.first()) {
        (Some(_), _) => {
            ctx.out.array(found.len());
            found.iter().for_each(|&i| ctx.out.int(i as i64));
        }
        (None, Some(&i)) => ctx.out.int(i as i64),
        (None, None) => ctx.out.null(),
    }
    Ok(())
}

fn end_arg(arg: &[u8]) -> Result<End, CmdError> {
    if is(arg, "left") {
        Ok(End::Head)
    } else if is(arg, "right") {
        Ok(End::Tail)
    } else {
        Err(CmdError::Syntax)
    }
}

fn move_and_reply(ctx: &mut Ctx, args: &[Bytes], from: End, to: End) -> CmdResult {
    let (src, dst) = (&args[1], &args[2]);
    let mut locked = blocking::lock(ctx, &args[1..3]);
    match move_one(&mut locked.guard, src, dst, from, to)? {
        Some(e) => {
            blocking::wake(ctx.shared, &mut locked, dst);
            ctx.out.bulk(&e);
        }
        None => ctx.out.null(),
    }
    Ok(())
}

fn lmove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (from, to) = (end_arg(&args[3])?, end_arg(&args[4])?);
    move_and_reply(ctx, args, from, to)
}

fn rpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    move_and_reply(ctx, args, End::Tail, End::Head)
}

/// LMPOP/BLMPOP's arguments after the timeout: numkeys keys... LEFT|RIGHT [COUNT n].
struct Mpop<'a> {
    keys: &'a [Bytes],
    end: End,
    count: usize,
}

impl<'a> Mpop<'a> {
    fn parse(args: &'a [Bytes]) -> Result<Mpop<'a>, CmdError> {
        let (keys, end, count) = crate::args::mpop(args, end_arg)?;
        Ok(Mpop { keys, end, count })
    }
}

/// Replies `[key, [elements]]`.
fn key_and_elems(out: &mut ReplyBuf, key: &[u8], elems: &[Vec<u8>]) {
    out.array(2);
    out.bulk(key);
    bulks(out, elems);
}

fn lmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let m = Mpop::parse(&args[1..])?;
    let mut g = ctx.db().lock_many(m.keys.iter().map(|k| &k[..]), ctx.now);
    for key in m.keys {
        if let Some(v) = pop_n(&mut g, key, m.end, m.count)? {
            key_and_elems(ctx.out, key, &v);
            return Ok(());
        }
    }
    ctx.out.null_array();
    Ok(())
}

/// True when a blocked client should skip `key`: it has been waiting and
/// the key now holds another type (Redis 7.0 keeps such clients waiting).
fn skip_foreign(sv: &mut Serving, key: &[u8]) -> bool {
    sv.waited && check_list(sv.guard, key).is_err()
}

/// The serve step of BLPOP/BRPOP/BLMPOP: pops up to `count` from `end`.
fn pop_serve(end: End, count: usize, multi: bool) -> Box<blocking::Serve> {
    Box::new(move |sv, key| {
        if skip_foreign(sv, key) {
            return Ok(false);
        }
        let Some(v) = pop_n(sv.guard, key, end, count)? else { return Ok(false) };
        let name: &[u8] = if end == End::Head { b"LPOP" } else { b"RPOP" };
        sv.replicate(&[name, key, v.len().to_string().as_bytes()]);
        if multi {
            key_and_elems(sv.out, key, &v);
        } else {
            sv.out.array(2);
            sv.out.bulk(key);
            sv.out.bulk(&v[0]);
        }
        Ok(true)
    })
}

fn bpop(ctx: &mut Ctx, args: &[Bytes], end: End) -> CmdResult {
    let deadline = blocking::parse_timeout(&args[args.len() - 1])?;
    let keys = &args[1..args.len() - 1];
    blocking::block(ctx, keys, &[], deadline, ReplyBuf::null_array, pop_serve(end, 1, false))
}

fn blpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bpop(ctx, args, End::Head)
}

fn brpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bpop(ctx, args, End::Tail)
}

fn blmpop(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // Redis reads the timeout after the other arguments.
    let m = Mpop::parse(&args[2..])?;
    let deadline = blocking::parse_timeout(&args[1])?;
    blocking::block(ctx, m.keys, &[], deadline, ReplyBuf::null_array, pop_serve(m.end, m.count, true))
}

fn bmove(ctx: &mut Ctx, args: &[Bytes], from: End, to: End, timeout: &[u8]) -> CmdResult {
    let deadline = blocking::parse_timeout(timeout)?;
    let dst = args[2].clone();
    let serve: Box<blocking::Serve> = Box::new(move |sv, key| {
        if skip_foreign(sv, key) {
            return Ok(false);
        }
        let Some(e) = move_one(sv.guard, key, &dst, from, to)? else { return Ok(false) };
        let side = |end: End| -> &'static [u8] { if end == End::Head { b"LEFT" } else { b"RIGHT" } };
        sv.replicate(&[b"LMOVE", key, &dst, side(from), side(to)]);
        sv.out.bulk(&e);
        sv.pushed.push(dst.clone());
        Ok(true)
    });
    blocking::block(ctx, &args[1..2], &args[2..3], deadline, ReplyBuf::null, serve)
}

fn blmove(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (from, to) = (end_arg(&args[3])?, end_arg(&args[4])?);
    bmove(ctx, args, from, to, &args[5])
}

fn brpoplpush(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    bmove(ctx, args, End::Tail, End::Head, &args[3])
}
