#!/usr/bin/env bash
# What monitoring costs: redis-benchmark throughput of one Ferrocache server while a scraper
# fetches /metrics from its admin port every second (as Prometheus would), against the same
# server with no scraper, in alternating rounds (issue 8's target: at most 2 % lower). Then,
# as a measure that the machine's noise does not blur: the server CPU time SCRAPES scrapes
# take back to back (after the benchmarks, so every command's series exists), per scrape, and
# what one scrape every SCRAPE_EVERY seconds costs as a share of one core.
# See bench/README.md.
#
# Usage: bench/metrics-overhead.sh [N]    N = requests per test at pipeline 1 (default 300000;
#                                          at pipeline P > 1, N * P / 2, so every test lasts
#                                          seconds and sees several scrapes)
# Environment: CLIENTS (50), SIZE (64), KEYSPACE (100000), PIPELINES ("1 16"), TESTS ("set get"),
#              ROUNDS (3; the median of the rounds' with/without ratios is printed),
#              SCRAPE_EVERY (1 second), SCRAPES (1000), FERROCACHE_BIN (default target/release/ferrocache,
#              built by this script when unset), PIN (1: the server runs on CPU 0, redis-benchmark
#              and the scraper on CPU 1, with taskset, so that neither steals the other's core and
#              the rounds vary less; 0: the scheduler places them).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCRIPT=metrics-overhead.sh

# shellcheck source=bench/lib.sh
. bench/lib.sh
ROUNDS="${ROUNDS:-3}"
N="${1:-${N:-300000}}"
ratio_table_settings "$N"
SCRAPE_EVERY="${SCRAPE_EVERY:-1}"
PIN="${PIN:-0}"
require_tools "apt-get install redis-tools curl" redis-cli redis-benchmark curl
SERVER_ON=() CLIENT_ON=()
if [ "$PIN" = 1 ]; then
  require_tools "apt-get install util-linux" taskset
  [ "$(nproc)" -ge 2 ] || die "PIN=1 needs two CPUs"
  SERVER_ON=(taskset -c 0) CLIENT_ON=(taskset -c 1)
fi
release_bins FERROCACHE_BIN=ferrocache
make_tmp_dir ferrocache-metrics

# The admin port is the client port + 1000 (free_port keeps both free).
launch_ferro() {
  RUST_LOG=warn "${SERVER_ON[@]}" "$FERROCACHE_BIN" server --port "$1" --bind 127.0.0.1 --admin-port $(($1 + 1000)) \
    --data-dir "$BENCH_TMP/data" >"$BENCH_TMP/ferro.log" 2>&1 &
}
start_on_free_port 1000 launch_ferro || die "ferrocache server did not start"
PORT_F="$PORT"
METRICS="http://127.0.0.1:$((PORT_F + 1000))/metrics"
curl -fsS "$METRICS" >"$BENCH_TMP/first-scrape.txt" || die "GET $METRICS failed"
log "ferrocache on port $PORT_F, $(wc -l <"$BENCH_TMP/first-scrape.txt") lines per scrape of $METRICS"
log "$N requests per test at pipeline 1, $CLIENTS clients, $SIZE-byte values, $KEYSPACE random keys, $ROUNDS rounds, $(nproc) CPUs, pinned: $PIN, load average $(loadavg)"

# ops/s of redis-benchmark test $1 at pipeline $2.
ops() {
  local n="$N"
  [ "$2" -gt 1 ] && n=$((N * $2 / 2))
  "${CLIENT_ON[@]}" redis-benchmark -h 127.0.0.1 -p "$PORT_F" -t "$1" -P "$2" -n "$n" -c "$CLIENTS" -d "$SIZE" -r "$KEYSPACE" --csv 2>/dev/null \
    | awk -F, 'NR == 2 { gsub(/"/, ""); printf "%.0f\n", $2 }'
}

# ops/s of test $1 at pipeline $2 while a scraper fetches /metrics every SCRAPE_EVERY seconds.
ops_scraped() {
  local scraper result
  (while :; do "${CLIENT_ON[@]}" curl -fsS "$METRICS" >/dev/null 2>&1 || true; sleep "$SCRAPE_EVERY"; done) &
  scraper=$!
  result="$(ops "$1" "$2")"
  kill "$scraper" 2>/dev/null || true
  wait "$scraper" 2>/dev/null || true
  echo "$result"
}

median() { printf '%s\n' "$@" | sort -g | awk '{ v[NR] = $1 } END { printf "%.3f\n", (NR % 2 ? v[(NR + 1) / 2] : (v[NR / 2] + v[NR / 2 + 1]) / 2) }'; }

printf '\n%-5s %4s | %12s %12s | %7s | %s\n' test pipe "without op/s" "scraped op/s" ratio "rounds' ratios (scraped / without)"
printf '%s\n' "--------------------------------------------------------------------------------------"
all_ratios=""
for pipeline in $PIPELINES; do
  for test in $TESTS; do
    withouts="" withs="" ratios=""
    for round in $(seq 1 "$ROUNDS"); do
      # Alternate which goes first, so neither always gets the warmer machine.
      if [ $((round % 2)) = 1 ]; then a="$(ops "$test" "$pipeline")"; b="$(ops_scraped "$test" "$pipeline")"
      else b="$(ops_scraped "$test" "$pipeline")"; a="$(ops "$test" "$pipeline")"; fi
      [ -n "$a" ] && [ -n "$b" ] || die "redis-benchmark -t $test -P $pipeline printed no result"
      withouts="$withouts $a" withs="$withs $b"
      ratios="$ratios $(awk -v a="$a" -v b="$b" 'BEGIN { printf "%.3f", b / a }')"
      all_ratios="$all_ratios ${ratios##* }"
    done
    # shellcheck disable=SC2086 # word splitting of the lists is wanted
    printf '%-5s %4s | %12.0f %12.0f | %7s |%s\n' "$test" "$pipeline" "$(median $withouts)" "$(median $withs)" "$(median $ratios)" "$ratios"
  done
done
# shellcheck disable=SC2086 # word splitting of the list is wanted
printf '%-10s | %12s %12s | %7s | (median of all %s rounds of every test)\n' all "" "" "$(median $all_ratios)" "$(echo $all_ratios | wc -w)"
log "load average at the end: $(loadavg)"
printf '\nop/s = median of %s rounds; ratio = median of the rounds'"'"' scraped / without ratios (1.000: monitoring costs nothing).\n' "$ROUNDS"

SCRAPES="${SCRAPES:-1000}"
FERRO_PID="${PIDS[0]}"
before="$(cpu_ticks "$FERRO_PID")"
for _ in $(seq 1 "$SCRAPES"); do curl -fsS "$METRICS" >/dev/null; done
after="$(cpu_ticks "$FERRO_PID")"
lines="$(curl -fsS "$METRICS" | grep -vc '^#')"
awk -v t=$((after - before)) -v hz="$TICKS_PER_SEC" -v n="$SCRAPES" -v every="$SCRAPE_EVERY" -v lines="$lines" 'BEGIN {
  ms = 1000 * t / hz / n
  printf "\none scrape (%d samples) costs %.3f ms of server CPU (%d scrapes, %d ticks); one every %s s is %.3f %% of one core\n", lines, ms, n, t, every, ms / (10 * every)
}'
