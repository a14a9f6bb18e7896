#!/usr/bin/env bash
# A 3-shard Ferrocache cluster beside a 3-master Redis Cluster on this machine, in one run:
# `redis-benchmark --cluster` SET and GET at pipeline 1 and 16 against each, printing
# throughput, the ratio and the servers' CPU per operation side by side.
# See bench/README.md.
#
# Usage: bench/cluster.sh [N]      N = requests per test (default 200000)
# Environment: CLIENTS (50), SIZE (64 bytes), KEYSPACE (100000), PIPELINES ("1 16"),
#              TESTS ("set get"), ROUNDS (1: with more, each test runs that many times,
#              alternating which cluster goes first, and the row with the median ratio is
#              printed), IO_THREADS (1; "default" for the server's own default, one event
#              loop per CPU), FERROCACHE_ARGS (more server flags), FERROCACHE_BIN (default
#              target/release/ferrocache, built by this script).
#
# Choose N so that every test runs for 10 s or more (e.g. 1000000 at pipeline 1 and 6000000
# at pipeline 16 on a 2-core VM): in cluster mode redis-benchmark runs one thread per master,
# and a thread whose clients have nothing left to send only stops at its next 250 ms
# throughput tick, so a test's time is rounded up to a quarter second (a 1-second test can
# read 25 % slow).
#
# Why IO_THREADS defaults to 1: each side runs three nodes on the same machine, and a Redis
# node serves its clients from one thread. With Ferrocache's default (one event loop per CPU)
# the three nodes would run 3 x CPUs loops against Redis's 3, all on the same cores as the
# benchmark client; on a 2-core machine that measures oversubscription more than the
# servers. One loop per node compares like with like (3 loops each side); the default is one
# IO_THREADS=default away, and BENCHMARKS.md has both.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCRIPT=cluster.sh

# shellcheck source=bench/cluster-lib.sh
. bench/cluster-lib.sh
ratio_table_settings "$@"

start_redis_cluster 3
start_ferro_cluster 3
read -r REDIS_SEED _ <<<"$REDIS_PORTS"
read -r FERRO_SEED _ <<<"$FERRO_PORTS"

log "redis cluster on ports $REDIS_PORTS vs ferrocache cluster on ports $FERRO_PORTS (io-threads: $IO_THREADS)"
log "$N requests per test, $CLIENTS clients, $SIZE-byte values, $KEYSPACE random keys, $(nproc) CPUs, load average $(loadavg)"

# Runs one `redis-benchmark --cluster` test ($2) at pipeline depth $3 against the cluster $1
# (REDIS or FERRO, through its first node); prints "ops/s p50_ms p99_ms cpu_s_per_million_ops"
# (see benchmark_csv_row; CPU of all the cluster's nodes together).
measure() {
  local seed_var="${1}_SEED" ports_var="${1}_PORTS" test="$2" pipeline="$3" seed ports before after csv out
  seed="${!seed_var}" ports="${!ports_var}"
  # shellcheck disable=SC2086
  before="$(nodes_cpu_ticks $ports)"
  # stderr kept in a file: redis-benchmark reports errors (MOVED, -ERR ...) there.
  out="$BENCH_TMP/bench.err"
  csv="$(redis-benchmark --cluster -h 127.0.0.1 -p "$seed" -t "$test" -c "$CLIENTS" -d "$SIZE" \
    -r "$KEYSPACE" -n "$N" -P "$pipeline" -q --csv 2>"$out")" || true
  # shellcheck disable=SC2086
  after="$(nodes_cpu_ticks $ports)"
  if grep -qi error "$out"; then
    log "redis-benchmark -t $test -P $pipeline on port $seed reported: $(sort "$out" | uniq -c | sort -rn | head -3)"
  fi
  # In cluster mode redis-benchmark first prints the masters it found: keep the CSV lines.
  csv="$(grep '^"' <<<"$csv" || true)"
  [ "$(wc -l <<<"$csv")" -ge 2 ] || die "redis-benchmark --cluster -t $test -P $pipeline on port $seed printed no result: $csv $(head -3 "$out")"
  benchmark_csv_row "$csv" $((after - before))
}

print_ratio_table measure
log "load average at the end: $(loadavg)"
printf '\nratio = ferrocache ops/s / redis ops/s (3 primaries each); latencies in ms; cpu/M = CPU seconds (user+system) of the 3 nodes together per million requests.\n'
