#!/usr/bin/env bash
# SPDX-License-Identifier: Apache-2.0
# Writes the shipped configuration file of a daemon to stdout, generated from its own
# `--help-config` output: every key commented out with its default and help text, under an
# uncommented section header, so that the file as shipped means "all defaults" and passes
# `--check-config`. Usage: packaging/gen-config.sh <path to daemon binary>
# The files in packaging/etc/ are this script's output; tests/packaging/run.sh checks that they
# are current. To refresh them after changing a key: packaging/gen-config.sh --update <build dir>.
set -euo pipefail

if [ "${1:-}" = "--update" ]; then
    build=${2:?usage: gen-config.sh --update <build dir>}
    here=$(cd "$(dirname "$0")" && pwd)
    for svc in api-proxy zone-provider health-checker secondary-syncer; do
        "$0" "$build/services/$svc/pdns-$svc" >"$here/etc/$svc.toml"
        echo "wrote $here/etc/$svc.toml"
    done
    exit 0
fi

bin=${1:?usage: gen-config.sh <daemon binary> | --update <build dir>}
name=$(basename "$bin")
svc=${name#pdns-}
docs=$("$bin" --help-config)
description=$("$bin" --help | head -n 1)

cat <<EOF
# /etc/pdns-distribute/$svc.toml: configuration of $name
# ($description).
#
# Every key is listed, commented out, with its default value and help text; uncomment a key to
# change it. The file as shipped holds no secrets and means "all defaults". Unknown keys are
# errors reported with their line number. Keys ending in _file name a file that holds a secret
# (readable by the daemon's user only); secrets are never written here.
#
# Check the file after editing, then restart:
#   $name --config /etc/pdns-distribute/$svc.toml --check-config
#   systemctl restart $name
# Reference: $name(8), $name --help-config,
# /usr/share/doc/pdns-distribute-*/operations.md.gz
EOF

# --help-config prints "  path = default" then "      help" for every key, and
# "  path = (section)" then its help for documented sections.
printf '%s\n' "$docs" | awk -v svc="$svc" '
function header(sec) {
    if (sec == current) return
    current = sec
    printf "\n[%s]\n", sec
    if (sec in section_help) printf "# %s\n", section_help[sec]
}
function array_of_tables(name, help) {
    # --help-config lists the keys of an element as name[].key.
    printf "\n# %s. Repeat the block once per entry.\n", help
    printf "#[[%s]]\n", name
    for (e = 1; e <= ne; e++) {
        if (elem_array[e] != name) continue
        value = elem_value[e]
        # An example beats an empty default for the one key every secondary must set.
        if (name == "trusted_key" && elem_key[e] == "file") value = "\"/etc/pdns-distribute/zonedata.pub\""
        printf "# %s\n#%s = %s\n", elem_help[e], elem_key[e], value
    }
}
NR == 1 { next }
/^  [^ ]/ {
    line = substr($0, 3)
    split_at = index(line, " = ")
    path = substr(line, 1, split_at - 1)
    value = substr(line, split_at + 3)
    getline help_line
    sub(/^ +/, "", help_line)
    paths[++n] = path
    values[n] = value
    helps[n] = help_line
    if (value == "(section)") section_help[path] = help_line
    next
}
END {
    current = ""
    for (i = 1; i <= n; i++) {
        if (values[i] == "(section)") continue
        path = paths[i]
        marker = index(path, "[].")
        if (marker > 0) {
            elem_array[++ne] = substr(path, 1, marker - 1)
            elem_key[ne] = substr(path, marker + 3)
            elem_value[ne] = values[i]
            elem_help[ne] = helps[i]
            continue
        }
        if (values[i] == "[]" && index(path, ".") == 0) {
            pending_arrays[++na] = i
            continue
        }
        dot = 0
        for (j = length(path); j > 0; j--) if (substr(path, j, 1) == ".") { dot = j; break }
        if (dot == 0) { printf "# %s\n#%s = %s\n", helps[i], path, values[i]; continue }
        header(substr(path, 1, dot - 1))
        printf "# %s\n#%s = %s\n", helps[i], substr(path, dot + 1), values[i]
    }
    # Arrays of tables go last: TOML attaches every key after [[x]] to that element.
    for (k = 1; k <= na; k++) array_of_tables(paths[pending_arrays[k]], helps[pending_arrays[k]])
}
'
