#!/usr/bin/env bash
# Live resharding speed, Ferrocache beside Redis Cluster on this machine, in one run.
#
# For each system: a 2-primary cluster is loaded with KEYS keys (SIZE-byte values), a third,
# empty primary joins, and a third of the slots (half from each old primary) moves to it
# while a light read/write load (LOAD_RATE requests/s through redis-py's RedisCluster) runs:
#   Ferrocache: `ferrocache cluster add-node` + `ferrocache cluster rebalance --parallel P`
#               (the source nodes stream RESTORE-ASKING batches; the CLI keeps up to P
#               slots migrating at once), once with the CLI's default P = 1024 and once
#               with every slot at once;
#   Redis:      `redis-cli --cluster add-node` + `redis-cli --cluster reshard --cluster-from
#               A,B --cluster-to C --cluster-slots S` (MIGRATE, --cluster-pipeline keys per
#               call), S being the number of slots Ferrocache's rebalance moved, once with
#               redis-cli's default pipeline 10 and once with 100.
# Prints seconds, keys/s and MB/s of each move, what the load saw (errors, latency, lost
# writes), and the speed ratio. See bench/README.md.
#
# Usage: bench/migrate.sh [KEYS]      KEYS = keys loaded (default 1000000)
# Environment: SIZE (64 bytes), LOAD_RATE (500 requests/s during the move; 0 for none),
#              REDIS_PIPELINES ("10 100": one Redis run per --cluster-pipeline value; 10 is
#              redis-cli's default), IO_THREADS (1, as in bench/cluster.sh; "default" for one
#              event loop per CPU), PARALLEL ("1024 16384": one Ferrocache run per
#              `rebalance --parallel` value; 1024 is the CLI's default); PARALLEL or
#              REDIS_PIPELINES may be empty to skip that system (Redis moves as many slots
#              as the first Ferrocache run did, 5461 without one),
#              FERROCACHE_ARGS (more server flags), FERROCACHE_BIN (default
#              target/release/ferrocache, built by this script).
#
# Time is the wall-clock time of the whole operator command (rebalance or reshard), started
# once the new node is known to every node; MB counts keys plus DUMP payloads, as
# Ferrocache's rebalance reports them (for Redis: the moved keys times len(key) + len(DUMP)).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCRIPT=migrate.sh

KEYS="${1:-${KEYS:-1000000}}"
SIZE="${SIZE:-64}"
LOAD_RATE="${LOAD_RATE:-500}"
REDIS_PIPELINES="${REDIS_PIPELINES-10 100}"
PARALLEL="${PARALLEL-1024 16384}"

# shellcheck source=bench/cluster-lib.sh
. bench/cluster-lib.sh
HELPER=(python3 bench/cluster-load.py)

now() { date +%s.%N; }

# Stops the nodes on ports $@ (and forgets their pids).
stop_nodes() {
  local port
  for port in "$@"; do stop_pids "$(node_pid "$port")"; done
}

# Starts the background load against the cluster at port $1; sets TRAFFIC_PID.
TRAFFIC_PID=""
start_traffic() {
  local i
  [ "$LOAD_RATE" != 0 ] || return 0
  rm -f "$BENCH_TMP/traffic.ready" "$BENCH_TMP/traffic.json"
  "${HELPER[@]}" traffic "127.0.0.1:$1" "$KEYS" "$SIZE" "$LOAD_RATE" \
    "$BENCH_TMP/traffic.ready" "$BENCH_TMP/traffic.json" 2>"$BENCH_TMP/traffic.err" &
  TRAFFIC_PID=$!
  PIDS+=("$TRAFFIC_PID")
  for i in $(seq 1 600); do
    [ -e "$BENCH_TMP/traffic.ready" ] && return 0
    kill -0 "$TRAFFIC_PID" 2>/dev/null || break
    sleep 0.05
  done
  die "the background load did not start: $(tail -3 "$BENCH_TMP/traffic.err")"
}

# Stops the background load; it checks its writes and leaves its statistics in traffic.json.
# Sets LOAD_STATS to "requests errors p99_ms max_ms lost_writes/keys_written" (not printed:
# a $(...) subshell could not wait for the load).
stop_traffic() {
  if [ -z "$TRAFFIC_PID" ]; then
    LOAD_STATS="- - - - -"
    return
  fi
  stop_pids "$TRAFFIC_PID"  # SIGTERM: the load checks its writes, then exits
  TRAFFIC_PID=""
  [ -s "$BENCH_TMP/traffic.json" ] || die "the background load left no statistics: $(tail -3 "$BENCH_TMP/traffic.err")"
  LOAD_STATS="$(python3 -c '
import json, sys
s = json.load(open(sys.argv[1]))
for text, count in s["error_samples"].items():
    print("load error x%d: %s" % (count, text), file=sys.stderr)
print(s["requests"], s["errors"], s["p99_ms"], s["max_ms"], "%d/%d" % (s["lost_writes"], s["keys_written"]))
' "$BENCH_TMP/traffic.json")"
}

