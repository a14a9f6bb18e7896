#!/usr/bin/env bash
# Replication overhead, Ferrocache beside redis-server on this machine, in one run: SET
# throughput of a standalone primary with no replica and with one replica attached (REPLICAOF
# on a second process of the same server), for each server.
#
# Four processes on 127.0.0.1: redis-server x2 (`--save '' --appendonly no`) and
# `ferrocache server --admin-port 0` x2. For each pipeline depth, ROUNDS rounds; each round
# measures `redis-benchmark -t set -c CLIENTS -d SIZE -r KEYSPACE -n N -P <pipeline>` against
# each primary without a replica (the second process detached with REPLICAOF NO ONE, the
# primary's connected_slaves back to 0) and with one (REPLICAOF, then waiting for
# master_link_status:up on the replica and connected_slaves:1 on the primary), in the order
# redis-without, ferro-without, redis-with, ferro-with in odd rounds and the reverse in even
# ones. The replica runs on the same two cores as the primary and the benchmark client, so its
# CPU is part of the overhead measured. See bench/README.md.
#
# Usage: bench/replication.sh [N]      N = requests per test (default 200000)
# Environment: CLIENTS (50), SIZE (64 bytes), KEYSPACE (100000), PIPELINES ("1 16"),
#              ROUNDS (3; the median of the rounds is printed, and every round's ratios),
#              FERROCACHE_ARGS (more server flags, for both Ferrocache processes),
#              FERROCACHE_BIN (default target/release/ferrocache, built by this script).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCRIPT=replication.sh

# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS="${ROUNDS:-3}"
ratio_table_settings "$@"
require_tools "apt-get install redis-server redis-tools" redis-server redis-cli redis-benchmark
release_bins FERROCACHE_BIN=ferrocache
make_tmp_dir ferrocache-replication

launch_redis() {
  redis-server --port "$1" --bind 127.0.0.1 --save '' --appendonly no --daemonize no \
    --loglevel warning --logfile "$BENCH_TMP/redis-$1.log" --dir "$BENCH_TMP" >/dev/null 2>&1 &
}
launch_ferro() {
  # shellcheck disable=SC2086 # FERROCACHE_ARGS is a list of flags
  RUST_LOG=warn "$FERROCACHE_BIN" server --port "$1" --bind 127.0.0.1 --admin-port 0 ${FERROCACHE_ARGS:-} \
    >"$BENCH_TMP/ferro-$1.log" 2>&1 &
}
# The pids are read through ${!var} in measure.
# shellcheck disable=SC2034
{
start_on_free_port 0 launch_redis || die "redis-server did not start"
REDIS_PORT="$PORT" REDIS_PID="$STARTED_PID"
start_on_free_port 0 launch_redis || die "redis-server (replica) did not start"
REDIS_R_PORT="$PORT" REDIS_R_PID="$STARTED_PID"
start_on_free_port 0 launch_ferro || die "ferrocache server did not start"
FERRO_PORT="$PORT" FERRO_PID="$STARTED_PID"
start_on_free_port 0 launch_ferro || die "ferrocache server (replica) did not start"
FERRO_R_PORT="$PORT" FERRO_R_PID="$STARTED_PID"
}

log "redis-server primary :$REDIS_PORT replica :$REDIS_R_PORT; ferrocache primary :$FERRO_PORT replica :$FERRO_R_PORT"
log "$N requests per test, $CLIENTS clients, $SIZE-byte values, $KEYSPACE random keys, $ROUNDS rounds, $(nproc) CPUs, load average $(loadavg)"

# The value of field $2 in INFO replication of the server on port $1.
repl_field() {
  redis-cli -h 127.0.0.1 -p "$1" INFO replication 2>/dev/null | tr -d '\r' | sed -n "s/^$2://p"
}

# Waits (up to 60 s) until INFO replication field $2 of port $1 is $3.
wait_field() {
  local port="$1" field="$2" want="$3" _
  for _ in $(seq 1 600); do
    [ "$(repl_field "$port" "$field")" = "$want" ] && return 0
    sleep 0.1
  done
  die "port $port: INFO replication $field is $(repl_field "$port" "$field"), not $want, after 60 s"
}

