#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Installs, upgrades and purges the pdns-distribute packages in a throwaway Debian 12 root
# (debootstrap --variant=minbase, then chroot), and checks what each step leaves behind.
# Needs root, debootstrap and network access to the Debian archive.
#
# Usage: tests/packaging/chroot-test.sh --old DIR --new DIR --work DIR [--mirror URL]
#   --old DIR    directory with the pdns-distribute-{primary,secondary}_*.deb to install first
#   --new DIR    directory with the same packages at a higher version (the upgrade)
#   --work DIR   scratch space; the pristine root is cached there as bookworm-minbase.tar
# Prints PASS/FAIL lines and a summary; exits 1 when something failed.
set -uo pipefail

here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source-path=SCRIPTDIR source=lib.sh
. "$here/lib.sh"

old="" new="" work="" mirror="http://deb.debian.org/debian"
while [ $# -gt 0 ]; do
    case "$1" in
        --old) old=$2; shift 2 ;;
        --new) new=$2; shift 2 ;;
        --work) work=$2; shift 2 ;;
        --mirror) mirror=$2; shift 2 ;;
        *) echo "chroot-test.sh: unknown argument '$1'" >&2; exit 2 ;;
    esac
done
if [ -z "$old" ] || [ -z "$new" ] || [ -z "$work" ]; then
    echo "usage: chroot-test.sh --old DIR --new DIR --work DIR [--mirror URL]" >&2
    exit 2
fi
[ "$(id -u)" -eq 0 ] || { echo "chroot-test.sh: needs root (debootstrap, chroot)" >&2; exit 2; }

mkdir -p "$work"
work=$(cd "$work" && pwd)
root="$work/root"
cache="$work/bookworm-minbase.tar"

cleanup() {
    for m in proc sys dev/pts; do
        mountpoint -q "$root/$m" 2>/dev/null && umount -l "$root/$m"
    done
}
trap cleanup EXIT

in_root() { chroot "$root" /usr/bin/env -i PATH=/usr/sbin:/usr/bin:/sbin:/bin LANG=C.UTF-8 \
    DEBIAN_FRONTEND=noninteractive "$@"; }

step() { printf '\n--- %s\n' "$*"; }

step "throwaway root"
cleanup
rm -rf "$root"
if [ ! -f "$cache" ]; then
    mkdir -p "$root"
    if ! debootstrap --variant=minbase bookworm "$root" "$mirror" >"$work/debootstrap.log" 2>&1; then
        fail "debootstrap bookworm" "$(tail -n 20 "$work/debootstrap.log")"
        summary "package tests (chroot)"
        exit 1
    fi
    tar -C "$root" -cf "$cache" .
    pass "debootstrap --variant=minbase bookworm (cached in $cache)"
else
    mkdir -p "$root"
    tar -C "$root" -xf "$cache"
    pass "fresh root from the cached debootstrap"
fi
mount -t proc proc "$root/proc"
cp /etc/resolv.conf "$root/etc/resolv.conf"
cat >"$root/etc/apt/sources.list" <<EOF
deb $mirror bookworm main
deb $mirror bookworm-updates main
deb http://deb.debian.org/debian-security bookworm-security main
EOF
# Nothing may start inside the chroot (pdns-server's own scripts try).
printf '#!/bin/sh\nexit 101\n' >"$root/usr/sbin/policy-rc.d"
chmod 0755 "$root/usr/sbin/policy-rc.d"
mkdir -p "$root/tmp/debs/old" "$root/tmp/debs/new"
cp "$old"/pdns-distribute-primary_*.deb "$old"/pdns-distribute-secondary_*.deb "$root/tmp/debs/old/"
cp "$new"/pdns-distribute-primary_*.deb "$new"/pdns-distribute-secondary_*.deb "$root/tmp/debs/new/"
check "apt-get update in the root" in_root apt-get update -q

# Names the packages own or create; nothing matching may survive a purge.
ours='pdns-distribute|pdns-api-proxy|pdns-zone-provider|pdns-health-checker|pdns-secondary-syncer'
leftovers() {
    (cd "$root" && find . -xdev \( -path ./proc -o -path ./tmp/debs \) -prune -o -print |
        grep -E "$ours" | grep -v '^./var/lib/apt/lists/')
    grep -E "^($ours)" "$root/etc/passwd" "$root/etc/group" "$root/etc/shadow" \
        "$root/etc/gshadow" 2>/dev/null
}

step "install (apt install ./pdns-distribute-primary_*.deb ./pdns-distribute-secondary_*.deb)"
if output=$(in_root sh -c 'apt-get install -y -q ./tmp/debs/old/*.deb' 2>&1); then
    pass "install both packages with their dependencies from the archive"
else
    fail "install both packages" "$output"
    summary "package tests (chroot)"
    exit 1
fi
old_version=$(in_root dpkg-query -W -f "\${Version}" pdns-distribute-primary)
check "pdns-server was pulled in as a dependency" in_root dpkg -s pdns-server

