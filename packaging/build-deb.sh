#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Builds the Debian packages pdns-distribute-primary and pdns-distribute-secondary.
#
# The source tree (tracked and untracked-but-not-ignored files, build directories excluded) is
# copied to <out>/src, packaging/debian is copied to <out>/src/debian, and
# `dpkg-buildpackage -b -us -uc` runs there; the .deb, .buildinfo and .changes files land in
# <out>. The repository itself is never written to.
#
# Usage: packaging/build-deb.sh [--out DIR] [--version VERSION] [--reuse]
#   --out DIR          where to build (default: build-pkg/deb in the repository)
#   --version VERSION  set the package version (a changelog entry is added to the copy)
#   --reuse            keep <out>/src and its object directory from a previous run and skip
#                      dpkg-buildpackage's clean step (rebuilds only what changed)
# Build dependencies: `apt-get build-dep` cannot read a debian/ directory outside the tree, so
# install them with: apt-get install debhelper devscripts help2man $(packaging/build-deb.sh --deps)
# Parallelism: DEB_BUILD_OPTIONS (default "parallel=2").
set -euo pipefail

here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/.." && pwd)
out="$root/build-pkg/deb"
version=""
reuse=0

while [ $# -gt 0 ]; do
    case "$1" in
        --out) out=$2; shift 2 ;;
        --version) version=$2; shift 2 ;;
        --reuse) reuse=1; shift ;;
        --deps)
            sed -n '/^Build-Depends:/,/^[A-Z]/p' "$here/debian/control" | sed '$d' |
                sed -e 's/^Build-Depends://' -e 's/([^)]*)//g' -e 's/,/ /g' | tr -s ' \n' ' ' |
                sed -e 's/debhelper-compat/debhelper/' -e 's/dh-sequence-installsysusers //'
            echo
            exit 0 ;;
        -h|--help) sed -n '3,18p' "$0" | sed 's/^# \{0,1\}//'; exit 0 ;;
        *) echo "build-deb.sh: unknown argument '$1'; see --help" >&2; exit 2 ;;
    esac
done

mkdir -p "$out"
out=$(cd "$out" && pwd)
src="$out/src"

if [ "$reuse" -eq 0 ]; then
    rm -rf "$src"
fi
mkdir -p "$src"
# Files only, from the working tree (uncommitted changes included); never build output. Into a
# reused tree only files whose content differs are copied, with a fresh modification time, so that
# the object directory rebuilds exactly what changed.
stage=$(mktemp -d "$out/stage.XXXXXX")
trap 'rm -rf "$stage"' EXIT
(
    cd "$root"
    git ls-files -z --cached --others --exclude-standard |
        grep -zv -e '^build' -e '^debian/' -e '^obj-' |
        while IFS= read -r -d '' f; do
            if [ -f "$f" ]; then printf '%s\0' "$f"; fi  # skip tracked but deleted
        done | tar --null -T - -cf -
) | (cd "$stage" && tar -xf -)
(
    cd "$stage"
    find . -type f -print0 | while IFS= read -r -d '' f; do
        if ! cmp -s "$f" "$src/$f"; then
            mkdir -p "$src/$(dirname "$f")"
            cp "$f" "$src/$f"
        fi
    done
)
# dh skips the build steps it has a stamp for, and debhelper's CMake install step does not
# build; drop the stamp so that a reused object directory is brought up to date first.
rm -rf "$src/debian/source" "$src/debian/changelog" "$src/debian/debhelper-build-stamp"
mkdir -p "$src/debian"
cp -r "$here/debian/." "$src/debian/"

cd "$src"
if [ -n "$version" ]; then
    DEBEMAIL="pdns-distribute@example.org" DEBFULLNAME="pdns-distribute maintainers" \
        dch --newversion "$version" --distribution unstable --force-bad-version \
        --force-distribution "Rebuild as $version." 2>/dev/null
fi

export DEB_BUILD_OPTIONS="${DEB_BUILD_OPTIONS:-parallel=2}"
flags=(-b -us -uc)
[ "$reuse" -eq 1 ] && flags+=(-nc)
dpkg-buildpackage "${flags[@]}"
echo "packages in $out:"
ls -1 "$out"/*.deb
