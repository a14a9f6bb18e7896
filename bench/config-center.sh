#!/usr/bin/env bash
# Ferrocache's config center beside etcd on this machine, in one run: a 3-member etcd
# (Debian's etcd-server, fsync on) and a 3-voter Ferrocache control plane on loopback, each
# given the same load by bench/config-center (crate ferrocache-bench-cc):
#   - puts of 256-byte values with 1 and 64 concurrent writers, sent to the leader, for SECS
#     seconds each: writes/s, p50/p99 latency, and Ferrocache/etcd ratios;
#   - watch delivery latency from put to event with 100 watchers (and 1,000 for Ferrocache)
#     spread over the members: p50/p99/max and missed events.
# Write runs alternate between the systems so that background noise hits both alike.
# See bench/README-config-center.md.
#
# Usage: bench/config-center.sh
# Environment: SECS (10), WRITERS ("1 64"), ETCD_WATCHERS ("100"), FC_WATCHERS ("100 1000"),
#              EVENTS (200 puts per watch run), INTERVAL_MS (20 between them),
#              FERROCACHE_BIN and BENCH_BIN (default: release builds made by this script),
#              KEEP_DATA=1 keeps the data dirs and logs.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCRIPT=config-center.sh

SECS="${SECS:-10}"
WRITERS="${WRITERS:-1 64}"
ETCD_WATCHERS="${ETCD_WATCHERS:-100}"
FC_WATCHERS="${FC_WATCHERS:-100 1000}"
EVENTS="${EVENTS:-200}"
INTERVAL_MS="${INTERVAL_MS:-20}"

# shellcheck source=bench/lib.sh
. bench/lib.sh

if ! command -v etcd >/dev/null 2>&1 || ! command -v etcdctl >/dev/null 2>&1; then
  log "installing etcd-server and etcd-client (Debian packages)"
  SUDO=""
  [ "$(id -u)" = 0 ] || SUDO="sudo"
  $SUDO apt-get install -y etcd-server etcd-client >/dev/null || {
    $SUDO apt-get update >/dev/null && $SUDO apt-get install -y etcd-server etcd-client >/dev/null
  } || die "cannot install etcd-server and etcd-client"
fi
require_tools "" curl
release_bins FERROCACHE_BIN=ferrocache BENCH_BIN=ferrocache-bench-cc

# Data on the same disk as the checkout (not tmpfs), so that fsync costs what it costs.
make_tmp_dir config-center-bench

read -r -a PORTS <<< "$("$BENCH_BIN" ports 9)"
[ "${#PORTS[@]}" = 9 ] || die "cannot find free ports"
ETCD_CLIENT=("${PORTS[@]:0:3}")
ETCD_PEER=("${PORTS[@]:3:3}")
FC_ADMIN=("${PORTS[@]:6:3}")

# Polls command "$@" every 100 ms for up to 30 s.
wait_for() {
  local what="$1" i
  shift
  for i in $(seq 300); do
    if "$@" >/dev/null 2>&1; then
      return 0
    fi
    sleep 0.1
  done
  die "timed out waiting for $what (logs in $BENCH_TMP)"
}

log "starting a 3-member etcd $(etcd --version | head -1 | awk '{print $3}')"
CLUSTER=""
for i in 0 1 2; do
  CLUSTER+="${CLUSTER:+,}e$i=http://127.0.0.1:${ETCD_PEER[$i]}"
done
for i in 0 1 2; do
  etcd --name "e$i" --data-dir "$BENCH_TMP/etcd$i" \
    --listen-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" --advertise-client-urls "http://127.0.0.1:${ETCD_CLIENT[$i]}" \
    --listen-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" --initial-advertise-peer-urls "http://127.0.0.1:${ETCD_PEER[$i]}" \
    --initial-cluster "$CLUSTER" --initial-cluster-state new --initial-cluster-token config-center-bench \
    >"$BENCH_TMP/etcd$i.log" 2>&1 &
  PIDS+=($!)
done
ETCD_ENDPOINTS="http://127.0.0.1:${ETCD_CLIENT[0]},http://127.0.0.1:${ETCD_CLIENT[1]},http://127.0.0.1:${ETCD_CLIENT[2]}"
wait_for "etcd to be healthy" etcdctl --endpoints="$ETCD_ENDPOINTS" endpoint health

