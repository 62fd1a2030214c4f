#!/bin/sh
# SPDX-License-Identifier: Apache-2.0
# Prints the nats-server user entry for one secondary, made from the "secondary ns1" block of
# the example configuration (nats-server.conf next to this script): paste the output into the
# users list of account PDNS_DISTRIBUTE in /etc/nats-server.conf and reload nats-server.
#
#   pdd-nats-secondary.sh [-c example.conf] [-g group] [-p bcrypt-hash] [-u user] <node_id>
#
# -p sets the password hash (e.g. from `mkpasswd -m bcrypt`); without it the entry keeps an
# invalid placeholder hash and nobody can log in as that user until you replace it.
# -g replaces the nameserver group `default` in the zone subjects.
# -u names the user (default syncer-<node_id>): a second entry for the same node under another
#    name lets you change its password without a gap (docs/operations.md, "Rotating").
set -eu

here=$(dirname "$0")
conf="$here/nats-server.conf"
group=default
hash=
user=

usage() {
    echo "usage: $0 [-c example.conf] [-g group] [-p bcrypt-hash] [-u user] <node_id>" >&2
    exit 2
}

while getopts c:g:p:u:h opt; do
    case $opt in
        c) conf=$OPTARG ;;
        g) group=$OPTARG ;;
        p) hash=$OPTARG ;;
        u) user=$OPTARG ;;
        *) usage ;;
    esac
done
shift $((OPTIND - 1))
[ $# -eq 1 ] || usage
node=$1

# Node ids are [A-Za-z0-9_-]{1,64} (DESIGN §3): safe as subject tokens and in sed below.
case $node in
    '' | *[!A-Za-z0-9_-]*)
        echo "$0: cannot use node id '$node' (allowed: 1 to 64 of A-Z a-z 0-9 _ -)" >&2
        exit 2
        ;;
esac
if [ "${#node}" -gt 64 ]; then
    echo "$0: cannot use node id '$node' (longer than 64 characters)" >&2
    exit 2
fi
user=${user:-syncer-$node}
case $user in
    '' | *[!A-Za-z0-9_.-]*)
        echo "$0: cannot use user name '$user' (allowed: A-Z a-z 0-9 _ . -)" >&2
        exit 2
        ;;
esac
case $group in
    '' | *[!A-Za-z0-9_-]*)
        echo "$0: cannot use group '$group' (allowed: A-Z a-z 0-9 _ -)" >&2
        exit 2
        ;;
esac
case $hash in
    '' | "\$2"[abxy]"\$"[0-9][0-9]"\$"*) ;;
    *)
        echo "$0: cannot use the password hash (not a bcrypt hash: \$2b\$NN\$...)" >&2
        exit 2
        ;;
esac
case $hash in
    *[!./A-Za-z0-9\$]*)
        echo "$0: cannot use the password hash (unexpected characters)" >&2
        exit 2
        ;;
esac

if [ ! -r "$conf" ]; then
    echo "$0: cannot read the example configuration '$conf'; give it with -c" >&2
    exit 1
fi
block=$(sed -n '/^ *# >>> secondary ns1$/,/^ *# <<< secondary ns1$/p' "$conf")
if [ -z "$block" ]; then
    echo "$0: cannot find the 'secondary ns1' block in '$conf'" >&2
    exit 1
fi

# The template says ns1 only where the node id belongs; its user line names the user.
printf '%s\n' "$block" |
    sed -e "s/ns1/$node/g" -e "s/\.default\./.$group./g" \
        -e "s/^\( *user: \)\"syncer-$node\"/\1\"$user\"/" |
    if [ -n "$hash" ]; then
        sed -e "s|\"\$2b\$11\$CHANGE-ME-syncer-$node\"|\"$hash\"|"
    else
        cat
    fi
