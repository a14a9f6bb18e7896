//! MONITOR: puts the connection in monitor mode (see [`crate::monitor`]).

use bytes::Bytes;

use crate::command::{CmdError, CmdResult, Ctx};

pub fn monitor(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    // EXEC holds the gate exclusively: a transaction expects one reply per command.
    if ctx.shared.gate.is_locked_exclusive() {
        return Err(CmdError::err("MONITOR isn't allowed for DENY BLOCKING client"));
    }
    // A second MONITOR gets no reply at all, as in Redis.
    if ctx.shared.monitors.add(&ctx.client.handle) {
        ctx.client.monitor = true;
        ctx.client.handle.meta.lock().monitor = true;
        ctx.out.ok();
    }
    Ok(())
}
