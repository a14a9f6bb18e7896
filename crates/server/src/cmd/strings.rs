//! String family: GET/SET and friends, counters, ranges and bits.
//!
//! Redis semantics worth knowing here: SET replaces any value and clears
//! the TTL unless KEEPTTL; in-place edits (APPEND, SETRANGE, INCR, SETBIT)
//! keep the TTL; string length is capped by `proto-max-bulk-len`.

use bytes::Bytes;
use ferrocache_store::{DbGuard, Entry, StrValue, Value};

use crate::args::{int, is};
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};

pub static COMMANDS: &[Spec] = &[
    spec("get", 2, READONLY | FAST, (1, 1, 1), "string", "1.0.0", "Returns the string value of a key.", get),
    spec("set", -3, WRITE | DENYOOM, (1, 1, 1), "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", set),
    spec("setnx", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Set the string value of a key only when the key doesn't exist.", setnx),
    spec("setex", 4, WRITE | DENYOOM, (1, 1, 1), "string", "2.0.0", "Sets the string value and expiration time of a key. Creates the key if it doesn't exist.", setex),
    spec("psetex", 4, WRITE | DENYOOM, (1, 1, 1), "string", "2.6.0", "Sets both string value and expiration time in milliseconds of a key. The key is created if it doesn't exist.", psetex),
    spec("mget", -2, READONLY | FAST, (1, -1, 1), "string", "1.0.0", "Atomically returns the string values of one or more keys.", mget),
    spec("mset", -3, WRITE | DENYOOM, (1, -1, 2), "string", "1.0.1", "Atomically creates or modifies the string values of one or more keys.", mset),
    spec("msetnx", -3, WRITE | DENYOOM, (1, -1, 2), "string", "1.0.1", "Atomically modifies the string values of one or more keys only when all keys don't exist.", msetnx),
    spec("getset", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Returns the previous string value of a key after setting it to a new value.", getset),
    spec("getdel", 2, WRITE | FAST, (1, 1, 1), "string", "6.2.0", "Returns the string value of a key after deleting the key.", getdel),
    spec("getex", -2, WRITE | FAST, (1, 1, 1), "string", "6.2.0", "Returns the string value of a key after setting its expiration time.", getex),
    spec("append", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "2.0.0", "Appends a string to the value of a key. Creates the key if it doesn't exist.", append),
    spec("strlen", 2, READONLY | FAST, (1, 1, 1), "string", "2.2.0", "Returns the length of a string value.", strlen),
    spec("incr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Increments the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", incr),
    spec("decr", 2, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Decrements the integer value of a key by one. Uses 0 as initial value if the key doesn't exist.", decr),
    spec("incrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Increments the integer value of a key by a number. Uses 0 as initial value if the key doesn't exist.", incrby),
    spec("decrby", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "1.0.0", "Decrements a number from the integer value of a key. Uses 0 as initial value if the key doesn't exist.", decrby),
    spec("incrbyfloat", 3, WRITE | DENYOOM | FAST, (1, 1, 1), "string", "2.6.0", "Increment the floating point value of a key by a number. Uses 0 as initial value if the key doesn't exist.", incrbyfloat),
    spec("getrange", 4, READONLY, (1, 1, 1), "string", "2.4.0", "Returns a substring of the string stored at a key.", getrange),
    spec("setrange", 4, WRITE | DENYOOM, (1, 1, 1), "string", "2.2.0", "Overwrites a part of a string value with another by an offset. Creates the key if it doesn't exist.", setrange),
    spec("setbit", 4, WRITE | DENYOOM, (1, 1, 1), "bitmap", "2.2.0", "Sets or clears the bit at offset of the string value. Creates the key if it doesn't exist.", setbit),
    spec("getbit", 3, READONLY | FAST, (1, 1, 1), "bitmap", "2.2.0", "Returns a bit value by offset.", getbit),
    spec("bitcount", -2, READONLY, (1, 1, 1), "bitmap", "2.6.0", "Counts the number of set bits (population counting) in a string.", bitcount),
];

/// The string under `key` for a read command (counts hits/misses), or
/// WRONGTYPE.
fn read_str<'g>(g: &'g mut DbGuard, key: &[u8]) -> Result<Option<&'g StrValue>, CmdError> {
    match g.read(key).map(|e| &e.value) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        #[allow(unreachable_patterns)]
        Some(_) => Err(CmdError::WrongType),
    }
}

