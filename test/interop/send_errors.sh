#!/usr/bin/env bash
# Errors the caller sees at once (issue 9): in a network namespace of its
# own with nothing but loopback, a request to any other address is refused
# by the kernel (no route), and aiocoap-client says so in well under a
# second instead of timing out after 93 s.  An unknown zone id is refused
# before anything is sent.  Needs root for the namespace, as CI has.
# Usage: send_errors.sh PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
# Run as a user without root, this test cannot make what it needs: say so
# and skip (exit 77, meson's skip status) rather than fail.  CI runs as root.
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP $(basename "$0"): needs root (network namespaces, veth pairs, mounts)"
  exit 77
fi
client=$1
# A network namespace of the client's own (unshare -n), not `ip netns
# exec`: that one also remounts / and /sys, which a chroot cannot do.
in_netns() {
  unshare -n sh -c 'ip link set lo up && exec "$@"' sh "$@"
}
if ! in_netns true 2>/dev/null; then
  echo "SKIP $(basename "$0"): cannot make a network namespace here: $(in_netns true 2>&1 | head -n 1)"
  exit 77
fi

# 2001:db8::/32 and 192.0.2.0/24 are documentation ranges (RFC 3849,
# RFC 5737); inside the namespace there is no route to them at all, so no
# datagram leaves it.
for uri in "coap://[2001:db8::1]/x" "coap://192.0.2.1/x"; do
  start=$(date +%s%N)
  err=$(in_netns "$client" "$uri" 2>&1 >/dev/null); rc=$?
  ms=$(( ($(date +%s%N) - start) / 1000000 ))
  expect "$uri fails" '^[1-9]' "$rc"
  expect "$uri says why" 'network unreachable' "$err"
  expect "$uri fails at once ($ms ms)" '^ok$' "$([ "$ms" -lt 1000 ] && echo ok)"
done
err=$("$client" "coap://[fe80::1%25nonexistent0]/x" 2>&1 >/dev/null); rc=$?
expect "an unknown zone id fails" '^[1-9]' "$rc"
expect "an unknown zone id is named as such" 'no such network interface' "$err"
finish
