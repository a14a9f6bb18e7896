#!/usr/bin/env bash
# Deployment timings: Ferrocache's `deploy` beside what the same takes with Redis Cluster's own
# tools, on this machine, in one run.
#
# 1. form: from no process to a healthy cluster of 3 primaries with 1 replica each, RUNS times.
#      Ferrocache: `ferrocache deploy apply -f SPEC` (a supervisor starts 6 nodes, they are
#                  formed and get their settings), until `ferrocache deploy status` says healthy;
#      Redis:      6 `redis-server --cluster-enabled yes`, `redis-cli --cluster create
#                  --cluster-replicas 1 --cluster-yes`, until all 6 say cluster_state:ok and
#                  know 6 nodes, and both replicas' links are up.
# 2. scale: the 3x1 cluster loaded with KEYS keys (SIZE-byte values) grows to 4 shards x 1
#    replica, live.
#      Ferrocache: the spec's shards 3 -> 4 and `deploy apply` (2 nodes started, added, slots
#                  rebalanced);
#      Redis:      2 more nodes, `redis-cli --cluster add-node` (a primary, then its replica
#                  with --cluster-slave), `redis-cli --cluster rebalance
#                  --cluster-use-empty-masters` (pipeline 10, its default).
# 3. config: CHANGES live changes of a node setting (hz) written once to the control plane
#    (`cluster/config/settings`), each timed until every node of the 3x1 cluster runs it
#    (bench/config-propagation.py polls CONFIG GET). Redis has no fleet-wide setting to
#    compare with; the issue's reference is Apollo's push, about 1 s.
#
# Usage: bench/deploy.sh
# Environment: RUNS (5), KEYS (1000000), SIZE (64), CHANGES (100), FERROCACHE_BIN (default
#              target/release/ferrocache, built by this script), PARTS ("form scale config").
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCRIPT=deploy.sh

RUNS="${RUNS:-5}"
KEYS="${KEYS:-1000000}"
SIZE="${SIZE:-64}"
CHANGES="${CHANGES:-100}"
PARTS="${PARTS:-form scale config}"

# shellcheck source=bench/cluster-lib.sh
. bench/cluster-lib.sh

now() { date +%s.%N; }
since() { echo "$(now) - $1" | bc -l | xargs printf '%.2f'; }

# A spec for the local Ferrocache cluster $1 with $2 shards, in the temp dir.
write_spec() {
  cat >"$BENCH_TMP/$1.toml" <<TOML
name = "$1"
shards = $2
replicas = 1
[local]
base_port = 23000
dir = "$BENCH_TMP/$1"
TOML
}

ferro() { "$FERROCACHE_BIN" "$@"; }

ferro_healthy() {
  local i
  for i in $(seq 1 600); do
    ferro deploy status -f "$1" >/dev/null 2>&1 && return 0
    sleep 0.05
  done
  die "the Ferrocache cluster of $1 did not become healthy"
}

ferro_destroy() { ferro deploy destroy -f "$1" >/dev/null 2>&1 || true; }

redis_links_up() {
  local port i
  for i in $(seq 1 600); do
    local up=0
    for port in "$@"; do
      redis-cli -h 127.0.0.1 -p "$port" INFO replication 2>/dev/null | tr -d '\r' | grep -q '^master_link_status:up' && up=$((up + 1))
    done
    [ "$up" -ge 3 ] && return 0
    sleep 0.05
  done
  die "the Redis replicas did not link up"
}

stop_redis() {
  local port
  for port in $REDIS_PORTS "$@"; do stop_pids "$(node_pid "$port")"; done
}

results=()

if [[ " $PARTS " == *" form "* ]]; then
  for run in $(seq 1 "$RUNS"); do
    write_spec form 3
    t0="$(now)"
    ferro deploy apply -f "$BENCH_TMP/form.toml" >"$BENCH_TMP/form-apply.log" 2>&1 || die "deploy apply failed: $(tail -3 "$BENCH_TMP/form-apply.log")"
    ferro_healthy "$BENCH_TMP/form.toml"
    f="$(since "$t0")"
    ferro_destroy "$BENCH_TMP/form.toml"
    t0="$(now)"
    start_redis_cluster 3 1
    # shellcheck disable=SC2086
    redis_links_up $REDIS_PORTS
    r="$(since "$t0")"
    stop_redis
    log "form run $run: ferrocache ${f} s, redis ${r} s"
    results+=("form $run $f $r")
  done
