//! Generic key family.

use bytes::Bytes;

use crate::command::{flags::*, spec, CmdResult, Ctx, Spec};

pub static COMMANDS: &[Spec] = &[spec("del", -2, WRITE, (1, -1, 1), "generic", "1.0.0", "Deletes one or more keys.", del)];

fn del(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let keys = &args[1..];
    let mut g = ctx.db().lock_many(keys.iter().map(|k| &k[..]), ctx.now);
    let n = keys.iter().filter(|k| g.remove(k).is_some()).count();
    ctx.out.int(n as i64);
    Ok(())
}
