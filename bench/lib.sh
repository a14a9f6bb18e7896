# shellcheck shell=bash
# Shared by the bench/*.sh scripts (sourced, not run): messages, the binaries under test, the
# processes a script starts (all stopped, and its temp dir removed, when it exits, also on
# error or Ctrl-C), free ports, server CPU time, and the table of alternating rounds that
# compare.sh and cluster.sh print.
#
# The sourcing script sets SCRIPT (its name, for messages) first. KEEP_DATA=1 keeps the temp
# dir (see make_tmp_dir) and says where it is.

# Progress goes to stderr, so that stdout carries only the results.
log() { printf '==> %s\n' "$*" >&2; }
# Stops the script with a message that names it.
die() { printf '%s: %s\n' "${SCRIPT:-bench}" "$*" >&2; exit 1; }
# The load average, to tell a quiet machine's run from a busy one's.
loadavg() { cut -d' ' -f1-3 /proc/loadavg; }

# Fails early when a command of $2... is missing; $1 says how to install it (or is empty).
require_tools() {
  local hint="$1" tool
  shift
  for tool in "$@"; do
    command -v "$tool" >/dev/null 2>&1 || die "$tool is missing${hint:+ ($hint)}"
  done
}

# For each VAR=PACKAGE argument, points VAR at PACKAGE's release binary unless VAR is set
# already (so a prebuilt binary is measured and nothing is built); the packages of the unset
# ones are built by one `cargo build --release`. Fails unless every binary is executable.
release_bins() {
  local spec var pkg build=() names=""
  for spec in "$@"; do
    var="${spec%%=*}" pkg="${spec#*=}"
    [ -n "${!var:-}" ] && continue
    build+=(-p "$pkg")
    names="${names:+$names and }$pkg"
  done
  if [ "${#build[@]}" -gt 0 ]; then
    log "building $names (release)"
    cargo build --release "${build[@]}"
  fi
  for spec in "$@"; do
    var="${spec%%=*}" pkg="${spec#*=}"
    [ -n "${!var:-}" ] || printf -v "$var" '%s' "${CARGO_TARGET_DIR:-target}/release/$pkg"
    [ -x "${!var}" ] || die "${!var} is not an executable"
  done
}

# The processes this script started, oldest first: cleanup stops them all.
PIDS=()
# The script's temp dir (see make_tmp_dir); empty when it has none.
BENCH_TMP=""

# Creates BENCH_TMP, the script's dir for data dirs and logs, named after $1; cleanup removes it.
make_tmp_dir() { BENCH_TMP="$(mktemp -d "${TMPDIR:-/tmp}/$1.XXXXXX")"; }

