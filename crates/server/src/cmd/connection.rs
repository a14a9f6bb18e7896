//! Connection family: PING, ECHO, QUIT, SELECT, AUTH, HELLO, RESET, CLIENT.

use bytes::Bytes;

use crate::args::{int, is, text};
use crate::command::{container, flags::*, spec, CmdError, CmdResult, Ctx, Spec};

pub static COMMANDS: &[Spec] = &[
    spec("ping", -1, FAST | STALE | LOADING, (0, 0, 0), "connection", "1.0.0", "Returns the server's liveliness response.", ping),
    spec("echo", 2, FAST, (0, 0, 0), "connection", "1.0.0", "Returns the given string.", echo),
    spec("quit", -1, ALLOW_BUSY | NO_AUTH | FAST | STALE | LOADING, (0, 0, 0), "connection", "1.0.0", "Closes the connection.", quit),
    spec("select", 2, FAST | STALE | LOADING, (0, 0, 0), "connection", "1.0.0", "Changes the selected database.", select),
    spec("auth", -2, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH, (0, 0, 0), "connection", "1.0.0", "Authenticates the connection.", auth),
    spec("hello", -1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH, (0, 0, 0), "connection", "6.0.0", "Handshakes with the Redis server.", hello),
    spec("reset", 1, NOSCRIPT | LOADING | STALE | FAST | NO_AUTH, (0, 0, 0), "connection", "6.2.0", "Resets the connection.", reset),
    container("client", -2, "connection", "2.4.0", "A container for client connection commands.", CLIENT),
];

static CLIENT: &[Spec] = &[
    spec("id", 2, NOSCRIPT | LOADING | STALE, (0, 0, 0), "connection", "5.0.0", "Returns the unique client ID of the connection.", client_id),
    spec("setname", 3, NOSCRIPT | LOADING | STALE, (0, 0, 0), "connection", "2.6.9", "Sets the connection name.", client_setname),
    spec("getname", 2, NOSCRIPT | LOADING | STALE, (0, 0, 0), "connection", "2.6.9", "Returns the name of the connection.", client_getname),
    spec("list", -2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "connection", "2.4.0", "Lists open connections.", client_list),
    spec("info", 2, NOSCRIPT | LOADING | STALE, (0, 0, 0), "connection", "6.2.0", "Returns information about the connection.", client_info),
    spec("kill", -3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "connection", "2.4.0", "Terminates open connections.", client_kill),
    spec("unblock", -3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "connection", "5.0.0", "Unblock a client blocked in a blocking command from a different connection", client_unblock),
    spec("pause", -3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "connection", "3.0.0", "Suspends commands processing.", client_pause),
    spec("unpause", 2, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "connection", "6.2.0", "Resumes processing of clients that were paused.", client_unpause),
    spec("no-evict", 3, ADMIN | NOSCRIPT | LOADING | STALE, (0, 0, 0), "connection", "7.0.0", "Sets the client eviction mode of the connection.", client_no_evict),
    spec("help", 2, LOADING | STALE, (0, 0, 0), "connection", "5.0.0", "Returns helpful text about the different subcommands.", client_help),
];

/// In RESP2 pub/sub mode PING answers `["pong", <arg or "">]`: the
/// connection carries only arrays then.
fn ping(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() <= 2 && !ctx.client.resp3 && ctx.client.subs.active() {
        ctx.out.array(2);
        ctx.out.bulk(b"pong");
        ctx.out.bulk(args.get(1).map_or(&b""[..], |a| &a[..]));
        return Ok(());
    }
    match args.len() {
        1 => ctx.out.simple("PONG"),
        2 => ctx.out.bulk(&args[1]),
        _ => return Err(CmdError::WrongArity("ping".into())),
    }
    Ok(())
}

fn echo(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    ctx.out.bulk(&args[1]);
    Ok(())
}

fn quit(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.out.ok();
    ctx.client.close = true;
    Ok(())
}

