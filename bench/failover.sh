#!/usr/bin/env bash
# Automatic failover time, Ferrocache beside Redis Cluster on this machine, in one run.
#
# For each configuration, RUNS times: a fresh cluster of 3 primaries with 1 replica each (6
# nodes on 127.0.0.1), a writer on one shard (bench/failover-load.py: keys of one hash tag
# whose slot that primary owns, written one after another, each followed by `WAIT 1 100`; it
# follows MOVED itself and re-reads CLUSTER SLOTS from a live node after a connection error,
# CLUSTERDOWN or TRYAGAIN, every 10 ms), then kill -9 of that shard's primary; measured: the
# seconds from the kill to the first write a new primary acknowledged. Then every
# acknowledged key is read back from the new primary: "lost" counts acknowledged writes that
# are gone, "lost conf." those of them a replica had confirmed (WAIT 1 100 answered >= 1).
#   ferrocache:  `ferrocache server --cluster` x6, `ferrocache cluster create --replicas 1`,
#                default lease settings (TTL 1 s, renewed every 200 ms), io-threads 1 as in
#                bench/cluster.sh;
#   redis-N:     `redis-server --cluster-enabled yes --cluster-node-timeout N` x6,
#                `redis-cli --cluster create --cluster-replicas 1` (15000 is Redis's default).
# The killed primary is the first, second, third, first, ... primary in turn (for Ferrocache
# the output gives its control-plane role: Leader, Follower or Learner; with 6 nodes the
# first 5 given to `cluster create` are Raft voters). Prints every run (also when, after the
# kill, the node logs marked the node down and the promotion, and when the writer learned of
# the new primary), then median and max per configuration and the Redis / Ferrocache ratios.
# See bench/README.md.
#
# Usage: bench/failover.sh
# Environment: RUNS (10 per configuration), CONFIGS ("ferrocache redis-2000 redis-15000";
#              redis-N = Redis Cluster with cluster-node-timeout N ms), WARMUP (1 s of writes
#              before the kill), AFTER (0.5 s of writes after recovery), LIMIT (60 s: a run
#              without recovery by then is reported as timed out), IO_THREADS (1, as in
#              bench/cluster.sh; "default" for one event loop per CPU), FERROCACHE_ARGS (more
#              server flags, e.g. "--lease-ttl-ms 500 --lease-renew-ms 100"), FERROCACHE_BIN
#              (default target/release/ferrocache, built by this script).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCRIPT=failover.sh

RUNS="${RUNS:-10}"
CONFIGS="${CONFIGS-ferrocache redis-2000 redis-15000}"
WARMUP="${WARMUP:-1}"
AFTER="${AFTER:-0.5}"
LIMIT="${LIMIT:-60}"

# shellcheck source=bench/cluster-lib.sh
. bench/cluster-lib.sh
require_tools "apt-get install curl" curl
python3 -c 'import redis' 2>/dev/null || die "python3 needs the redis package (pip install redis)"
for config in $CONFIGS; do
  case "$config" in
    ferrocache | redis-[0-9]*) ;;
    *) die "CONFIGS: unknown configuration $config (ferrocache or redis-<node timeout ms>)" ;;
  esac
done

# Stops the nodes on ports $@: all signalled first, then waited for.
stop_nodes() {
  local port pids=()
  for port in "$@"; do pids+=("$(node_pid "$port")"); done
  kill "${pids[@]}" 2>/dev/null || true
  stop_pids "${pids[@]}"
}

# The control-plane role of the Ferrocache node on port $1 (Leader, Follower, Learner, ...),
# from its admin API (port + 1000).
raft_state() {
  curl -fsS --max-time 2 "http://127.0.0.1:$(($1 + 1000))/v1/status" 2>/dev/null \
    | python3 -c 'import json, sys; print(json.load(sys.stdin).get("state", "?"))' 2>/dev/null || echo "?"
}

