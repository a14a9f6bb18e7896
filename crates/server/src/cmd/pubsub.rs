//! Publish/subscribe commands: (P|S)SUBSCRIBE, (P|S)UNSUBSCRIBE,
//! (S)PUBLISH and PUBSUB's introspection. The registry and delivery live in
//! [`crate::pubsub`]; these handlers only parse and shape replies.
//!
//! Sharded pub/sub (SSUBSCRIBE, SPUBLISH, ...) behaves as in a standalone
//! Redis: plain channels in a namespace of their own.

use bytes::Bytes;

use crate::command::{container, flags::*, spec, CmdError, CmdResult, Ctx, Spec};
use crate::pubsub::{self, Space};

const SUB: u32 = PUBSUB | NOSCRIPT | LOADING | STALE;
const PUB: u32 = PUBSUB | LOADING | STALE | FAST;
const INTROSPECT: u32 = PUBSUB | LOADING | STALE;

pub static COMMANDS: &[Spec] = &[
    spec("subscribe", -2, SUB, (0, 0, 0), "pubsub", "2.0.0", "Listens for messages published to channels.", subscribe),
    spec("unsubscribe", -1, SUB, (0, 0, 0), "pubsub", "2.0.0", "Stops listening to messages posted to channels.", unsubscribe),
    spec("psubscribe", -2, SUB, (0, 0, 0), "pubsub", "2.0.0", "Listens for messages published to channels that match one or more patterns.", psubscribe),
    spec("punsubscribe", -1, SUB, (0, 0, 0), "pubsub", "2.0.0", "Stops listening to messages published to channels that match one or more patterns.", punsubscribe),
    spec("ssubscribe", -2, SUB, (1, -1, 1), "pubsub", "7.0.0", "Listens for messages published to shard channels.", ssubscribe),
    spec("sunsubscribe", -1, SUB, (1, -1, 1), "pubsub", "7.0.0", "Stops listening to messages posted to shard channels.", sunsubscribe),
    spec("publish", 3, PUB, (0, 0, 0), "pubsub", "2.0.0", "Posts a message to a channel.", publish),
    spec("spublish", 3, PUB, (1, 1, 1), "pubsub", "7.0.0", "Posts a message to a shard channel.", spublish),
    container("pubsub", -2, "pubsub", "2.8.0", "A container for Pub/Sub commands.", PUBSUB_SUBCOMMANDS),
];

static PUBSUB_SUBCOMMANDS: &[Spec] = &[
    spec("channels", -2, INTROSPECT, (0, 0, 0), "pubsub", "2.8.0", "Returns the active channels.", channels),
    spec("numpat", 2, INTROSPECT, (0, 0, 0), "pubsub", "2.8.0", "Returns a count of unique pattern subscriptions.", numpat),
    spec("numsub", -2, INTROSPECT, (0, 0, 0), "pubsub", "2.8.0", "Returns a count of subscribers to channels.", numsub),
    spec("shardchannels", -2, INTROSPECT, (0, 0, 0), "pubsub", "7.0.0", "Returns the active shard channels.", shardchannels),
    spec("shardnumsub", -2, INTROSPECT, (0, 0, 0), "pubsub", "7.0.0", "Returns the count of subscribers of shard channels.", shardnumsub),
    spec("help", 2, LOADING | STALE, (0, 0, 0), "pubsub", "6.2.0", "Returns helpful text about the different subcommands.", help),
];

fn subscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pubsub::subscribe(ctx.shared, ctx.client, ctx.out, Space::Channel, &args[1..]);
    Ok(())
}

fn psubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pubsub::subscribe(ctx.shared, ctx.client, ctx.out, Space::Pattern, &args[1..]);
    Ok(())
}

fn ssubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    // Inside EXEC (the only place a command runs with the gate held
    // exclusively and can reach this), as Redis 7.0 refuses it.
    if ctx.shared.gate.is_locked_exclusive() {
        return Err(CmdError::err("SSUBSCRIBE isn't allowed for a DENY BLOCKING client"));
    }
    pubsub::subscribe(ctx.shared, ctx.client, ctx.out, Space::Shard, &args[1..]);
    Ok(())
}

fn unsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pubsub::unsubscribe(ctx.shared, ctx.client, ctx.out, Space::Channel, &args[1..]);
    Ok(())
}

fn punsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pubsub::unsubscribe(ctx.shared, ctx.client, ctx.out, Space::Pattern, &args[1..]);
    Ok(())
}

fn sunsubscribe(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    pubsub::unsubscribe(ctx.shared, ctx.client, ctx.out, Space::Shard, &args[1..]);
    Ok(())
}

fn publish(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    publish_in(ctx, Space::Channel, args)
}

fn spublish(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    publish_in(ctx, Space::Shard, args)
}

fn publish_in(ctx: &mut Ctx, space: Space, args: &[Bytes]) -> CmdResult {
    let receivers = ctx.shared.pubsub.publish(ctx.shared, space, &args[1], &args[2], ctx.client.id, ctx.out);
    ctx.out.int(receivers as i64);
    Ok(())
}

fn channels(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    list_names(ctx, Space::Channel, args)
}

fn shardchannels(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    list_names(ctx, Space::Shard, args)
}

/// `PUBSUB (SHARD)CHANNELS [pattern]`.
fn list_names(ctx: &mut Ctx, space: Space, args: &[Bytes]) -> CmdResult {
    if args.len() > 3 {
        let mut msg = b"ERR unknown subcommand or wrong number of arguments for '".to_vec();
        msg.extend_from_slice(&args[1]);
        msg.extend_from_slice(b"'. Try PUBSUB HELP.");
        return Err(CmdError::Bytes(msg));
    }
    let names = ctx.shared.pubsub.names(space, args.get(2).map(|p| &p[..]));
    ctx.out.array(names.len());
    for n in &names {
        ctx.out.bulk(n);
    }
    Ok(())
}

fn numsub(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    count_subscribers(ctx, Space::Channel, args)
}

fn shardnumsub(ctx: &mut Ctx, args: &[Bytes]) -> CmdResult {
    count_subscribers(ctx, Space::Shard, args)
}

/// `PUBSUB (SHARD)NUMSUB [channel ...]`: a flat array of name, count (also in RESP3).
fn count_subscribers(ctx: &mut Ctx, space: Space, args: &[Bytes]) -> CmdResult {
    ctx.out.array(2 * (args.len() - 2));
    for name in &args[2..] {
        ctx.out.bulk(name);
        ctx.out.int(ctx.shared.pubsub.numsub(space, name) as i64);
    }
    Ok(())
}

fn numpat(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    ctx.out.int(ctx.shared.pubsub.count(Space::Pattern) as i64);
    Ok(())
}

fn help(ctx: &mut Ctx, _: &[Bytes]) -> CmdResult {
    let lines = [
        "CHANNELS [<pattern>]",
        "    Return the currently active channels matching a <pattern> (default: '*').",
        "NUMPAT",
        "    Return number of subscriptions to patterns.",
        "NUMSUB [<channel> ...]",
        "    Return the number of subscribers for the specified channels, excluding",
        "    pattern subscriptions(default: no channels).",
        "SHARDCHANNELS [<pattern>]",
        "    Return the currently active shard level channels matching a <pattern> (default: '*').",
        "SHARDNUMSUB [<shardchannel> ...]",
        "    Return the number of subscribers for the specified shard level channel(s)",
    ];
    ctx.help("PUBSUB", &lines)
}