fi

if [[ " $PARTS " == *" scale "* ]]; then
  write_spec scale 3
  ferro deploy apply -f "$BENCH_TMP/scale.toml" >"$BENCH_TMP/scale-apply.log" 2>&1 || die "deploy apply failed"
  ferro_healthy "$BENCH_TMP/scale.toml"
  python3 bench/cluster-load.py load 127.0.0.1:23000 "$KEYS" "$SIZE"
  sed -i 's/^shards = 3/shards = 4/' "$BENCH_TMP/scale.toml"
  t0="$(now)"
  ferro deploy apply -f "$BENCH_TMP/scale.toml" >"$BENCH_TMP/scale-apply2.log" 2>&1 || die "scale apply failed: $(tail -3 "$BENCH_TMP/scale-apply2.log")"
  ferro_healthy "$BENCH_TMP/scale.toml"
  f="$(since "$t0")"
  ferro_destroy "$BENCH_TMP/scale.toml"

  start_redis_cluster 3 1
  # shellcheck disable=SC2086
  redis_links_up $REDIS_PORTS
  first="${REDIS_PORTS%% *}"
  python3 bench/cluster-load.py load "127.0.0.1:$first" "$KEYS" "$SIZE"
  t0="$(now)"
  start_redis_node; new_primary="$PORT"
  start_redis_node; new_replica="$PORT"
  redis-cli --cluster add-node "127.0.0.1:$new_primary" "127.0.0.1:$first" >"$BENCH_TMP/redis-add.log" 2>&1 || die "add-node failed"
  # shellcheck disable=SC2086
  wait_cluster_ok $REDIS_PORTS "$new_primary"
  id="$(redis-cli -h 127.0.0.1 -p "$new_primary" CLUSTER MYID)"
  redis-cli --cluster add-node "127.0.0.1:$new_replica" "127.0.0.1:$first" --cluster-slave --cluster-master-id "$id" >>"$BENCH_TMP/redis-add.log" 2>&1 || die "add-node replica failed"
  # shellcheck disable=SC2086
  wait_cluster_ok $REDIS_PORTS "$new_primary" "$new_replica"
  redis-cli --cluster rebalance "127.0.0.1:$first" --cluster-use-empty-masters >"$BENCH_TMP/redis-rebalance.log" 2>&1 || die "rebalance failed: $(tail -3 "$BENCH_TMP/redis-rebalance.log")"
  r="$(since "$t0")"
  stop_redis "$new_primary" "$new_replica"
  log "scale 3 -> 4 shards with $KEYS keys: ferrocache ${f} s, redis ${r} s"
  results+=("scale 1 $f $r")
fi

config_line=""
if [[ " $PARTS " == *" config "* ]]; then
  write_spec config 3
  ferro deploy apply -f "$BENCH_TMP/config.toml" >"$BENCH_TMP/config-apply.log" 2>&1 || die "deploy apply failed"
  ferro_healthy "$BENCH_TMP/config.toml"
  config_line="$(python3 bench/config-propagation.py http://127.0.0.1:24000 "$CHANGES" 23000 23001 23002 23003 23004 23005 2>"$BENCH_TMP/config.log")"
  ferro_destroy "$BENCH_TMP/config.toml"
fi

echo "load average at the end: $(loadavg)"
printf '%-6s %4s %12s %12s %8s\n' part run ferrocache_s redis_s ratio
for row in "${results[@]}"; do
  read -r part run f r <<<"$row"
  printf '%-6s %4s %12s %12s %8s\n' "$part" "$run" "$f" "$r" "$(echo "$r / $f" | bc -l | xargs printf '%.2f')"
done
[ -z "$config_line" ] || echo "config: $config_line"
