#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Shared helpers of the packaging tests: result bookkeeping and the lists of what is shipped.
# Sourced, not run.

# shellcheck disable=SC2034  # the lists are used by the scripts that source this file
primary_daemons=(api-proxy zone-provider health-checker)
secondary_daemons=(secondary-syncer)
all_daemons=("${primary_daemons[@]}" "${secondary_daemons[@]}")
declare -A daemon_user=(
    [api-proxy]=pdns-distribute-proxy
    [zone-provider]=pdns-distribute-provider
    [health-checker]=pdns-distribute-checker
    [secondary-syncer]=pdns-distribute-syncer
)

# Hardening every unit must carry (issue 5), as "Key=value" lines.
required_directives=(
    "Type=notify"
    "Restart=on-failure"
    "NoNewPrivileges=yes"
    "ProtectSystem=strict"
    "ProtectHome=yes"
    "PrivateTmp=yes"
    "PrivateDevices=yes"
    "RestrictAddressFamilies=AF_INET AF_INET6 AF_UNIX"
    "SystemCallFilter=@system-service"
    "CapabilityBoundingSet="
)

pass_count=0
fail_count=0
xfail_count=0
failures=()

pass() {
    pass_count=$((pass_count + 1))
    printf '  PASS  %s\n' "$1"
}

fail() {
    fail_count=$((fail_count + 1))
    failures+=("$1")
    printf '  FAIL  %s\n' "$1"
    if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/        /' | tail -n 20; fi
}

# A known problem outside packaging, reported but not counted as a failure.
xfail() {
    xfail_count=$((xfail_count + 1))
    printf '  XFAIL %s\n' "$1"
    if [ -n "${2:-}" ]; then printf '%s\n' "$2" | sed 's/^/        /' | tail -n 5; fi
}

# check <description> <command…>: runs the command, PASS on exit 0, FAIL with its output otherwise.
check() {
    local what=$1 output
    shift
    if output=$("$@" 2>&1); then
        pass "$what"
    else
        fail "$what" "$output"
    fi
}

# Prints the summary and returns non-zero when anything failed.
summary() {
    printf '\n%s: %d passed, %d failed, %d known issues (XFAIL)\n' "$1" "$pass_count" \
        "$fail_count" "$xfail_count"
    if [ "$fail_count" -gt 0 ]; then
        printf 'failed:\n'
        printf '  - %s\n' "${failures[@]}"
        return 1
    fi
    return 0
}

# Hardening check of one unit file; prints what is missing or wrong.
unit_hardening_problems() {
    local unit=$1 d
    for d in "${required_directives[@]}"; do
        grep -qxF "$d" "$unit" || printf 'missing %s\n' "$d"
    done
    grep -q '^ExecStartPre=.* --check-config$' "$unit" || printf 'missing ExecStartPre --check-config\n'
    grep -q '^StateDirectory=pdns-distribute/' "$unit" || printf 'missing StateDirectory\n'
    grep -q '^User=pdns-distribute-' "$unit" || printf 'missing a dedicated User=\n'
    # Writable paths only under the state directory.
    grep '^ReadWritePaths=' "$unit" | grep -v '^ReadWritePaths=/var/lib/pdns-distribute/' |
        sed 's/^/unexpected /'
    grep -q '^\(DynamicUser\|PermissionsStartOnly\)=' "$unit" && printf 'unexpected privilege option\n'
    return 0
}
