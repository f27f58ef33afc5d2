#!/usr/bin/env bash
# The tour's three programs (docs/examples, ported from aiocoap's
# documentation) as their reader runs them: the example server, the tour's
# requests (one with a separate response, then three in parallel), and the
# observing client, which must be served three notifications and then
# deregister so that the server stows its clock away.
# Usage: examples.sh SERVER TOUR OBSERVE
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
tour=$2
observe=$3

port=$(free_udp_port)
log=$(mktemp)
"$server" "$port" 1 >"$log" 2>&1 &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
wait_until 50 "$tour" "coap://[::1]:$port" || true
base="coap://localhost:$port"

out=$("$tour" "$base"); rc=$?
expect "tour exits 0" '^0$' "$rc"
expect "tour: the separate response came first, with the poem" \
  "^Response from $base/other/separate: 2.05 Content, Three rings" \
  "$(printf '%s\n' "$out" | head -n 1)"
expect "tour: /time answered" "Response from $base/time: 2.05 Content, [0-9]{4}-" "$out"
expect "tour: /other/block answered whole (blockwise)" \
  "Response from $base/other/block: 2.05 Content, This is the resource" "$out"
# The three parallel answers come in the order they complete, which is
# not fixed: each must be there once, whatever the order.
expect "tour: four responses, each URI once" '^4 4$' \
  "$(printf '%s\n' "$out" | grep -c '^Response from ') $(printf '%s\n' "$out" | grep -o '^Response from [^:]*://[^/]*/[^:]*' | sort -u | wc -l)"
expect "tour: all 100 number lines of the block" '^100$' \
  "$(printf '%s\n' "$out" | grep -c '^0123456789$')"
expect "tour: /.well-known/core lists /time as observable" \
  "Response from $base/.well-known/core: 2.05 Content, .*</time>;obs" "$out"

out=$(timeout 20 "$observe" "$base/time" 3); rc=$?
expect "observe exits 0" '^0$' "$rc"
expect "observe: the first response and three notifications" '^4$' \
  "$(printf '%s\n' "$out" | grep -Ec '^[0-9]{4}-[0-9]{2}-[0-9]{2} ')"
sleep 0.3
expect "server: the observation started the clock" \
  'Keeping the clock nearby' "$(cat "$log")"
expect "server: the deregistration stowed it away" \
  'Stowing away the clock' "$(cat "$log")"

out=$(timeout 10 "$tour" "coap://[::1]:$(free_udp_port)" 2>&1); rc=$?
expect "tour against a closed port fails (exit $rc)" '^1$' "$rc"
expect "tour says why" 'Failed to fetch resource: .*' "$out"

kill -INT $pid
wait $pid; rc=$?
expect "the server exits 0 on SIGINT" '^0$' "$rc"
trap 'rm -f "$log"' EXIT
finish
