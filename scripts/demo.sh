#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Sets up and runs the whole system on loopback: installs the Debian packages, builds, then starts
# nats-server (JetStream), a primary and two secondary pdns_server (sqlite3), and all four
# daemons, with state in a temp dir; creates, changes and deletes a zone through the api-proxy and
# prints the time each secondary took. Pass --keep to leave everything running afterwards.
set -euo pipefail
cd "$(dirname "$0")/.."
if [ "$(id -u)" -eq 0 ]; then
  ./scripts/install-deps.sh
fi
cmake -S . -B build/demo -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo >/dev/null
cmake --build build/demo -j "$(nproc)" --target pdd-demo pdns-api-proxy pdns-zone-provider \
  pdns-secondary-syncer pdns-health-checker pdns-distribute
exec build/demo/tests/e2e/pdd-demo "$@"
