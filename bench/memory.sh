#!/usr/bin/env bash
# Bytes per key: RSS growth after loading N keys with `redis-cli --pipe`,
# for redis-server and for one or more ferrocache binaries.
#
#   bench/memory.sh [N] [FERROCACHE_BINARY...]
#   N defaults to 1000000; binaries default to target/release/ferrocache.
#   KIND=string (default): `key:NNNNNNNN` -> 32-byte value
#   KIND=hash: 10 fields `fN` -> `vN`      KIND=set: 10 integers
#   KIND=zset: 100 members `mN` with score N
#   REDIS=0 skips redis-server.
#
# Prints per server: name, keys, RSS before/after, RSS bytes per key, then
# a few MEMORY STATS fields as the server reports them.
set -euo pipefail
SCRIPT=memory.sh
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"

N=${1:-1000000}
shift || true
BINS=("$@")
[ ${#BINS[@]} -eq 0 ] && BINS=(target/release/ferrocache)
KIND=${KIND:-string}
WORK=${TMPDIR:-/tmp}/ferrocache-bench-memory
mkdir -p "$WORK"
LOAD="$WORK/load-$KIND-$N.resp"

# RESP commands (one per key), generated once per KIND and N.
if [ ! -s "$LOAD" ]; then
    awk -v n="$N" -v kind="$KIND" '
    function bulk(s) { return sprintf("$%d\r\n%s\r\n", length(s), s) }
    BEGIN {
        v = "vvvvvvvvvvvvvvvvvvvvvvvvvvvvvvvv";
        if (kind == "hash") { m = 10; for (j = 0; j < m; j++) tail = tail bulk("f" j) bulk("v" j); head = sprintf("*%d\r\n", 2 + 2 * m) bulk("HSET") }
        else if (kind == "set") { m = 10; for (j = 0; j < m; j++) tail = tail bulk(j * 7); head = sprintf("*%d\r\n", 2 + m) bulk("SADD") }
        else if (kind == "zset") { m = 100; for (j = 0; j < m; j++) tail = tail bulk(j) bulk("m" j); head = sprintf("*%d\r\n", 2 + 2 * m) bulk("ZADD") }
        else if (kind == "string") { tail = bulk(v); head = "*3\r\n" bulk("SET") }
        else { print "unknown KIND " kind > "/dev/stderr"; exit 2 }
        for (i = 0; i < n; i++) printf "%s%s%s", head, bulk(sprintf("key:%08d", i)), tail;
    }' > "$LOAD"
fi

rss() { awk '/^VmRSS/ {print $2 * 1024}' "/proc/$1/status"; }

# measure NAME PORT PID
measure() {
    local name=$1 port=$2 pid=$3
    wait_ready "$port" "$pid" || die "server on $port did not start"
    local before after keys
    before=$(rss "$pid")
    # "errors: 0, replies: N" on the last line; count the keys stored.
    redis-cli -p "$port" --pipe < "$LOAD" | tail -1 | grep -q "errors: 0, replies: $N" \
        || { echo "$name: load failed" >&2; return 1; }
    keys=$N
    after=$(rss "$pid")
    printf '%-28s keys=%-9s rss_before=%-11s rss_after=%-11s bytes_per_key=%s\n' \
        "$name" "$keys" "$before" "$after" "$(( (after - before) / keys ))"
    # The server's own view: MEMORY STATS fields (name value ...).
    redis-cli -p "$port" memory stats | awk '
        f {printf " %s=%s", f, $0; f = ""; next}
        /^(total.allocated|startup.allocated|allocator.allocated|dataset.bytes|overhead.hashtable.main|keys.bytes-per-key)$/ {f = $0}
        END {print ""}'
    redis-cli -p "$port" shutdown nosave >/dev/null 2>&1 || true
    wait "$pid" 2>/dev/null || true
}

if [ "${REDIS:-1}" != 0 ]; then
    free_port
    port=$PORT
    redis-server --port "$port" --save '' --appendonly no --daemonize no >/dev/null &
    measure "redis-server $(redis-server --version | awk '{print $3}')" "$port" $!
fi
for bin in "${BINS[@]}"; do
    free_port
    port=$PORT
    "$bin" server --port "$port" --log-level warn &
    measure "$(basename "$bin")" "$port" $!
done
