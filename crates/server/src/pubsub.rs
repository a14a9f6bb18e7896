//! Publish/subscribe: who listens to what, and how a message reaches them.
//!
//! The [`PubSub`] registry maps each channel, pattern and shard channel
//! to its subscribers' handles, so PUBLISH costs one lookup plus the
//! subscribers it reaches, plus one glob match per distinct pattern.
//!
//! Delivery crosses event-loop threads: the publisher encodes the message
//! once per protocol into a shared [`Bytes`] frame and appends it to each
//! subscriber's [`Inbox`], then wakes that subscriber's connection task,
//! which copies queued frames into its output ahead of its next reply. One
//! publisher's messages are queued in the order it sent them. A message a
//! client publishes to itself goes straight into its own reply buffer, so
//! it precedes the PUBLISH reply, as in Redis.
//!
//! An inbox counts the bytes queued and not yet written to the socket; past
//! `client-output-buffer-limit pubsub` (hard bytes, or soft bytes for longer
//! than its seconds) the inbox drops its queue, refuses further messages and
//! the client is killed: a subscriber that stops reading costs bounded memory.
//! MONITOR's lines travel through the same inbox, under the normal class's
//! limit ([`crate::monitor`]).

use std::collections::{HashMap, HashSet, VecDeque};
use std::sync::atomic::{AtomicBool, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use ferrocache_resp::ReplyBuf;
use ferrocache_store::glob;
use parking_lot::{Mutex, RwLock};

use crate::client::{Client, ClientHandle};
use crate::shared::Shared;

/// The three namespaces of subscriptions.
#[derive(Debug, Clone, Copy, PartialEq, Eq)]
pub enum Space {
    Channel = 0,
    Pattern = 1,
    /// Sharded channels (SSUBSCRIBE): a separate namespace in standalone mode.
    Shard = 2,
}

impl Space {
    /// The kind word of subscribe confirmations.
    pub fn subscribe_word(self) -> &'static [u8] {
        match self {
            Space::Channel => b"subscribe",
            Space::Pattern => b"psubscribe",
            Space::Shard => b"ssubscribe",
        }
    }

    /// The kind word of unsubscribe confirmations.
    pub fn unsubscribe_word(self) -> &'static [u8] {
        match self {
            Space::Channel => b"unsubscribe",
            Space::Pattern => b"punsubscribe",
            Space::Shard => b"sunsubscribe",
        }
    }

    /// The kind word of delivered messages.
    fn message_word(self) -> &'static [u8] {
        match self {
            Space::Channel => b"message",
            Space::Pattern => b"pmessage",
            Space::Shard => b"smessage",
        }
    }
}

/// Subscribers of one channel or pattern, by client id.
type Subscribers = HashMap<u64, Arc<ClientHandle>>;

/// The server-wide registry: for each namespace, name → subscribers.
#[derive(Debug, Default)]
pub struct PubSub {
    spaces: [RwLock<HashMap<Bytes, Subscribers>>; 3],
}

/// `client-output-buffer-limit pubsub`: hard bytes, soft bytes, soft seconds (0 = none).
pub type Limit = (u64, u64, u64);

impl PubSub {
    fn space(&self, space: Space) -> &RwLock<HashMap<Bytes, Subscribers>> {
        &self.spaces[space as usize]
    }

    /// Active names in `space` (channels with at least one subscriber, or
    /// distinct patterns).
    pub fn count(&self, space: Space) -> usize {
        self.space(space).read().len()
    }

    /// Subscribers of `name` in `space`.
    pub fn numsub(&self, space: Space, name: &[u8]) -> usize {
        self.space(space).read().get(name).map_or(0, HashMap::len)
    }

    /// Active names in `space` that match `pattern` (all when None).
    pub fn names(&self, space: Space, pattern: Option<&[u8]>) -> Vec<Bytes> {
        let map = self.space(space).read();
        map.keys().filter(|n| pattern.is_none_or(|p| glob::matches(p, n))).cloned().collect()
    }

    fn add(&self, space: Space, name: &Bytes, handle: &Arc<ClientHandle>) {
        self.space(space).write().entry(name.clone()).or_default().insert(handle.id, handle.clone());
    }

    fn remove(&self, space: Space, name: &[u8], id: u64) {
        let mut map = self.space(space).write();
        if let Some(subs) = map.get_mut(name) {
            subs.remove(&id);
            if subs.is_empty() {
                map.remove(name);
            }
        }
    }

