#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Runs clang-tidy (config in .clang-tidy) over our sources using a build's compile database.
# Usage: scripts/tidy.sh <build-dir>
set -euo pipefail
cd "$(dirname "$0")/.."
build=${1:?usage: scripts/tidy.sh <build-dir>}
mapfile -t files < <(git ls-files 'libs/*.cpp' 'services/*.cpp')
[ "${#files[@]}" -gt 0 ] || exit 0
printf '%s\n' "${files[@]}" | xargs -P "$(nproc)" -n 4 clang-tidy -p "$build" --quiet 2>/dev/null