/// The string under `key` for in-place modification, or WRONGTYPE.
fn str_mut<'g>(g: &'g mut DbGuard, key: &[u8]) -> Result<Option<&'g mut StrValue>, CmdError> {
    match g.get_mut(key).map(|e| &mut e.value) {
        None => Ok(None),
        Some(Value::Str(s)) => Ok(Some(s)),
        #[allow(unreachable_patterns)]
        Some(_) => Err(CmdError::WrongType),
    }
}

fn string(bytes: &[u8]) -> Value {
    Value::Str(StrValue::new(bytes))
}

fn bulk_or_null(ctx: &mut Ctx, s: Option<&[u8]>) {
    match s {
        Some(b) => ctx.out.bulk(b),
        None => ctx.out.null(),
    }
}

fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    match read_str(&mut g, &args[1])? {
        Some(s) => ctx.out.bulk_parts(s.parts()),
        None => ctx.out.null(),
    }
    Ok(())
}

/// The expiry options shared by SET and GETEX.
#[derive(Debug, Clone, Copy, PartialEq)]
enum Ttl {
    Keep,
    Persist,
    Ex,
    Px,
    ExAt,
    PxAt,
}

/// Parsed SET/GETEX options (Redis's `parseExtendedStringArgumentsOrReply`).
#[derive(Debug, Default)]
struct SetOptions<'a> {
    nx: bool,
    xx: bool,
    get: bool,
    ttl: Option<Ttl>,
    ttl_arg: Option<&'a [u8]>,
}

