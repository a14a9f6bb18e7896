#!/usr/bin/env bash
# Hit ratio per workload, server and policy, all at the same maxmemory.
#
#   bench/hitratio/run.sh [FERROCACHE_BINARY]   (default target/release/ferrocache)
#   VALUE=64 (bytes per value) MAXMEMORY=64mb (FC_MAXMEMORY overrides it for Ferrocache, to compare policies
#   at equal keys held) KEYS=10000000 REQUESTS=2000000 WORKLOADS="zipf0.9 zipf1.1 scan shift"
#   FC_POLICIES="allkeys-lru allkeys-lfu allkeys-s3fifo" REDIS_POLICIES="allkeys-lru allkeys-lfu"
#   (an empty list skips that server)
#
# Each run starts a fresh server, replays the seeded workload as a
# look-aside cache (GET, SET on a miss) and prints the hit ratio measured
# after a 20% warm-up, and how many keys the server held at the end.
set -euo pipefail
cd "$(dirname "$0")"
SCRIPT=hitratio/run.sh
# shellcheck source=bench/lib.sh
. ../lib.sh
FC=$(realpath "${1:-../../target/release/ferrocache}")
MAXMEMORY=${MAXMEMORY:-64mb}
KEYS=${KEYS:-10000000}
REQUESTS=${REQUESTS:-2000000}
VALUE=${VALUE:-64}
WORKLOADS=${WORKLOADS:-"zipf0.9 zipf1.1 scan shift"}
FC_POLICIES=${FC_POLICIES-"allkeys-lru allkeys-lfu allkeys-random allkeys-s3fifo"}
REDIS_POLICIES=${REDIS_POLICIES-"allkeys-lru allkeys-lfu"}

cargo build --release --quiet
TOOL=target/release/hitratio

# one NAME POLICY WORKLOAD COMMAND...: runs the workload against a fresh server.
one() {
    local name=$1 policy=$2 workload=$3 port
    shift 3
    free_port
    port=$PORT
    "$@" --port "$port" >/dev/null 2>&1 &
    local pid=$!
    wait_ready "$port" "$pid" || die "$name did not start"
    local ratio
    ratio=$("$TOOL" --port "$port" --workload "$workload" --keys "$KEYS" --requests "$REQUESTS" --value "$VALUE" | awk '{print $2}')
    local keys
    keys=$(redis-cli -p "$port" memory stats | awk 'f {print; exit} /^keys.count$/ {f=1}')
    printf '%-10s %-12s %-16s %-9s %s\n' "$workload" "$name" "$policy" "$ratio" "$keys"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

printf '%-10s %-12s %-16s %-9s %s\n' workload server policy hit_ratio keys_held
for w in $WORKLOADS; do
    for p in $REDIS_POLICIES; do
        one redis "$p" "$w" redis-server --save '' --appendonly no --maxmemory "$MAXMEMORY" --maxmemory-policy "$p"
    done
    for p in $FC_POLICIES; do
        one ferrocache "$p" "$w" "$FC" server --log-level warn --set maxmemory="${FC_MAXMEMORY:-$MAXMEMORY}" --set maxmemory-policy="$p"
    done
done
