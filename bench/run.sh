#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds (if needed) and runs pdd-bench: pdns-distribute and native PowerDNS NOTIFY/AXFR
# replication side by side on loopback (issue 6). Every argument goes to pdd-bench, e.g.
#   bench/run.sh                                   # every scenario at full size (long)
#   bench/run.sh --tiny                            # the CI configuration, about 1-2 minutes
#   bench/run.sh --scenarios propagation,burst     # a selection
#   bench/run.sh --help                            # all flags
# The table goes to stdout; the raw samples to bench-results.json in the work directory
# (BENCH_WORK, default build/bench/work), which also holds the temp dirs of the run.
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
build_dir=${BUILD_DIR:-$root/build/bench}
work=${BENCH_WORK:-$build_dir/work}

if [ "$(id -u)" -eq 0 ]; then
  for tool in cmake ninja nats-server pdns_server sqlite3; do
    if ! command -v "$tool" >/dev/null 2>&1; then
      ./scripts/install-deps.sh
      break
    fi
  done
fi

cmake -S . -B "$build_dir" -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build "$build_dir" -j "$(nproc)" --target pdd-bench

mkdir -p "$work/tmp"
cd "$work"
# The harness makes its temp dirs under TMPDIR: keep them beside the results, away from /tmp.
export TMPDIR="$work/tmp"
exec "$build_dir/bench/pdd-bench" "$@"
