#!/usr/bin/env bash
# Runs a test program in a network namespace of its own with loopback up
# and a veth pair v0/v1 (Linux loops no IPv6 multicast over lo): what is
# sent to a group by v0 arrives on v1, so that a test can join ff02::fd on
# v1 and send to ff02::fd%v0.  Root (as CI is) uses a
# plain network namespace, anyone else an unprivileged user namespace;
# where neither can be made the test is skipped (exit 77) with the reason.
# Usage: netns_run.sh PROGRAM [ARGS...]
set -u
. "$(cd "$(dirname "$0")" && pwd)/interop/lib.sh"
enter_netns "$0" "$@"
veth_pair || { echo "cannot set up lo and v0/v1" >&2; exit 1; }
exec "$@"
