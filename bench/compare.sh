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
#              100-member sorted set), FERROCACHE_BIN (default
#              target/release/ferrocache, built by this script), ROUNDS (1: with
#              more, each test runs that many times, alternating which server
#              goes first, and the row with the median ratio is printed).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

N="${1:-${N:-200000}}"
CLIENTS="${CLIENTS:-50}"
SIZE="${SIZE:-64}"
KEYSPACE="${KEYSPACE:-100000}"
PIPELINES="${PIPELINES:-1 16}"
ROUNDS="${ROUNDS:-1}"
TESTS="${TESTS:-set get}"
TICKS_PER_SEC="$(getconf CLK_TCK)"

log() { printf '==> %s\n' "$*" >&2; }
die() { printf 'compare.sh: %s\n' "$*" >&2; exit 1; }

for tool in redis-server redis-cli redis-benchmark; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install redis-server redis-tools)"
done

if [ -z "${FERROCACHE_BIN:-}" ]; then
  log "building ferrocache (release)"
  cargo build --release
  FERROCACHE_BIN=target/release/ferrocache
fi
[ -x "$FERROCACHE_BIN" ] || die "$FERROCACHE_BIN is not an executable"

PIDS=()
cleanup() {
  for pid in "${PIDS[@]}"; do
    kill "$pid" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
}
trap cleanup EXIT

# A port on 127.0.0.1 that nothing listens on (a connection is refused).
free_port() {
  local port
  while :; do
    port=$((20000 + RANDOM % 40000))
    if ! (exec 3<>"/dev/tcp/127.0.0.1/$port") 2>/dev/null; then
      echo "$port"
      return
    fi
  done
}

# Waits until the server on port $1 answers PING; fails if process $2 died.
wait_ready() {
  local port="$1" pid="$2" i
  for i in $(seq 1 200); do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.05
  done
  return 1
}

# Starts a server: $1 = name, then its command with PORT standing for the
# port. Sets <name>_PORT and <name>_PID. Retries on another port if the
# chosen one was taken meanwhile.
start_server() {
  local name="$1" attempt port pid
  shift
  for attempt in 1 2 3 4 5; do
    port="$(free_port)"
    "${@//PORT/$port}" >/dev/null 2>&1 &
    pid=$!
    if wait_ready "$port" "$pid"; then
      PIDS+=("$pid")
      printf -v "${name}_PORT" '%s' "$port"
      printf -v "${name}_PID" '%s' "$pid"
      return 0
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  die "$name did not start"
}

# CPU time (user + system, in clock ticks) process $1 has used so far.
cpu_ticks() {
  local stat
  stat="$(cat "/proc/$1/stat")"
  # Fields after "pid (comm) ": utime and stime are the 12th and 13th.
  awk '{ print $12 + $13 }' <<<"${stat##*) }"
}

start_server REDIS redis-server --port PORT --bind 127.0.0.1 --save '' --appendonly no --daemonize no --loglevel warning
RUST_LOG=warn start_server FERRO "$FERROCACHE_BIN" server --port PORT --bind 127.0.0.1 --admin-port 0 ${FERROCACHE_ARGS:-}

log "redis-server (pid $REDIS_PID, port $REDIS_PORT) vs ferrocache (pid $FERRO_PID, port $FERRO_PORT)"
log "$N requests per test, $CLIENTS clients, $SIZE-byte values, $KEYSPACE random keys, $(nproc) CPUs"

# Runs one redis-benchmark test against port $1 with process $2; prints
# "ops/s p50_ms p99_ms cpu_s_per_million_ops".
measure() {
  local port="$1" pid="$2" test="$3" pipeline="$4" before after csv
  before="$(cpu_ticks "$pid")"
  # stderr dropped: redis-benchmark warns when CONFIG GET is unsupported.
  local what=(-t "$test")
  if [ "$test" = zrange100 ]; then
    redis-cli -h 127.0.0.1 -p "$port" ZADD bench:z $(for i in $(seq 1 100); do printf '%s m%s ' "$i" "$i"; done) >/dev/null
    what=(ZRANGE bench:z 0 99)
  fi
  csv="$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -d "$SIZE" -r "$KEYSPACE" -n "$N" -P "$pipeline" -q --csv "${what[@]}" 2>/dev/null)"
  after="$(cpu_ticks "$pid")"
  [ "$(wc -l <<<"$csv")" -ge 2 ] || die "redis-benchmark -t $test -P $pipeline on port $port printed no result: $csv"
  # Columns: test, rps, avg, min, p50, p95, p99, max (quoted).
  awk -F, -v ticks=$((after - before)) -v hz="$TICKS_PER_SEC" -v n="$N" '
    NR == 2 { gsub(/"/, ""); printf "%.0f %s %s %.3f\n", $2, $5, $7, ticks / hz / n * 1e6 }' <<<"$csv"
}

printf '\n%-9s %3s | %10s %10s %6s | %7s %7s | %7s %7s | %9s %9s\n' \
  test pipe "redis op/s" "ferro op/s" ratio "r p50" "f p50" "r p99" "f p99" "r cpu/M" "f cpu/M"
printf '%s\n' "------------------------------------------------------------------------------------------------"
for pipeline in $PIPELINES; do
  for test in $TESTS; do
    rows=()
    ratios=""
    for round in $(seq 1 "$ROUNDS"); do
      # Alternate which server goes first, so neither always gets the warmer machine.
      if [ $((round % 2)) = 1 ]; then
        read -r r_ops r_p50 r_p99 r_cpu <<<"$(measure "$REDIS_PORT" "$REDIS_PID" "$test" "$pipeline")"
        read -r f_ops f_p50 f_p99 f_cpu <<<"$(measure "$FERRO_PORT" "$FERRO_PID" "$test" "$pipeline")"
      else
        read -r f_ops f_p50 f_p99 f_cpu <<<"$(measure "$FERRO_PORT" "$FERRO_PID" "$test" "$pipeline")"
        read -r r_ops r_p50 r_p99 r_cpu <<<"$(measure "$REDIS_PORT" "$REDIS_PID" "$test" "$pipeline")"
      fi
      [ -n "$r_ops" ] && [ -n "$f_ops" ] || die "a benchmark failed (see above)"
      ratio="$(awk -v f="$f_ops" -v r="$r_ops" 'BEGIN { printf "%.2f", (r > 0 ? f / r : 0) }')"
      ratios="$ratios $ratio"
      rows+=("$(printf '%s %-9s %3s | %10s %10s %6s | %7s %7s | %7s %7s | %9s %9s' \
        "$ratio" "$test" "$pipeline" "$r_ops" "$f_ops" "$ratio" "$r_p50" "$f_p50" "$r_p99" "$f_p99" "$r_cpu" "$f_cpu")")
    done
    # The round with the median ratio.
    printf '%s\n' "${rows[@]}" | sort -n | sed -n "$(( (ROUNDS + 1) / 2 ))p" | cut -d' ' -f2-
    [ "$ROUNDS" = 1 ] || printf '%13s ratios of the %s rounds:%s\n' '' "$ROUNDS" "$ratios"
  done
done
printf '\nratio = ferrocache ops/s / redis ops/s; latencies in ms; cpu/M = server CPU seconds (user+system) per million requests.\n'