fn parse_set_options<'a>(opts: &'a [Bytes], for_set: bool) -> Result<SetOptions<'a>, CmdError> {
    let mut o = SetOptions::default();
    let mut i = 0;
    while i < opts.len() {
        let a = &opts[i];
        let next = opts.get(i + 1);
        // An expiry option conflicts with any other kind of expiry option.
        let ttl_free = |kind: Ttl| o.ttl.is_none_or(|t| t == kind);
        if for_set && is(a, "nx") && !o.xx {
            o.nx = true;
        } else if for_set && is(a, "xx") && !o.nx {
            o.xx = true;
        } else if for_set && is(a, "get") {
            o.get = true;
        } else if for_set && is(a, "keepttl") && ttl_free(Ttl::Keep) {
            o.ttl = Some(Ttl::Keep);
        } else if !for_set && is(a, "persist") && ttl_free(Ttl::Persist) {
            o.ttl = Some(Ttl::Persist);
        } else if let (Some(kind), Some(n)) = (timed_option(a), next) {
            if !ttl_free(kind) {
                return Err(CmdError::Syntax);
            }
            o.ttl = Some(kind);
            o.ttl_arg = Some(n);
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    Ok(o)
}

fn timed_option(a: &[u8]) -> Option<Ttl> {
    [("ex", Ttl::Ex), ("px", Ttl::Px), ("exat", Ttl::ExAt), ("pxat", Ttl::PxAt)]
        .into_iter()
        .find(|(name, _)| is(a, name))
        .map(|(_, t)| t)
}

/// Converts an expiry argument to absolute Unix ms, with Redis's checks.
fn expire_at(kind: Ttl, arg: &[u8], now: u64, cmd: &str) -> Result<u64, CmdError> {
    let n = int(arg)?;
    let invalid = || CmdError::err(format!("invalid expire time in '{cmd}' command"));
    let seconds = matches!(kind, Ttl::Ex | Ttl::ExAt);
    if n <= 0 || (seconds && n > i64::MAX / 1000) {
        return Err(invalid());
    }
    let ms = if seconds { n * 1000 } else { n };
    let at = if matches!(kind, Ttl::Ex | Ttl::Px) { ms.checked_add(now as i64).ok_or_else(invalid)? } else { ms };
    Ok(at as u64)
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (key, value) = (&args[1], &args[2]);
    if args.len() == 3 {
        ctx.db().lock(key, ctx.now).set(key, string(value));
        ctx.out.ok();
        return Ok(());
    }
    let o = parse_set_options(&args[3..], true)?;
    let at = match (o.ttl, o.ttl_arg) {
        (Some(kind), Some(arg)) => Some(expire_at(kind, arg, ctx.now, "set")?),
        _ => None,
    };
    let mut g = ctx.db().lock(key, ctx.now);
    let old = if o.get { Some(read_str(&mut g, key)?.map(|s| s.as_bytes().into_owned())) } else { None };
    let exists = g.contains(key);
    if (o.nx && exists) || (o.xx && !exists) {
        match old {
            Some(v) => bulk_or_null(ctx, v.as_deref()),
            None => ctx.out.null(),
        }
        return Ok(());
    }
    let keep = if o.ttl == Some(Ttl::Keep) { g.get(key).and_then(Entry::expire_at) } else { None };
    g.set(key, string(value));
    if let Some(at) = at.or(keep) {
        g.set_expire(key, Some(at));
    }
    match old {
        Some(v) => bulk_or_null(ctx, v.as_deref()),
        None => ctx.out.ok(),
    }
    Ok(())
}

fn setnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let created = !g.contains(&args[1]);
    if created {
        g.set(&args[1], string(&args[2]));
    }
    ctx.out.int(created as i64);
    Ok(())
}

fn set_with_ttl(ctx: &mut Ctx, args: &[Bytes], kind: Ttl, cmd: &str) -> CmdResult {
    let at = expire_at(kind, &args[2], ctx.now, cmd)?;
    let mut g = ctx.db().lock(&args[1], ctx.now);
    g.set(&args[1], string(&args[3]));
    g.set_expire(&args[1], Some(at));
    ctx.out.ok();
    Ok(())
}

fn setex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, Ttl::Ex, "setex")
}

fn psetex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_with_ttl(ctx, args, Ttl::Px, "psetex")
}

fn mget(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let keys = &args[1..];
    let mut g = ctx.db().lock_many(keys.iter().map(|k| &k[..]), ctx.now);
    ctx.out.array(keys.len());
    for k in keys {
        match g.read(k).map(|e| &e.value) {
            Some(Value::Str(s)) => ctx.out.bulk_parts(s.parts()),
            #[allow(unreachable_patterns)]
            _ => ctx.out.null(),
        }
    }
    Ok(())
}

/// MSET/MSETNX argument check: key/value pairs.
fn pairs<'a>(args: &'a [Bytes], cmd: &str) -> Result<std::slice::ChunksExact<'a, Bytes>, CmdError> {
    if args.len().is_multiple_of(2) {
        return Err(CmdError::WrongArity(cmd.into()));
    }
    Ok(args[1..].chunks_exact(2))
}

fn mset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let kv = pairs(args, "mset")?;
    let mut g = ctx.db().lock_many(kv.clone().map(|p| &p[0][..]), ctx.now);
    for p in kv {
        g.set(&p[0], string(&p[1]));
    }
    ctx.out.ok();
    Ok(())
}

fn msetnx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let kv = pairs(args, "msetnx")?;
    let mut g = ctx.db().lock_many(kv.clone().map(|p| &p[0][..]), ctx.now);
    if kv.clone().any(|p| g.contains(&p[0])) {
        ctx.out.int(0);
        return Ok(());
    }
    for p in kv {
        g.set(&p[0], string(&p[1]));
    }
    ctx.out.int(1);
    Ok(())
}

