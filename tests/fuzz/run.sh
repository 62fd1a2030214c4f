#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the libFuzzer targets with clang and runs each for a bounded time on a copy of its seed
# corpus. Exits non-zero if any target crashes, leaks, times out, runs out of memory or gets a
# sanitizer report.
#
#   tests/fuzz/run.sh [--build-only] [seconds-per-target]     (default 60)
#
# Environment: PDD_FUZZ_BUILD_DIR (default build/fuzz), PDD_FUZZ_JOBS (build jobs, and targets run
# side by side; default 2), PDD_FUZZ_TARGETS (space-separated subset of the targets). Crashing
# inputs are kept in <build dir>/fuzz-run/<target>/ as crash-*, leak-*, timeout-* or oom-*;
# reproduce one with <build dir>/tests/fuzz/<target> <file>.
set -euo pipefail

build_only=0
if [[ "${1:-}" == "--build-only" ]]; then
    build_only=1
    shift
fi
seconds="${1:-60}"
if ! [[ "$seconds" =~ ^[0-9]+$ ]] || [[ "$seconds" -eq 0 ]]; then
    echo "usage: $0 [--build-only] [seconds-per-target]" >&2
    exit 2
fi

src_dir="$(cd "$(dirname "${BASH_SOURCE[0]}")/../.." && pwd)"
build_dir="${PDD_FUZZ_BUILD_DIR:-$src_dir/build/fuzz}"
jobs="${PDD_FUZZ_JOBS:-2}"
targets="${PDD_FUZZ_TARGETS:-fuzz_dns_codec fuzz_zone_data fuzz_zone_key fuzz_config fuzz_tsig}"
fuzz_src="$src_dir/tests/fuzz"

for tool in clang clang++ cmake; do
    if ! command -v "$tool" >/dev/null; then
        echo "cannot run fuzz targets ($tool not found); install clang and libclang-rt-dev" >&2
        exit 2
    fi
done

CC=clang CXX=clang++ cmake -S "$src_dir" -B "$build_dir" -G Ninja \
    -DCMAKE_BUILD_TYPE=Debug -DCMAKE_C_FLAGS_DEBUG="-O1 -g" -DCMAKE_CXX_FLAGS_DEBUG="-O1 -g" \
    -DPDNS_DISTRIBUTE_FUZZ=ON -DPDNS_DISTRIBUTE_TESTS=ON >/dev/null
# shellcheck disable=SC2086 # targets is a word list on purpose
cmake --build "$build_dir" -j "$jobs" --target $targets
if [[ "$build_only" -eq 1 ]]; then
    echo "fuzz: targets built in $build_dir"
    exit 0
fi

export ASAN_OPTIONS="detect_leaks=1:symbolize=1"
export UBSAN_OPTIONS="halt_on_error=1:print_stacktrace=1"

report_pattern='ERROR: (AddressSanitizer|LeakSanitizer|UndefinedBehaviorSanitizer|libFuzzer)'
report_pattern+='|runtime error:|fuzz invariant broken'
# Runs one target; its verdict goes to $work/verdict ("ok" or "failed") and its report to stdout.
run_target() {
    local target="$1"
    local work="$build_dir/fuzz-run/$target"
    rm -rf "$work"
    mkdir -p "$work/corpus"
    cp -- "$fuzz_src/corpus/$target"/* "$work/corpus/"
    local args=(-max_total_time="$seconds" -timeout=10 -rss_limit_mb=2048 -print_final_stats=1
                -artifact_prefix="$work/")
    if [[ -f "$fuzz_src/dict/$target.dict" ]]; then
        args+=(-dict="$fuzz_src/dict/$target.dict")
    fi
    local status=0
    "$build_dir/tests/fuzz/$target" "${args[@]}" "$work/corpus" >"$work/log" 2>&1 || status=$?
    local execs
    execs="$(sed -n 's/^stat::number_of_executed_units: *//p' "$work/log" | tail -n 1)"
    # libFuzzer's exit status covers crashes, leaks, timeouts and OOM; the grep also catches a
    # sanitizer report that did not stop the process.
    if [[ "$status" -ne 0 ]] || grep -qE "$report_pattern" "$work/log"; then
        echo "fuzz: $target FAILED (exit $status); log and inputs in $work" >&2
        grep -E 'ERROR|runtime error|invariant|SUMMARY|Test unit written' "$work/log" >&2 || true
        echo failed >"$work/verdict"
    else
        echo "fuzz: $target ok (${execs:-?} executions in ${seconds}s)"
        echo ok >"$work/verdict"
    fi
}

# The targets run side by side, $jobs at a time (each libFuzzer process uses one core).
running=0
for target in $targets; do
    if [[ "$running" -ge "$jobs" ]]; then
        wait -n
        running=$((running - 1))
    fi
    echo "fuzz: running $target for ${seconds}s"
    run_target "$target" &
    running=$((running + 1))
done
wait

failed=()
for target in $targets; do
    if [[ "$(cat "$build_dir/fuzz-run/$target/verdict" 2>/dev/null)" != ok ]]; then
        failed+=("$target")
    fi
done

if [[ "${#failed[@]}" -gt 0 ]]; then
    echo "fuzz: failed: ${failed[*]}" >&2
    exit 1
fi
echo "fuzz: all targets ok"
