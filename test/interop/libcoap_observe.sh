#!/usr/bin/env bash
# Observe (RFC 7641) interop both ways: libcoap's coap-client-notls observing
# aiocoap-server's /time, and aiocoap-client --observe against libcoap's
# coap-server-notls /time (which notifies every second when observed).
# Usage: libcoap_observe.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2
for peer in coap-client-notls coap-server-notls; do
  command -v "$peer" >/dev/null || { echo "FAIL $peer not installed (libcoap3-bin)"; exit 1; }
done

port=$(free_udp_port)
"$server" --bind "[::]:$port" 2>/dev/null &
spid=$!
lport=$(free_udp_port)
coap-server-notls -A ::1 -p "$lport" 2>/dev/null &
lpid=$!
trap 'kill $spid $lpid 2>/dev/null; wait $spid $lpid 2>/dev/null' EXIT
base="coap://[::1]:$port"
lbase="coap://[::1]:$lport"
wait_until 50 coap-client-notls -B 1 "$base/time" || true
wait_until 50 "$client" "$lbase/" || true

# /time changes once a minute but notifies every second: count the lines
# (-w ends each payload with a newline).  Over 5 s: the first response and
# about five notifications.
out=$(coap-client-notls -w -s 5 -B 8 "$base/time" 2>&1)
lines=$(printf '%s\n' "$out" | grep -Ec '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$')
expect "coap-client -s 5 observes /time ($lines payloads)" '^ok$' \
  "$([ "$lines" -ge 4 ] && echo ok || printf '%s\n' "$out")"

start=$(date +%s%N)
out=$(timeout 20 "$client" --observe --observe-count 3 "$lbase/time" 2>&1)
status=$?
ms=$(( ($(date +%s%N) - start) / 1000000 ))
lines=$(printf '%s\n' "$out" | grep -Ec '^[A-Z][a-z]{2} [0-9]{2} [0-9:]{8}$')
expect "aiocoap-client --observe-count 3 against coap-server /time" '^ok$' \
  "$([ "$lines" -eq 3 ] && [ "$status" -eq 0 ] && echo ok || printf 'status %s in %s ms:\n%s\n' "$status" "$ms" "$out")"

# The same against our own server, for the deregistration path: the
# client cancels after three payloads and exits cleanly.
out=$(timeout 20 "$client" --observe --observe-count 3 "$base/time" 2>&1)
status=$?
lines=$(printf '%s\n' "$out" | grep -Ec '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$')
expect "aiocoap-client --observe-count 3 against aiocoap-server /time" '^ok$' \
  "$([ "$lines" -eq 3 ] && [ "$status" -eq 0 ] && echo ok || printf 'status %s:\n%s\n' "$status" "$out")"
finish
