//! Generic key family: existence, type, renaming, copying between
//! databases, iteration (KEYS, SCAN, RANDOMKEY), introspection (OBJECT) and
//! expiry (EXPIRE*, TTL*, PERSIST).
//!
//! Redis looks keys up in three ways, and the difference is visible in
//! `INFO` (keyspace hits/misses) and `OBJECT IDLETIME`, so we mirror them:
//! - a *read* (TOUCH, COPY's source) counts a hit or miss and refreshes
//!   the access time: [`DbGuard::read`];
//! - a *no-touch read* (EXISTS, TYPE, TTL, OBJECT) counts but leaves the
//!   access time and eviction metadata alone: [`DbGuard::peek`];
//! - a *write lookup* (EXPIRE, PERSIST, RENAME, MOVE) counts nothing but
//!   refreshes the access time: [`lookup_write`].
//!
//! Lazy expiry and WATCH signalling happen inside the guard; commands that
//! change nothing (a failed NX/GT, PERSIST on a persistent key, RENAME of a
//! key onto itself) must not call a mutating guard method, so that
//! watchers are not told of a change that did not happen.

use bytes::Bytes;
use ferrocache_store::db::LAZYFREE_BYTES;
use ferrocache_store::{glob, lazyfree};
use ferrocache_store::{DbGuard, Entry, Value};

use crate::args::{int, is, text};
use super::scan::ScanArgs;
use crate::command::{container, flags::*, spec, CmdError, CmdResult, Ctx, Spec};

pub static COMMANDS: &[Spec] = &[
    spec("del", -2, WRITE, (1, -1, 1), "generic", "1.0.0", "Delete a key", del),
    spec("unlink", -2, WRITE | FAST, (1, -1, 1), "generic", "4.0.0", "Delete a key asynchronously in another thread. Otherwise it is just as DEL, but non blocking.", unlink),
    spec("exists", -2, READONLY | FAST, (1, -1, 1), "generic", "1.0.0", "Determine if a key exists", exists),
    spec("type", 2, READONLY | FAST, (1, 1, 1), "generic", "1.0.0", "Determine the type stored at key", type_),
    spec("rename", 3, WRITE, (1, 2, 1), "generic", "1.0.0", "Rename a key", rename),
    spec("renamenx", 3, WRITE | FAST, (1, 2, 1), "generic", "1.0.0", "Rename a key, only if the new key does not exist", renamenx),
    spec("copy", -3, WRITE | DENYOOM, (1, 2, 1), "generic", "6.2.0", "Copy a key", copy),
    spec("move", 3, WRITE | FAST, (1, 1, 1), "generic", "1.0.0", "Move a key to another database", move_),
    // EXCLUSIVE: KEYS answers one consistent picture of the database, as in Redis.
    spec("keys", 2, READONLY | EXCLUSIVE, (0, 0, 0), "generic", "1.0.0", "Find all keys matching the given pattern", keys),
    spec("scan", -2, READONLY, (0, 0, 0), "generic", "2.8.0", "Incrementally iterate the keys space", scan),
    spec("randomkey", 1, READONLY, (0, 0, 0), "generic", "1.0.0", "Return a random key from the keyspace", randomkey),
    spec("touch", -2, READONLY | FAST, (1, -1, 1), "generic", "3.2.1", "Alters the last access time of a key(s). Returns the number of existing keys specified.", touch),
    container("object", -2, "generic", "2.2.3", "A container for object introspection commands", OBJECT),
    spec("expire", -3, WRITE | FAST, (1, 1, 1), "generic", "1.0.0", "Set a key's time to live in seconds", expire),
    spec("pexpire", -3, WRITE | FAST, (1, 1, 1), "generic", "2.6.0", "Set a key's time to live in milliseconds", pexpire),
    spec("expireat", -3, WRITE | FAST, (1, 1, 1), "generic", "1.2.0", "Set the expiration for a key as a UNIX timestamp", expireat),
    spec("pexpireat", -3, WRITE | FAST, (1, 1, 1), "generic", "2.6.0", "Set the expiration for a key as a UNIX timestamp specified in milliseconds", pexpireat),
    spec("ttl", 2, READONLY | FAST, (1, 1, 1), "generic", "1.0.0", "Get the time to live for a key in seconds", ttl),
    spec("pttl", 2, READONLY | FAST, (1, 1, 1), "generic", "2.6.0", "Get the time to live for a key in milliseconds", pttl),
    spec("expiretime", 2, READONLY | FAST, (1, 1, 1), "generic", "7.0.0", "Get the expiration Unix timestamp for a key", expiretime),
    spec("pexpiretime", 2, READONLY | FAST, (1, 1, 1), "generic", "7.0.0", "Get the expiration Unix timestamp for a key in milliseconds", pexpiretime),
    spec("persist", 2, WRITE | FAST, (1, 1, 1), "generic", "2.2.0", "Remove the expiration from a key", persist),
];

