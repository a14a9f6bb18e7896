#!/usr/bin/env python3
"""The writer of bench/failover.sh: one shard's writes across a kill -9 of its primary, the same
on a Ferrocache cluster and a Redis Cluster.

  run SEEDS VICTIM VICTIM_PID WARMUP AFTER LIMIT [LOG...]
      SEEDS is a comma-separated list of every node's HOST:PORT, VICTIM the HOST:PORT of a
      primary and VICTIM_PID its process. Waits until every replica's ROLE says `connected`
      (and one follows VICTIM), picks a hash tag whose slot VICTIM owns, and writes
      `{tag}:1`, `{tag}:2`, ... = 1, 2, ... one after another, each followed by `WAIT 1 100`
      (skipped for good once WAIT answers an error: "n/a"). After WARMUP seconds (and at least
      one write a replica confirmed, unless WAIT is n/a) it kills VICTIM_PID with SIGKILL and
      keeps writing: on MOVED it goes where it is sent; after a connection error, CLUSTERDOWN or
      TRYAGAIN it sleeps 10 ms and asks CLUSTER SLOTS of the first live node for the slot's
      owner. It stops AFTER seconds after the first write a node other than VICTIM acknowledged
      (or LIMIT seconds after the kill: timed out), reads every acknowledged key back from the
      slot's owner, and prints one JSON line: seconds from the kill to that first acknowledged
      write (`recovery_s`), to the moment it first learned of another owner (MOVED or CLUSTER
      SLOTS: `learned_s`) and to the last acknowledgement by VICTIM, writes acknowledged and
      confirmed by WAIT, and those lost. With LOG files (the nodes' logs), also the seconds from
      the kill to the first line that marks a node down (Ferrocache's failover controller:
      "lease ended; node is down"; Redis at loglevel notice: "... as failing (quorum
      reached)") and to the promotion ("promoting a replica"; "Failover election won").

Its own RESP client (sockets, 300 ms connect and 2 s read timeouts, no retries of its own) so
that every wait is visible in the timings.
"""

import calendar
import json
import os
import re
import signal
import socket
import sys
import time

from redis.crc import key_slot

RETRY_PAUSE = 0.01


class RespError(str):
    pass


class Conn:
    def __init__(self, addr, timeout=2.0):
        host, port = addr.rsplit(":", 1)
        self.addr = addr
        self.sock = socket.create_connection((host, int(port)), timeout=0.3)
        self.sock.settimeout(timeout)
        self.sock.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
        self.f = self.sock.makefile("rb")

    def close(self):
        try:
            self.f.close()
            self.sock.close()
        except OSError:
            pass

    def send(self, *args):
        out = [b"*%d\r\n" % len(args)]
        for a in args:
            a = a if isinstance(a, bytes) else str(a).encode()
            out.append(b"$%d\r\n%s\r\n" % (len(a), a))
        self.sock.sendall(b"".join(out))

    def read(self):
        line = self.f.readline()
        if not line.endswith(b"\r\n"):
            raise ConnectionError("connection closed")
        kind, rest = line[:1], line[1:-2]
        if kind == b"+":
            return rest.decode()
        if kind == b"-":
            return RespError(rest.decode())
        if kind == b":":
            return int(rest)
        if kind == b"$":
            n = int(rest)
            if n < 0:
                return None
            data = self.f.read(n + 2)
            if len(data) != n + 2:
                raise ConnectionError("connection closed")
            return data[:-2]
        if kind == b"*":
            n = int(rest)
            return None if n < 0 else [self.read() for _ in range(n)]
        raise ConnectionError("unexpected reply %r" % line)

    def call(self, *args):
        self.send(*args)
        return self.read()


def call(addr, *args):
    c = Conn(addr)
    try:
        return c.call(*args)
    finally:
        c.close()


def slot_owner(seeds, slot, skip=()):
    """The primary serving `slot` per the first live node's CLUSTER SLOTS (None if none answers)."""
    for seed in seeds:
        if seed in skip:
            continue
        try:
            ranges = call(seed, "CLUSTER", "SLOTS")
        except (OSError, ConnectionError):
            continue
        if not isinstance(ranges, list):
            continue
        for r in ranges:
            if r[0] <= slot <= r[1]:
                return "%s:%d" % (r[2][0].decode(), r[2][1])
    return None