load_keys() {
  log "loading $KEYS keys of $SIZE bytes"
  "${HELPER[@]}" load "127.0.0.1:$1" "$KEYS" "$SIZE"
}

# DBSIZE of the node on port $1.
dbsize() { redis-cli -h 127.0.0.1 -p "$1" DBSIZE | tr -d '\r'; }

RESULTS=()
RATES=()
NAMES=()
# Records one result row: name, pipeline, slots, keys, seconds, bytes per key, cpu ticks, load stats.
record() {
  local name="$1" pipe="$2" slots="$3" keys="$4" secs="$5" per_key="$6" ticks="$7" load="$8"
  RESULTS+=("$(awk -v name="$name" -v pipe="$pipe" -v slots="$slots" -v keys="$keys" -v s="$secs" \
    -v per="$per_key" -v ticks="$ticks" -v hz="$TICKS_PER_SEC" -v load="$load" 'BEGIN {
      mb = keys * per / 1e6
      split(load, l, " ")
      printf "%-17s %8s | %5d %8d %7.1f %9.0f %7.1f %6.2f %6.1f | %6s %5s %7s %8s %9s\n",
        name, pipe, slots, keys, s, keys / s, mb, mb / s, ticks / hz, l[1], l[2], l[3], l[4], l[5] }')")
  RATES+=("$(awk -v keys="$keys" -v s="$secs" 'BEGIN { print keys / s }')")
  NAMES+=("$name $pipe")
}

# --- Ferrocache -------------------------------------------------------------------------
SLOTS=""
for par in $PARALLEL; do
  log "ferrocache: 2 primaries, $KEYS keys, then a third primary and \`ferrocache cluster rebalance --parallel $par\` (io-threads: $IO_THREADS, $(nproc) CPUs, load average $(loadavg))"
  start_ferro_cluster 2
  read -r F_A F_B <<<"$FERRO_PORTS"
  load_keys "$F_A"
  start_ferro_node
  F_C="$PORT"
  "$FERROCACHE_BIN" cluster add-node "127.0.0.1:$F_C" "127.0.0.1:$F_A" >"$BENCH_TMP/ferro-add.log" 2>&1 \
    || die "ferrocache cluster add-node failed: $(cat "$BENCH_TMP/ferro-add.log")"
  wait_cluster_ok "$F_A" "$F_B" "$F_C"
  F_PER_KEY="$("${HELPER[@]}" entry-bytes "127.0.0.1:$F_A" "$(python3 -c 'print("key:%09d" % 0)')")"
  start_traffic "$F_A"
  cpu_before="$(nodes_cpu_ticks "$F_A" "$F_B" "$F_C")"
  t0="$(now)"
  "$FERROCACHE_BIN" cluster rebalance "127.0.0.1:$F_A" --parallel "$par" >"$BENCH_TMP/rebalance.log" 2>&1 \
    || die "ferrocache cluster rebalance failed: $(tail -5 "$BENCH_TMP/rebalance.log")"
  t1="$(now)"
  cpu_after="$(nodes_cpu_ticks "$F_A" "$F_B" "$F_C")"
  stop_traffic
  f_load="$LOAD_STATS"
  ok_line="$(grep '^\[OK\] moved' "$BENCH_TMP/rebalance.log")" || die "no [OK] line from rebalance: $(tail -5 "$BENCH_TMP/rebalance.log")"
  log "ferrocache: $ok_line"
  f_slots="$(sed -E 's/^\[OK\] moved ([0-9]+) slot.*/\1/' <<<"$ok_line")"
  SLOTS="${SLOTS:-$f_slots}"
  f_keys="$(dbsize "$F_C")"
  total=$(($(dbsize "$F_A") + $(dbsize "$F_B") + f_keys))
  [ "$total" = "$KEYS" ] || die "ferrocache holds $total keys after the move, expected $KEYS"
  record ferrocache "$par" "$f_slots" "$f_keys" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$F_PER_KEY" $((cpu_after - cpu_before)) "$f_load"
  stop_nodes "$F_A" "$F_B" "$F_C"
done

