#!/usr/bin/env bash
# `localhost` works on a root without /etc/hosts (issue 10; RFC 6761 §6.3:
# the name is the loopback address whatever the resolver says): in a
# mount namespace of its own, /etc/hosts is replaced by an empty file and
# aiocoap-client still reaches aiocoap-server at coap://localhost.
# Needs root (unshare -m), as CI has.
# Usage: localhost_without_hosts.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
# Run as a user without root, this test cannot make what it needs: say so
# and skip (exit 77, meson's skip status) rather than fail.  CI runs as root.
if [ "$(id -u)" -ne 0 ]; then
  echo "SKIP $(basename "$0"): needs root (network namespaces, veth pairs, mounts)"
  exit 77
fi
server=$1
client=$2
# A root that is not a mount point of its own (a bare chroot) cannot get a
# private mount namespace: that is the machine, not the client.
if ! unshare -m true 2>/dev/null; then
  echo "SKIP $(basename "$0"): cannot make a mount namespace here: $(unshare -m true 2>&1 | head -n 1)"
  exit 77
fi
port=$(free_udp_port)
"$server" --bind "[::]:$port" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
wait_until 50 "$client" "coap://[::1]:$port/time" || true
empty=$(mktemp)
out=$(unshare -m sh -c 'mount --bind "$1" /etc/hosts && getent hosts localhost; "$2" "coap://localhost:$3/time"' \
  sh "$empty" "$client" "$port" 2>&1)
rm -f "$empty"
expect "GET coap://localhost with an empty /etc/hosts" '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$out"
finish
