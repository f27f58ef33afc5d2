#!/usr/bin/env bash
# Runs a test program in a network namespace of its own with loopback up
# and a veth pair v0/v1 (Linux loops no IPv6 multicast over lo): what is
# sent to a group by v0 arrives on v1, so that a test can join ff02::fd on
# v1 and send to ff02::fd%v0.  Root (as CI is) uses a
# plain network namespace, anyone else an unprivileged user namespace;
# where neither can be made the test is skipped (exit 77) with the reason.
# Usage: netns_run.sh PROGRAM [ARGS...]
set -u
if [ "${AIOCOAP_IN_NETNS:-}" != 1 ]; then
  if [ "$(id -u)" -eq 0 ]; then ns=(unshare -n); else ns=(unshare -rn); fi
  if ! "${ns[@]}" true 2>/dev/null; then
    echo "SKIP $(basename "$1"): cannot make a network namespace here: $("${ns[@]}" true 2>&1 | head -n 1)"
    exit 77
  fi
  AIOCOAP_IN_NETNS=1 exec "${ns[@]}" bash "$0" "$@"
fi
# No duplicate address detection: the link-local addresses are usable at
# once (where sysctl is not writable, wait for DAD instead).
sysctl -qw net.ipv6.conf.default.accept_dad=0 2>/dev/null
ip link set lo up &&
  ip link add v0 type veth peer name v1 &&
  ip link set v0 up && ip link set v1 up ||
  { echo "cannot set up lo and v0/v1" >&2; exit 1; }
for _ in $(seq 50); do
  ip -6 addr show dev v1 | grep -q "fe80.*scope link" &&
    ! ip -6 addr show | grep -q tentative && break
  sleep 0.1
done
exec "$@"
