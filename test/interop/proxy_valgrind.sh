#!/usr/bin/env bash
# aiocoap-proxy under valgrind: forward a GET, a blockwise PUT and an
# observation from coap-client-notls to coap-server-notls, then SIGTERM
# while the observation is still pooled upstream; shutdown must leave no
# error and no leak.
# Usage: proxy_valgrind.sh PATH/TO/aiocoap-proxy
set -u
here=$(dirname "$0")
. "$here/lib.sh"
proxy=$1
client=coap-client-notls
server=coap-server-notls
for peer in valgrind $client $server; do
  command -v "$peer" >/dev/null || { echo "FAIL $peer not installed"; exit 1; }
done
sport=$(free_udp_port)
"$server" -A ::1 -p "$sport" >/dev/null 2>&1 &
spid=$!
pport=$(free_udp_port)
log=$(mktemp)
valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
  --error-exitcode=99 "$proxy" --forward --bind "[::1]:$pport" 2>"$log" &
pid=$!
trap 'kill $spid $pid 2>/dev/null; wait $spid $pid 2>/dev/null; rm -f "$log"' EXIT
P="coap://[::1]:$pport"
origin="coap://[::1]:$sport"
wait_until 100 $client -B 1 -P "$P" "$origin/time" || true
expect "GET /time through the proxy under valgrind" '^[A-Z][a-z]{2} [0-9]{2} ' \
  "$($client -B 5 -P "$P" "$origin/time" 2>&1)"
big=$(head -c 3000 /dev/zero | tr '\0' 'y')
expect_empty "blockwise PUT through the proxy under valgrind" \
  "$($client -B 10 -b 64 -P "$P" -m put -e "$big" "$origin/example_data" 2>&1)"
timeout 20 $client -B 15 -s 15 -P "$P" "$origin/time" >/dev/null 2>&1 &
obs=$!
sleep 2
kill -TERM "$pid"
wait "$pid"
status=$?
kill $obs 2>/dev/null; wait $obs 2>/dev/null
expect "the proxy exits 0 after SIGTERM mid-observation (valgrind status $status)" '^0$' "$status"
expect "no leaks" 'All heap blocks were freed|definitely lost: 0 bytes' \
  "$(cat "$log")"
if [ "$status" -ne 0 ]; then sed 's/^/     | /' "$log" | tail -40; fi
finish