static OBJECT: &[Spec] = &[
    spec("encoding", 3, READONLY, (2, 2, 1), "generic", "2.2.3", "Inspect the internal encoding of a Redis object", object_encoding),
    spec("freq", 3, READONLY, (2, 2, 1), "generic", "4.0.0", "Get the logarithmic access frequency counter of a Redis object", object_freq),
    spec("idletime", 3, READONLY, (2, 2, 1), "generic", "2.2.3", "Get the time since a Redis object was last accessed", object_idletime),
    spec("refcount", 3, READONLY, (2, 2, 1), "generic", "2.2.3", "Get the number of references to the value of the key", object_refcount),
    spec("help", 2, LOADING | STALE, (0, 0, 0), "generic", "6.2.0", "Show helpful text about the different subcommands", object_help),
];

/// A write lookup: no keyspace statistics, but the access time is refreshed.
fn lookup_write<'g>(g: &'g mut DbGuard, key: &[u8]) -> Option<&'g mut Entry> {
    let now_secs = (g.now() / 1000) as u32;
    let e = g.get_mut(key)?;
    e.access = now_secs;
    Some(e)
}

/// Runs `f` on each key argument (all their shards locked at once) and
/// answers how many times it returned true; a key named twice counts twice.
fn count_keys(ctx: &mut Ctx, args: &[Bytes], mut f: impl FnMut(&mut DbGuard, &[u8]) -> bool) -> CmdResult {
    let keys = &args[1..];
    let mut g = ctx.db().lock_many(keys.iter().map(|k| &k[..]), ctx.now);
    let n = keys.iter().filter(|k| f(&mut g, k)).count();
    ctx.out.int(n as i64);
    Ok(())
}

fn del(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    count_keys(ctx, args, |g, k| g.remove(k).is_some())
}

/// Like DEL, but a large value is freed on the background thread, so the
/// shard lock and this client are not held while it is returned to the
/// allocator.
fn unlink(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    count_keys(ctx, args, |g, k| g.remove(k).map(|e| lazyfree::drop_entry(e, LAZYFREE_BYTES)).is_some())
}

fn exists(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    count_keys(ctx, args, |g, k| g.peek(k).is_some())
}

/// Like EXISTS, but a read that refreshes each key's access time.
fn touch(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    count_keys(ctx, args, |g, k| g.read(k).is_some())
}

fn type_(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    ctx.out.simple(g.peek(&args[1]).map_or("none", |e| e.value.type_name()));
    Ok(())
}

fn rename(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if rename_key(ctx, &args[1], &args[2], false)? {
        ctx.out.ok();
    } else {
        ctx.out.int(0);
    }
    Ok(())
}

fn renamenx(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let renamed = rename_key(ctx, &args[1], &args[2], true)?;
    ctx.out.int(renamed as i64);
    Ok(())
}

/// Moves `src`'s entry (with its expiry) to `dst`. Returns false when
/// nothing moved: `src` is `dst`, or (with `nx`) `dst` exists.
fn rename_key(ctx: &Ctx, src: &[u8], dst: &[u8], nx: bool) -> Result<bool, CmdError> {
    let mut g = ctx.db().lock_many([src, dst], ctx.now);
    if lookup_write(&mut g, src).is_none() {
        return Err(CmdError::NoSuchKey);
    }
    if src == dst {
        return Ok(!nx);
    }
    if nx && g.contains(dst) {
        return Ok(false);
    }
    let entry = g.remove(src).ok_or(CmdError::NoSuchKey)?;
    g.insert(dst, entry);
    Ok(true)
}

fn db_index(ctx: &Ctx, arg: &[u8]) -> Result<usize, CmdError> {
    crate::args::db_index(arg, ctx.shared.dbs.len())
}

