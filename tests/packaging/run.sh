#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# The packaging tests (issue 5): static checks of the units, shipped configuration and dashboard;
# building the .deb packages (twice: the second at a higher version, for the upgrade); lintian;
# and install / upgrade / purge in a throwaway Debian 12 root (tests/packaging/chroot-test.sh).
# Ends with a PASS/FAIL summary; exits 1 when anything failed.
#
# Usage: tests/packaging/run.sh [--work DIR] [--reuse] [--no-chroot]
#   --work DIR    scratch directory (default: build-pkg/pkgtest in the repository)
#   --reuse       reuse the previous package build's object directory (faster reruns)
#   --no-chroot   skip the install/upgrade/purge test (no root or no network)
# Needs: debhelper, devscripts, lintian, help2man, shellcheck, systemd (systemd-analyze),
# debootstrap, the build dependencies (packaging/build-deb.sh --deps), root for the chroot part.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
repo=$(cd "$here/../.." && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

work="$repo/build-pkg/pkgtest"
reuse=()
chroot_test=1
while [ $# -gt 0 ]; do
    case "$1" in
        --work) work=$2; shift 2 ;;
        --reuse) reuse=(--reuse); shift ;;
        --no-chroot) chroot_test=0; shift ;;
        -h|--help) sed -n '3,13p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "run.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
    esac
done
mkdir -p "$work"
work=$(cd "$work" && pwd)
started=$SECONDS

step() { printf '\n=== %s (at %ds)\n' "$*" "$((SECONDS - started))"; }

step "static checks"
cd "$repo" || exit 2
check "shellcheck packaging and test scripts" shellcheck packaging/*.sh packaging/man/*.sh \
    packaging/debian/*.postrm tests/packaging/*.sh
check "dashboard generator matches docs/grafana-dashboard.json" \
    sh -c "packaging/grafana/make-dashboard.py | cmp -s - docs/grafana-dashboard.json"
for svc in "${all_daemons[@]}"; do
    unit="systemd/pdns-$svc.service"
    problems=$(unit_hardening_problems "$unit")
    if [ -z "$problems" ]; then pass "$unit carries the hardening directives"; else
        fail "$unit carries the hardening directives" "$problems"; fi
    user=${daemon_user[$svc]}
    check "$unit runs as $user, created by systemd/pdns-$svc.sysusers" \
        sh -c "grep -qx 'User=$user' '$unit' && grep -qx 'Group=$user' '$unit' &&
               grep -q '^u $user ' systemd/pdns-$svc.sysusers"
done
# Every metric the dashboard queries is one a daemon registers.
unknown=""
while read -r metric; do
    grep -rqF "\"$metric\"" services libs || unknown+="$metric "
done < <(grep -o 'pdns_distribute_[a-z0-9_]*' docs/grafana-dashboard.json |
    sed -e 's/_bucket$//' -e '/^pdns_distribute_$/d' | sort -u)
if [ -z "$unknown" ]; then pass "dashboard uses only metric names the daemons export"; else
    fail "dashboard uses only metric names the daemons export" "unknown: $unknown"; fi

step "build the packages (dpkg-buildpackage -b -us -uc)"
deb="$work/deb"
if packaging/build-deb.sh --out "$deb" "${reuse[@]}" >"$work/build.log" 2>&1; then
    pass "build-deb.sh: packages built ($((SECONDS - started))s so far)"
else
    fail "build-deb.sh" "$(tail -n 30 "$work/build.log")"
    summary "package tests"
    exit 1
fi
version=$(cd "$deb/src" && dpkg-parsechangelog -S Version)
rm -rf "$work/v1" "$work/v2"
mkdir -p "$work/v1" "$work/v2"
cp "$deb"/*_"$version"_*.deb "$deb"/*_"$version"_*.changes "$deb"/*_"$version"_*.buildinfo "$work/v1/"
for pkg in pdns-distribute-primary pdns-distribute-secondary; do
    check "${pkg}_$version.deb exists" test -f "$work/v1/${pkg}_${version}_$(dpkg --print-architecture).deb"
done

step "shipped configuration is current (packaging/gen-config.sh against the built daemons)"
objdir=$(find "$deb/src" -maxdepth 1 -name 'obj-*' -type d | head -n 1)
for svc in "${all_daemons[@]}"; do
    if diff=$(packaging/gen-config.sh "$objdir/services/$svc/pdns-$svc" |
        diff -u "packaging/etc/$svc.toml" - 2>&1); then
        pass "packaging/etc/$svc.toml matches pdns-$svc --help-config"
    else
        fail "packaging/etc/$svc.toml is stale: run packaging/gen-config.sh --update $objdir" \
            "$diff"
    fi
done

step "lintian"
lintian_out=$(lintian --pedantic --display-info "$work/v1/"*.changes 2>&1 |
    grep -v '^running with root privileges')
printf '%s\n' "$lintian_out" | sed 's/^/    /'
if grep -q '^E:' <<<"$lintian_out"; then
    fail "lintian reports no errors" "$(grep '^E:' <<<"$lintian_out")"
else
    pass "lintian reports no errors ($(grep -c '^W:' <<<"$lintian_out") warnings, $(grep -c \
        '^I:' <<<"$lintian_out") info tags)"
fi

step "rebuild at a higher version (for the upgrade test)"
new_version="$version+pkgtest1"
if packaging/build-deb.sh --out "$deb" --reuse --version "$new_version" >"$work/build2.log" 2>&1; then
    cp "$deb"/*_"$new_version"_*.deb "$work/v2/"
    pass "packages rebuilt as $new_version"
else
    fail "rebuild as $new_version" "$(tail -n 30 "$work/build2.log")"
    chroot_test=0
fi

if [ "$chroot_test" -eq 1 ]; then
    step "install, upgrade, purge in a throwaway root"
    output=$("$here/chroot-test.sh" --old "$work/v1" --new "$work/v2" --work "$work/chroot" 2>&1)
    printf '%s\n' "$output" | sed '/^package tests (chroot):/,$d'
    counts=$(grep '^package tests (chroot):' <<<"$output")
    read -r p f x < <(sed -E 's/.*: ([0-9]+) passed, ([0-9]+) failed, ([0-9]+) known.*/\1 \2 \3/' \
        <<<"$counts")
    pass_count=$((pass_count + ${p:-0}))
    fail_count=$((fail_count + ${f:-0}))
    xfail_count=$((xfail_count + ${x:-0}))
    if [ -z "$counts" ]; then fail "chroot test did not finish" "$(tail -n 20 <<<"$output")"; fi
    while IFS= read -r line; do failures+=("${line#  FAIL  }"); done < <(grep '^  FAIL  ' <<<"$output")
else
    printf '\n(install/upgrade/purge test skipped)\n'
fi

printf '\ntotal time %ds\n' "$((SECONDS - started))"
summary "package tests"