fn getset(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let old = read_str(&mut g, &args[1])?.map(|s| s.as_bytes().into_owned());
    g.set(&args[1], string(&args[2]));
    bulk_or_null(ctx, old.as_deref());
    Ok(())
}

fn getdel(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    if read_str(&mut g, &args[1])?.is_none() {
        ctx.out.null();
        return Ok(());
    }
    match g.remove(&args[1]).map(|e| e.value) {
        Some(Value::Str(s)) => ctx.out.bulk_parts(s.parts()),
        #[allow(unreachable_patterns)]
        _ => ctx.out.null(),
    }
    Ok(())
}

fn getex(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let o = parse_set_options(&args[2..], false)?;
    let key = &args[1];
    let mut g = ctx.db().lock(key, ctx.now);
    let Some(value) = read_str(&mut g, key)?.map(|s| s.as_bytes().into_owned()) else {
        ctx.out.null();
        return Ok(());
    };
    match (o.ttl, o.ttl_arg) {
        (Some(kind), Some(arg)) => {
            let at = expire_at(kind, arg, ctx.now, "getex")?;
            g.set_expire(key, Some(at));
        }
        (Some(Ttl::Persist), None) if g.get(key).and_then(Entry::expire_at).is_some() => {
            g.set_expire(key, None);
        }
        _ => {}
    }
    ctx.out.bulk(&value);
    Ok(())
}

/// Fails when a string would grow past `proto-max-bulk-len`.
fn check_len(ctx: &Ctx, len: u64) -> CmdResult {
    if len > ctx.shared.config.read().proto_max_bulk_len {
        return Err(CmdError::err("string exceeds maximum allowed size (proto-max-bulk-len)"));
    }
    Ok(())
}

fn append(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut g = ctx.db().lock(key, ctx.now);
    let len = match str_mut(&mut g, key)? {
        Some(s) => {
            check_len(ctx, (s.len() + args[2].len()) as u64)?;
            s.bytes_mut().extend_from_slice(&args[2]);
            let len = s.len();
            g.modified(key);
            len
        }
        None => {
            g.set(key, string(&args[2]));
            args[2].len()
        }
    };
    ctx.out.int(len as i64);
    Ok(())
}

fn strlen(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let len = read_str(&mut g, &args[1])?.map_or(0, StrValue::len);
    ctx.out.int(len as i64);
    Ok(())
}

/// Adds `by` to the integer under `key` (0 if missing), keeping its TTL.
fn incr_by(ctx: &mut Ctx, key: &[u8], by: i64) -> CmdResult {
    let mut g = ctx.db().lock(key, ctx.now);
    let n = match str_mut(&mut g, key)? {
        Some(s) => {
            let n = s.as_int().ok_or(CmdError::NotInteger)?.checked_add(by).ok_or(CmdError::Overflow)?;
            *s = StrValue::from_int(n);
            g.modified(key);
            n
        }
        None => {
            g.set(key, Value::Str(StrValue::from_int(by)));
            by
        }
    };
    ctx.out.int(n);
    Ok(())
}

fn incr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], 1)
}

fn decr(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    incr_by(ctx, &args[1], -1)
}

fn incrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = int(&args[2])?;
    incr_by(ctx, &args[1], by)
}

fn decrby(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let by = int(&args[2])?;
    let neg = by.checked_neg().ok_or_else(|| CmdError::err("decrement would overflow"))?;
    incr_by(ctx, &args[1], neg)
}