fn same_objects() -> CmdError {
    CmdError::err("source and destination objects are the same")
}

/// Locks `src_key` in database `src` and `dst_key` in database `dst`
/// (different databases), the lower-numbered database first.
fn lock_two_dbs<'a>(ctx: &Ctx<'a>, src: usize, src_key: &[u8], dst: usize, dst_key: &[u8]) -> (DbGuard<'a>, DbGuard<'a>) {
    let dbs = &ctx.shared.dbs;
    if src < dst {
        let s = dbs[src].lock(src_key, ctx.now);
        (s, dbs[dst].lock(dst_key, ctx.now))
    } else {
        let d = dbs[dst].lock(dst_key, ctx.now);
        (dbs[src].lock(src_key, ctx.now), d)
    }
}

fn move_(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if ctx.shared.cluster.is_some() {
        return Err(CmdError::err("MOVE is not allowed in cluster mode"));
    }
    let key = &args[1][..];
    let (src, dst) = (ctx.client.db, db_index(ctx, &args[2])?);
    if src == dst {
        return Err(same_objects());
    }
    let (mut from, mut to) = lock_two_dbs(ctx, src, key, dst, key);
    let moved = lookup_write(&mut from, key).is_some() && !to.contains(key);
    if moved && let Some(entry) = from.remove(key) {
        to.insert(key, entry);
        drop((from, to));
        ctx.shared.blocking.key_arrived(dst, key);
    }
    ctx.out.int(moved as i64);
    Ok(())
}

/// COPY source destination [DB destination-db] [REPLACE]
fn copy(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (key, newkey) = (&args[1][..], &args[2][..]);
    let src = ctx.client.db;
    let (mut dst, mut replace) = (src, false);
    let mut i = 3;
    while i < args.len() {
        if is(&args[i], "replace") {
            replace = true;
        } else if is(&args[i], "db") && i + 1 < args.len() {
            dst = db_index(ctx, &args[i + 1])?;
            i += 1;
        } else {
            return Err(CmdError::Syntax);
        }
        i += 1;
    }
    if ctx.shared.cluster.is_some() && (src, dst) != (0, 0) {
        return Err(CmdError::err("Copying to another database is not allowed in cluster mode"));
    }
    let copied = if dst == src {
        if key == newkey {
            return Err(same_objects());
        }
        let mut g = ctx.db().lock_many([key, newkey], ctx.now);
        copy_entry(&mut g, None, key, newkey, replace)
    } else {
        let (mut from, mut to) = lock_two_dbs(ctx, src, key, dst, newkey);
        copy_entry(&mut from, Some(&mut to), key, newkey, replace)
    };
    ctx.out.int(copied as i64);
    Ok(())
}

/// Copies `key` (value and expiry) from `src` to `newkey` in `other`, or
/// in `src` itself when `other` is None. Returns whether it copied.
fn copy_entry<'a>(src: &mut DbGuard<'a>, mut other: Option<&mut DbGuard<'a>>, key: &[u8], newkey: &[u8], replace: bool) -> bool {
    if src.read(key).is_none() {
        return false;
    }
    let exists = match other.as_deref_mut() {
        Some(dst) => dst.contains(newkey),
        None => src.contains(newkey),
    };
    if exists && !replace {
        return false;
    }
    let Some(entry) = src.get(key).cloned() else { return false };
    other.unwrap_or(src).insert(newkey, entry);
    true
}

fn keys(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let pattern = &args[1][..];
    let all = pattern == b"*";
    let mut found: Vec<Vec<u8>> = Vec::new();
    ctx.db().for_each_key(ctx.now, |k, _| {
        if all || glob::matches(pattern, k) {
            found.push(k.to_vec());
        }
    });
    write_keys(ctx, &found);
    Ok(())
}

fn write_keys(ctx: &mut Ctx, keys: &[Vec<u8>]) {
    ctx.out.array(keys.len());
    for k in keys {
        ctx.out.bulk(k);
    }
}

/// SCAN cursor [MATCH pattern] [COUNT count] [TYPE type]
fn scan(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = ScanArgs::parse(&args[1..], true)?;
    let mut found: Vec<Vec<u8>> = Vec::new();
    let next = ctx.db().scan(opts.cursor, opts.count, ctx.now, |k, e| {
        let type_ok = opts.type_name.is_none_or(|t| t.eq_ignore_ascii_case(e.value.type_name().as_bytes()));
        if type_ok && opts.matches(k) {
            found.push(k.to_vec());
        }
    });
    super::scan::reply(ctx, next, &found);
    Ok(())
}

