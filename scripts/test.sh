#!/usr/bin/env bash
# Runs the whole test suite, from any directory:
#   1. installs what the end-to-end tests need if it is missing
#      (redis-server and redis-cli, Python's redis and prometheus_client modules, iproute2,
#      promtool from Debian's prometheus package, prometheus-redis-exporter, kubernetes-validate,
#      cargo-nextest, Debian's chromium and Node.js, and npm's playwright-core and axe-core in tests/dashboard);
#   2. builds every target of the workspace (the e2e tests run the
#      `ferrocache` binary, so it must be built before they run);
#   3. runs every test with cargo-nextest, not stopping at the first failure.
# Extra arguments go to `cargo nextest run`, e.g. `scripts/test.sh -p ferrocache-e2e`.
# Doc tests are not run: the crates keep their examples in unit tests.
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."

log() { printf '==> %s\n' "$*" >&2; }

# Runs a command as root (directly, or through sudo when not root).
as_root() {
  if [ "$(id -u)" -eq 0 ]; then "$@"; else sudo "$@"; fi
}

install_system_packages() {
  local missing=()
  command -v redis-server >/dev/null 2>&1 || missing+=(redis-server)
  command -v redis-cli >/dev/null 2>&1 || missing+=(redis-tools)
  command -v python3 >/dev/null 2>&1 || missing+=(python3 python3-pip)
  command -v ip >/dev/null 2>&1 || missing+=(iproute2)  # network namespaces of the partition test
  command -v promtool >/dev/null 2>&1 || missing+=(prometheus)  # promtool checks the generated alert rules
  command -v prometheus-redis-exporter >/dev/null 2>&1 || missing+=(prometheus-redis-exporter)  # scrapes a node through INFO
  command -v curl >/dev/null 2>&1 || missing+=(curl)
  [ -x /usr/bin/chromium ] || missing+=(chromium)  # the dashboard test drives it headless
  command -v node >/dev/null 2>&1 || missing+=(nodejs)
  command -v npm >/dev/null 2>&1 || missing+=(npm)
  if [ "${#missing[@]}" -gt 0 ]; then
    log "installing ${missing[*]}"
    as_root apt-get update -q
    as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q "${missing[@]}"
  fi
}

install_python_redis() {
  if ! python3 -c 'import redis' >/dev/null 2>&1; then
    log "installing the Python redis module"
    python3 -m pip install --quiet redis \
      || python3 -m pip install --quiet --break-system-packages redis \
      || { as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-redis; }
  fi
}

install_python_prometheus_client() {
  # The monitoring tests parse /metrics with Prometheus's own Python text parser.
  if ! python3 -c 'import prometheus_client' >/dev/null 2>&1; then
    log "installing the Python prometheus_client module"
    python3 -m pip install --quiet prometheus_client \
      || python3 -m pip install --quiet --break-system-packages prometheus_client \
      || { as_root apt-get update -q && as_root env DEBIAN_FRONTEND=noninteractive apt-get install -y -q python3-prometheus-client; }
  fi
}

install_kubernetes_validate() {
  # The deploy render tests check the Kubernetes manifests against the API schemas with it.
  if ! command -v kubernetes-validate >/dev/null 2>&1; then
    log "installing kubernetes-validate"
    python3 -m pip install --quiet kubernetes-validate \
      || python3 -m pip install --quiet --break-system-packages kubernetes-validate \
      || log "kubernetes-validate could not be installed: the Kubernetes manifest test will say it skipped"
  fi
}

install_dashboard_driver() {
  # tests/tests/dashboard.rs drives Chromium with playwright-core and checks the page with
  # axe-core (both pinned in package.json; it never downloads a browser: the test launches
  # Debian's /usr/bin/chromium).
  if [ ! -d tests/dashboard/node_modules/playwright-core ] || [ ! -d tests/dashboard/node_modules/axe-core ]; then
    log "installing playwright-core and axe-core for the dashboard test"
    (cd tests/dashboard && PLAYWRIGHT_SKIP_BROWSER_DOWNLOAD=1 npm ci --no-audit --no-fund)
  fi
}

install_nextest() {
  if ! cargo nextest --version >/dev/null 2>&1; then
    log "installing cargo-nextest"
    cargo install --locked cargo-nextest
  fi
}

install_system_packages
install_python_redis
install_python_prometheus_client
install_kubernetes_validate
install_dashboard_driver
install_nextest

log "building"
cargo build --workspace --all-targets

log "testing"
cargo nextest run --workspace --no-fail-fast "$@"
