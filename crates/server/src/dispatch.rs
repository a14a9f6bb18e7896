//! From a parsed request to a reply: lookup, arity, authentication,
//! transaction queueing, then the handler; each outcome is counted in
//! [`crate::cmdstats`] (a run with its time, a refusal, an error reply).
//! A run's measured time also feeds the slow log ([`crate::slowlog`]) and
//! the latency monitor ([`crate::latency`]), and the run is shown to
//! MONITOR clients ([`crate::monitor`]); each is one relaxed load when off.

use bytes::Bytes;
use ferrocache_resp::ReplyBuf;

use crate::client::Client;
use crate::command::{flags, CmdError, Ctx, Spec};
use crate::shared::Shared;
use crate::table::{subcommand, table};

/// Commands that run even while a transaction is being queued.
const MULTI_CONTROL: &[&str] = &["exec", "discard", "multi", "watch", "quit", "reset"];

/// Commands a RESP2 client may run while subscribed (its connection then
/// carries only pub/sub frames).
const SUBSCRIBED_ALLOWED: &[&str] =
    &["ping", "subscribe", "ssubscribe", "unsubscribe", "sunsubscribe", "psubscribe", "punsubscribe", "quit", "reset"];

/// Commands after which the eviction settings may have changed (CONFIG
/// SET, also inside EXEC); the keyspace picks them up at once.
const TUNING_CHANGERS: &[&str] = &["config", "exec"];

/// Runs one request and writes its reply into `out`; `now` is the time
/// in Unix ms (read by the caller once for a few pipelined requests).
pub fn execute(shared: &Shared, client: &mut Client, out: &mut ReplyBuf, args: Vec<Bytes>, now: u64) {
    // ASKING holds for the next command only (whatever became of it), or
    // for the transaction that command opened, as in Redis.
    let keeps_asking = args[0].len() == 6 && args[0].eq_ignore_ascii_case(b"asking");
    execute_one(shared, client, out, args, now);
    if client.asking && !keeps_asking && client.multi.is_none() {
        client.asking = false;
    }
}

fn execute_one(shared: &Shared, client: &mut Client, out: &mut ReplyBuf, args: Vec<Bytes>, now: u64) {
    let (parent, spec) = match resolve(&args) {
        Ok(found) => found,
        Err(e) => return reject(shared, client, out, &args, rejected_id(&args), e),
    };
    // Only a refusal needs the id here (a run finds it in `run`).
    let id = || table().id(spec);
    if !client.authenticated && !spec.has(flags::NO_AUTH) {
        return reject(shared, client, out, &args, id(), CmdError::msg("NOAUTH Authentication required."));
    }
    if let Some(cluster) = &shared.cluster
        && let Err(e) = crate::cluster::check(shared, cluster, client, spec, &args, now)
    {
        return redirect(shared, client, out, &args, id(), e);
    }
    if spec.has(flags::WRITE) && !client.master && shared.repl.is_replica() {
        return reject(shared, client, out, &args, id(), CmdError::msg("READONLY You can't write against a read only replica."));
    }
    let writes = spec.has(flags::WRITE) || (parent.name == "exec" && client.multi.as_ref().is_some_and(crate::client::Multi::writes));
    if writes && !client.master && shared.repl.too_few_replicas(now) {
        return reject(shared, client, out, &args, id(), CmdError::msg("NOREPLICAS Not enough good replicas to write."));
    }
    // A replica keeps what its primary sends whatever its own maxmemory (as Redis's
    // replica-ignore-maxmemory): evicting here would make it differ from the primary.
    if spec.has(flags::DENYOOM)
        && !client.master
        && let Err(e) = crate::evict::make_room(shared, now) {
            return reject(shared, client, out, &args, id(), e);
        }
    if !client.resp3 && client.subs.active() && !SUBSCRIBED_ALLOWED.contains(&parent.name) {
        let name = if std::ptr::eq(parent, spec) { parent.name.to_string() } else { format!("{}|{}", parent.name, spec.name) };
        let e = CmdError::err(format!(
            "Can't execute '{name}': only (P|S)SUBSCRIBE / (P|S)UNSUBSCRIBE / PING / QUIT / RESET are allowed in this context"
        ));
        return reject(shared, client, out, &args, id(), e);
    }
    if let Some(multi) = client.multi.as_mut()
        && !MULTI_CONTROL.contains(&spec.name) {
            if spec.has(flags::NO_MULTI) {
                return reject(shared, client, out, &args, id(), CmdError::err("Command not allowed inside a transaction"));
            }
            multi.queued.push((spec, args));
            out.simple("QUEUED");
            return;
        }
    client.last_cmd = (parent.name, (!std::ptr::eq(parent, spec)).then_some(spec.name));
    crate::repl::propagate::take_appended();
    let mut ctx = Ctx { shared, client, out, now };
    if spec.has(flags::EXCLUSIVE) {
        let _alone = shared.gate.write();
        run(&mut ctx, spec, &args);
        crate::blocking::serve_ready(shared);
    } else {
        let _shared = shared.gate.read();
        run(&mut ctx, spec, &args);
        crate::blocking::serve_ready(shared);
    }
    // What this command appended to the stream is what a WAIT of this client waits for.
    if let Some(end) = crate::repl::propagate::take_appended() {
        client.woff = end;
    }
    if TUNING_CHANGERS.contains(&parent.name) {
        crate::evict::sync_tuning(shared);
    }
}