fn randomkey(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    match ctx.db().random_key(ctx.now) {
        Some(k) => ctx.out.bulk(&k),
        None => ctx.out.null(),
    }
    Ok(())
}

/// Runs `f` on OBJECT's key (a no-touch read), or answers null if missing.
fn with_object(ctx: &mut Ctx, args: &[Bytes], f: impl FnOnce(&mut Ctx, &Entry) -> CmdResult) -> CmdResult {
    let mut g = ctx.db().lock(&args[2], ctx.now);
    match g.peek(&args[2]) {
        Some(e) => f(ctx, e),
        None => {
            ctx.out.null();
            Ok(())
        }
    }
}

fn object_encoding(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    with_object(ctx, args, |ctx, e| {
        ctx.out.bulk(e.value.encoding().as_bytes());
        Ok(())
    })
}

/// There is no maxmemory-policy yet, hence no LFU policy, hence Redis's
/// answer for a key whose frequency is not tracked.
/// OBJECT FREQ and IDLETIME: a no-touch lookup, then `f` if the key exists
/// and an LFU policy is (`lfu` true) or is not selected, else Redis's error.
fn object_meta(ctx: &mut Ctx, args: &[Bytes], lfu: bool, f: impl FnOnce(&Entry, &ferrocache_store::evict::Tuning, u64) -> i64) -> CmdResult {
    let (tuning, now) = (ctx.shared.config.read().tuning(), ctx.now);
    let mut g = ctx.db().lock(&args[2], now);
    let Some(e) = g.peek(&args[2]) else {
        ctx.out.null();
        return Ok(());
    };
    if (tuning.policy.kind() == ferrocache_store::evict::Kind::Lfu) != lfu {
        let what = if lfu { "An LFU maxmemory policy is not selected, access frequency not tracked" } else { "An LFU maxmemory policy is selected, idle time not tracked" };
        return Err(CmdError::err(format!(
            "{what}. Please note that when switching between policies at runtime LRU and LFU data will take some time to adjust."
        )));
    }
    let n = f(e, &tuning, now);
    ctx.out.int(n);
    Ok(())
}

fn object_freq(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    object_meta(ctx, args, true, |e, tuning, now| i64::from(ferrocache_store::evict::lfu_counter(e.meta(), tuning, now)))
}

fn object_idletime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    object_meta(ctx, args, false, |e, _, now| i64::from(((now / 1000) as u32).saturating_sub(e.access)))
}

/// Redis shares one object for each small integer 0..9999 stored with the
/// `int` encoding and reports it with a huge refcount; everything else is 1.
fn object_refcount(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    with_object(ctx, args, |ctx, e| {
        ctx.out.int(if is_shared_int(&e.value) { i32::MAX as i64 } else { 1 });
        Ok(())
    })
}

fn is_shared_int(v: &Value) -> bool {
    match v {
        Value::Str(s) => s.encoding() == "int" && s.as_int().is_some_and(|n| (0..10_000).contains(&n)),
        _ => false,
    }
}

fn object_help(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let lines = [
        "ENCODING <key>",
        "    Return the kind of internal representation used in order to store the value",
        "    associated with a <key>.",
        "FREQ <key>",
        "    Return the access frequency index of the <key>. The returned integer is",
        "    proportional to the logarithm of the recent access frequency of the key.",
        "IDLETIME <key>",
        "    Return the idle time of the <key>, that is the approximated number of",
        "    seconds elapsed since the last access to the key.",
        "REFCOUNT <key>",
        "    Return the number of references of the value associated with the specified",
        "    <key>.",
    ];
    ctx.help("OBJECT", &lines)
}

/// How an EXPIRE-family command reads its time argument.
struct ExpireKind {
    /// Lower-case name, for the error message.
    name: &'static str,
    /// Milliseconds per unit of the argument.
    unit: i64,
    /// Relative to now (EXPIRE, PEXPIRE) or absolute (EXPIREAT, PEXPIREAT).
    relative: bool,
}

fn expire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, ExpireKind { name: "expire", unit: 1000, relative: true })
}

