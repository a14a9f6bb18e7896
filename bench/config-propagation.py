#!/usr/bin/env python3
"""How long a live setting takes to reach every node of a Ferrocache cluster.

Usage: config-propagation.py ADMIN_URL CHANGES PORT...

CHANGES times: writes `cluster/config/settings` = {"hz": N} (N alternating so that each
write is a change) through the admin API at ADMIN_URL, then polls `CONFIG GET hz` on every
node (client ports PORT...) until all of them run it. Prints one line per change, then the
median, p99 and max of the time from the write's request to the last node running it.
"""
import json
import sys
import time
import urllib.request

import redis


def put(url, value):
    req = urllib.request.Request(
        url + "/v1/kv/cluster/config/settings", data=json.dumps(value).encode(), method="PUT", headers={"Content-Type": "application/json"}
    )
    urllib.request.urlopen(req, timeout=10).read()


def main():
    url, changes, ports = sys.argv[1].rstrip("/"), int(sys.argv[2]), [int(p) for p in sys.argv[3:]]
    nodes = [redis.Redis(host="127.0.0.1", port=p, socket_timeout=5, decode_responses=True) for p in ports]
    times = []
    for i in range(changes):
        hz = str(11 + i % 80)
        started = time.monotonic()
        put(url, {"hz": hz})
        waiting = list(nodes)
        while waiting:
            waiting = [n for n in waiting if n.config_get("hz")["hz"] != hz]
            if time.monotonic() - started > 30:
                sys.exit("config-propagation: hz=%s did not reach every node in 30 s" % hz)
        times.append(time.monotonic() - started)
        print("change %d: %.1f ms" % (i + 1, times[-1] * 1e3), file=sys.stderr)
    times.sort()
    pick = lambda q: times[min(len(times) - 1, int(q * len(times)))]
    print("%d changes to %d nodes: median %.1f ms, p99 %.1f ms, max %.1f ms" % (changes, len(nodes), pick(0.5) * 1e3, pick(0.99) * 1e3, times[-1] * 1e3))


if __name__ == "__main__":
    main()
