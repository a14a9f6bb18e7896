#!/usr/bin/env bash
# DUMP and RESTORE throughput, Ferrocache beside redis-server in one run
# (pipelined DUMP of every key, then RESTORE ... REPLACE of every payload),
# then the payload codec and the slot-migration path without the network.
# See bench/README.md.
#
# Usage: bench/dump-restore.sh
# Environment: KEYS (200000), SIZE (64 bytes), ROUNDS (3), CODEC_KEYS (1000000),
#              FERROCACHE_BIN (default target/release/ferrocache, built here).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/.."
SCRIPT=dump-restore.sh

# shellcheck source=bench/lib.sh
. bench/lib.sh
release_bins FERROCACHE_BIN=ferrocache
# The test starts this binary.
export FERROCACHE_BIN
cargo test --release -q -p ferrocache-e2e --test dump -- --ignored --nocapture dump_restore_throughput_beside_redis 2>&1 \
  | grep -v -e '^running' -e '^test ' -e '^$' -e 'test result' -e '^\.$'
echo
echo "codec and slot batches (one thread, no network, system allocator):"
cargo run --release -q -p ferrocache-store --example dump_bench "${CODEC_KEYS:-1000000}"