# Runs on exit: stops the script's processes newest first (a load generator before the
# servers it talks to), waits for them, and removes the temp dir unless KEEP_DATA=1.
cleanup() {
  local pid i
  for ((i = ${#PIDS[@]} - 1; i >= 0; i--)); do
    kill "${PIDS[$i]}" 2>/dev/null || true
  done
  for pid in "${PIDS[@]}"; do
    wait "$pid" 2>/dev/null || true
  done
  if [ -n "$BENCH_TMP" ]; then
    if [ "${KEEP_DATA:-0}" = 1 ]; then
      log "data and logs kept in $BENCH_TMP"
    else
      rm -rf "$BENCH_TMP"
    fi
  fi
}
trap cleanup EXIT
trap 'exit 130' INT TERM

# Stops the processes $@ before the script ends and drops them from PIDS, so that cleanup
# does not signal their pids again (by then another process may have one).
stop_pids() {
  local pid p keep
  for pid in "$@"; do
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
    keep=()
    for p in "${PIDS[@]}"; do [ "$p" = "$pid" ] || keep+=("$p"); done
    PIDS=("${keep[@]}")
  done
}

# True when nothing listens on 127.0.0.1:$1 (a connection is refused).
port_free() {
  ! (exec 3<>"/dev/tcp/127.0.0.1/$1") 2>/dev/null
}

# The ports free_port has handed out, so that two servers never get the same one.
USED_PORTS=" "
# Sets PORT to a port P on 127.0.0.1 such that P and P+$1 are free ($1 defaults to 0; the
# admin port of a Ferrocache cluster node is P+1000, the bus port of a Redis Cluster node
# P+10000) and that this script has not handed out before. (Functions that start processes
# return through globals, not $(...): a subshell would lose PIDS and USED_PORTS.)
free_port() {
  local offset="${1:-0}" port
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

# Waits until the server on port $1 answers PING; fails if process $2 died (or after 20 s).
wait_ready() {
  local port="$1" pid="$2" _
  for _ in $(seq 1 400); do
    kill -0 "$pid" 2>/dev/null || return 1
    [ "$(redis-cli -h 127.0.0.1 -p "$port" PING 2>/dev/null)" = "PONG" ] && return 0
    sleep 0.05
  done
  return 1
}

# Starts a server on a free port, trying another port when the chosen one was taken
# meanwhile: $1 = the offset free_port also keeps free, $2 = a function that starts the
# server in the background on the port it is given. Sets PORT and STARTED_PID and records the
# pid in PIDS; returns 1 (PORT still set, for the caller's message) after five failed tries.
start_on_free_port() {
  local offset="$1" launch="$2" pid _
  for _ in 1 2 3 4 5; do
    free_port "$offset"
    "$launch" "$PORT"
    pid=$!
    if wait_ready "$PORT" "$pid"; then
      PIDS+=("$pid")
      STARTED_PID="$pid"
      return 0
    fi
    kill "$pid" 2>/dev/null || true
    wait "$pid" 2>/dev/null || true
  done
  return 1
}

# Clock ticks per second, to turn /proc CPU times into seconds.
TICKS_PER_SEC="$(getconf CLK_TCK)"
# CPU time (user + system, in clock ticks, all threads) processes $@ have used so far, summed:
# a server's cost for a test is the difference across it.
cpu_ticks() {
  local pid stat total=0
  for pid in "$@"; do
    stat="$(cat "/proc/$pid/stat")"
    # Fields after "pid (comm) ": utime and stime are the 12th and 13th.
    total=$((total + $(awk '{ print $12 + $13 }' <<<"${stat##*) }")))
  done
  echo "$total"
}

# The settings of the ratio table, alike in compare.sh and cluster.sh: N from $1 or the
# environment, the others from the environment (their headers list the defaults).
ratio_table_settings() {
  N="${1:-${N:-200000}}"
  CLIENTS="${CLIENTS:-50}"
  SIZE="${SIZE:-64}"
  KEYSPACE="${KEYSPACE:-100000}"
  PIPELINES="${PIPELINES:-1 16}"
  ROUNDS="${ROUNDS:-1}"
  TESTS="${TESTS:-set get}"
}

# Turns what `redis-benchmark --csv` printed for one test ($1: a header line, then test, rps,
# avg, min, p50, p95, p99, max, quoted) and the servers' CPU ticks during it ($2) into the row
# "ops/s p50_ms p99_ms cpu_s_per_million_requests" (N requests) that print_ratio_table reads.
benchmark_csv_row() {
  awk -F, -v ticks="$2" -v hz="$TICKS_PER_SEC" -v n="$N" '
    NR == 2 { gsub(/"/, ""); printf "%.0f %s %s %.3f\n", $2, $5, $7, ticks / hz / n * 1e6 }' <<<"$1"
}

# Prints the table of compare.sh and cluster.sh: for every pipeline depth in PIPELINES and
# test in TESTS, ROUNDS rounds that each measure Redis and Ferrocache through `$1 REDIS|FERRO
# TEST PIPELINE` (printing a benchmark_csv_row), then the row of the round with the median
# ferrocache/redis ratio and, with several rounds, every round's ratio.
print_ratio_table() {
  local measure="$1" pipeline test round rows ratios ratio
  local r_ops r_p50 r_p99 r_cpu f_ops f_p50 f_p99 f_cpu
  printf '\n%-9s %3s | %10s %10s %6s | %7s %7s | %7s %7s | %9s %9s\n' \
    test pipe "redis op/s" "ferro op/s" ratio "r p50" "f p50" "r p99" "f p99" "r cpu/M" "f cpu/M"
  printf '%s\n' "------------------------------------------------------------------------------------------------"
  for pipeline in $PIPELINES; do
    for test in $TESTS; do
      rows=()
      ratios=""
      for round in $(seq 1 "$ROUNDS"); do
        # Alternate which system goes first, so neither always gets the warmer machine.
        if [ $((round % 2)) = 1 ]; then
          read -r r_ops r_p50 r_p99 r_cpu <<<"$("$measure" REDIS "$test" "$pipeline")"
          read -r f_ops f_p50 f_p99 f_cpu <<<"$("$measure" FERRO "$test" "$pipeline")"
        else
          read -r f_ops f_p50 f_p99 f_cpu <<<"$("$measure" FERRO "$test" "$pipeline")"
          read -r r_ops r_p50 r_p99 r_cpu <<<"$("$measure" REDIS "$test" "$pipeline")"
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
}
