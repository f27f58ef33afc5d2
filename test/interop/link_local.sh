#!/usr/bin/env bash
# Link-local destinations with zone ids: a veth pair gives two fe80::
# addresses; aiocoap-client reaches aiocoap-server at [fe80::...%25veth].
# Needs root (CAP_NET_ADMIN) for the veth pair, as CI has.
# Usage: link_local.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
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
a=acv$$a
b=acv$$b
ip link add "$a" type veth peer name "$b" || { echo "FAIL cannot create a veth pair (need root and iproute2)"; exit 1; }
port=$(free_udp_port)
pid=
cleanup() {
  [ -n "$pid" ] && kill "$pid" 2>/dev/null && wait "$pid" 2>/dev/null
  ip link del "$a" 2>/dev/null
}
trap cleanup EXIT
# No duplicate address detection: the addresses are usable at once.
sysctl -qw "net.ipv6.conf.$a.accept_dad=0" "net.ipv6.conf.$b.accept_dad=0"
ip link set "$a" up
ip link set "$b" up
addr=
for _ in $(seq 50); do
  addr=$(ip -6 addr show dev "$a" scope link | awk '/inet6/{print $2}' | cut -d/ -f1)
  [ -n "$addr" ] && break
  sleep 0.1
done
expect "veth has a link-local address" '^fe80:' "$addr"
"$server" --bind "[::]:$port" 2>/dev/null &
pid=$!
uri="coap://[$addr%25$b]:$port/time"
wait_until 50 "$client" "$uri" || true
expect "GET $uri" '^[0-9]{4}-' "$("$client" "$uri" 2>&1)"
expect "response remote carries the zone" "%25$b\\]:$port" \
  "$("$client" -v "$uri" 2>&1)"
finish
