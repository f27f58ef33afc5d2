#!/usr/bin/env bash
# aiocoap-server under valgrind: serve a few requests (a separate response
# among them), then SIGTERM; shutdown must leave no error and no leak.
# Usage: valgrind_shutdown.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2
command -v valgrind >/dev/null || { echo "FAIL valgrind not installed"; exit 1; }
port=$(free_udp_port)
log=$(mktemp)
valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
  --error-exitcode=99 "$server" --bind "[::1]:$port" 2>"$log" &
pid=$!
base="coap://[::1]:$port"
wait_until 100 "$client" "$base/time" || true
expect "GET /time under valgrind" '^[0-9]{4}-' "$("$client" "$base/time" 2>&1)"
expect "GET /.well-known/core under valgrind" '</time>' \
  "$("$client" "$base/.well-known/core" 2>&1)"
expect "GET /other/separate under valgrind" '^Three rings' \
  "$("$client" "$base/other/separate" 2>&1)"
kill -TERM "$pid"
wait "$pid"
status=$?
expect "server exits 0 after SIGTERM (valgrind status $status)" '^0$' "$status"
expect "no leaks" 'All heap blocks were freed|definitely lost: 0 bytes' \
  "$(cat "$log")"
if [ "$status" -ne 0 ]; then sed 's/^/     | /' "$log" | tail -40; fi
rm -f "$log"
finish