fn select(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let n = crate::args::db_number(&args[1])?;
    // A cluster's keyspace is database 0 only: slots are not per database.
    if ctx.shared.cluster.is_some() && n != 0 {
        return Err(CmdError::err("SELECT is not allowed in cluster mode"));
    }
    ctx.client.db = crate::args::db_in_range(n, ctx.shared.dbs.len())?;
    ctx.out.ok();
    Ok(())
}

/// Checks a username/password pair against the default user.
fn check_password(ctx: &Ctx, user: &[u8], pass: &[u8]) -> bool {
    let config = ctx.shared.config.read();
    user == b"default" && config.requirepass.as_deref().is_none_or(|p| p.as_bytes() == pass)
}

fn auth(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let (user, pass) = match args.len() {
        2 => (&b"default"[..], &args[1][..]),
        3 => (&args[1][..], &args[2][..]),
        _ => return Err(CmdError::Syntax),
    };
    if args.len() == 2 && ctx.shared.config.read().requirepass.is_none() {
        return Err(CmdError::err(
            "AUTH <password> called without any password configured for the default user. Are you sure your configuration is correct?",
        ));
    }
    if !check_password(ctx, user, pass) {
        return Err(CmdError::msg("WRONGPASS invalid username-password pair or user is disabled."));
    }
    ctx.client.authenticated = true;
    ctx.out.ok();
    Ok(())
}

fn hello(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mut proto = None;
    let mut i = 1;
    if args.len() > 1 {
        let v = int(&args[1]).map_err(|_| CmdError::err("Protocol version is not an integer or out of range"))?;
        if !(2..=3).contains(&v) {
            return Err(CmdError::msg("NOPROTO unsupported protocol version"));
        }
        proto = Some(v);
        i = 2;
    }
    let mut name = None;
    let mut credentials = None;
    while i < args.len() {
        let more = args.len() - i - 1;
        if is(&args[i], "auth") && more >= 2 {
            credentials = Some((args[i + 1].clone(), args[i + 2].clone()));
            i += 3;
        } else if is(&args[i], "setname") && more >= 1 {
            name = Some(args[i + 1].clone());
            i += 2;
        } else {
            return Err(CmdError::err(format!("Syntax error in HELLO option '{}'", text(&args[i]))));
        }
    }
    if let Some((user, pass)) = &credentials {
        if !check_password(ctx, user, pass) {
            return Err(CmdError::msg("WRONGPASS invalid username-password pair or user is disabled."));
        }
        ctx.client.authenticated = true;
    }
    if !ctx.client.authenticated {
        return Err(CmdError::msg(
            "NOAUTH HELLO must be called with the client already authenticated, otherwise the HELLO <proto> AUTH <user> <pass> option can be used to authenticate the client and select the RESP protocol version at the same time",
        ));
    }
    if let Some(n) = name {
        set_name(ctx, &n)?;
    }
    if let Some(p) = proto {
        set_protocol(ctx, p == 3);
    }
    let out = &mut *ctx.out;
    out.map(7);
    out.bulk(b"server");
    out.bulk(b"redis");
    out.bulk(b"version");
    out.bulk(crate::REDIS_VERSION.as_bytes());
    out.bulk(b"proto");
    out.int(if ctx.client.resp3 { 3 } else { 2 });
    out.bulk(b"id");
    out.int(ctx.client.id as i64);
    out.bulk(b"mode");
    out.bulk(b"standalone");
    out.bulk(b"role");
    out.bulk(b"master");
    out.bulk(b"modules");
    out.array(0);
    Ok(())
}

/// Switches the connection's protocol (replies and pub/sub messages).
fn set_protocol(ctx: &mut Ctx, resp3: bool) {
    ctx.client.resp3 = resp3;
    ctx.out.resp3 = resp3;
    ctx.client.handle.inbox.resp3.store(resp3, std::sync::atomic::Ordering::Relaxed);
}

