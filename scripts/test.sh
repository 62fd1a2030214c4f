#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs the dependencies, builds with warnings as errors, and runs every test: unit tests
# (plain and under ASan/UBSan), end-to-end tests on real nats-server and pdns_server, and the
# format, lint and shell checks, bounded fuzz runs, and the packaging tests.
# Usage: scripts/test.sh [--quick]   (--quick skips the tiny benchmark, ASan, fuzzing, tidy and
# packaging).
set -euo pipefail
cd "$(dirname "$0")/.."
root=$(pwd)
quick=0
[ "${1:-}" = "--quick" ] && quick=1

jobs=$(nproc)

# Each step prints its start; the summary at the end (and on failure) lists how long each took, so
# a CI log shows where its time went.
step_name=""
step_started=$SECONDS
timings=()
end_step() {
  if [ -n "$step_name" ]; then
    timings+=("$(printf '%5d s  %s' $((SECONDS - step_started)) "$step_name")")
  fi
}
step() {
  end_step
  step_name="$*"
  step_started=$SECONDS
  printf '\n=== %s (at %d s) ===\n' "$*" "$SECONDS"
}
summary() {
  # A failed step leaves nothing running behind it.
  if [ -n "${background_pid:-}" ] && kill -0 "$background_pid" 2>/dev/null; then
    pkill -TERM -P "$background_pid" 2>/dev/null || true
    kill "$background_pid" 2>/dev/null || true
  fi
  end_step
  step_name=""
  printf '\n=== time per step ===\n'
  printf '%s\n' "${timings[@]}"
  printf '%5d s  total\n' "$SECONDS"
}
trap summary EXIT

if [ "$(id -u)" -eq 0 ]; then
  step "install dependencies (apt-get)"
  ./scripts/install-deps.sh
fi

step "format check (clang-format)"
mapfile -t sources < <(git ls-files '*.cpp' '*.hpp')
clang-format --dry-run --Werror "${sources[@]}"

step "shellcheck"
mapfile -t scripts < <(git ls-files '*.sh' .ci/run)
shellcheck "${scripts[@]}"

step "build (warnings are errors)"
cmake -S . -B build/ci -G Ninja -DCMAKE_BUILD_TYPE=RelWithDebInfo -DPDNS_DISTRIBUTE_WERROR=ON >/dev/null
cmake --build build/ci -j "$jobs"

step "unit tests"
ctest --test-dir build/ci -L unit --output-on-failure -j "$jobs"

# The end-to-end tests mostly wait (on DNS answers, NATS and timers), leaving much of the CPU idle.
# The CPU-bound checks of the full run use it meanwhile, at nice 19 so that they yield to every
# process of the tests: the ASan/UBSan build, the .deb build (run.sh --reuse below packages those
# objects), the fuzz targets' build and clang-tidy. Their output is shown when they are waited for.
background_pid=""
background_log="$root/build/background-checks.log"
if [ "$quick" -eq 0 ]; then
  step "start the ASan, .deb and fuzz builds and clang-tidy in the background (nice 19)"
  (
    set -euo pipefail
    echo "--- ASan/UBSan build of the unit tests"
    cmake -S . -B build/asan -G Ninja -DCMAKE_BUILD_TYPE=Debug -DPDNS_DISTRIBUTE_WERROR=ON \
      -DPDNS_DISTRIBUTE_SANITIZE=ON >/dev/null
    nice -n 19 cmake --build build/asan -j "$jobs" --target pdd_unit_tests
    if [ "$(id -u)" -eq 0 ]; then
      echo "--- .deb build"
      mkdir -p build/pkgtest
      nice -n 19 packaging/build-deb.sh --out build/pkgtest/deb >build/pkgtest/prebuild.log 2>&1 ||
        { tail -n 40 build/pkgtest/prebuild.log; exit 1; }
    fi
    echo "--- fuzz targets (clang, ASan/UBSan)"
    PDD_FUZZ_BUILD_DIR="$root/build/fuzz" nice -n 19 tests/fuzz/run.sh --build-only
    echo "--- clang-tidy"
    nice -n 19 "$root/scripts/tidy.sh" build/ci
    echo "--- background checks done"
  ) >"$background_log" 2>&1 &
  background_pid=$!
fi

step "end-to-end tests (real nats-server and pdns_server)"
command -v nats-server >/dev/null || { echo "nats-server missing"; exit 1; }
command -v pdns_server >/dev/null || { echo "pdns_server missing"; exit 1; }
ctest --test-dir build/ci -L e2e --output-on-failure --timeout 600

if [ "$quick" -eq 0 ]; then
  step "benchmark, tiny configuration (proves bench/ still works; its figures mean nothing here)"
  ctest --test-dir build/ci -L bench --output-on-failure

  step "wait for the background checks (ASan, .deb and fuzz builds, clang-tidy)"
  background_status=0
  wait "$background_pid" || background_status=$?
  cat "$background_log"
  if [ "$background_status" -ne 0 ]; then
    echo "background checks failed (exit $background_status): see above"
    exit 1
  fi

  step "unit tests under ASan/UBSan"
  ctest --test-dir build/asan -L unit --output-on-failure -j "$jobs"

  step "fuzz targets (libFuzzer under ASan/UBSan, ${PDD_FUZZ_SECONDS:-30} s each)"
  PDD_FUZZ_BUILD_DIR="$root/build/fuzz" tests/fuzz/run.sh "${PDD_FUZZ_SECONDS:-30}"

  if [ "$(id -u)" -eq 0 ]; then
    step "packaging: lintian, install/upgrade/purge in a throwaway root (packages the .deb build)"
    tests/packaging/run.sh --work build/pkgtest --reuse
  else
    step "packaging tests skipped (need root for the chroot)"
  fi
fi
echo "all checks passed"
