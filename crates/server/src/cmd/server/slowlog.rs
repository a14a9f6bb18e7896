//! SLOWLOG GET/LEN/RESET/HELP over [`crate::slowlog`], with Redis's reply
//! shape and error texts.

use bytes::Bytes;

use crate::args::int;
use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};

const FLAGS: u32 = ADMIN | LOADING | STALE;

pub static SUBCOMMANDS: &[Spec] = &[
    spec("get", -2, FLAGS, (0, 0, 0), "server", "2.2.12", "Returns the slow log's entries.", get),
    spec("len", 2, FLAGS, (0, 0, 0), "server", "2.2.12", "Returns the number of entries in the slow log.", len),
    spec("reset", 2, FLAGS, (0, 0, 0), "server", "2.2.12", "Clears all entries from the slow log.", reset),
    spec("help", 2, LOADING | STALE, (0, 0, 0), "server", "6.2.0", "Show helpful text about the different subcommands", help),
];

/// `SLOWLOG GET [count]`: the newest `count` entries (10 by default, -1 for all).
fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let count = match args {
        [_, _] => Some(10),
        // Redis gives this one text for a count that is not an integer too.
        [_, _, n] => match int(n).ok().filter(|&n| n >= -1) {
            Some(-1) => None,
            Some(n) => Some(n as usize),
            None => return Err(CmdError::err("count should be greater than or equal to -1")),
        },
        _ => {
            return Err(CmdError::err(format!(
                "unknown subcommand or wrong number of arguments for '{}'. Try SLOWLOG HELP.",
                crate::args::text(&args[1])
            )))
        }
    };
    let entries = ctx.shared.slowlog.newest(count);
    ctx.out.array(entries.len());
    for e in entries {
        ctx.out.array(6);
        ctx.out.int(e.id as i64);
        ctx.out.int(e.time as i64);
        ctx.out.int(e.micros as i64);
        ctx.out.array(e.args.len());
        for a in &e.args {
            ctx.out.bulk(a);
        }
        ctx.out.bulk(e.addr.as_bytes());
        ctx.out.bulk(e.name.as_bytes());
    }
    Ok(())
}

fn len(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.shared.slowlog.len() as i64);
    Ok(())
}

fn reset(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.shared.slowlog.reset();
    ctx.out.ok();
    Ok(())
}

fn help(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.help(
        "SLOWLOG",
        &[
            "GET [<count>]",
            "    Return top <count> entries from the slowlog (default: 10, -1 mean all).",
            "    Entries are made of:",
            "    id, timestamp, time in microseconds, arguments array, client IP and port,",
            "    client name",
            "LEN",
            "    Return the length of the slowlog.",
            "RESET",
            "    Reset the slowlog.",
        ],
    )
}
