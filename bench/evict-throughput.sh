#!/usr/bin/env bash
# Throughput under eviction: redis-benchmark SET over a random 10M-key space
# into a 64 MB limit, against redis-server and ferrocache, same policy.
#
#   bench/evict-throughput.sh [FERROCACHE_BINARY] (default target/release/ferrocache)
#   POLICY=allkeys-lru MAXMEMORY=64mb N=2000000 CLIENTS=50 PIPELINE=16
#   (REDIS_POLICY: redis-server's policy when POLICY is Ferrocache's own,
#   default allkeys-lru)
set -euo pipefail
SCRIPT=evict-throughput.sh
# shellcheck source=bench/lib.sh
. "$(dirname "${BASH_SOURCE[0]}")/lib.sh"
FC=${1:-target/release/ferrocache}
POLICY=${POLICY:-allkeys-lru}
case $POLICY in
    allkeys-s3fifo) REDIS_POLICY=${REDIS_POLICY:-allkeys-lru} ;;
    *) REDIS_POLICY=${REDIS_POLICY:-$POLICY} ;;
esac
MAXMEMORY=${MAXMEMORY:-64mb}
N=${N:-2000000}
CLIENTS=${CLIENTS:-50}
PIPELINE=${PIPELINE:-16}

bench() {
    local name=$1 port
    shift
    free_port
    port=$PORT
    "$@" --port "$port" >/dev/null 2>&1 &
    local pid=$!
    wait_ready "$port" "$pid" || die "$name did not start"
    printf '%-28s %s\n' "$name" "$(redis-benchmark -p "$port" -t set -r 10000000 -n "$N" -c "$CLIENTS" -P "$PIPELINE" -q | tr '\r' '\n' | grep -a 'requests per second' | tail -1)"
    kill "$pid"
    wait "$pid" 2>/dev/null || true
}

bench "redis($REDIS_POLICY)" redis-server --save '' --appendonly no --maxmemory "$MAXMEMORY" --maxmemory-policy "$REDIS_POLICY"
bench "ferrocache($POLICY)" "$FC" server --log-level warn --set maxmemory="$MAXMEMORY" --set maxmemory-policy="$POLICY"
