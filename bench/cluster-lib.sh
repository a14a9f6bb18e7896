# shellcheck shell=bash
# Shared by bench/cluster.sh, bench/migrate.sh and bench/failover.sh (sourced, not run, after bench/lib.sh's
# helpers, which it sources): starts local Ferrocache clusters and Redis Clusters on 127.0.0.1
# with their data dirs and logs under one temp dir; lib.sh stops every process and removes the
# temp dir when the script exits (also on error or Ctrl-C).
#
# The sourcing script sets SCRIPT (its name, for messages) and runs from the repository root.

# shellcheck source=bench/lib.sh
. bench/lib.sh
require_tools "apt-get install redis-server redis-tools python3" redis-server redis-cli redis-benchmark python3
release_bins FERROCACHE_BIN=ferrocache
make_tmp_dir ferrocache-bench

# One event loop per Ferrocache node unless IO_THREADS=default, as one thread serves each
# Redis node (cluster.sh's header says why).
IO_THREADS="${IO_THREADS:-1}"
if [ "$IO_THREADS" != default ]; then
  FERROCACHE_ARGS="--set io-threads=$IO_THREADS ${FERROCACHE_ARGS:-}"
fi

# Waits until every port in $@ answers CLUSTER INFO with cluster_state:ok and knows as many
# nodes as there are ports.
wait_cluster_ok() {
  local i port info ok
  for i in $(seq 1 300); do
    ok=1
    for port in "$@"; do
      info="$(redis-cli -h 127.0.0.1 -p "$port" CLUSTER INFO 2>/dev/null | tr -d '\r')"
      grep -qx 'cluster_state:ok' <<<"$info" || ok=0
      grep -qx "cluster_known_nodes:$#" <<<"$info" || ok=0
    done
    [ "$ok" = 1 ] && return 0
    sleep 0.1
  done
  die "the cluster on ports $* did not reach cluster_state:ok with $# known nodes"
}

# Starts a Redis Cluster node (no persistence, not yet in a cluster), with REDIS_ARGS (more
# redis-server flags, e.g. `--cluster-node-timeout 2000`), in the background on port $1.
launch_redis_node() {
  local dir="$BENCH_TMP/redis-$1"
  mkdir -p "$dir"
  # shellcheck disable=SC2086 # REDIS_ARGS is a list of flags
  redis-server --port "$1" --bind 127.0.0.1 --cluster-enabled yes \
    --cluster-config-file "$dir/nodes.conf" --dir "$dir" --save '' --appendonly no \
    --daemonize no --loglevel warning --logfile "$dir/log" ${REDIS_ARGS:-} >/dev/null 2>&1 &
}

# Starts a Ferrocache cluster node (its data dir under the temp dir, not yet in a cluster),
# with FERROCACHE_ARGS, in the background on port $1.
launch_ferro_node() {
  # shellcheck disable=SC2086 # FERROCACHE_ARGS is a list of flags
  RUST_LOG="${RUST_LOG:-warn,openraft=error}" "$FERROCACHE_BIN" server --cluster --port "$1" \
    --bind 127.0.0.1 --data-dir "$BENCH_TMP/ferro-$1" ${FERROCACHE_ARGS:-} >"$BENCH_TMP/ferro-$1.log" 2>&1 &
}

# Start one node of either kind on free ports (its bus or admin port free too); set PORT to
# its port and record its pid in REDIS_PID_<port> or FERRO_PID_<port> (and in PIDS).
start_redis_node() {
  start_on_free_port 10000 launch_redis_node || die "redis-server --cluster-enabled did not start"
  printf -v "REDIS_PID_$PORT" '%s' "$STARTED_PID"
}
start_ferro_node() {
  start_on_free_port 1000 launch_ferro_node \
    || die "ferrocache server --cluster did not start (log: $(tail -5 "$BENCH_TMP/ferro-$PORT.log" 2>/dev/null))"
  printf -v "FERRO_PID_$PORT" '%s' "$STARTED_PID"
}

# The pid of the node on port $1 (either kind).
node_pid() {
  local v="REDIS_PID_$1" f="FERRO_PID_$1"
  echo "${!v:-${!f:-}}"
}

# Starts $2 nodes with $1 (start_redis_node or start_ferro_node); sets NODE_PORTS
# (space-separated) and NODE_ADDRS (127.0.0.1:port each), to form them into a cluster.
start_nodes() {
  local start="$1" n="$2" _
  NODE_PORTS=""
  NODE_ADDRS=()
  for _ in $(seq 1 "$n"); do
    "$start"
    NODE_PORTS="${NODE_PORTS:+$NODE_PORTS }$PORT"
    NODE_ADDRS+=("127.0.0.1:$PORT")
  done
}

# Starts $1 Redis Cluster primaries, each with $2 replicas (default 0), and forms them with
# `redis-cli --cluster create --cluster-replicas $2` (which wants 3 or more primaries; fewer,
# without replicas, are formed by hand the same way: slots split evenly, config epochs 1..n,
# CLUSTER MEET); sets REDIS_PORTS (space-separated, the primaries first).
start_redis_cluster() {
  local n="$1" replicas="${2:-0}" port first=0 last epoch=0
  start_nodes start_redis_node $((n * (replicas + 1)))
  REDIS_PORTS="$NODE_PORTS"
  if [ "$n" -ge 3 ]; then
    redis-cli --cluster create "${NODE_ADDRS[@]}" --cluster-replicas "$replicas" --cluster-yes >"$BENCH_TMP/redis-create.log" 2>&1 \
      || die "redis-cli --cluster create failed: $(tail -5 "$BENCH_TMP/redis-create.log")"
  else
    [ "$replicas" = 0 ] || die "start_redis_cluster: replicas need 3 or more primaries"
    for port in $REDIS_PORTS; do
      epoch=$((epoch + 1))
      last=$((16384 * epoch / n - 1))
      redis-cli -h 127.0.0.1 -p "$port" CLUSTER ADDSLOTSRANGE "$first" "$last" >/dev/null
      redis-cli -h 127.0.0.1 -p "$port" CLUSTER SET-CONFIG-EPOCH "$epoch" >/dev/null
      first=$((last + 1))
    done
    for port in $REDIS_PORTS; do
      redis-cli -h 127.0.0.1 -p "${REDIS_PORTS%% *}" CLUSTER MEET 127.0.0.1 "$port" >/dev/null
    done
  fi
  # shellcheck disable=SC2086
  wait_cluster_ok $REDIS_PORTS
}

# Starts $1 Ferrocache primaries and $2 replicas of each (default 0) and forms them with
# `ferrocache cluster create --replicas $2`; sets FERRO_PORTS (the primaries first).
start_ferro_cluster() {
  local replicas="${2:-0}"
  start_nodes start_ferro_node $(($1 * (replicas + 1)))
  FERRO_PORTS="$NODE_PORTS"
  "$FERROCACHE_BIN" cluster create --replicas "$replicas" "${NODE_ADDRS[@]}" >"$BENCH_TMP/ferro-create.log" 2>&1 \
    || die "ferrocache cluster create failed: $(tail -5 "$BENCH_TMP/ferro-create.log")"
  # shellcheck disable=SC2086
  wait_cluster_ok $FERRO_PORTS
}

# CPU time (user + system, in clock ticks) the nodes on ports $@ have used so far, together.
nodes_cpu_ticks() {
  local port pids=()
  for port in "$@"; do pids+=("$(node_pid "$port")"); done
  cpu_ticks "${pids[@]}"
}
