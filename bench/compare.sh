#!/usr/bin/env bash
# Ferrocache beside redis-server on this machine, in one run: redis-benchmark
# tests (SET and GET by default) at pipeline 1 and 16 against each server in
# turn, printing throughput, latency and CPU per operation side by side.
# See bench/README.md.
#
# Usage: bench/compare.sh [N]      N = requests per test (default 200000)
# Environment: CLIENTS (50), SIZE (64 bytes), KEYSPACE (100000), PIPELINES ("1 16"),
#              TESTS ("set get"; any redis-benchmark -t name, e.g.
#              "lpush lpop sadd hset zadd", plus zrange100 = ZRANGE of a
#              100-member sorted set), FERROCACHE_ARGS (more server flags),
#              FERROCACHE_BIN (default target/release/ferrocache, built by this
#              script when unset), ROUNDS (1: with more, each test runs that many
#              times, alternating which server goes first, and the row with the
#              median ratio is printed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCRIPT=compare.sh

# shellcheck source=bench/lib.sh
. bench/lib.sh
ratio_table_settings "$@"
require_tools "apt-get install redis-server redis-tools" redis-server redis-cli redis-benchmark
release_bins FERROCACHE_BIN=ferrocache

# Start the two servers in the background on port $1 (no persistence for Redis).
launch_redis() {
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning >/dev/null 2>&1 &
}
launch_ferro() {
  # shellcheck disable=SC2086 # FERROCACHE_ARGS is a list of flags
  RUST_LOG=warn "$FERROCACHE_BIN" server --port "$1" --bind 127.0.0.1 --admin-port 0 ${FERROCACHE_ARGS:-} >/dev/null 2>&1 &
}
start_on_free_port 0 launch_redis || die "redis-server did not start"
REDIS_PORT="$PORT" REDIS_PID="$STARTED_PID"
start_on_free_port 0 launch_ferro || die "ferrocache server did not start"
FERRO_PORT="$PORT" FERRO_PID="$STARTED_PID"

log "redis-server (pid $REDIS_PID, port $REDIS_PORT) vs ferrocache (pid $FERRO_PID, port $FERRO_PORT)"
log "$N requests per test, $CLIENTS clients, $SIZE-byte values, $KEYSPACE random keys, $(nproc) CPUs"

# Runs one redis-benchmark test ($2) at pipeline depth $3 against the server $1 (REDIS or
# FERRO); prints "ops/s p50_ms p99_ms cpu_s_per_million_ops" (see benchmark_csv_row).
measure() {
  local port_var="${1}_PORT" pid_var="${1}_PID" test="$2" pipeline="$3" port pid before after csv i
  port="${!port_var}" pid="${!pid_var}"
  before="$(cpu_ticks "$pid")"
  local what=(-t "$test")
  if [ "$test" = zrange100 ]; then
    # shellcheck disable=SC2046 # the ZADD arguments: score member, 100 times
    redis-cli -h 127.0.0.1 -p "$port" ZADD bench:z $(for i in $(seq 1 100); do printf '%s m%s ' "$i" "$i"; done) >/dev/null
    what=(ZRANGE bench:z 0 99)
  fi
  # stderr dropped: redis-benchmark warns when CONFIG GET is unsupported.
  csv="$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -d "$SIZE" -r "$KEYSPACE" -n "$N" -P "$pipeline" -q --csv "${what[@]}" 2>/dev/null)"
  after="$(cpu_ticks "$pid")"
  [ "$(wc -l <<<"$csv")" -ge 2 ] || die "redis-benchmark -t $test -P $pipeline on port $port printed no result: $csv"
  benchmark_csv_row "$csv" $((after - before))
}

print_ratio_table measure
printf '\nratio = ferrocache ops/s / redis ops/s; latencies in ms; cpu/M = server CPU seconds (user+system) per million requests.\n'