ROWS=()
# Seconds to recovery per configuration, space-separated, for the summary.
declare -A TIMES
# One run of configuration $1, number $2: fresh cluster, writer, kill, read-back; appends a row.
one_run() {
  local config="$1" run="$2" ports victim pid state logs=() port out timeout all=()
  if [ "$config" = ferrocache ]; then
    start_ferro_cluster 3 1
    ports="$FERRO_PORTS"
  else
    timeout="${config#redis-}"
    # loglevel notice: the log lines of the FAIL mark and the election, for the stage columns.
    REDIS_ARGS="--cluster-node-timeout $timeout --loglevel notice" start_redis_cluster 3 1
    ports="$REDIS_PORTS"
  fi
  # The primaries are the first three nodes given to `cluster create`; kill them in turn.
  read -r -a all <<<"$ports"
  victim="${all[$(((run - 1) % 3))]}"
  pid="$(node_pid "$victim")"
  state="-"
  if [ "$config" = ferrocache ]; then
    state="$(raft_state "$victim")"
    for port in $ports; do logs+=("$BENCH_TMP/ferro-$port.log"); done
  else
    for port in $ports; do logs+=("$BENCH_TMP/redis-$port/log"); done
  fi
  local seeds
  # shellcheck disable=SC2086 # one address per port
  seeds="$(printf '127.0.0.1:%s,' $ports)"
  seeds="${seeds%,}"
  out="$(python3 bench/failover-load.py run "$seeds" "127.0.0.1:$victim" "$pid" "$WARMUP" "$AFTER" "$LIMIT" "${logs[@]}" \
    2>"$BENCH_TMP/writer.err")" || die "the writer failed ($config run $run): $(tail -3 "$BENCH_TMP/writer.err")"
  # shellcheck disable=SC2086
  stop_nodes $ports 2>/dev/null  # quiet: bash reports the killed node as "Killed"
  echo "$out" >>"$BENCH_TMP/runs.jsonl"
  ROWS+=("$(python3 -c '
import json, sys
r = json.loads(sys.argv[1])
f = lambda v: "-" if v is None else ("%.2f" % v if isinstance(v, float) else str(v))
secs = "timeout" if r["timed_out"] else f(r["recovery_s"])
conf = f(r["confirmed"]) if r["wait"] == "ok" else "n/a"
lconf = f(r["lost_confirmed"]) if r["wait"] == "ok" else "n/a"
errs = ",".join("%s:%d" % kv for kv in sorted(r["errors"].items()))
print("%-12s %3s %-8s | %7s | %6s %7s %6s | %5s %5s %5s %5s %5s | %s" % (sys.argv[2], sys.argv[3], sys.argv[4], secs,
      r["acked"], conf, r["lost"], lconf, f(r.get("down_s")), f(r.get("promote_s")), f(r["learned_s"]), f(r["last_victim_ack_s"]), errs))
' "$out" "$config" "$run" "$state")")
  if python3 -c 'import json, sys; sys.exit(0 if json.loads(sys.argv[1])["timed_out"] else 1)' "$out"; then
    TIMES[$config]="${TIMES[$config]:-} $LIMIT+"
  else
    TIMES[$config]="${TIMES[$config]:-} $(python3 -c 'import json, sys; print(json.loads(sys.argv[1])["recovery_s"])' "$out")"
  fi
  log "$config run $run: ${ROWS[-1]}"
}

log "$(nproc) CPUs, load average $(loadavg); $RUNS runs of: $CONFIGS"
for run in $(seq 1 "$RUNS"); do
  for config in $CONFIGS; do
    one_run "$config" "$run"
  done
done
log "load average at the end: $(loadavg)"

printf '\n%-12s %3s %-8s | %7s | %6s %7s %6s | %5s %5s %5s %5s %5s | %s\n' \
  config run raft seconds acked "conf." lost "lost" down promo "new" "last" "errors seen by the writer"
printf '%-12s %3s %-8s | %7s | %6s %7s %6s | %5s %5s %5s %5s %5s |\n' '' '' victim '' '' '' '' conf. s s owner ack
printf '%s\n' "------------------------------------------------------------------------------------------------------------------"
printf '%s\n' "${ROWS[@]}"

# Median and max per configuration; a timed-out run counts as LIMIT seconds.
summary() {
  python3 -c '
import statistics, sys
vals = [float(v.rstrip("+")) for v in sys.argv[2].split()]
timeouts = sum(v.endswith("+") for v in sys.argv[2].split())
print("%s %.2f %.2f %d %d" % (sys.argv[1], statistics.median(vals), max(vals), len(vals), timeouts))
' "$1" "${TIMES[$1]}"
}
printf '\n%-12s | %4s %8s %8s %8s\n' config runs median max timeouts
printf '%s\n' "---------------------------------------------"
declare -A MED MAX
for config in $CONFIGS; do
  read -r _ med max n to <<<"$(summary "$config")"
  MED[$config]="$med" MAX[$config]="$max"
  printf '%-12s | %4s %8s %8s %8s\n' "$config" "$n" "$med" "$max" "$to"
done
if [ -n "${MED[ferrocache]:-}" ]; then
  echo
  for config in $CONFIGS; do
    [ "$config" = ferrocache ] && continue
    awk -v c="$config" -v rm="${MED[$config]}" -v rx="${MAX[$config]}" -v fm="${MED[ferrocache]}" -v fx="${MAX[ferrocache]}" \
      'BEGIN { printf "%s / ferrocache: median %.1fx, max %.1fx\n", c, rm / fm, rx / fx }'
  done
fi
printf '\nseconds = from the kill -9 to the first write a new primary acknowledged (the issue'"'"'s target for Ferrocache: p99 < 2 s; with %s runs the max stands in for p99);\n' "$RUNS"
printf 'acked = writes acknowledged during the run, conf. = of them confirmed by WAIT 1 100, lost = acknowledged writes not read back afterwards, lost conf. = confirmed ones among them;\n'
printf 'seconds after the kill: down = first log line marking the node down (Ferrocache: "lease ended; node is down", Redis: "as failing (quorum reached)"),\n'
printf 'promo = the promotion ("promoting a replica" / "Failover election won"), new owner = the writer first learned of it (MOVED or CLUSTER SLOTS),\n'
printf 'last ack = the killed primary'"'"'s last acknowledgement; raft = the killed node'"'"'s control-plane role.\n'
