//! Server family.

use bytes::Bytes;

use crate::command::{flags::*, spec, CmdResult, Ctx, Spec};

pub static COMMANDS: &[Spec] =
    &[spec("shutdown", -1, ADMIN | NOSCRIPT | LOADING | STALE | NO_MULTI, (0, 0, 0), "server", "1.0.0", "Synchronously saves the database(s) to disk and shuts down the Redis server.", shutdown)];

fn shutdown(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.shared.shutdown.request();
    ctx.client.close = true;
    Ok(())
}
