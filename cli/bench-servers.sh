#!/usr/bin/env bash
# Runs bench-requests against aiocoap-server and coap-server-notls in the
# same run (piggybacked GET /time, N = 1 and 64) and prints each server's CPU
# use and peak RSS.  A benchmark, not a test.
# Usage: cli/bench-servers.sh [BUILD_DIR] [SECONDS]
set -eu
build=${1:-build}
seconds=${2:-5}
bench=$build/cli/bench-requests
"$build/cli/aiocoap-server" --bind '[::1]:56831' 2>/dev/null &
ours=$!
coap-server-notls -A ::1 -p 56832 2>/dev/null &
theirs=$!
trap 'kill $ours $theirs 2>/dev/null' EXIT
sleep 0.5
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
hz=$(getconf CLK_TCK)
for n in 1 64; do
  for server in "aiocoap-server $ours 56831" "coap-server-notls $theirs 56832"; do
    set -- $server
    before=$(ticks "$2")
    printf '%-18s ' "$1"
    "$bench" -n "$n" -t "$seconds" "coap://[::1]:$3/time" | tr -d '\n'
    after=$(ticks "$2")
    echo "  server CPU $(( (after - before) * 100 / hz / seconds ))%"
  done
done
for server in "aiocoap-server $ours" "coap-server-notls $theirs"; do
  set -- $server
  echo "$1 peak RSS: $(awk '/VmHWM/{print $2, $3}' "/proc/$2/status")"
done
