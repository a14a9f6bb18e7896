//! Clients: the per-connection state a handler sees ([`Client`]) and the
//! registry behind CLIENT LIST/KILL and INFO clients ([`Registry`]).

use std::collections::BTreeMap;
use std::net::SocketAddr;
use std::sync::atomic::{AtomicBool, AtomicU64, AtomicUsize, Ordering};
use std::sync::Arc;

use bytes::Bytes;
use ferrocache_store::watch::WatchFlag;
use parking_lot::Mutex;

use crate::command::Spec;
use crate::pubsub::{Inbox, Space, Subscriptions};

/// State of a transaction being queued (between MULTI and EXEC).
#[derive(Debug, Default)]
pub struct Multi {
    pub queued: Vec<(&'static Spec, Vec<Bytes>)>,
    /// A command was rejected while queueing: EXEC must abort.
    pub failed: bool,
}

impl Multi {
    /// Whether a queued command writes (EXEC is then a write, as Redis judges it).
    pub fn writes(&self) -> bool {
        self.queued.iter().any(|(spec, _)| spec.has(crate::command::flags::WRITE))
    }
}

/// Per-connection state, owned by the connection task.
#[derive(Debug)]
pub struct Client {
    pub id: u64,
    pub db: usize,
    pub resp3: bool,
    pub authenticated: bool,
    pub name: Option<String>,
    pub multi: Option<Multi>,
    /// Keys this client WATCHes: (db, key).
    pub watched: Vec<(usize, Bytes)>,
    pub watch_flag: WatchFlag,
    /// Set by QUIT (after the reply) or SHUTDOWN: close the connection.
    pub close: bool,
    /// The last command run: (name, subcommand), for CLIENT LIST.
    pub last_cmd: (&'static str, Option<&'static str>),
    /// Set by a blocking command that has to wait: the connection parks
    /// in [`crate::blocking::wait`] before running anything else.
    pub blocked: Option<Arc<crate::blocking::Waiter>>,
    /// Channels, patterns and shard channels subscribed to.
    pub subs: Subscriptions,
    pub handle: Arc<ClientHandle>,
    /// Sent ASKING: the next command may use a slot this node is
    /// importing. Cleared after that command (or after EXEC), see
    /// [`crate::dispatch::execute`].
    pub asking: bool,
    /// Sent READONLY: reads of its primary's slots are served on a replica.
    pub readonly: bool,
    /// The cluster view this connection routes by, replaced when the node
    /// installs a newer one ([`crate::cluster::Cluster::view_for`]).
    pub cluster_view: Option<Arc<crate::cluster::View>>,
    /// This is the link from this node's primary: it applies the replication stream (it may
    /// write on a replica, and is not replicated itself).
    pub master: bool,
    /// Sent PSYNC: once the reply is out, the connection feeds this replica.
    pub sync: Option<crate::repl::primary::SyncRequest>,
    /// REPLCONF listening-port of a replica before its PSYNC.
    pub replica_port: u16,
    /// The stream's end offset after this client's last write (WAIT waits for it).
    pub woff: u64,
    /// Set by a WAIT that has to wait: the connection parks until it is met, then answers.
    pub wait_acks: Option<crate::repl::acks::AckWait>,
    /// Sent MONITOR: every command run is streamed to it ([`crate::monitor`]).
    pub monitor: bool,
}

impl Client {
    pub fn new(handle: Arc<ClientHandle>, authenticated: bool) -> Self {
        Client {
            id: handle.id,
            db: 0,
            resp3: false,
            authenticated,
            name: None,
            multi: None,
            watched: Vec::new(),
            watch_flag: WatchFlag::new(),
            close: false,
            last_cmd: ("NULL", None),
            blocked: None,
            subs: Subscriptions::default(),
            handle,
            asking: false,
            readonly: false,
            cluster_view: None,
            master: false,
            sync: None,
            replica_port: 0,
            woff: 0,
            wait_acks: None,
            monitor: false,
        }
    }