log "starting a 3-voter ferrocache control plane"
start_fc() {
  local i="$1"
  shift
  "$FERROCACHE_BIN" server --port 0 --admin-port "${FC_ADMIN[$i]}" --data-dir "$BENCH_TMP/fc$i" --node-id "$((i + 1))" "$@" \
    >"$BENCH_TMP/fc$i.log" 2>&1 &
  PIDS+=($!)
}
start_fc 0
wait_for "ferrocache node 1 to lead" sh -c "curl -sf http://127.0.0.1:${FC_ADMIN[0]}/v1/status | grep -q '\"state\":\"Leader\"'"
start_fc 1 --join "http://127.0.0.1:${FC_ADMIN[0]}"
start_fc 2 --join "http://127.0.0.1:${FC_ADMIN[0]}"
wait_for "three ferrocache voters" sh -c "curl -sf http://127.0.0.1:${FC_ADMIN[0]}/v1/status | grep -o '\"voter\":true' | wc -l | grep -qx 3"
FC_ENDPOINTS="http://127.0.0.1:${FC_ADMIN[0]},http://127.0.0.1:${FC_ADMIN[1]},http://127.0.0.1:${FC_ADMIN[2]}"

RESULTS="$BENCH_TMP/results"
: >"$RESULTS"
bench() {
  log "$*"
  "$BENCH_BIN" "$@" | tee -a "$RESULTS" >&2
}
endpoints_of() {
  if [ "$1" = etcd ]; then echo "$ETCD_ENDPOINTS"; else echo "$FC_ENDPOINTS"; fi
}

for writers in $WRITERS; do
  for system in etcd ferrocache; do
    bench put --system "$system" --endpoints "$(endpoints_of "$system")" --target leader \
      --clients "$writers" --secs "$SECS" --value-size 256
  done
done
watch() {
  bench watch --system "$1" --endpoints "$(endpoints_of "$1")" --watchers "$2" \
    --events "$EVENTS" --interval-ms "$INTERVAL_MS" --value-size 256
}
for watchers in $ETCD_WATCHERS; do watch etcd "$watchers"; done
for watchers in $FC_WATCHERS; do watch ferrocache "$watchers"; done

# Tabulate the RESULT lines (fields name=value).
echo
echo "Writes: puts of 256-byte values to the leader, ${SECS} s per run"
echo
echo "| writers | etcd writes/s | ferrocache writes/s | ratio | etcd p50 / p99 ms | ferrocache p50 / p99 ms | errors etcd / ferrocache |"
echo "|---|---|---|---|---|---|---|"
awk '
  function field(name,   i, kv) { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] } return "" }
  $2 == "put" {
    s = field("system"); c = field("clients")
    wps[s, c] = field("writes_per_sec"); lat[s, c] = field("p50_ms") " / " field("p99_ms"); err[s, c] = field("errors")
    if (!(c in seen)) { seen[c] = 1; order[++n] = c }
  }
  END {
    for (i = 1; i <= n; i++) {
      c = order[i]
      ratio = wps["etcd", c] > 0 ? sprintf("%.2f", wps["ferrocache", c] / wps["etcd", c]) : "-"
      printf "| %s | %s | %s | %s | %s | %s | %s / %s |\n", c, wps["etcd", c], wps["ferrocache", c], ratio, lat["etcd", c], lat["ferrocache", c], err["etcd", c], err["ferrocache", c]
    }
  }' "$RESULTS"
echo
echo "Watch: ${EVENTS} puts ${INTERVAL_MS} ms apart to the leader, watchers spread over the 3 members"
echo
echo "| system | watchers | deliveries | p50 ms | p99 ms | max ms | missed | duplicates | failed watchers |"
echo "|---|---|---|---|---|---|---|---|---|"
awk '
  function field(name,   i, kv) { for (i = 3; i <= NF; i++) { split($i, kv, "="); if (kv[1] == name) return kv[2] } return "" }
  $2 == "watch" {
    printf "| %s | %s | %s | %s | %s | %s | %s | %s | %s |\n", field("system"), field("watchers"), field("deliveries"), field("p50_ms"), field("p99_ms"), field("max_ms"), field("missed"), field("duplicates"), field("failed_watchers")
  }' "$RESULTS"