for svc in "${all_daemons[@]}"; do
    user=${daemon_user[$svc]}
    check "system user $user exists, no login shell" \
        sh -c "chroot '$root' getent passwd $user | grep -q ':/usr/sbin/nologin\$'"
    check "pdns-$svc --version prints $old_version's upstream version" \
        sh -c "chroot '$root' /usr/sbin/pdns-$svc --version | grep -qx 'pdns-$svc ${old_version%%[+~-]*}'"
    if ! out=$(in_root "pdns-$svc" --help 2>&1) ||
        ! grep -q -- '--check-config' <<<"$out" || ! grep -q -- '--config' <<<"$out" ||
        ! grep -q -- '--version' <<<"$out" || ! grep -q -- '--help-config' <<<"$out"; then
        fail "pdns-$svc --help lists --config, --check-config, --version, --help-config" "$out"
    else
        pass "pdns-$svc --help lists --config, --check-config, --version, --help-config"
    fi
    # Every key documented by --help-config appears in the shipped file (commented).
    missing=$(in_root "pdns-$svc" --help-config | awk 'NR > 1 && /^  [^ ]/ { print $1, $3 }' |
        while read -r key value; do
            file="$root/etc/pdns-distribute/$svc.toml"
            if [ "$value" = "(section)" ]; then
                grep -qxF "[$key]" "$file" || echo "$key"
            elif [ "$value" = "[]" ] && [ "${key#*.}" = "$key" ]; then
                grep -qxF "#[[$key]]" "$file" || echo "$key"
            else
                grep -q "^#${key##*.} = " "$file" || echo "$key"
            fi
        done)
    if [ -z "$missing" ]; then
        pass "/etc/pdns-distribute/$svc.toml documents every key of --help-config"
    else
        fail "/etc/pdns-distribute/$svc.toml documents every key of --help-config" "$missing"
    fi
    # --check-config on the file as shipped, as the daemon's own user (as the unit runs it).
    conf=/etc/pdns-distribute/$svc.toml
    if output=$(in_root runuser -u "$user" -- "/usr/sbin/pdns-$svc" --config "$conf" \
        --check-config 2>&1); then
        pass "pdns-$svc --check-config accepts the shipped $conf (as $user)"
    else
        fail "pdns-$svc --check-config accepts the shipped $conf (as $user)" "$output"
    fi
    # A typo'd key is reported with its line number.
    printf '# line 1\n[nats]\nulr = "nats://127.0.0.1:4222"\n' >"$root/tmp/typo.toml"
    output=$(in_root "pdns-$svc" --config /tmp/typo.toml --check-config 2>&1)
    rc=$?
    if [ "$rc" -eq 2 ] && grep -q "typo.toml:3.*unknown key 'nats.ulr'" <<<"$output"; then
        pass "pdns-$svc --check-config rejects a typo'd key with its line number (exit 2)"
    else
        fail "pdns-$svc --check-config rejects a typo'd key with its line number (exit $rc)" "$output"
    fi
    check "pdns-$svc.service is installed" test -f "$root/lib/systemd/system/pdns-$svc.service"
    check "pdns-$svc.service is not enabled after install" \
        sh -c "! ls '$root'/etc/systemd/system/*.wants/pdns-$svc.service 2>/dev/null | grep -q ."
    problems=$(unit_hardening_problems "$root/lib/systemd/system/pdns-$svc.service")
    if [ -z "$problems" ]; then pass "pdns-$svc.service carries the hardening directives"; else
        fail "pdns-$svc.service carries the hardening directives" "$problems"; fi
    check "man page pdns-$svc(8) is installed" test -f "$root/usr/share/man/man8/pdns-$svc.8.gz"
done
check "pdns-distribute --version" sh -c "chroot '$root' /usr/bin/pdns-distribute --version |
    grep -q '^pdns-distribute '"
check "man page pdns-distribute(1) is installed" test -f "$root/usr/share/man/man1/pdns-distribute.1.gz"

step "secondary-syncer after the documented setup (keygen, [[trusted_key]])"
in_root pdns-distribute keygen --secret /etc/pdns-distribute/zonedata.key \
    --public /etc/pdns-distribute/zonedata.pub >/dev/null
in_root chown pdns-distribute-provider: /etc/pdns-distribute/zonedata.key
cp "$root/etc/pdns-distribute/secondary-syncer.toml" "$work/syncer.toml.orig"
printf '\n[[trusted_key]]\nfile = "/etc/pdns-distribute/zonedata.pub"\n' \
    >>"$root/etc/pdns-distribute/secondary-syncer.toml"
check "pdns-secondary-syncer --check-config accepts the shipped file plus one [[trusted_key]]" \
    in_root runuser -u pdns-distribute-syncer -- /usr/sbin/pdns-secondary-syncer \
    --config /etc/pdns-distribute/secondary-syncer.toml --check-config

