//! String family.

use bytes::Bytes;
use ferrocache_store::{StrValue, Value};

use crate::command::{flags::*, spec, CmdError, CmdResult, Ctx, Spec};

pub static COMMANDS: &[Spec] = &[
    spec("get", 2, READONLY | FAST, (1, 1, 1), "string", "1.0.0", "Returns the string value of a key.", get),
    spec("set", -3, WRITE | DENYOOM, (1, 1, 1), "string", "1.0.0", "Sets the string value of a key, ignoring its type. The key is created if it doesn't exist.", set),
];

fn get(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    match g.read(&args[1]).map(|e| &e.value) {
        Some(Value::Str(s)) => ctx.out.bulk(s.as_bytes()),
        None => ctx.out.null(),
        #[allow(unreachable_patterns)]
        Some(_) => return Err(CmdError::WrongType),
    }
    Ok(())
}

fn set(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut g = ctx.db().lock(&args[1], ctx.now);
    g.set(&args[1], Value::Str(StrValue::new(&args[2])));
    ctx.out.ok();
    Ok(())
}