fn incrbyfloat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let mut g = ctx.db().lock(key, ctx.now);
    let current = str_mut(&mut g, key)?.map(|s| s.as_bytes().into_owned());
    let result = crate::float80::incr_by_float(current.as_deref().unwrap_or(b"0"), &args[2])?;
    // Redis stores the result with createStringObject: never int-encoded.
    let value = StrValue::plain(result.as_bytes());
    crate::repl::propagate::replicate_as(crate::repl::propagate::command(&[b"SET", key, result.as_bytes(), b"KEEPTTL"]));
    match str_mut(&mut g, key)? {
        Some(s) => {
            *s = value;
            g.modified(key);
        }
        None => {
            g.set(key, Value::Str(value));
        }
    }
    ctx.out.bulk(result.as_bytes());
    Ok(())
}

/// Redis's range clamping for GETRANGE/BITCOUNT: negative indexes count
/// from the end; returns None for an empty range.
fn clamp_range(start: i64, end: i64, len: i64) -> Option<(usize, usize)> {
    if len == 0 || (start < 0 && end < 0 && start > end) {
        return None;
    }
    let start = if start < 0 { (len + start).max(0) } else { start };
    let end = if end < 0 { (len + end).max(0) } else { end.min(len - 1) };
    (start <= end).then_some((start as usize, end as usize))
}

fn getrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (start, end) = (int(&args[2])?, int(&args[3])?);
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let s = read_str(&mut g, &args[1])?.map(StrValue::as_bytes).unwrap_or_default();
    match clamp_range(start, end, s.len() as i64) {
        Some((a, b)) => ctx.out.bulk(&s[a..=b]),
        None => ctx.out.bulk(b""),
    }
    Ok(())
}

fn setrange(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let offset = int(&args[2])?;
    if offset < 0 {
        return Err(CmdError::err("offset is out of range"));
    }
    let value = &args[3];
    let mut g = ctx.db().lock(key, ctx.now);
    let len = match str_mut(&mut g, key)? {
        Some(s) if value.is_empty() => s.len(),
        Some(s) => {
            check_len(ctx, offset as u64 + value.len() as u64)?;
            write_at(s.bytes_mut(), offset as usize, value);
            let len = s.len();
            g.modified(key);
            len
        }
        None if value.is_empty() => 0,
        None => {
            check_len(ctx, offset as u64 + value.len() as u64)?;
            let mut bytes = Vec::new();
            write_at(&mut bytes, offset as usize, value);
            let len = bytes.len();
            let mut s = StrValue::from_vec(bytes);
            s.bytes_mut();
            g.set(key, Value::Str(s));
            len
        }
    };
    ctx.out.int(len as i64);
    Ok(())
}

/// Writes `value` at `offset`, zero-padding the gap.
fn write_at(bytes: &mut Vec<u8>, offset: usize, value: &[u8]) {
    let end = offset + value.len();
    if bytes.len() < end {
        bytes.resize(end, 0);
    }
    bytes[offset..end].copy_from_slice(value);
}

/// Parses a bit offset: non-negative and within `proto-max-bulk-len` bytes.
fn bit_offset(ctx: &Ctx, arg: &[u8]) -> Result<u64, CmdError> {
    let err = || CmdError::err("bit offset is not an integer or out of range");
    let n = int(arg).map_err(|_| err())?;
    if n < 0 || (n as u64 >> 3) >= ctx.shared.config.read().proto_max_bulk_len {
        return Err(err());
    }
    Ok(n as u64)
}

fn setbit(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1];
    let offset = bit_offset(ctx, &args[2])?;
    let on = match &args[3][..] {
        b"1" => true,
        b"0" => false,
        _ => return Err(CmdError::err("bit is not an integer or out of range")),
    };
    let (byte, mask) = ((offset >> 3) as usize, 0x80u8 >> (offset & 7));
    let mut g = ctx.db().lock(key, ctx.now);
    let mut dirty = false;
    if str_mut(&mut g, key)?.is_none() {
        let mut s = StrValue::from_vec(Vec::new());
        s.bytes_mut();
        g.set(key, Value::Str(s));
        dirty = true;
    }
    let s = str_mut(&mut g, key)?.ok_or(CmdError::NoSuchKey)?;
    let bytes = s.bytes_mut();
    if bytes.len() <= byte {
        bytes.resize(byte + 1, 0);
        dirty = true;
    }
    let old = bytes[byte] & mask != 0;
    if on {
        bytes[byte] |= mask;
    } else {
        bytes[byte] &= !mask;
    }
    // Like Redis, WATCH only sees a SETBIT that changed something.
    if dirty || old != on {
        g.modified(key);
    }
    ctx.out.int(old as i64);
    Ok(())
}