fn reset(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.client.multi = None;
    crate::cmd::transactions::unwatch_all(ctx.shared, ctx.client);
    crate::pubsub::leave_all(ctx.shared, ctx.client);
    crate::monitor::leave(ctx.shared, ctx.client);
    ctx.client.db = 0;
    ctx.client.asking = false;
    ctx.client.readonly = false;
    set_protocol(ctx, false);
    ctx.client.name = None;
    ctx.client.authenticated = ctx.shared.config.read().requirepass.is_none();
    ctx.out.simple("RESET");
    Ok(())
}

fn client_id(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.client.id as i64);
    Ok(())
}

fn set_name(ctx: &mut Ctx, name: &[u8]) -> CmdResult {
    if name.iter().any(|&b| !(b'!'..=b'~').contains(&b)) {
        return Err(CmdError::err("Client names cannot contain spaces, newlines or special characters."));
    }
    ctx.client.name = (!name.is_empty()).then(|| text(name));
    ctx.client.handle.meta.lock().name = ctx.client.name.clone().unwrap_or_default();
    Ok(())
}

fn client_setname(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    set_name(ctx, &args[2])?;
    ctx.out.ok();
    Ok(())
}

fn client_getname(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    match &ctx.client.name {
        Some(n) => ctx.out.bulk(n.as_bytes()),
        None => ctx.out.null(),
    }
    Ok(())
}