    /// Whether the connection may move to another event loop (see
    /// [`crate::affinity`]): nothing queued, watched, subscribed or
    /// blocked, and not closing.
    pub fn is_portable(&self) -> bool {
        self.multi.is_none() && self.watched.is_empty() && !self.subs.active() && self.blocked.is_none() && self.wait_acks.is_none() && !self.close
    }

    /// Copies what CLIENT LIST shows of this client (db, name, protocol,
    /// last command) to its handle; returns the locked details so the
    /// connection can add its buffer sizes.
    pub fn publish(&self) -> parking_lot::MutexGuard<'_, ClientMeta> {
        self.handle.db.store(self.db, Ordering::Relaxed);
        let mut m = self.handle.meta.lock();
        m.last_cmd.clear();
        m.last_cmd.push_str(self.last_cmd.0);
        if let Some(sub) = self.last_cmd.1 {
            m.last_cmd.push('|');
            m.last_cmd.push_str(sub);
        }
        m.name.clear();
        m.name.push_str(self.name.as_deref().unwrap_or_default());
        m.resp = if self.resp3 { 3 } else { 2 };
        m.subs = [Space::Channel, Space::Pattern, Space::Shard].map(|s| self.subs.len(s));
        m
    }
}

/// What other tasks can see of a client, and how they can stop it.
#[derive(Debug)]
pub struct ClientHandle {
    pub id: u64,
    pub addr: SocketAddr,
    pub laddr: SocketAddr,
    /// Unix ms at connect.
    pub created: u64,
    /// Unix ms of the last command.
    pub last_active: AtomicU64,
    pub db: AtomicUsize,
    pub meta: Mutex<ClientMeta>,
    killed: AtomicBool,
    pub kill_notify: crate::signal::Signal,
    /// Pub/sub messages on their way to this client.
    pub inbox: Inbox,
    /// The event loop serving the connection (CLIENT LIST `io-thread`,
    /// the field Redis 8 added; it changes when the connection moves, see
    /// [`crate::affinity`]).
    pub io_thread: AtomicUsize,
}

/// Slowly-changing details shown by CLIENT LIST.
#[derive(Debug, Default, Clone)]
pub struct ClientMeta {
    pub name: String,
    pub last_cmd: String,
    pub resp: u8,
    pub multi: i64,
    pub qbuf: usize,
    pub obuf: usize,
    /// Subscriptions: channels, patterns, shard channels.
    pub subs: [usize; 3],
    /// Waiting in a blocking command (CLIENT LIST flag `b`).
    pub blocked: bool,
    /// A replica being fed (flag `S`) or this replica's primary (flag `M`).
    pub link: LinkKind,
    /// In MONITOR mode (flag `O`).
    pub monitor: bool,
}

/// What a connection is in replication (CLIENT LIST flags, CLIENT KILL TYPE).
#[derive(Debug, Clone, Copy, Default, PartialEq, Eq)]
pub enum LinkKind {
    #[default]
    None,
    Replica,
    Master,
}

impl ClientHandle {
    pub fn kill(&self) {
        self.killed.store(true, Ordering::Relaxed);
        self.kill_notify.notify();
    }

    pub fn is_killed(&self) -> bool {
        self.killed.load(Ordering::Relaxed)
    }