fn getbit(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let offset = bit_offset(ctx, &args[2])?;
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let s = read_str(&mut g, &args[1])?.map(StrValue::as_bytes).unwrap_or_default();
    let bit = s.get((offset >> 3) as usize).is_some_and(|b| b & (0x80 >> (offset & 7)) != 0);
    ctx.out.int(bit as i64);
    Ok(())
}

fn bitcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // Redis looks the key up before parsing the range: a missing key is 0
    // whatever the other arguments are.
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let Some(s) = read_str(&mut g, &args[1])? else {
        ctx.out.int(0);
        return Ok(());
    };
    let s = &*s.as_bytes();
    let count = match args.len() {
        2 => popcount(s),
        4 | 5 => {
            let (start, end) = (int(&args[2])?, int(&args[3])?);
            // Checked before the BIT/BYTE word, as Redis does.
            if start < 0 && end < 0 && start > end {
                ctx.out.int(0);
                return Ok(());
            }
            match args.get(4) {
                None => byte_range_count(s, start, end),
                Some(a) if is(a, "byte") => byte_range_count(s, start, end),
                Some(a) if is(a, "bit") => clamp_range(start, end, s.len() as i64 * 8).map_or(0, |(a, b)| count_bits(s, a, b)),
                Some(_) => return Err(CmdError::Syntax),
            }
        }
        _ => return Err(CmdError::Syntax),
    };
    ctx.out.int(count as i64);
    Ok(())
}

fn byte_range_count(s: &[u8], start: i64, end: i64) -> u64 {
    clamp_range(start, end, s.len() as i64).map_or(0, |(a, b)| popcount(&s[a..=b]))
}

fn popcount(bytes: &[u8]) -> u64 {
    bytes.iter().map(|b| b.count_ones() as u64).sum()
}

/// Set bits between bit positions `first..=last` (bit 0 = MSB of byte 0).
fn count_bits(bytes: &[u8], first: usize, last: usize) -> u64 {
    let (fb, lb) = (first / 8, last / 8);
    let total = popcount(&bytes[fb..=lb]);
    let head = (bytes[fb] & !(0xFFu8 >> (first % 8))).count_ones() as u64;
    let tail = (bytes[lb] as u32 & (0xFFu32 >> (last % 8 + 1))).count_ones() as u64;
    total - head - tail
}

#[cfg(test)]
mod tests {
    use super::*;

    #[test]
    fn ranges_like_redis() {
        assert_eq!(clamp_range(0, -1, 5), Some((0, 4)));
        assert_eq!(clamp_range(-3, -1, 5), Some((2, 4)));
        assert_eq!(clamp_range(-100, -200, 5), None);
        assert_eq!(clamp_range(5, 2, 5), None);
        assert_eq!(clamp_range(0, 100, 5), Some((0, 4)));
        assert_eq!(clamp_range(-100, 2, 5), Some((0, 2)));
        assert_eq!(clamp_range(0, 0, 0), None);
    }

    #[test]
    fn bit_ranges() {
        let b = [0b1111_0000u8, 0b0000_1111];
        assert_eq!(count_bits(&b, 0, 15), 8);
        assert_eq!(count_bits(&b, 2, 3), 2);
        assert_eq!(count_bits(&b, 4, 11), 0);
        assert_eq!(count_bits(&b, 3, 12), 2);
        assert_eq!(count_bits(&b, 0, 7), 4);
    }
}