# --- Redis Cluster ----------------------------------------------------------------------
SLOTS="${SLOTS:-5461}"  # a third of the slots, as Ferrocache's rebalance moves
for pipe in $REDIS_PIPELINES; do
  log "redis: 2 masters, $KEYS keys, then a third master and \`redis-cli --cluster reshard\` of $SLOTS slots, --cluster-pipeline $pipe"
  start_redis_cluster 2
  read -r R_A R_B <<<"$REDIS_PORTS"
  load_keys "$R_A"
  start_redis_node
  R_C="$PORT"
  redis-cli --cluster add-node "127.0.0.1:$R_C" "127.0.0.1:$R_A" >"$BENCH_TMP/redis-add.log" 2>&1 \
    || die "redis-cli --cluster add-node failed: $(tail -5 "$BENCH_TMP/redis-add.log")"
  wait_cluster_ok "$R_A" "$R_B" "$R_C"
  ids="$(redis-cli -h 127.0.0.1 -p "$R_A" CLUSTER MYID | tr -d '\r'),$(redis-cli -h 127.0.0.1 -p "$R_B" CLUSTER MYID | tr -d '\r')"
  to="$(redis-cli -h 127.0.0.1 -p "$R_C" CLUSTER MYID | tr -d '\r')"
  R_PER_KEY="$("${HELPER[@]}" entry-bytes "127.0.0.1:$R_A" "$(python3 -c 'print("key:%09d" % 0)')")"
  start_traffic "$R_A"
  cpu_before="$(nodes_cpu_ticks "$R_A" "$R_B" "$R_C")"
  t0="$(now)"
  redis-cli --cluster reshard "127.0.0.1:$R_A" --cluster-from "$ids" --cluster-to "$to" \
    --cluster-slots "$SLOTS" --cluster-yes --cluster-pipeline "$pipe" >"$BENCH_TMP/reshard.log" 2>&1 \
    || die "redis-cli --cluster reshard failed: $(grep -v '^Moving' "$BENCH_TMP/reshard.log" | tail -5)"
  t1="$(now)"
  cpu_after="$(nodes_cpu_ticks "$R_A" "$R_B" "$R_C")"
  stop_traffic
  r_load="$LOAD_STATS"
  if grep -q '\[ERR\]' "$BENCH_TMP/reshard.log"; then
    die "redis-cli --cluster reshard reported: $(grep '\[ERR\]' "$BENCH_TMP/reshard.log" | head -3)"
  fi
  r_keys="$(dbsize "$R_C")"
  r_slots="$(redis-cli -h 127.0.0.1 -p "$R_C" CLUSTER NODES | awk '/myself/ { n = 0; for (i = 9; i <= NF; i++) { split($i, r, "-"); n += (r[2] == "" ? 1 : r[2] - r[1] + 1) } print n }')"
  total=$(($(dbsize "$R_A") + $(dbsize "$R_B") + r_keys))
  [ "$total" = "$KEYS" ] || die "redis holds $total keys after the move, expected $KEYS"
  record "redis-cli reshard" "$pipe" "$r_slots" "$r_keys" "$(awk -v a="$t0" -v b="$t1" 'BEGIN { print b - a }')" "$R_PER_KEY" $((cpu_after - cpu_before)) "$r_load"
  stop_nodes "$R_A" "$R_B" "$R_C"
done

log "load average at the end: $(loadavg)"
printf '\n%-17s %8s | %5s %8s %7s %9s %7s %6s %6s | %6s %5s %7s %8s %9s\n' \
  system par/pipe slots keys seconds "keys/s" MB "MB/s" "cpu s" "load" errs "p99 ms" "max ms" "lost"
printf '%s\n' "-------------------------------------------------------------------------------------------------------------------"
printf '%s\n' "${RESULTS[@]}"
echo
# Speed ratios: every Ferrocache run against every Redis run, by keys/s.
for i in "${!NAMES[@]}"; do
  [ "${NAMES[$i]%% *}" = ferrocache ] || continue
  for j in "${!NAMES[@]}"; do
    [ "${NAMES[$j]%% *}" = ferrocache ] && continue
    awk -v f="${RATES[$i]}" -v r="${RATES[$j]}" -v fp="${NAMES[$i]##* }" -v rp="${NAMES[$j]##* }" \
      'BEGIN { printf "speed ratio, rebalance --parallel %s vs reshard --cluster-pipeline %s: %.1fx\n", fp, rp, f / r }'
  done
done
printf '\nseconds = wall time of the whole rebalance / reshard command; MB = keys + DUMP payloads; cpu s = CPU seconds of the 3 nodes during the move;\n'
printf 'load = requests of the background load (%s/s, half SET, half GET) during the move, errs = its errors, lost = acknowledged writes not read back / keys written.\n' "$LOAD_RATE"
