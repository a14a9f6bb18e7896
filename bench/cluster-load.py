#!/usr/bin/env python3
"""Helpers for bench/migrate.sh that work the same on a Ferrocache cluster and a Redis Cluster.

  load HOST:PORT KEYS SIZE
      Writes KEYS keys `key:000000000`... with random SIZE-byte values: each key goes straight to the
      primary that owns its slot (CLUSTER SLOTS, CRC16 of the key), through one
      `redis-cli --pipe` per primary, so loading is as fast as the servers take it and needs
      no redirections. Fails unless every reply was OK and the primaries hold KEYS keys.

  traffic HOST:PORT KEYS SIZE RATE READY_FILE STATS_FILE
      A light read/write load through redis-py's RedisCluster (it follows MOVED and ASK):
      RATE requests/s, half SET (a new value each time) and half GET of random loaded keys,
      until SIGTERM. Then reads back every key it wrote and checks that the last acknowledged
      value is there; writes a JSON line of statistics to STATS_FILE (requests, errors,
      latency percentiles in ms, keys written, lost writes). Touches the READY_FILE once it
      has made its first request.

  entry-bytes HOST:PORT KEY
      Prints len(KEY) + len(DUMP KEY): the bytes a slot move carries per key, counted as
      Ferrocache counts its moved bytes (keys plus DUMP payloads).
"""

import json
import os
import random
import signal
import subprocess
import sys
import time

import redis
from redis.cluster import RedisCluster
from redis.crc import key_slot


def key_name(i):
    return b"key:%09d" % i


def value(size):
    """Random hex, so that neither server's DUMP can compress it (Redis LZF-compresses
    strings above 20 bytes)."""
    return os.urandom((size + 1) // 2).hex().encode()[:size]


def split(addr):
    host, port = addr.rsplit(":", 1)
    return host, int(port)


def owners(host, port):
    """slot -> 'host:port' of its primary."""
    table = [None] * 16384
    for start, end, primary, *_ in redis.Redis(host=host, port=port).execute_command("CLUSTER SLOTS"):
        addr = "%s:%d" % (primary[0].decode(), primary[1])
        for s in range(start, end + 1):
            table[s] = addr
    missing = table.count(None)
    if missing:
        sys.exit("cluster-load: %d slot(s) have no owner" % missing)
    return table


def resp(*args):
    out = [b"*%d\r\n" % len(args)]
    for a in args:
        out.append(b"$%d\r\n%s\r\n" % (len(a), a))
    return b"".join(out)


def load(addr, keys, size):
    host, port = split(addr)
    table = owners(host, port)
    pipes, buffers = {}, {}
    for node in sorted(set(table)):
        h, p = split(node)
        pipes[node] = subprocess.Popen(
            ["redis-cli", "-h", h, "-p", str(p), "--pipe"], stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
        )
        buffers[node] = []
    started = time.monotonic()
    for i in range(keys):
        k = key_name(i)
        node = table[key_slot(k)]
        buf = buffers[node]
        buf.append(resp(b"SET", k, value(size)))
        if len(buf) >= 4096:
            pipes[node].stdin.write(b"".join(buf))
            buf.clear()
    failed = False
    for node, proc in pipes.items():
        proc.stdin.write(b"".join(buffers[node]))
        proc.stdin.close()
        out = proc.stdout.read().decode(errors="replace")
        if proc.wait() != 0 or "errors: 0," not in out:
            print("cluster-load: redis-cli --pipe to %s: %s" % (node, out.strip()), file=sys.stderr)
            failed = True
    total = sum(redis.Redis(host=split(n)[0], port=split(n)[1]).dbsize() for n in pipes)
    if failed or total != keys:
        sys.exit("cluster-load: the primaries hold %d keys, expected %d" % (total, keys))
    print("loaded %d keys in %.1f s" % (keys, time.monotonic() - started), file=sys.stderr)


def traffic(addr, keys, size, rate, ready_file, stats_file):
    stop = []
    signal.signal(signal.SIGTERM, lambda *_: stop.append(1))
    host, port = split(addr)
    rc = RedisCluster(host=host, port=port)
    rng = random.Random(5)
    written, unsure = {}, set()
    lat, errors, samples = [], 0, {}
    n = 0
    interval = 1.0 / rate
    next_at = time.monotonic()
    while not stop:
        i = rng.randrange(keys)
        k = key_name(i)
        t0 = time.monotonic()
        try:
            if n % 2 == 0:
                v = value(size)
                unsure.add(k)
                rc.set(k, v)
                unsure.discard(k)
                written[k] = v
            else:
                rc.get(k)
        except Exception as e:  # counted and reported, the load goes on
            errors += 1
            text = type(e).__name__ + ": " + str(e)[:80]
            samples[text] = samples.get(text, 0) + 1
        lat.append(time.monotonic() - t0)
        n += 1
        if n == 1:
            open(ready_file, "w").close()
        next_at += interval
        pause = next_at - time.monotonic()
        if pause > 0:
            time.sleep(pause)
        else:
            next_at = time.monotonic()
    # A write whose reply never came may or may not have happened: not checked.
    checked = {k: v for k, v in written.items() if k not in unsure}
    lost = 0
    items = list(checked.items())
    for start in range(0, len(items), 1000):
        chunk = items[start : start + 1000]
        pipe = rc.pipeline()
        for k, _ in chunk:
            pipe.get(k)
        for (k, v), got in zip(chunk, pipe.execute()):
            if got != v:
                lost += 1
    lat.sort()
    pct = lambda q: round(lat[min(len(lat) - 1, int(q * len(lat)))] * 1000, 2) if lat else 0
    stats = {
        "requests": n,
        "errors": errors,
        "error_samples": samples,
        "p50_ms": pct(0.50),
        "p99_ms": pct(0.99),
        "max_ms": round(lat[-1] * 1000, 2) if lat else 0,
        "keys_written": len(checked),
        "lost_writes": lost,
    }
    with open(stats_file, "w") as f:
        f.write(json.dumps(stats) + "\n")


def entry_bytes(addr, key):
    host, port = split(addr)
    rc = RedisCluster(host=host, port=port)
    payload = rc.dump(key)
    if payload is None:
        sys.exit("cluster-load: %s does not exist" % key)
    print(len(key.encode()) + len(payload))


def main():
    cmd, args = sys.argv[1], sys.argv[2:]
    if cmd == "load":
        load(args[0], int(args[1]), int(args[2]))
    elif cmd == "traffic":
        traffic(args[0], int(args[1]), int(args[2]), float(args[3]), args[4], args[5])
    elif cmd == "entry-bytes":
        entry_bytes(args[0], args[1])
    else:
        sys.exit(__doc__)


if __name__ == "__main__":
    main()
