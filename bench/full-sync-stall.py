#!/usr/bin/env python3
"""The longest stall of a primary while a replica takes its full copy.

Starts a primary (FERROCACHE_BIN, default the release build) holding KEYS keys with 64-byte
values, a prober that sends PING and GET one at a time (1 ms apart) and times every reply,
and a replica that runs REPLICAOF; reports the copy's duration and the slowest replies.

    FERROCACHE_BIN=target/release/ferrocache KEYS=1000000 bench/full-sync-stall.py
"""
import os
import socket
import subprocess
import tempfile
import threading
import time

BIN = os.environ.get("FERROCACHE_BIN", "target/release/ferrocache")
KEYS = int(os.environ.get("KEYS", "1000000"))


def free_port():
    with socket.socket() as s:
        s.bind(("127.0.0.1", 0))
        return s.getsockname()[1]


def start(port, data):
    proc = subprocess.Popen([BIN, "server", "--port", str(port), "--admin-port", "0", "--data-dir", data, "--log-level", "warn"])
    for _ in range(200):
        try:
            socket.create_connection(("127.0.0.1", port)).close()
            return proc
        except OSError:
            time.sleep(0.05)
    raise SystemExit(f"{BIN} did not start on {port}")


def cli(port, *args):
    return subprocess.run(["redis-cli", "-p", str(port), *args], capture_output=True, text=True, check=True).stdout.strip()


def info(port, name):
    for line in cli(port, "INFO", "replication").splitlines():
        if line.startswith(name + ":"):
            return line.split(":", 1)[1]
    return None


def fill(port):
    value = "v" * 64
    proto = "".join(f"*3\r\n$3\r\nSET\r\n${len(k)}\r\n{k}\r\n$64\r\n{value}\r\n" for k in (f"key:{i}" for i in range(KEYS)))
    subprocess.run(["redis-cli", "-p", str(port), "--pipe"], input=proto.encode(), capture_output=True, check=True)


def prober(port, stop, took):
    s = socket.create_connection(("127.0.0.1", port))
    s.setsockopt(socket.IPPROTO_TCP, socket.TCP_NODELAY, 1)
    n = 0
    while not stop.is_set():
        for cmd in (b"*1\r\n$4\r\nPING\r\n", f"*2\r\n$3\r\nGET\r\n${len(k := f'key:{n * 7 % KEYS}')}\r\n{k}\r\n".encode()):
            t = time.perf_counter()
            s.sendall(cmd)
            got = b""
            while not got.endswith(b"\r\n") or (got.startswith(b"$") and got.count(b"\r\n") < 2):
                got += s.recv(4096)
            took.append((time.perf_counter() - t, time.monotonic()))
        n += 1
        time.sleep(0.001)


def main():
    with tempfile.TemporaryDirectory() as d:
        pp, rp = free_port(), free_port()
        primary, replica = start(pp, f"{d}/p"), start(rp, f"{d}/r")
        try:
            t = time.monotonic()
            fill(pp)
            print(f"{BIN}: {cli(pp, 'DBSIZE')} keys filled in {time.monotonic() - t:.1f} s")
            stop, took = threading.Event(), []
            probe = threading.Thread(target=prober, args=(pp, stop, took))
            probe.start()
            time.sleep(0.5)
            start_at = time.monotonic()
            cli(rp, "REPLICAOF", "127.0.0.1", str(pp))
            while info(rp, "master_link_status") != "up":
                time.sleep(0.01)
            copied = time.monotonic() - start_at
            time.sleep(0.5)
            stop.set()
            probe.join()
            during = sorted(x for x, at in took if start_at <= at <= start_at + copied + 0.1)
            before = sorted(x for x, at in took if at < start_at)
            ms = lambda x: f"{x * 1000:.1f} ms"
            print(f"full sync of {KEYS} keys: link up after {copied:.2f} s; replica DBSIZE {cli(rp, 'DBSIZE')}")
            print(f"  {len(during)} PING/GET replies during it: p50 {ms(during[len(during) // 2])}, p99 {ms(during[len(during) * 99 // 100])}, slowest {ms(during[-1])}")
            print(f"  before it ({len(before)} replies): slowest {ms(before[-1])}")
        finally:
            for p in (primary, replica):
                p.terminate()
                p.wait()


main()