step "systemd-analyze verify (units as installed, against the installed binaries and man pages)"
units=()
for svc in "${all_daemons[@]}"; do units+=("$root/lib/systemd/system/pdns-$svc.service"); done
check "systemd-analyze verify on every unit" \
    env MANPATH="$root/usr/share/man" systemd-analyze --root="$root" verify "${units[@]}"

step "upgrade to a rebuilt, higher version; edited configuration kept"
# Simulate use: an edited conffile, an enabled unit, state written by the daemon.
sed -i 's/^#level = "info"$/level = "debug"/' "$root/etc/pdns-distribute/api-proxy.toml"
in_root systemctl enable pdns-api-proxy.service >/dev/null 2>&1
mkdir -p "$root/var/lib/pdns-distribute/secondary-syncer"
echo '{}' >"$root/var/lib/pdns-distribute/secondary-syncer/parked.json"
in_root chown -R pdns-distribute-syncer: /var/lib/pdns-distribute/secondary-syncer
if output=$(in_root sh -c 'apt-get install -y -q -o Dpkg::Options::=--force-confold \
    ./tmp/debs/new/*.deb' 2>&1); then
    pass "upgrade both packages"
else
    fail "upgrade both packages" "$output"
fi
new_version=$(in_root dpkg-query -W -f "\${Version}" pdns-distribute-primary)
if [ "$new_version" != "$old_version" ] && in_root dpkg --compare-versions "$new_version" gt "$old_version"; then
    pass "version went from $old_version to $new_version"
else
    fail "version went up (old $old_version, now $new_version)"
fi
check "edited api-proxy.toml kept over the upgrade" \
    grep -qx 'level = "debug"' "$root/etc/pdns-distribute/api-proxy.toml"
check "added [[trusted_key]] kept in secondary-syncer.toml" \
    grep -qx 'file = "/etc/pdns-distribute/zonedata.pub"' \
    "$root/etc/pdns-distribute/secondary-syncer.toml"
check "no .dpkg-dist/.dpkg-new left (the shipped files did not change)" \
    sh -c "! ls '$root'/etc/pdns-distribute/ | grep -q dpkg"
check "enabled unit still enabled after upgrade" \
    test -L "$root/etc/systemd/system/multi-user.target.wants/pdns-api-proxy.service"
check "state kept over the upgrade" test -f "$root/var/lib/pdns-distribute/secondary-syncer/parked.json"
check "users kept over the upgrade" in_root getent passwd pdns-distribute-syncer

step "remove keeps configuration and users; purge removes everything"
check "apt-get remove both packages" in_root apt-get remove -y -q pdns-distribute-primary \
    pdns-distribute-secondary
check "configuration kept after remove" test -f "$root/etc/pdns-distribute/api-proxy.toml"
check "binaries gone after remove" test ! -e "$root/usr/sbin/pdns-api-proxy"
# Operator-made keys would be kept by purge (documented); remove them as an operator would.
rm -f "$root/etc/pdns-distribute/zonedata.key" "$root/etc/pdns-distribute/zonedata.pub"
check "apt-get purge both packages" in_root apt-get purge -y -q pdns-distribute-primary \
    pdns-distribute-secondary
left=$(leftovers)
if [ -z "$left" ]; then
    pass "after purge no file, directory, unit, symlink, user or group of ours is left"
else
    fail "after purge nothing of ours is left" "$left"
fi
check "dpkg knows nothing of the packages after purge" \
    sh -c "! chroot '$root' dpkg-query -W -f '\${Status}\n' pdns-distribute-primary \
        pdns-distribute-secondary 2>/dev/null | grep -q ."

step "each role alone: the secondary's host gets no primary daemon, and the reverse"
for role in secondary primary; do
    if output=$(in_root sh -c "apt-get install -y -q ./tmp/debs/old/pdns-distribute-${role}_*.deb" 2>&1); then
        pass "install pdns-distribute-$role alone with its dependencies"
    else
        fail "install pdns-distribute-$role alone" "$output"
        continue
    fi
    if [ "$role" = secondary ]; then
        present=pdns-secondary-syncer absent=pdns-api-proxy
    else
        present=pdns-api-proxy absent=pdns-secondary-syncer
    fi
    check "$present runs --version" in_root "/usr/sbin/$present" --version
    check "$present --check-config passes on the shipped config" in_root "/usr/sbin/$present" \
        --check-config
    check "no $absent on a $role-only host" test ! -e "$root/usr/sbin/$absent"
    check "apt-get purge pdns-distribute-$role" in_root apt-get purge -y -q "pdns-distribute-$role"
    left=$(leftovers)
    if [ -z "$left" ]; then
        pass "after purging pdns-distribute-$role nothing of ours is left"
    else
        fail "after purging pdns-distribute-$role nothing of ours is left" "$left"
    fi
done

summary "package tests (chroot)"
