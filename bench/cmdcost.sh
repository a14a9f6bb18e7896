#!/usr/bin/env bash
# Instructions per request of the command path, counted by callgrind (exact, unlike timings on
# a shared VM): each binary given runs under valgrind with one event loop while
# `redis-benchmark -t get,set -n N -c 1` talks to it, then the instructions spent inside
# `dispatch::execute` (lookup, checks, handler, per-command statistics) and in the whole
# process are divided by the requests. Compare two builds of one profile, e.g. before and
# after a change on the command path:
#   bench/cmdcost.sh BEFORE_BIN AFTER_BIN [N]     (N defaults to 10000 per test)
# Debug builds work (slow code paths weigh more there than in release; say which was used).
set -euo pipefail
SCRIPT=cmdcost.sh
cd "$(dirname "${BASH_SOURCE[0]}")/.."
source bench/lib.sh
PIDS=()
BENCH_TMP=""
require_tools "apt-get install valgrind redis-tools" valgrind callgrind_annotate redis-benchmark redis-cli
[ "$#" -ge 1 ] || die "usage: bench/cmdcost.sh BIN [BIN...] [N]"
n=10000
bins=()
for arg in "$@"; do
  if [[ "$arg" =~ ^[0-9]+$ ]]; then n="$arg"; else bins+=("$arg"); fi
done
make_tmp_dir cmdcost
printf '%-40s %12s %16s %16s\n' binary requests execute/request process/request
for bin in "${bins[@]}"; do
  free_port
  out="$BENCH_TMP/callgrind.$PORT"
  valgrind --tool=callgrind --callgrind-out-file="$out" "$bin" server --port "$PORT" --admin-port 0 \
    --set io-threads=1 >"$BENCH_TMP/server.$PORT.log" 2>&1 &
  pid=$!
  PIDS+=("$pid")
  wait_ready "$PORT" "$pid" || die "$bin did not start under valgrind (see $BENCH_TMP)"
  redis-benchmark -p "$PORT" -t get,set -n "$n" -c 1 -q >/dev/null
  redis-cli -p "$PORT" SHUTDOWN NOSAVE >/dev/null 2>&1 || true
  wait "$pid" || true
  annotated="$(callgrind_annotate --inclusive=yes "$out" 2>/dev/null)"
  total="$(awk '/PROGRAM TOTALS/ { gsub(",", "", $1); print $1; exit }' <<<"$annotated")"
  read -r execute calls < <(awk '/=> .*dispatch::execute \(/ { gsub(",", "", $1); c = $NF; gsub(/[(x)]/, "", c); gsub(",", "", c); print $1, c; exit }' <<<"$annotated")
  printf '%-40s %12s %16s %16s\n' "$bin" "$calls" $((execute / calls)) $((total / calls))
done
