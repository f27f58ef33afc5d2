#!/usr/bin/env bash
# libcoap's coap-client-notls -P through aiocoap-proxy --forward to
# coap-server-notls (RFC 7252 §5.7 with real peers on both sides).
# Usage: proxy_forward.sh PATH/TO/aiocoap-proxy
set -u
here=$(dirname "$0")
. "$here/lib.sh"
proxy=$1
client=coap-client-notls
server=coap-server-notls
for peer in $client $server; do
  command -v "$peer" >/dev/null || { echo "FAIL $peer not installed (libcoap3-bin)"; exit 1; }
done

sport=$(free_udp_port)
"$server" -A ::1 -p "$sport" >/dev/null 2>&1 &
spid=$!
err=$(mktemp)
"$proxy" --forward --bind "[::1]:0" 2>"$err" &
ppid_=$!
trap 'kill $spid $ppid_ 2>/dev/null; wait $spid $ppid_ 2>/dev/null; rm -f "$err"' EXIT
wait_until 50 grep -q 'serving on' "$err" || true
pport=$(grep -o 'serving on \[::1\]:[0-9]*' "$err" | grep -o '[0-9]*$')
expect "the proxy prints the port it bound" '^[0-9]+$' "$pport"
P="coap://[::1]:$pport"
origin="coap://[::1]:$sport"
wait_until 50 $client -B 1 "$origin/time" || true

expect "GET /time through the proxy" '^[A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$' \
  "$($client -B 5 -P "$P" "$origin/time" 2>&1)"
expect "GET /.well-known/core through the proxy" '</time>;.*obs' \
  "$($client -B 5 -P "$P" "$origin/.well-known/core" 2>&1)"
expect_empty "PUT /example_data through the proxy" \
  "$($client -B 5 -P "$P" -m put -e 'via the proxy' "$origin/example_data" 2>&1)"
expect "GET /example_data sees the PUT" '^via the proxy$' \
  "$($client -B 5 -P "$P" "$origin/example_data" 2>&1)"
big=$(head -c 5000 /dev/zero | tr '\0' 'x')
expect_empty "PUT of 5000 bytes (Block1 on both hops)" \
  "$($client -B 10 -b 64 -P "$P" -m put -e "$big" "$origin/example_data" 2>&1)"
expect "GET of 5000 bytes (Block2 on both hops)" "^x{5000}$" \
  "$($client -B 10 -b 64 -P "$P" "$origin/example_data" 2>&1)"
expect "a missing resource is the origin's 4.04" '4\.04' \
  "$($client -B 5 -P "$P" "$origin/nothing" 2>&1)"
expect "coaps:// is 5.05" '5\.05' \
  "$($client -B 5 -P "$P" "coaps://[::1]:$sport/time" 2>&1)"
dead=$(free_udp_port)
expect "an origin that is not there is 5.02" '5\.02' \
  "$($client -B 5 -P "$P" "coap://[::1]:$dead/time" 2>&1)"
out=$(timeout 10 $client -B 5 -s 3 -P "$P" "$origin/time" 2>&1)
expect "observe /time through the proxy: notifications come" \
  '^([A-Z][a-z]{2} [0-9]{2} [0-9:]{8}\s*){2,}$' "$(printf '%s' "$out" | tr '\n' ' ')"

kill -TERM $ppid_
wait $ppid_
expect "SIGTERM ends the proxy with status 0" '^0$' "$?"
finish