fn pexpire(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, ExpireKind { name: "pexpire", unit: 1, relative: true })
}

fn expireat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, ExpireKind { name: "expireat", unit: 1000, relative: false })
}

fn pexpireat(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    expire_generic(ctx, args, ExpireKind { name: "pexpireat", unit: 1, relative: false })
}

/// EXPIRE's NX / XX / GT / LT conditions.
#[derive(Default)]
struct ExpireIf {
    nx: bool,
    xx: bool,
    gt: bool,
    lt: bool,
}

impl ExpireIf {
    /// Parses the options, then rejects incompatible combinations (in that
    /// order, as Redis: an unknown option wins over a conflict).
    fn parse(opts: &[Bytes]) -> Result<ExpireIf, CmdError> {
        let mut c = ExpireIf::default();
        for o in opts {
            let flag = if is(o, "nx") {
                &mut c.nx
            } else if is(o, "xx") {
                &mut c.xx
            } else if is(o, "gt") {
                &mut c.gt
            } else if is(o, "lt") {
                &mut c.lt
            } else {
                return Err(CmdError::err(format!("Unsupported option {}", text(o))));
            };
            *flag = true;
        }
        if c.nx && (c.xx || c.gt || c.lt) {
            return Err(CmdError::err("NX and XX, GT or LT options at the same time are not compatible"));
        }
        if c.gt && c.lt {
            return Err(CmdError::err("GT and LT options at the same time are not compatible"));
        }
        Ok(c)
    }

    /// Whether a key expiring at `current` (None = never, which counts as
    /// an infinite TTL for GT and LT) may get the expiry `when`.
    fn allows(&self, current: Option<u64>, when: i64) -> bool {
        let current = current.map(|c| c as i64);
        !(self.nx && current.is_some()
            || self.xx && current.is_none()
            || self.gt && current.is_none_or(|c| when <= c)
            || self.lt && current.is_some_and(|c| when >= c))
    }
}

fn expire_generic(ctx: &mut Ctx, args: &[Bytes], kind: ExpireKind) -> CmdResult {
    let cond = ExpireIf::parse(&args[3..])?;
    let invalid = || CmdError::err(format!("invalid expire time in '{}' command", kind.name));
    let base = if kind.relative { ctx.now as i64 } else { 0 };
    let when = int(&args[2])?.checked_mul(kind.unit).and_then(|w| w.checked_add(base)).ok_or_else(invalid)?;
    let key = &args[1][..];
    let mut g = ctx.db().lock(key, ctx.now);
    let Some(e) = lookup_write(&mut g, key) else {
        ctx.out.int(0);
        return Ok(());
    };
    if !cond.allows(e.expire_at(), when) {
        ctx.out.int(0);
        return Ok(());
    }
    // A time at or before now deletes the key (and still answers 1).
    g.set_expire(key, Some(when.max(0) as u64));
    ctx.out.int(1);
    Ok(())
}

/// What the TTL family reports.
struct TtlKind {
    millis: bool,
    /// The Unix expiry time instead of the time left.
    absolute: bool,
}

fn ttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, TtlKind { millis: false, absolute: false })
}

fn pttl(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, TtlKind { millis: true, absolute: false })
}

fn expiretime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, TtlKind { millis: false, absolute: true })
}

fn pexpiretime(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ttl_generic(ctx, args, TtlKind { millis: true, absolute: true })
}

/// -2 for a missing key, -1 for one without expiry; seconds are rounded
/// to the nearest, as Redis does.
fn ttl_generic(ctx: &mut Ctx, args: &[Bytes], kind: TtlKind) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    let reply = match g.peek(&args[1]).map(Entry::expire_at) {
        None => -2,
        Some(None) => -1,
        Some(Some(at)) => {
            let ms = if kind.absolute { at } else { at.saturating_sub(ctx.now) };
            (if kind.millis { ms } else { (ms + 500) / 1000 }) as i64
        }
    };
    ctx.out.int(reply);
    Ok(())
}

fn persist(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let key = &args[1][..];
    let mut g = ctx.db().lock(key, ctx.now);
    let volatile = lookup_write(&mut g, key).is_some_and(|e| e.expire_at().is_some());
    if volatile {
        g.set_expire(key, None);
    }
    ctx.out.int(volatile as i64);
    Ok(())
}
