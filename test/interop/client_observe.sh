#!/usr/bin/env bash
# aiocoap-client --observe (RFC 7641) against a scripted peer
# (coap_peer.py) that shows what reaches the wire, and against
# aiocoap-server: notifications on stdout, SIGINT exits 3 after a
# deregistration (a GET with Observe 1 and the token, §3.6), as do
# --observe-count and the end of --observe-exec; the server ending the
# observation, and a resource that is not observable.
# Usage: client_observe.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2
dir=$(mktemp -d)
peer_pid=
spid=
cleanup() {
  [ -n "$peer_pid" ] && kill "$peer_pid" 2>/dev/null
  [ -n "$spid" ] && kill "$spid" 2>/dev/null
  wait 2>/dev/null
  rm -rf "$dir"
}
trap cleanup EXIT

# The token of the registration, and whether a deregistration with it
# (Observe 1) reached the peer.
registration_token() { sed -n 's/.*code=0\.01 token=\([0-9a-f]*\) observe=0 .*/\1/p' "$1" | tail -1; }
deregistered() { grep -q "code=0\.01 token=$2 observe=1 " "$1" && echo yes; }

pport=$(free_udp_port)
start_peer "$pport" "$dir/peer.log" observe || exit 1
purl="coap://[::1]:$pport/obs"

# Three notifications, then Ctrl-C.
"$client" --observe "$purl" >"$dir/out" 2>"$dir/err" &
cpid=$!
for _ in $(seq 100); do
  [ "$(grep -c '^---$' "$dir/out")" -ge 3 ] && break
  sleep 0.05
done
kill -INT "$cpid"
wait "$cpid"; rc=$?
expect "SIGINT exits 3" '^3$' "$rc"
expect "the first response and three notifications on stdout" '^n0 --- n[0-9]+ --- n[0-9]+ --- n[0-9]+' \
  "$(tr '\n' ' ' <"$dir/out")"
tok=$(registration_token "$dir/peer.log")
expect "SIGINT deregisters with Observe 1 and the token ($tok)" '^yes$' \
  "$(deregistered "$dir/peer.log" "$tok")"

# --observe-count: the count ends it, with a deregistration too.
: >"$dir/peer.log"
out=$(timeout 10 "$client" --observe --observe-count 3 "$purl" 2>"$dir/err"); rc=$?
expect "--observe-count 3 exits 0" '^0$' "$rc"
expect "--observe-count 3 prints three payloads" '^n0 --- n[0-9]+ --- n[0-9]+ $' "$(printf '%s\n' "$out" | tr '\n' ' ')"
tok=$(registration_token "$dir/peer.log")
expect "--observe-count deregisters ($tok)" '^yes$' "$(deregistered "$dir/peer.log" "$tok")"

# --observe-exec: each notification's payload on the command's stdin,
# in order; the first response goes to stdout as usual.
: >"$dir/peer.log"
out=$(timeout 10 "$client" --observe --observe-count 4 \
  --observe-exec "cat >> '$dir/exec'" "$purl" 2>"$dir/err"); rc=$?
expect "--observe-exec exits 0" '^0$' "$rc"
expect "--observe-exec: the first response on stdout" '^n0$' "$out"
expect "--observe-exec ran the command for every notification" '^n[0-9]+n[0-9]+n[0-9]+$' \
  "$(cat "$dir/exec" 2>/dev/null)"
tok=$(registration_token "$dir/peer.log")
expect "--observe-exec deregisters too ($tok)" '^yes$' "$(deregistered "$dir/peer.log" "$tok")"

# stdout closed under it (| head): an error, which deregisters too.
: >"$dir/peer.log"
timeout 10 "$client" --observe "$purl" 2>"$dir/err" | head -n 3 >/dev/null
rc=${PIPESTATUS[0]}
expect "a closed stdout ends the observation with exit 1" '^1$' "$rc"
expect "and says so" 'writing stdout' "$(cat "$dir/err")"
tok=$(registration_token "$dir/peer.log")
expect "a closed stdout deregisters ($tok)" '^yes$' "$(deregistered "$dir/peer.log" "$tok")"
kill "$peer_pid"; wait "$peer_pid" 2>/dev/null

# The server ends the observation (a 2.05 without Observe, §3.2).
pport=$(free_udp_port)
start_peer "$pport" "$dir/peer2.log" observe-end 2 || exit 1
out=$(timeout 10 "$client" --observe "coap://[::1]:$pport/obs" 2>"$dir/err"); rc=$?
expect "a server ending the observation exits 0" '^0$' "$rc"
expect "the last notification is shown" 'over' "$out"
expect "Observation is over: on stderr" '^Observation is over: the server ended it' "$(cat "$dir/err")"
kill "$peer_pid"; wait "$peer_pid" 2>/dev/null

# Not observable: the answer is shown, then the reason, exit 1.
pport=$(free_udp_port)
start_peer "$pport" "$dir/peer3.log" plain || exit 1
out=$(timeout 10 "$client" --observe "coap://[::1]:$pport/obs" 2>"$dir/err"); rc=$?
expect "a resource that is not observable exits 1" '^1$' "$rc"
expect "its response is still shown" '^plain$' "$out"
expect "and stderr says it is not observable" 'not observable' "$(cat "$dir/err")"
kill "$peer_pid"; wait "$peer_pid" 2>/dev/null
peer_pid=

# aiocoap-server's /time, notifying every second: SIGINT after the first.
sport=$(free_udp_port)
"$server" --bind "[::1]:$sport" 2>/dev/null &
spid=$!
wait_until 50 "$client" "coap://[::1]:$sport/time" || true
"$client" --observe "coap://[::1]:$sport/time" >"$dir/out" 2>"$dir/err" &
cpid=$!
for _ in $(seq 60); do
  grep -q '^---$' "$dir/out" && break
  sleep 0.05
done
start=$(date +%s%N)
kill -INT "$cpid"
wait "$cpid"; rc=$?
ms=$(ms_since "$start")
expect "SIGINT against aiocoap-server exits 3 ($ms ms)" '^3$' "$rc"
expect "and at once" '^ok$' "$([ "$ms" -lt 1000 ] && echo ok)"
expect "notifications of /time" '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9:]{5} --- ' "$(tr '\n' ' ' <"$dir/out")"
finish
