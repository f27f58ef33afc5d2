#!/usr/bin/env bash
# aiocoap-client --proxy through libcoap's forward proxy (coap-server-notls
# -P) to aiocoap-server: the request goes with Proxy-Uri to a real peer's
# proxy, which forwards it; plain GET, a blockwise GET, a blockwise PUT
# read back, and an error answer carried back.
# Usage: client_via_libcoap_proxy.sh PATH/TO/aiocoap-client PATH/TO/aiocoap-server
set -u
here=$(dirname "$0")
. "$here/lib.sh"
client=$1
server=$2
origin=$(free_udp_port)
proxy=$(free_udp_port)
while [ "$proxy" = "$origin" ]; do proxy=$(free_udp_port); done
"$server" --bind "[::1]:$origin" 2>/dev/null &
spid=$!
# -P with no next hop and a name the origin does not have: a forward
# proxy that connects directly to where Proxy-Uri points.
coap-server-notls -A ::1 -p "$proxy" -P ",not-the-origin" >/dev/null 2>&1 &
ppid=$!
dir=$(mktemp -d)
trap 'kill $spid $ppid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
P="coap://[::1]:$proxy"
O="coap://[::1]:$origin"
wait_until 50 "$client" --proxy "$P" "$O/time" || true

out=$("$client" --proxy "$P" "$O/time"); rc=$?
expect "GET /time through libcoap's proxy exits 0" '^0$' "$rc"
expect "... with the origin's time" '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$out"
"$client" --proxy "$P" "$O/other/block" >"$dir/block"; rc=$?
expect "GET /other/block (blockwise) through it exits 0" '^0$' "$rc"
expect "... all of it" '^0123456789$' "$(tail -n 1 "$dir/block")"
head -c 3000 /dev/urandom | base64 -w 0 >"$dir/up"
"$client" --proxy "$P" -m PUT --payload "@$dir/up" "$O/other/block" 2>"$dir/err"; rc=$?
expect "PUT of 4 KiB (Block1) through it exits 0" '^0$' "$rc"
"$client" --proxy "$P" "$O/other/block" >"$dir/back"
expect "... and reads back the same" '^same$' "$(cmp -s "$dir/up" "$dir/back" && echo same)"
"$client" --proxy "$P" "$O/nonexistent" >"$dir/out" 2>"$dir/err"; rc=$?
expect "a 4.04 through it exits 1" '^1$' "$rc"
expect "... and says 4.04 on stderr" '^4\.04' "$(cat "$dir/err")"
finish
