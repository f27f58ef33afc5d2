#!/usr/bin/env bash
# Multicast under valgrind (issue 14): aiocoap-client's group request with
# Block2 answers completed per server by unicast, its observation over a
# group stopped with Ctrl-C, and aiocoap-server stopped while it holds an
# answer back for its leisure; each ends with no error and no leak.  In a
# network namespace with a veth pair v0/v1; skips where none can be made.
# Usage: multicast_valgrind.sh PATH/TO/aiocoap-client PATH/TO/aiocoap-server
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
client=$1
server=$2
case $client in /*) ;; *) client=$PWD/$client ;; esac
case $server in /*) ;; *) server=$PWD/$server ;; esac
command -v valgrind >/dev/null || { echo "FAIL valgrind not installed"; exit 1; }
enter_netns "$0" "$@"
veth_pair || { echo "FAIL cannot make the veth pair v0/v1"; exit 1; }
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT
vg=(valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all
    --error-exitcode=99)
clean() { grep -qE 'All heap blocks were freed|definitely lost: 0 bytes' "$1" &&
  grep -q 'ERROR SUMMARY: 0 errors' "$1" && echo clean || { tail -30 "$1"; echo dirty; }; }

"$server" --bind '[::]:5683' --no-multicast --multicast 'ff02::fd%v1' \
  --multicast-leisure 0.2 2>"$dir/slog" &
pids+=($!)
wait_until 50 grep -q "joined" "$dir/slog"
"${vg[@]}" "$client" --multicast-timeout 2 'coap://[ff02::fd%v0]/other/block' \
  >"$dir/out" 2>"$dir/vg1"
rc=$?
expect "a Block2 answer from the group under valgrind: exit 0" '^0$' "$rc"
expect "the whole body, completed by unicast" '^ok$' \
  "$([ "$(wc -c <"$dir/out")" -gt 2000 ] && echo ok || echo short)"
expect "no error, no leak (client, blockwise)" '^clean$' "$(clean "$dir/vg1")"

"${vg[@]}" "$client" --observe --multicast-timeout 30 \
  'coap://[ff02::fd%v0]/time' >"$dir/obs" 2>"$dir/vg2" &
vpid=$!
wait_until 100 grep -q '[0-9]' "$dir/obs"
kill -INT "$vpid"
wait "$vpid"
rc=$?
expect "an observation over the group, Ctrl-C: exit 3" '^3$' "$rc"
expect "it had notifications" '^[0-9]{4}-' "$(head -n 1 "$dir/obs")"
expect "no error, no leak (client, observe)" '^clean$' "$(clean "$dir/vg2")"
kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; pids=()

"${vg[@]}" "$server" --bind '[::]:5683' --no-multicast \
  --multicast 'ff02::fd%v1' --multicast-leisure 60 2>"$dir/vg3" &
spid=$!
wait_until 200 grep -q "joined" "$dir/vg3"
"$client" --multicast-timeout 1 'coap://[ff02::fd%v0]/.well-known/core' \
  >/dev/null 2>&1
kill -TERM "$spid"
wait "$spid"
rc=$?
expect "aiocoap-server stopped holding an answer for its leisure: exit 0" '^0$' "$rc"
expect "no error, no leak (server, leisure)" '^clean$' "$(clean "$dir/vg3")"
finish
