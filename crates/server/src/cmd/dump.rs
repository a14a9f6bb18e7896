//! DUMP and RESTORE: a key's value as an opaque payload and back, and
//! RESTORE-ASKING, the form a slot migration sends to the node importing
//! the slot (the same command with the `asking` flag, as in Redis).
//!
//! The payload is ours, not Redis's RDB encoding ([`ferrocache_store::dump`]
//! says why and what it holds): clients only ever hand back what DUMP gave
//! them, so only the commands' grammar, options and error replies follow
//! Redis 7.0 (`restoreCommand` in Redis's `cluster.c`), in its order:
//! options, then an existing key (BUSYKEY), then the TTL, then the payload.
//! The payload is decoded before the key's shard is locked, so a large
//! value does not hold up the shard's other clients while it is rebuilt.

use bytes::Bytes;
use ferrocache_store::db::{RestoreError, RestoreOpts};
use ferrocache_store::dump::{self, DumpError};

use crate::args::{int, is};
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, KeySpec, Spec};

const RESTORE_SUMMARY: &str = "Create a key using the provided serialized value, previously obtained using DUMP.";

/// RESTORE's key: overwritten (`OW`), as an update.
static RESTORE_KEYS: &[KeySpec] = &[KeySpec::single(1, &["OW", "update"])];

pub static COMMANDS: &[Spec] = &[
    spec("dump", 2, READONLY, (1, 1, 1), "generic", "2.6.0", "Return a serialized version of the value stored at the specified key.", dump)
        .described(&[KeySpec::single(1, &["RO", "access"])], &["nondeterministic_output"]),
    spec("restore", -4, WRITE | DENYOOM | DANGEROUS, (1, 1, 1), "generic", "2.6.0", RESTORE_SUMMARY, restore).described(RESTORE_KEYS, &[]),
    spec("restore-asking", -4, WRITE | DENYOOM | ASKING, (1, 1, 1), "server", "3.0.0", "An internal command for migrating keys in a cluster", restore)
        .described(RESTORE_KEYS, &[]),
];

/// DUMP key: the payload, or nil. A read: it counts a hit or miss and
/// refreshes the key's access time, as Redis's `lookupKeyRead`.
fn dump(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    match g.read(&args[1]) {
        Some(e) => ctx.out.bulk(&dump::encode(&e.value)),
        None => ctx.out.null(),
    }
    Ok(())
}

/// RESTORE's options after the payload.
#[derive(Default)]
struct Options {
    replace: bool,
    absttl: bool,
    idle_secs: Option<u64>,
    freq: Option<u8>,
}

impl Options {
    /// `[REPLACE] [ABSTTL] [IDLETIME seconds] [FREQ frequency]`; IDLETIME
    /// and FREQ exclude each other (the second is a syntax error).
    fn parse(opts: &[Bytes]) -> Result<Options, CmdError> {
        let mut o = Options::default();
        let mut i = 0;
        while i < opts.len() {
            let value = opts.get(i + 1);
            match value {
                _ if is(&opts[i], "replace") => o.replace = true,
                _ if is(&opts[i], "absttl") => o.absttl = true,
                Some(v) if is(&opts[i], "idletime") && o.freq.is_none() => {
                    let idle = u64::try_from(int(v)?).map_err(|_| CmdError::err("Invalid IDLETIME value, must be >= 0"))?;
                    o.idle_secs = Some(idle);
                    i += 1;
                }
                Some(v) if is(&opts[i], "freq") && o.idle_secs.is_none() => {
                    let freq = u8::try_from(int(v)?).map_err(|_| CmdError::err("Invalid FREQ value, must be >= 0 and <= 255"))?;
                    o.freq = Some(freq);
                    i += 1;
                }
                _ => return Err(CmdError::Syntax),
            }
            i += 1;
        }
        Ok(o)
    }
}

fn busy_key() -> CmdError {
    CmdError::msg("BUSYKEY Target key name already exists.")
}

/// RESTORE key ttl payload [REPLACE] [ABSTTL] [IDLETIME s] [FREQ f]:
/// ttl 0 is no expiry, else milliseconds from now (or a Unix time in ms
/// with ABSTTL); a time already past stores nothing and answers OK.
fn restore(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let opts = Options::parse(&args[4..])?;
    let decoded = dump::decode(&args[3]);
    let key = &args[1][..];
    let mut g = ctx.db().lock(key, ctx.now);
    if !opts.replace && g.contains(key) {
        return Err(busy_key());
    }
    let ttl = int(&args[2])?;
    if ttl < 0 {
        return Err(CmdError::err("Invalid TTL value, must be >= 0"));
    }
    let value = decoded.map_err(|e| match e {
        DumpError::VersionOrChecksum => CmdError::err("DUMP payload version or checksum are wrong"),
        DumpError::BadData => CmdError::err("Bad data format"),
    })?;
    let expire_at = match ttl {
        0 => None,
        t if opts.absttl => Some(t as u64),
        t => Some((ctx.now as i64).saturating_add(t) as u64),
    };
    let restore = RestoreOpts { expire_at, replace: opts.replace, idle_secs: opts.idle_secs, freq: opts.freq };
    let stored = g.restore(key, value, restore).map_err(|e| match e {
        RestoreError::BusyKey => busy_key(),
        RestoreError::Payload(_) => CmdError::err("Bad data format"),
    })?;
    drop(g);
    if stored {
        ctx.shared.blocking.key_arrived(ctx.client.db, key);
    }
    ctx.out.ok();
    Ok(())
}
