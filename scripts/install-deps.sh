#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs everything pdns-distribute needs to build, test and run the demo, from Debian 12's
# archive only. Idempotent; needs root.
set -euo pipefail

packages=(
  build-essential cmake ninja-build pkg-config git
  libnats-dev libcpp-httplib-dev nlohmann-json3-dev libspdlog-dev libfmt-dev libsodium-dev
  libcli11-dev libgtest-dev libgmock-dev libldns-dev libssl-dev libtomlplusplus-dev libsystemd-dev
  nats-server pdns-server pdns-backend-sqlite3 sqlite3 dnsutils ldnsutils curl
  # e2e: the NATS TLS test CA (openssl CLI); bcrypt for NATS passwords comes with libc6-dev
  openssl
  clang-format clang-tidy shellcheck
  # packaging tests (tests/packaging): .deb build, lint, install/upgrade/purge in a chroot
  debhelper devscripts lintian help2man debootstrap systemd
  # fuzz targets (tests/fuzz): libFuzzer comes with clang's runtime
  clang libclang-rt-14-dev
)

missing=()
for p in "${packages[@]}"; do
  dpkg-query -W -f='${Status}' "$p" 2>/dev/null | grep -q 'install ok installed' || missing+=("$p")
done
if [ "${#missing[@]}" -gt 0 ]; then
  export DEBIAN_FRONTEND=noninteractive
  apt-get update -q
  apt-get install -y -q --no-install-recommends "${missing[@]}"
fi
# The pdns-server package may start a system instance on port 53; our tests and demo run their
# own instances on ephemeral ports and need nothing from it.