    /// Delivers `payload` on `channel` (in `Channel` or `Shard` space) to
    /// every receiver; returns how many received it (a client subscribed
    /// to the channel and to matching patterns counts once per
    /// subscription). The publisher's own copies go into `out`.
    pub fn publish(&self, shared: &Shared, space: Space, channel: &[u8], payload: &[u8], me: u64, out: &mut ReplyBuf) -> usize {
        let limit = shared.config.read().obuf_pubsub;
        let mut post = Post { shared, limit, me, out, now: ferrocache_store::clock::now_ms() };
        let mut receivers = 0;
        if let Some(subs) = self.space(space).read().get(channel) {
            let mut msg = Message::new([space.message_word(), channel, payload].to_vec());
            receivers += post.deliver(subs, &mut msg);
        }
        if space == Space::Channel {
            for (pattern, subs) in self.space(Space::Pattern).read().iter() {
                if glob::matches(pattern, channel) {
                    let mut msg = Message::new([Space::Pattern.message_word(), pattern, channel, payload].to_vec());
                    receivers += post.deliver(subs, &mut msg);
                }
            }
        }
        receivers
    }
}

/// One message, encoded lazily once per protocol and shared by all its
/// receivers.
struct Message<'a> {
    parts: Vec<&'a [u8]>,
    /// RESP2 and RESP3 encodings.
    frames: [Option<Bytes>; 2],
}

impl<'a> Message<'a> {
    fn new(parts: Vec<&'a [u8]>) -> Self {
        Message { parts, frames: [None, None] }
    }

    fn frame(&mut self, resp3: bool) -> &Bytes {
        let parts = &self.parts;
        self.frames[resp3 as usize].get_or_insert_with(|| {
            let size = parts.iter().map(|p| p.len() + 16).sum::<usize>() + 8;
            let mut buf = ReplyBuf { buf: Vec::with_capacity(size), resp3 };
            buf.push(parts.len());
            for p in parts {
                buf.bulk(p);
            }
            Bytes::from(buf.buf)
        })
    }
}

/// One PUBLISH's delivery context.
struct Post<'a> {
    shared: &'a Shared,
    limit: Limit,
    me: u64,
    out: &'a mut ReplyBuf,
    now: u64,
}

impl Post<'_> {
    fn deliver(&mut self, subs: &Subscribers, msg: &mut Message) -> usize {
        for handle in subs.values() {
            if handle.id == self.me {
                let frame = msg.frame(self.out.resp3);
                self.out.buf.extend_from_slice(frame);
                continue;
            }
            let frame = msg.frame(handle.inbox.resp3.load(Ordering::Relaxed));
            if !handle.inbox.push(frame, self.limit, self.now) {
                self.shared.stats.obuf_closed.fetch_add(1, Ordering::Relaxed);
                tracing::info!(id = handle.id, "closing subscriber that overcame its pubsub output buffer limit");
                handle.kill();
            }
        }
        subs.len()
    }
}

/// Messages waiting for one client's connection task.
#[derive(Debug, Default)]
pub struct Inbox {
    queue: Mutex<Queue>,
    /// Frames queued, and whether frames were moved to the connection's
    /// output since its last write: lock-free "anything to do?" checks for
    /// the connection's hot path.
    queued: AtomicUsize,
    moved: AtomicBool,
    /// Wakes the connection task when a message arrives.
    pub ready: crate::signal::Signal,
    /// Whether the client speaks RESP3 (messages are then push frames).
    pub resp3: AtomicBool,
}

#[derive(Debug, Default)]
struct Queue {
    frames: VecDeque<Bytes>,
    /// Bytes queued plus bytes moved to the connection's output and not
    /// yet written: what the output buffer limit counts.
    bytes: usize,
    /// Of `bytes`, those moved to the connection's output.
    in_flight: usize,
    /// Unix ms since when `bytes` has been above the soft limit.
    soft_since: Option<u64>,
    /// The limit was passed: the client is being closed; drop messages.
    closed: bool,
}