# Attaches ($2 = with) or detaches ($2 = without) the replica of server $1 (REDIS or FERRO)
# and waits until the primary and the replica agree.
set_mode() {
  local p_var="${1}_PORT" r_var="${1}_R_PORT" mode="$2"
  local primary="${!p_var}" replica="${!r_var}"
  if [ "$mode" = with ]; then
    [ "$(repl_field "$replica" role)" = slave ] \
      || redis-cli -h 127.0.0.1 -p "$replica" REPLICAOF 127.0.0.1 "$primary" >/dev/null
    wait_field "$replica" master_link_status up
    wait_field "$primary" connected_slaves 1
  else
    [ "$(repl_field "$replica" role)" = master ] \
      || redis-cli -h 127.0.0.1 -p "$replica" REPLICAOF NO ONE >/dev/null
    wait_field "$primary" connected_slaves 0
  fi
}

# One test: server $1 (REDIS or FERRO), $2 = with or without a replica, pipeline $3; prints
# "ops/s p50_ms p99_ms primary_cpu_s_per_M replica_cpu_s_per_M".
measure() {
  local sys="$1" mode="$2" pipeline="$3" p_var="${1}_PORT" pid_var="${1}_PID" rpid_var="${1}_R_PID"
  local port="${!p_var}" pid="${!pid_var}" rpid="${!rpid_var}" p0 r0 p1 r1 csv
  set_mode "$sys" "$mode"
  p0="$(cpu_ticks "$pid")" r0="$(cpu_ticks "$rpid")"
  csv="$(redis-benchmark -h 127.0.0.1 -p "$port" -c "$CLIENTS" -d "$SIZE" -r "$KEYSPACE" -n "$N" -P "$pipeline" -q --csv -t set 2>/dev/null)"
  p1="$(cpu_ticks "$pid")" r1="$(cpu_ticks "$rpid")"
  [ "$(wc -l <<<"$csv")" -ge 2 ] || die "redis-benchmark -t set -P $pipeline on port $port printed no result: $csv"
  awk -F, -v pt=$((p1 - p0)) -v rt=$((r1 - r0)) -v hz="$TICKS_PER_SEC" -v n="$N" '
    NR == 2 { gsub(/"/, ""); printf "%.0f %s %s %.2f %.2f\n", $2, $5, $7, pt / hz / n * 1e6, rt / hz / n * 1e6 }' <<<"$csv"
}

# Median of the numbers in $@ (with two decimals; ops/s as integers: see ops_median).
median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.2f\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }
ops_median() { printf '%.0f\n' "$(median "$@")"; }

ROWS=()
for pipeline in $PIPELINES; do
  declare -A OPS=() CPU=() RCPU=() P99=()
  r_ratios="" f_ratios="" rr_ratios=""
  for round in $(seq 1 "$ROUNDS"); do
    order="REDIS:without FERRO:without REDIS:with FERRO:with"
    [ $((round % 2)) = 0 ] && order="FERRO:with REDIS:with FERRO:without REDIS:without"
    declare -A this=()
    for step in $order; do
      sys="${step%%:*}" mode="${step#*:}"
      read -r ops _ p99 cpu rcpu <<<"$(measure "$sys" "$mode" "$pipeline")"
      [ -n "$ops" ] || die "a benchmark failed (see above)"
      log "pipeline $pipeline round $round: $sys $mode replica: $ops op/s, p99 $p99 ms, cpu/M primary $cpu replica $rcpu"
      this[$sys:$mode]="$ops"
      OPS[$sys:$mode]="${OPS[$sys:$mode]:-} $ops"
      P99[$sys:$mode]="${P99[$sys:$mode]:-} $p99"
      CPU[$sys:$mode]="${CPU[$sys:$mode]:-} $cpu"
      RCPU[$sys:$mode]="${RCPU[$sys:$mode]:-} $rcpu"
    done
    r="$(awk -v a="${this[REDIS:with]}" -v b="${this[REDIS:without]}" 'BEGIN { printf "%.2f", a / b }')"
    f="$(awk -v a="${this[FERRO:with]}" -v b="${this[FERRO:without]}" 'BEGIN { printf "%.2f", a / b }')"
    r_ratios="$r_ratios $r" f_ratios="$f_ratios $f"
    rr_ratios="$rr_ratios $(awk -v f="$f" -v r="$r" 'BEGIN { printf "%.2f", f / r }')"
  done
  # shellcheck disable=SC2086 # word splitting of the lists is wanted
  {
    rw="$(ops_median ${OPS[REDIS:without]})" rv="$(ops_median ${OPS[REDIS:with]})"
    fw="$(ops_median ${OPS[FERRO:without]})" fv="$(ops_median ${OPS[FERRO:with]})"
    rmed="$(median $r_ratios)" fmed="$(median $f_ratios)" rrmed="$(median $rr_ratios)"
    ROWS+=("$(printf '%4s | %10s %10s %6.2f | %10s %10s %6.2f | %6.2f | %5s %5s %5s | %5s %5s %5s | %7s %7s %7s %7s' \
      "$pipeline" "$rw" "$rv" "$rmed" "$fw" "$fv" "$fmed" "$rrmed" \
      "$(median ${CPU[REDIS:without]})" "$(median ${CPU[REDIS:with]})" "$(median ${RCPU[REDIS:with]})" \
      "$(median ${CPU[FERRO:without]})" "$(median ${CPU[FERRO:with]})" "$(median ${RCPU[FERRO:with]})" \
      "$(median ${P99[REDIS:without]})" "$(median ${P99[REDIS:with]})" "$(median ${P99[FERRO:without]})" "$(median ${P99[FERRO:with]})")")
  }
  ROWS+=("$(printf '       rounds: redis with/without%s; ferro with/without%s; ferro/redis%s' "$r_ratios" "$f_ratios" "$rr_ratios")")
done

# The replicas hold what their primaries hold (both attached, the stream drained).
set_mode REDIS with
set_mode FERRO with
sleep 1
for sys in REDIS FERRO; do
  p_var="${sys}_PORT" r_var="${sys}_R_PORT"
  pk="$(redis-cli -h 127.0.0.1 -p "${!p_var}" DBSIZE | tr -d '\r')" rk="$(redis-cli -h 127.0.0.1 -p "${!r_var}" DBSIZE | tr -d '\r')"
  log "$sys: primary holds $pk keys, its replica $rk"
  [ "$pk" = "$rk" ] || log "WARNING: $sys's replica does not hold what its primary holds"
done
log "load average at the end: $(loadavg)"

printf '\n%4s | %10s %10s %6s | %10s %10s %6s | %6s | %-17s | %-17s | %s\n' \
  "" "redis" "redis" "" "ferro" "ferro" "" "ratio" "redis cpu/M" "ferro cpu/M" "p99 ms"
printf '%4s | %10s %10s %6s | %10s %10s %6s | %6s | %5s %5s %5s | %5s %5s %5s | %7s %7s %7s %7s\n' \
  pipe "no repl" "1 replica" "ratio" "no repl" "1 replica" "ratio" "f / r" "no" "with" "repl" "no" "with" "repl" "r no" "r with" "f no" "f with"
printf '%s\n' "----------------------------------------------------------------------------------------------------------------------------------------"
printf '%s\n' "${ROWS[@]}"
printf '\nop/s = SET requests per second (redis-benchmark, median of %s rounds); ratio = with a replica / without (1.00: no overhead), median of the\n' "$ROUNDS"
printf 'rounds'"'"' ratios; f / r = ferrocache ratio / redis ratio (above 1: replication costs Ferrocache less); cpu/M = CPU seconds per million\n'
printf 'requests of the primary without and with a replica, and of the replica (repl); p99 = latency percentile of redis-benchmark.\n'
