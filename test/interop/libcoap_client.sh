#!/usr/bin/env bash
# libcoap's coap-client-notls against aiocoap-server (RFC 7252 interop).
# Usage: libcoap_client.sh PATH/TO/aiocoap-server
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=coap-client-notls
command -v "$client" >/dev/null || { echo "FAIL $client not installed (libcoap3-bin)"; exit 1; }

port=$(free_udp_port)
"$server" --bind "[::]:$port" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
base="coap://[::1]:$port"
wait_until 50 $client -B 1 "$base/time" || true

expect "GET /time" '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$' \
  "$($client -B 5 "$base/time" 2>&1)"
expect "GET /time over IPv4 (v4-mapped)" '^[0-9]{4}-' \
  "$($client -B 5 "coap://127.0.0.1:$port/time" 2>&1)"
expect "NON GET /time" '^[0-9]{4}-' "$($client -N -B 5 "$base/time" 2>&1)"
expect_empty "PUT /other/block" \
  "$($client -B 5 -m put -e 'put by libcoap' "$base/other/block" 2>&1)"
expect "GET after PUT" '^put by libcoap$' \
  "$($client -B 5 "$base/other/block" 2>&1)"
# Issue 9: an empty PUT (a 16-byte datagram) once hit memcpy(x, NULL, 0),
# which the UBSan build of the server dies on.
expect_empty "PUT /other/block with no payload" \
  "$($client -B 5 -m put "$base/other/block" 2>&1)"
expect "the server is still there after it" '^[0-9]{4}-' \
  "$($client -B 5 "$base/time" 2>&1)"
expect "POST /other/block is 4.05" '4\.05' \
  "$($client -B 5 -m post -e x "$base/other/block" 2>&1)"
expect "DELETE /other/block is 4.05" '4\.05' \
  "$($client -B 5 -m delete "$base/other/block" 2>&1)"
expect "GET /nothing is 4.04" '4\.04' "$($client -B 5 "$base/nothing" 2>&1)"
expect "GET /.well-known/core" '</time>;ct=0;obs' \
  "$($client -B 5 "$base/.well-known/core" 2>&1)"
expect "GET /.well-known/core?ct=40 filters" '^</\.well-known/core>;ct=40$' \
  "$($client -B 5 "$base/.well-known/core?ct=40" 2>&1)"
expect "GET /.well-known/core?href=/other* filters" \
  '^</other/block>,</other/separate>$' \
  "$($client -B 5 "$base/.well-known/core?href=/other*" 2>&1)"
start=$(date +%s%N)
out=$($client -B 10 "$base/other/separate" 2>&1)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect "GET /other/separate (separate response)" '^Three rings' "$out"
expect "separate response took about 3 s ($ms ms)" '^ok$' \
  "$([ "$ms" -ge 2900 ] && [ "$ms" -lt 6000 ] && echo ok)"
finish
