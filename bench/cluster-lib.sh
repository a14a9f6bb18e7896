# Shared by bench/cluster.sh and bench/migrate.sh (sourced, not run): starts local Ferrocache
# clusters and Redis Clusters on 127.0.0.1 under one temp dir, and stops every process and
# removes the temp dir when the script exits (also on error or Ctrl-C).
#
# The sourcing script sets SCRIPT (its name, for messages) and runs from the repository root.

log() { printf '==> %s\n' "$*" >&2; }
# The load average, to tell a quiet machine's run from a busy one's.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }
die() { printf '%s: %s\n' "${SCRIPT:-bench}" "$*" >&2; exit 1; }

for tool in redis-server redis-cli redis-benchmark python3; do
  command -v "$tool" >/dev/null 2>&1 || die "$tool is missing (apt-get install redis-server redis-tools python3)"
done

if [ -z "${FERROCACHE_BIN:-}" ]; then
  log "building ferrocache (release)"
  cargo build --release -p ferrocache
  FERROCACHE_BIN="${CARGO_TARGET_DIR:-target}/release/ferrocache"
fi
[ -x "$FERROCACHE_BIN" ] || die "$FERROCACHE_BIN is not an executable"

TICKS_PER_SEC="$(getconf CLK_TCK)"
BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/ferrocache-bench.XXXXXX")"
PIDS=()
cleanup() {
  local pid i
  # Newest first: a load generator stops before the servers it talks to.
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[$i]}" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  rm -rf "$BENCH_TMP"
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# True when nothing listens on 127.0.0.1:$1 (a connection is refused).
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# Sets PORT to a port P on 127.0.0.1 such that P and P+$1 are free (the admin port of a
# Ferrocache cluster node is P+1000, the bus port of a Redis Cluster node P+10000) and that
# this script has not handed out before. (Functions that start processes return through
# globals, not $(...): a subshell would lose PIDS.)
USED_PORTS=" "
free_port_pair() {
  local offset="$1" port
  while :; do
    port=$((20000 + RANDOM % 30000))
    case "$USED_PORTS" in *" $port "* | *" $((port + offset)) "*) continue ;; esac
    if port_free "$port" && port_free $((port + offset)); then
      USED_PORTS="$USED_PORTS$port $((port + offset)) "
      PORT="$port"
      return
    fi
  done
}

# Waits until the server on port $1 answers PING; fails if process $2 died.
wait_ready() {
  local port="$1" pid="$2" i
  for i in $(seq 1 400); do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.05
  done
  return 1
}

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

# Starts one Redis Cluster node (no persistence, not yet in a cluster); sets PORT to its
# port and records its pid in PIDS and in REDIS_PID_<port>.
start_redis_node() {
  local attempt port pid dir
  for attempt in 1 2 3 4 5; do
    free_port_pair 10000
    port="$PORT"
    dir="$BENCH_TMP/redis-$port"
    mkdir -p "$dir"
    redis-server --port "$port" --bind 127.0.0.1 --cluster-enabled yes \
      --cluster-config-file "$dir/nodes.conf" --dir "$dir" --save '' --appendonly no \
      --daemonize no --loglevel warning --logfile "$dir/log" >/dev/null 2>&1 &
    pid=$!
    if wait_ready "$port" "$pid"; then
      PIDS+=("$pid")
      printf -v "REDIS_PID_$port" '%s' "$pid"
      return 0
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  die "redis-server --cluster-enabled did not start"
}

# Starts one Ferrocache cluster node (its data dir under the temp dir, not yet in a
# cluster), with FERROCACHE_ARGS; sets PORT and records its pid like start_redis_node.
start_ferro_node() {
  local attempt port pid dir
  for attempt in 1 2 3 4 5; do
    free_port_pair 1000
    port="$PORT"
    dir="$BENCH_TMP/ferro-$port"
    # shellcheck disable=SC2086 # FERROCACHE_ARGS is a list of flags
    RUST_LOG="${RUST_LOG:-warn,openraft=error}" "$FERROCACHE_BIN" server --cluster --port "$port" \
      --bind 127.0.0.1 --data-dir "$dir" ${FERROCACHE_ARGS:-} >"$BENCH_TMP/ferro-$port.log" 2>&1 &
    pid=$!
    if wait_ready "$port" "$pid"; then
      PIDS+=("$pid")
      printf -v "FERRO_PID_$port" '%s' "$pid"
      return 0
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  die "ferrocache server --cluster did not start (log: $(tail -5 "$BENCH_TMP/ferro-$port.log" 2>/dev/null))"
}

# The pid of the node on port $1 (either kind).
node_pid() {
  local v="REDIS_PID_$1" f="FERRO_PID_$1"
  echo "${!v:-${!f:-}}"
}

# Starts $1 Redis Cluster primaries and forms them with `redis-cli --cluster create` (which
# wants 3 or more; fewer are formed by hand the same way: slots split evenly, config epochs
# 1..n, CLUSTER MEET); sets REDIS_PORTS (space-separated).
start_redis_cluster() {
  local n="$1" i port addrs=() first=0 last epoch=0
  REDIS_PORTS=""
  for i in $(seq 1 "$n"); do
    start_redis_node
    REDIS_PORTS="$REDIS_PORTS $PORT"
  done
  REDIS_PORTS="${REDIS_PORTS# }"
  for port in $REDIS_PORTS; do addrs+=("127.0.0.1:$port"); done
  if [ "$n" -ge 3 ]; then
    redis-cli --cluster create "${addrs[@]}" --cluster-yes >"$BENCH_TMP/redis-create.log" 2>&1 \
      || die "redis-cli --cluster create failed: $(tail -5 "$BENCH_TMP/redis-create.log")"
  else
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

# Starts $1 Ferrocache nodes and forms them with `ferrocache cluster create`; sets FERRO_PORTS.
start_ferro_cluster() {
  local n="$1" i addrs=()
  FERRO_PORTS=""
  for i in $(seq 1 "$n"); do
    start_ferro_node
    FERRO_PORTS="$FERRO_PORTS $PORT"
  done
  FERRO_PORTS="${FERRO_PORTS# }"
  for i in $FERRO_PORTS; do addrs+=("127.0.0.1:$i"); done
  "$FERROCACHE_BIN" cluster create "${addrs[@]}" >"$BENCH_TMP/ferro-create.log" 2>&1 \
    || die "ferrocache cluster create failed: $(tail -5 "$BENCH_TMP/ferro-create.log")"
  # shellcheck disable=SC2086
  wait_cluster_ok $FERRO_PORTS
}

# CPU time (user + system, in clock ticks) the processes of ports $@ have used so far.
cpu_ticks() {
  local port stat total=0
  for port in "$@"; do
    stat="$(cat "/proc/$(node_pid "$port")/stat")"
    # Fields after "pid (comm) ": utime and stime are the 12th and 13th.
    total=$((total + $(awk '{ print $12 + $13 }' <<<"${stat##*) }")))
  done
  echo "$total"
}