impl Inbox {
    /// Queues a frame; false if that takes the client past `limit` (the
    /// queue is then dropped and the inbox refuses further frames).
    pub(crate) fn push(&self, frame: &Bytes, (hard, soft, secs): Limit, now: u64) -> bool {
        let mut q = self.queue.lock();
        if q.closed {
            return true;
        }
        q.bytes += frame.len();
        let bytes = q.bytes as u64;
        let over_hard = hard > 0 && bytes > hard;
        let over_soft = if soft > 0 && bytes > soft {
            let since = *q.soft_since.get_or_insert(now);
            now.saturating_sub(since) > secs * 1000
        } else {
            q.soft_since = None;
            false
        };
        if over_hard || over_soft {
            q.closed = true;
            q.frames = VecDeque::new();
            self.queued.store(0, Ordering::Relaxed);
            return false;
        }
        q.frames.push_back(frame.clone());
        self.queued.fetch_add(1, Ordering::Relaxed);
        drop(q);
        self.ready.notify();
        true
    }

    /// Moves queued frames to the end of `out`.
    pub fn drain_into(&self, out: &mut ReplyBuf) {
        if self.queued.load(Ordering::Relaxed) == 0 {
            return;
        }
        let mut q = self.queue.lock();
        let mut moved = 0;
        for frame in q.frames.drain(..) {
            out.buf.extend_from_slice(&frame);
            moved += frame.len();
        }
        q.in_flight += moved;
        self.queued.store(0, Ordering::Relaxed);
        self.moved.store(true, Ordering::Relaxed);
    }

    /// The connection wrote its output: frames moved there no longer count.
    pub fn written(&self) {
        if !self.moved.swap(false, Ordering::Relaxed) {
            return;
        }
        let mut q = self.queue.lock();
        q.bytes -= q.in_flight;
        q.in_flight = 0;
    }

    /// Bytes counted against the limit (queued or being written).
    pub fn pending_bytes(&self) -> usize {
        self.queue.lock().bytes
    }
}

/// One client's subscriptions, per namespace.
#[derive(Debug, Default)]
pub struct Subscriptions {
    sets: [HashSet<Bytes>; 3],
}

impl Subscriptions {
    pub fn len(&self, space: Space) -> usize {
        self.sets[space as usize].len()
    }

    /// Subscribed to anything: the client is in pub/sub mode.
    pub fn active(&self) -> bool {
        self.sets.iter().any(|s| !s.is_empty())
    }

    /// The count a (un)subscribe confirmation shows: channels plus
    /// patterns, or shard channels.
    fn count(&self, space: Space) -> usize {
        match space {
            Space::Shard => self.len(Space::Shard),
            _ => self.len(Space::Channel) + self.len(Space::Pattern),
        }
    }
}

/// SUBSCRIBE and friends: subscribes to each name, confirming each.
pub fn subscribe(shared: &Shared, client: &mut Client, out: &mut ReplyBuf, space: Space, names: &[Bytes]) {
    for name in names {
        if !client.subs.sets[space as usize].contains(name) {
            let name = Bytes::copy_from_slice(name);
            shared.pubsub.add(space, &name, &client.handle);
            client.subs.sets[space as usize].insert(name);
        }
        confirm(out, space.subscribe_word(), Some(name), client.subs.count(space));
    }
}

/// UNSUBSCRIBE and friends: unsubscribes from each name (from all when
/// none are given), confirming each; a client with nothing to drop gets
/// one confirmation with a nil name.
pub fn unsubscribe(shared: &Shared, client: &mut Client, out: &mut ReplyBuf, space: Space, names: &[Bytes]) {
    let all: Vec<Bytes>;
    let names = if names.is_empty() {
        all = client.subs.sets[space as usize].iter().cloned().collect();
        if all.is_empty() {
            return confirm(out, space.unsubscribe_word(), None, client.subs.count(space));
        }
        &all
    } else {
        names
    };
    for name in names {
        if client.subs.sets[space as usize].remove(name) {
            shared.pubsub.remove(space, name, client.id);
        }
        confirm(out, space.unsubscribe_word(), Some(name), client.subs.count(space));
    }
}

/// Drops every subscription silently (RESET, disconnect).
pub fn leave_all(shared: &Shared, client: &mut Client) {
    for space in [Space::Channel, Space::Pattern, Space::Shard] {
        for name in std::mem::take(&mut client.subs.sets[space as usize]) {
            shared.pubsub.remove(space, &name, client.id);
        }
    }
}

fn confirm(out: &mut ReplyBuf, word: &[u8], name: Option<&[u8]>, count: usize) {
    out.push(3);
    out.bulk(word);
    match name {
        Some(n) => out.bulk(n),
        None => out.null(),
    }
    out.int(count as i64);
}