fn client_list(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    drop(ctx.client.publish());
    let mut ids: Option<Vec<u64>> = None;
    let mut i = 2;
    while i < args.len() {
        if is(&args[i], "type") && i + 1 < args.len() {
            let t = &args[i + 1];
            if !["normal", "master", "replica", "slave", "pubsub"].iter().any(|k| is(t, k)) {
                return Err(CmdError::err(format!("Unknown client type '{}'", text(t))));
            }
            if !is(t, "normal") {
                ids = Some(Vec::new());
            }
            i += 2;
        } else if is(&args[i], "id") && i + 1 < args.len() {
            let mut v = Vec::new();
            for a in &args[i + 1..] {
                match int(a) {
                    Ok(n) if n > 0 => v.push(n as u64),
                    _ => return Err(CmdError::err("Invalid client ID")),
                }
            }
            ids = Some(v);
            i = args.len();
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut text = String::new();
    for c in ctx.shared.clients.all() {
        if ids.as_ref().is_some_and(|v| !v.contains(&c.id)) {
            continue;
        }
        text.push_str(&c.info_line(ctx.now));
        text.push('\n');
    }
    ctx.out.verbatim("txt", text.as_bytes());
    Ok(())
}

fn client_info(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    drop(ctx.client.publish());
    let line = format!("{}\n", ctx.client.handle.info_line(ctx.now));
    ctx.out.verbatim("txt", line.as_bytes());
    Ok(())
}

fn client_kill(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() == 3 {
        let addr = text(&args[2]);
        let target = ctx.shared.clients.all().into_iter().find(|c| c.addr.to_string() == addr);
        return match target {
            Some(c) => {
                kill(ctx, &c);
                ctx.out.ok();
                Ok(())
            }
            None => Err(CmdError::err("No such client")),
        };
    }
    if !args.len().is_multiple_of(2) {
        return Err(CmdError::Syntax);
    }
    let mut id = None;
    let mut addr = None;
    let mut laddr = None;
    let mut skipme = true;
    let mut kind = None;
    for pair in args[2..].chunks(2) {
        let (k, v) = (&pair[0], &pair[1]);
        if is(k, "id") {
            id = Some(int(v).ok().filter(|n| *n > 0).ok_or_else(|| CmdError::err("client-id should be greater than 0"))? as u64);
        } else if is(k, "addr") {
            addr = Some(text(v));
        } else if is(k, "laddr") {
            laddr = Some(text(v));
        } else if is(k, "skipme") {
            skipme = if is(v, "yes") {
                true
            } else if is(v, "no") {
                false
            } else {
                return Err(CmdError::Syntax);
            };
        } else if is(k, "type") {
            let class = text(v).to_ascii_lowercase();
            kind = Some(match class.as_str() {
                "normal" | "master" | "replica" | "pubsub" => class,
                "slave" => "replica".to_string(),
                _ => return Err(CmdError::err(format!("Unknown client type '{}'", text(v)))),
            });
        } else if is(k, "user") || is(k, "maxage") {
            // Accepted filters; every client here is of the default user.
        } else {
            return Err(CmdError::Syntax);
        }
    }
    let mut killed = 0;
    for c in ctx.shared.clients.all() {
        let matches = id.is_none_or(|i| c.id == i)
            && addr.as_ref().is_none_or(|a| c.addr.to_string() == *a)
            && laddr.as_ref().is_none_or(|a| c.laddr.to_string() == *a)
            && kind.as_ref().is_none_or(|k| c.kind() == k);
        if matches && !(skipme && c.id == ctx.client.id) {
            kill(ctx, &c);
            killed += 1;
        }
    }
    ctx.out.int(killed);
    Ok(())
}

/// Closes a client; a blocked one is released at once, so nothing is
/// served to it any more.
fn kill(ctx: &Ctx, c: &crate::client::ClientHandle) {
    c.kill();
    ctx.shared.blocking.cancel(c.id);
}

fn client_unblock(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if args.len() > 4 {
        return Err(CmdError::err(format!("unknown subcommand or wrong number of arguments for '{}'. Try CLIENT HELP.", text(&args[1]))));
    }
    let id = int(&args[2])?;
    let error = match args.get(3) {
        None => false,
        Some(r) if is(r, "timeout") => false,
        Some(r) if is(r, "error") => true,
        Some(_) => return Err(CmdError::err("CLIENT UNBLOCK reason should be TIMEOUT or ERROR")),
    };
    let done = u64::try_from(id).is_ok_and(|id| ctx.shared.blocking.unblock(id, error));
    ctx.out.int(done as i64);
    Ok(())
}

fn client_no_evict(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    if !is(&args[2], "on") && !is(&args[2], "off") {
        return Err(CmdError::Syntax);
    }
    ctx.out.ok();
    Ok(())
}

/// `CLIENT PAUSE timeout [WRITE|ALL]` (see [`crate::pause`]).
fn client_pause(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    let mode = match args.get(3) {
        None => crate::pause::Mode::All,
        Some(m) if is(m, "write") => crate::pause::Mode::Write,
        Some(m) if is(m, "all") => crate::pause::Mode::All,
        Some(_) => return Err(CmdError::err("CLIENT PAUSE mode must be WRITE or ALL")),
    };
    if args.len() > 4 {
        return Err(CmdError::Syntax);
    }
    let until = crate::args::timeout_ms(&args[2], ctx.now)?.unwrap_or(ctx.now);
    crate::pause::start(ctx.shared, mode, until, ctx.client.id);
    ctx.out.ok();
    Ok(())
}

fn client_unpause(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    crate::pause::end(ctx.shared);
    ctx.out.ok();
    Ok(())
}

fn client_help(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let lines = [
        "ID",
        "    Return the ID of the current connection.",
        "GETNAME",
        "    Return the name of the current connection.",
        "SETNAME <name>",
        "    Assign the name <name> to the current connection.",
        "LIST [TYPE (NORMAL|MASTER|REPLICA|PUBSUB)] [ID id [id ...]]",
        "    Return information about client connections.",
        "INFO",
        "    Return information about the current client connection.",
        "KILL <ip:port> | KILL <option> <value> [<option> <value> [...]]",
        "    Kill connections by address or by ID, ADDR, LADDR, SKIPME filters.",
        "UNBLOCK <clientid> [TIMEOUT|ERROR]",
        "    Unblock the specified blocked client.",
        "PAUSE <timeout> [WRITE|ALL]",
        "    Suspend all, or just write, clients for <timeout> milliseconds.",
        "UNPAUSE",
        "    Stop the current client pause, resuming traffic.",
        "NO-EVICT (ON|OFF)",
        "    Accepted for compatibility.",
    ];
    ctx.help("CLIENT", &lines)
}