    /// The client's class for CLIENT KILL TYPE and CLIENT LIST TYPE: normal, replica,
    /// master or pubsub.
    pub fn kind(&self) -> &'static str {
        let m = self.meta.lock();
        match m.link {
            LinkKind::Replica => "replica",
            LinkKind::Master => "master",
            LinkKind::None if m.subs.iter().any(|&n| n > 0) => "pubsub",
            LinkKind::None => "normal",
        }
    }

    /// One CLIENT LIST line (without the newline), with Redis's fields.
    pub fn info_line(&self, now: u64) -> String {
        let m = self.meta.lock().clone();
        let age = now.saturating_sub(self.created) / 1000;
        let idle = now.saturating_sub(self.last_active.load(Ordering::Relaxed)) / 1000;
        let mut flags = String::new();
        match m.link {
            LinkKind::Replica => flags.push('S'),
            LinkKind::Master => flags.push('M'),
            LinkKind::None => {}
        }
        if m.monitor {
            flags.push('O');
        }
        if m.subs.iter().any(|&n| n > 0) {
            flags.push('P');
        }
        if m.multi >= 0 {
            flags.push('x');
        }
        if m.blocked {
            flags.push('b');
        }
        if flags.is_empty() {
            flags.push('N');
        }
        let obuf = m.obuf + self.inbox.pending_bytes();
        let cmd = if m.last_cmd.is_empty() { "NULL" } else { &m.last_cmd };
        format!(
            "id={} addr={} laddr={} fd=8 name={} age={age} idle={idle} flags={flags} db={} sub={} psub={} ssub={} multi={} qbuf={} qbuf-free=0 argv-mem=0 multi-mem=0 rbs=16384 rbp=0 obl=0 oll=0 omem={} tot-mem={} events=r cmd={cmd} user=default redir=-1 resp={} io-thread={}",
            self.id,
            self.addr,
            self.laddr,
            m.name,
            self.db.load(Ordering::Relaxed),
            m.subs[0],
            m.subs[1],
            m.subs[2],
            m.multi,
            m.qbuf,
            obuf,
            16384 + m.qbuf + obuf,
            m.resp.max(2),
            self.io_thread.load(Ordering::Relaxed),
        )
    }
}

/// All connected clients.
#[derive(Debug, Default)]
pub struct Registry {
    next_id: AtomicU64,
    clients: Mutex<BTreeMap<u64, Arc<ClientHandle>>>,
    /// Connections refused because of maxclients.
    pub rejected: AtomicU64,
    /// Connections accepted since start.
    pub total_connections: AtomicU64,
}

impl Registry {
    /// Registers a new connection, or returns None when `maxclients` are
    /// already connected.
    pub fn register(&self, addr: SocketAddr, laddr: SocketAddr, now: u64, maxclients: usize) -> Option<Arc<ClientHandle>> {
        let mut clients = self.clients.lock();
        if clients.len() >= maxclients {
            self.rejected.fetch_add(1, Ordering::Relaxed);
            return None;
        }
        self.total_connections.fetch_add(1, Ordering::Relaxed);
        let id = self.next_id.fetch_add(1, Ordering::Relaxed) + 1;
        let handle = Arc::new(ClientHandle {
            id,
            addr,
            laddr,
            created: now,
            last_active: AtomicU64::new(now),
            db: AtomicUsize::new(0),
            meta: Mutex::new(ClientMeta { resp: 2, multi: -1, ..Default::default() }),
            killed: AtomicBool::new(false),
            kill_notify: Default::default(),
            inbox: Inbox::default(),
            io_thread: AtomicUsize::new(crate::affinity::current_loop()),
        });
        clients.insert(id, handle.clone());
        Some(handle)
    }

    pub fn unregister(&self, id: u64) {
        self.clients.lock().remove(&id);
    }

    pub fn len(&self) -> usize {
        self.clients.lock().len()
    }

    pub fn is_empty(&self) -> bool {
        self.len() == 0
    }

    /// A snapshot of all clients, by id.
    pub fn all(&self) -> Vec<Arc<ClientHandle>> {
        self.clients.lock().values().cloned().collect()
    }

    pub fn get(&self, id: u64) -> Option<Arc<ClientHandle>> {
        self.clients.lock().get(&id).cloned()
    }

    /// Asks every client to close (shutdown).
    pub fn kill_all(&self) {
        for c in self.all() {
            c.kill();
        }
    }
}