def wait_replicas(seeds, victim, limit=60.0):
    """Until every replica's link is up, one replica follows `victim` and every Ferrocache node
    holds its lease."""
    vport = int(victim.rsplit(":", 1)[1])
    deadline = time.monotonic() + limit
    while True:
        ok, follows = True, False
        for seed in seeds:
            try:
                role = call(seed, "ROLE")
                info = call(seed, "INFO", "cluster")
            except (OSError, ConnectionError):
                ok = False
                continue
            if isinstance(role, list) and role[0] == b"slave":
                ok = ok and role[3] == b"connected"
                follows = follows or (role[2] == vport and role[3] == b"connected")
            # A Ferrocache node takes writes once it holds its lease (Redis has no such field).
            ok = ok and b"ferrocache_lease_held:0" not in (info or b"")
        if ok and follows:
            return
        if time.monotonic() > deadline:
            sys.exit("failover-load: the replicas are not all connected (or none follows %s) after %.0f s" % (victim, limit))
        time.sleep(0.1)


def tag_on(seeds, victim):
    """A hash tag whose slot `victim` owns (one CLUSTER SLOTS read), and that slot."""
    ranges = None
    for seed in seeds:
        try:
            ranges = call(seed, "CLUSTER", "SLOTS")
            break
        except (OSError, ConnectionError):
            continue
    mine = [(r[0], r[1]) for r in ranges or [] if "%s:%d" % (r[2][0].decode(), r[2][1]) == victim]
    for n in range(100000):
        tag = "t%d" % n
        slot = key_slot(tag.encode())
        if any(lo <= slot <= hi for lo, hi in mine):
            return tag, slot
    sys.exit("failover-load: %s owns no slot" % victim)


FERRO_TS = re.compile(r"(\d{4}-\d\d-\d\dT\d\d:\d\d:\d\d)(\.\d+)?Z")
REDIS_TS = re.compile(r"^\d+:[A-Z] (\d\d \w{3} \d{4} \d\d:\d\d:\d\d)(\.\d+)? ")
ANSI = re.compile(r"\x1b\[[0-9;]*m")
# (stage, text of its log line): Ferrocache's failover controller, Redis Cluster (loglevel notice).
STAGES = (
    ("down_s", "lease ended; node is down"),
    ("promote_s", "promoting a replica"),
    ("down_s", "as failing (quorum reached)"),
    ("promote_s", "Failover election won"),
)


def stamp(line):
    """The time of a Ferrocache (tracing, UTC) or Redis (local time) log line, or None."""
    m = FERRO_TS.search(line)
    if m:
        return calendar.timegm(time.strptime(m.group(1), "%Y-%m-%dT%H:%M:%S")) + float(m.group(2) or 0)
    m = REDIS_TS.search(line)
    if m:
        return time.mktime(time.strptime(m.group(1), "%d %b %Y %H:%M:%S")) + float(m.group(2) or 0)
    return None


def log_stages(logs, kill_wall):
    """Seconds after the kill of the first node-down and promotion lines in `logs`."""
    found = {}
    for path in logs:
        try:
            lines = open(path, errors="replace").read().splitlines()
        except OSError:
            continue
        for line in lines:
            line = ANSI.sub("", line)
            for name, text in STAGES:
                if text in line:
                    t = stamp(line)
                    if t is None:
                        continue
                    rel = round(t - kill_wall, 3)
                    if rel > -1 and (name not in found or rel < found[name]):
                        found[name] = rel
    return found


