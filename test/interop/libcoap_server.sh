#!/usr/bin/env bash
# aiocoap-client (the library's client) against libcoap's coap-server-notls.
# Usage: libcoap_server.sh PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
client=$1
command -v coap-server-notls >/dev/null || { echo "FAIL coap-server-notls not installed (libcoap3-bin)"; exit 1; }

port=$(free_udp_port)
coap-server-notls -A ::1 -p "$port" 2>/dev/null &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null' EXIT
base="coap://[::1]:$port"
wait_until 50 "$client" "$base/" || true

expect "GET /" 'test server made with libcoap' "$("$client" "$base/" 2>&1)"
expect "GET /time" '^[A-Z][a-z]{2} [0-9]{2} [0-9:]{8}$' \
  "$("$client" "$base/time" 2>&1)"
expect "NON GET /time" '^[A-Z][a-z]{2} ' "$("$client" --non "$base/time" 2>&1)"
expect_empty "PUT /example_data" \
  "$("$client" -m PUT --payload 'written by aiocoap-c' "$base/example_data" 2>&1)"
expect "GET /example_data after PUT" '^written by aiocoap-c$' \
  "$("$client" "$base/example_data" 2>&1)"
start=$(date +%s%N)
out=$("$client" "$base/async?1" 2>&1)
ms=$(( ($(date +%s%N) - start) / 1000000 ))
expect "GET /async?1 (separate response)" '^done$' "$out"
expect "separate response took about 1 s ($ms ms)" '^ok$' \
  "$([ "$ms" -ge 900 ] && [ "$ms" -lt 4000 ] && echo ok)"
expect "GET /.well-known/core" '</example_data>' \
  "$("$client" "$base/.well-known/core" 2>&1)"
out=$("$client" --pretty-print "$base/.well-known/core" 2>/dev/null)
expect "--pretty-print shows libcoap's links one per line" '^ok$' \
  "$(n=$(printf '%s\n' "$out" | grep -c '^<'); [ "$n" -ge 3 ] && [ "$n" -eq "$(printf '%s\n' "$out" | wc -l)" ] && echo ok || printf '%s\n' "$out")"
dir=$(mktemp -d)
"$client" "$base/missing" >"$dir/out" 2>"$dir/err"; rc=$?
expect "GET /missing exits 1" '^1$' "$rc"
expect "GET /missing is 4.04 on stderr" '^4\.04 Not Found' "$(cat "$dir/err")"
expect_empty "GET /missing prints nothing on stdout" "$(cat "$dir/out")"
rm -rf "$dir"
finish
