#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Generates a man page with help2man from a program's --help and --version output. For a daemon
# (section 8) it adds a CONFIGURATION section listing every key from --help-config, and FILES,
# SIGNALS, EXIT STATUS and SEE ALSO sections. Run by packaging/CMakeLists.txt at build time.
# Usage: gen-man.sh <binary> <section> <output file>
set -euo pipefail

bin=${1:?usage: gen-man.sh <binary> <section> <output>}
section=${2:?usage: gen-man.sh <binary> <section> <output>}
out=${3:?usage: gen-man.sh <binary> <section> <output>}
name=$(basename "$bin")
description=$("$bin" --help | head -n 1)
description=${description#"$name: "}

include=$(mktemp)
trap 'rm -f "$include"' EXIT


if [ "$section" = 8 ]; then
    svc=${name#pdns-}
    {
        echo "[CONFIGURATION]"
        echo "The configuration is a strict TOML file, by default"
        echo ".IR /etc/pdns-distribute/$svc.toml ."
        echo "Unknown keys are errors reported with their line number; durations are strings"
        echo "such as \"250ms\", \"5s\", \"2m\", \"1h\"; secrets are never values, only file names."
        echo "Every key, with its default:"
        # roff: backslashes escape and a leading dot or quote starts a request; neutralise both
        # in the text, not in the .TP/.B requests written here.
        "$bin" --help-config | awk '
            function roff(t) { gsub(/\\/, "\\e", t); if (t ~ /^[.\x27]/) t = "\\&" t; return t }
            NR > 1 && /^  [^ ]/ { key = substr($0, 3); getline help; sub(/^ +/, "", help)
                print ".TP"; print "\\fB" roff(key) "\\fR"; print roff(help) }'
        echo "[FILES]"
        echo ".TP"
        echo ".I /etc/pdns-distribute/$svc.toml"
        echo "configuration (a conffile; kept on upgrade)"
        echo ".TP"
        echo ".I /var/lib/pdns-distribute/$svc/"
        echo "state directory (created by systemd; removed on purge)"
        echo ".TP"
        echo ".I /lib/systemd/system/$name.service"
        echo "the systemd unit (not enabled on install)"
        echo "[SIGNALS]"
        echo "SIGTERM and SIGINT stop the daemon after in-flight work is drained (exit status 0)."
        echo "SIGHUP is ignored: restart to apply a changed configuration."
        echo "[EXIT STATUS]"
        echo "0 on success and after SIGTERM; 1 when the daemon cannot start; 2 on a command-line"
        echo "or configuration error (also the result of a failed --check-config)."
        echo "[SEE ALSO]"
        echo ".BR pdns-distribute (1),"
        echo ".BR pdns_server (1),"
        echo ".BR systemctl (1),"
        echo "and operations.md in /usr/share/doc/pdns-distribute-primary/ or"
        echo "/usr/share/doc/pdns-distribute-secondary/."
    } >"$include"
else
    {
        echo "[SEE ALSO]"
        echo ".BR pdns-api-proxy (8),"
        echo ".BR pdns-zone-provider (8),"
        echo ".BR pdns-health-checker (8),"
        echo ".BR pdns-secondary-syncer (8)."
    } >"$include"
fi

# help2man stamps the current month unless SOURCE_DATE_EPOCH is set (reproducible builds).
help2man --no-info --no-discard-stderr --section="$section" --name="$description" \
    --include="$include" --output="$out" "$bin"