def run(seeds, victim, pid, warmup, after, limit, logs):
    wait_replicas(seeds, victim)
    tag, slot = tag_on(seeds, victim)
    target = slot_owner(seeds, slot)
    if target != victim:
        sys.exit("failover-load: slot %d is served by %s, not %s" % (slot, target, victim))
    use_wait, wait_note = True, "ok"
    acked = []  # (i, confirmed or None, node, monotonic time)
    errors = {}
    conn = None
    started = time.monotonic()
    t_kill = kill_wall = None
    first_new = first_learned = None
    i = 0
    timed_out = False
    while True:
        now = time.monotonic()
        if t_kill is None and now - started >= warmup and (not use_wait or any(a[1] for a in acked)):
            kill_wall = time.time()
            t_kill = time.monotonic()
            os.kill(pid, signal.SIGKILL)
        if first_new is not None and now - first_new >= after:
            break
        if t_kill is not None and now - t_kill > limit:
            timed_out = True
            break
        if t_kill is None and now - started > warmup + limit:
            sys.exit("failover-load: no write was confirmed by WAIT 1 within %.0f s" % (warmup + limit))
        i += 1
        key = "{%s}:%d" % (tag, i)
        while True:
            if t_kill is not None and time.monotonic() - t_kill > limit:
                break
            try:
                if conn is None or conn.addr != target:
                    if conn is not None:
                        conn.close()
                    conn = None
                    conn = Conn(target)
                reply = conn.call("SET", key, i)
            except (OSError, ConnectionError) as e:
                errors[type(e).__name__] = errors.get(type(e).__name__, 0) + 1
                if conn is not None:
                    conn.close()
                conn = None
                time.sleep(RETRY_PAUSE)
                target = slot_owner(seeds, slot, skip=(victim,) if t_kill is not None else ()) or target
                if t_kill is not None and first_learned is None and target != victim:
                    first_learned = time.monotonic()
                continue
            if reply == "OK":
                t_ack = time.monotonic()
                confirmed = None
                if use_wait:
                    try:
                        w = conn.call("WAIT", 1, 100)
                    except (OSError, ConnectionError):
                        w = None
                        conn.close()
                        conn = None
                    if isinstance(w, RespError):
                        use_wait, wait_note = False, "n/a (%s)" % w[:60]
                    elif isinstance(w, int):
                        confirmed = w >= 1
                acked.append((i, confirmed, target, t_ack))
                if t_kill is not None and first_new is None and target != victim:
                    first_new = t_ack
                break
            if isinstance(reply, RespError):
                word = reply.split(" ", 1)[0]
                errors[word] = errors.get(word, 0) + 1
                if word == "MOVED":
                    target = reply.split()[2]
                    if t_kill is not None and first_learned is None and target != victim:
                        first_learned = time.monotonic()
                    continue
                time.sleep(RETRY_PAUSE)
                target = slot_owner(seeds, slot, skip=(victim,) if t_kill is not None else ()) or target
                if t_kill is not None and first_learned is None and target != victim:
                    first_learned = time.monotonic()
                continue
            sys.exit("failover-load: SET answered %r" % (reply,))
    if conn is not None:
        conn.close()

    # Read every acknowledged key back from the slot's owner now.
    owner = slot_owner(seeds, slot, skip=(victim,))
    lost = lost_confirmed = 0
    lost_keys = []
    c = Conn(owner, timeout=10)
    for start in range(0, len(acked), 500):
        chunk = acked[start : start + 500]
        for n, *_ in chunk:
            c.send("GET", "{%s}:%d" % (tag, n))
        for n, confirmed, node, _ in chunk:
            got = c.read()
            if got != str(n).encode():
                lost += 1
                lost_confirmed += 1 if confirmed else 0
                lost_keys.append(n)
    c.close()
    rel = lambda t: None if t is None or t_kill is None else round(t - t_kill, 3)
    victim_acks = [a[3] for a in acked if a[2] == victim]
    result = {
        "tag": tag,
        "slot": slot,
        "victim": victim,
        "new_primary": owner,
        "timed_out": timed_out,
        "recovery_s": rel(first_new),
        "learned_s": rel(first_learned),
        "last_victim_ack_s": rel(victim_acks[-1]) if victim_acks else None,
        "acked": len(acked),
        "acked_before_kill": sum(1 for a in acked if t_kill is not None and a[3] < t_kill),
        "confirmed": sum(1 for a in acked if a[1]) if wait_note == "ok" else None,
        "wait": wait_note,
        "lost": lost,
        "lost_confirmed": lost_confirmed if wait_note == "ok" else None,
        "lost_keys_sample": lost_keys[:10],
        "errors": errors,
    }
    if logs and kill_wall is not None:
        result.update(log_stages(logs, kill_wall))
    print(json.dumps(result))


def main():
    if len(sys.argv) < 8 or sys.argv[1] != "run":
        sys.exit(__doc__)
    a = sys.argv[2:]
    run(a[0].split(","), a[1], int(a[2]), float(a[3]), float(a[4]), float(a[5]), a[6:])


if __name__ == "__main__":
    main()