/// Runs a resolved command (also used by EXEC for queued commands, with
/// the gate already held).
/// A panicking handler is a bug; the client gets an error reply, the
/// server logs it and keeps serving.
pub fn run(ctx: &mut Ctx, spec: &'static Spec, args: &[Bytes]) {
    let started = std::time::Instant::now();
    let mark = ctx.out.len();
    let replicated = spec.has(flags::WRITE) && ctx.shared.repl.active();
    if replicated {
        crate::repl::propagate::begin(ctx.client.db, args, ctx.now);
    }
    let result = std::panic::catch_unwind(std::panic::AssertUnwindSafe(|| (spec.handler)(ctx, args)));
    // What no keyspace guard took: a keyless write (FLUSHALL, SWAPDB) that succeeded is
    // replicated as it is; a keyed command left it because it changed nothing.
    if replicated {
        let left = crate::repl::propagate::take_current();
        if !left.is_empty() && !spec.has_keys() && matches!(result, Ok(Ok(()))) {
            ctx.shared.repl.append(left);
        }
    }
    match result {
        Ok(Ok(())) => crate::blocking::after_write(ctx, spec, args),
        Ok(Err(e)) => ctx.out.error_bytes(&e.bytes()),
        Err(_) => {
            tracing::error!(command = spec.name, "command handler panicked");
            ctx.out.buf.truncate(mark);
            ctx.out.error(&format!("ERR internal error while running '{}'", spec.name));
        }
    }
    // A reply that is an error, whether returned or written by the handler.
    let failed = ctx.out.buf.get(mark) == Some(&b'-');
    let stats = &ctx.shared.cmdstats;
    if failed {
        stats.error(&ctx.out.buf[mark + 1..]);
    }
    let nanos = started.elapsed().as_nanos() as u64;
    if let Some(id) = table().id(spec) {
        stats.record(id, nanos, failed);
    }
    // EXEC is not logged itself (its commands are, one by one), as in Redis.
    if ctx.shared.slowlog.is_slow(nanos) && !spec.has(flags::SKIP_SLOWLOG) {
        log_slow(ctx, args, nanos);
    }
    if let Some(ms) = ctx.shared.latency.spike(nanos) {
        note_latency(ctx.shared, spec, ms);
    }
    // After the command, as Redis 7 does (SELECT shows the database it
    // selected; EXEC follows its commands); admin commands are not shown.
    if ctx.shared.monitors.active() && !spec.has(flags::ADMIN) {
        show_to_monitors(ctx, args);
    }
}

/// A command over `latency-monitor-threshold`: a `command` or (for a
/// command flagged fast) `fast-command` latency event, as Redis names them.
#[cold]
fn note_latency(shared: &Shared, spec: &Spec, ms: u64) {
    let event = if spec.has(flags::FAST) { "fast-command" } else { "command" };
    let now = std::time::SystemTime::now().duration_since(std::time::UNIX_EPOCH).unwrap_or_default();
    shared.latency.add(event, ms, now.as_secs());
}

/// Streams a command to the clients in MONITOR mode (only when there are some).
#[cold]
fn show_to_monitors(ctx: &Ctx, args: &[Bytes]) {
    ctx.shared.monitors.feed(ctx.shared, ctx.client.db, &ctx.client.handle.addr.to_string(), args);
}

/// Adds a command judged slow to the slow log (off the hot path).
#[cold]
fn log_slow(ctx: &Ctx, args: &[Bytes], nanos: u64) {
    let mut kept = crate::slowlog::trim_args(args);
    crate::slowlog::redact(&mut kept);
    ctx.shared.slowlog.push(crate::slowlog::Entry {
        id: 0,
        time: ctx.now / 1000,
        micros: nanos / 1000,
        args: kept,
        addr: ctx.client.handle.addr.to_string(),
        name: ctx.client.name.clone().unwrap_or_default(),
    });
}

/// The reply a blocked command got when its wait ended (served, timed out, CLIENT UNBLOCK
/// ERROR, redirected): an error counts in errorstats and as the command's failure, as Redis
/// counts it.
pub fn note_blocked_reply(shared: &Shared, client: &Client, reply: &[u8]) {
    let Some(message) = reply.strip_prefix(b"-") else { return };
    shared.cmdstats.error(message);
    let (name, sub) = client.last_cmd;
    let spec = table().get(name.as_bytes()).and_then(|s| sub.map_or(Some(s), |sub| subcommand(s, sub.as_bytes())));
    if let Some(id) = spec.and_then(|s| table().id(s)) {
        shared.cmdstats.failed(id);
    }
}

/// The command a refused request counts against: the one named, even with
/// the wrong number of arguments (as Redis counts its `rejected_calls`);
/// none for an unknown command or subcommand.
fn rejected_id(args: &[Bytes]) -> Option<usize> {
    let spec = table().get(&args[0])?;
    let spec = if spec.subcommands.is_empty() || args.len() == 1 { spec } else { subcommand(spec, &args[1])? };
    table().id(spec)
}

/// Finds the spec for `args`, descending into subcommands, and checks
/// arity. Returns (the top-level command, the spec to run).
pub fn resolve(args: &[Bytes]) -> Result<(&'static Spec, &'static Spec), CmdError> {
    let Some(spec) = table().get(&args[0]) else {
        return Err(unknown_command(args));
    };
    if !spec.arity_ok(args.len()) {
        return Err(CmdError::WrongArity(spec.name.to_string()));
    }
    // A container called bare runs its own handler (only COMMAND's arity allows it).
    if spec.subcommands.is_empty() || args.len() == 1 {
        return Ok((spec, spec));
    }
    let Some(sub) = subcommand(spec, &args[1]) else {
        let mut msg = b"ERR unknown subcommand '".to_vec();
        msg.extend_from_slice(c_prefix(&args[1], 128));
        msg.extend_from_slice(format!("'. Try {} HELP.", spec.name.to_ascii_uppercase()).as_bytes());
        return Err(CmdError::Bytes(msg));
    };
    if !sub.arity_ok(args.len()) {
        return Err(CmdError::WrongArity(format!("{}|{}", spec.name, sub.name)));
    }
    Ok((spec, sub))
}

fn unknown_command(args: &[Bytes]) -> CmdError {
    let mut rest = Vec::new();
    for a in &args[1..] {
        if rest.len() >= 128 {
            break;
        }
        let room = 128 - rest.len();
        rest.push(b'\'');
        rest.extend_from_slice(c_prefix(a, room));
        rest.extend_from_slice(b"' ");
    }
    let mut msg = b"ERR unknown command '".to_vec();
    msg.extend_from_slice(c_prefix(&args[0], 128));
    msg.extend_from_slice(b"', with args beginning with: ");
    msg.extend_from_slice(&rest);
    CmdError::Bytes(msg)
}

/// What C's `%.{max}s` prints of `arg`: up to the first NUL, at most `max` bytes.
fn c_prefix(arg: &[u8], max: usize) -> &[u8] {
    let end = arg.iter().position(|&b| b == 0).unwrap_or(arg.len()).min(max);
    &arg[..end]
}

/// A cluster redirection (MOVED, CROSSSLOT, ...) instead of running the
/// command. For EXEC it comes as itself, not as an EXECABORT, and the
/// transaction is discarded: Redis answers so, and cluster clients look
/// for the redirection at the start of the error.
fn redirect(shared: &Shared, client: &mut Client, out: &mut ReplyBuf, args: &[Bytes], id: Option<usize>, e: CmdError) {
    if !args[0].eq_ignore_ascii_case(b"exec") {
        return reject(shared, client, out, args, id, e);
    }
    client.multi = None;
    crate::cmd::transactions::unwatch_all(shared, client);
    refuse(shared, out, id, &e.bytes());
}

/// An error before the command ran; inside MULTI it also dooms EXEC. A
/// rejected EXEC itself discards the transaction, as Redis does.
fn reject(shared: &Shared, client: &mut Client, out: &mut ReplyBuf, args: &[Bytes], id: Option<usize>, e: CmdError) {
    if args[0].eq_ignore_ascii_case(b"exec") {
        client.multi = None;
        crate::cmd::transactions::unwatch_all(shared, client);
        let text = e.bytes();
        let reason = text.strip_prefix(b"ERR ").unwrap_or(&text);
        let mut msg = b"EXECABORT Transaction discarded because of: ".to_vec();
        msg.extend_from_slice(reason);
        return refuse(shared, out, id, &msg);
    }
    if let Some(m) = client.multi.as_mut() {
        m.failed = true;
    }
    refuse(shared, out, id, &e.bytes());
}

/// Replies `message` to a command that did not run, and counts it.
fn refuse(shared: &Shared, out: &mut ReplyBuf, id: Option<usize>, message: &[u8]) {
    if let Some(id) = id {
        shared.cmdstats.rejected(id);
    }
    shared.cmdstats.error(message);
    out.error_bytes(message);
}
