#!/usr/bin/env bash
# aiocoap-proxy --reverse in front of coap-server-notls, asked by
# coap-client-notls: GET, PUT and observe of /time, and the rules.
# Usage: proxy_reverse.sh PATH/TO/aiocoap-proxy
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
pport=$(free_udp_port)
"$proxy" --reverse --bind "[::1]:$pport" --namebased "origin.example:[::1]:$sport" \
  --pathbased "up:coap://[::1]:$sport" 2>/dev/null &
ppid_=$!
pport2=$(free_udp_port)
"$proxy" --reverse --bind "[::1]:$pport2" --unconditional "[::1]:$sport" 2>/dev/null &
ppid2=$!
trap 'kill $spid $ppid_ $ppid2 2>/dev/null; wait $spid $ppid_ $ppid2 2>/dev/null' EXIT
P="coap://[::1]:$pport"
U="coap://[::1]:$pport2"
wait_until 50 $client -B 1 "coap://[::1]:$sport/time" || true
wait_until 50 $client -B 1 "$U/time" || true

time_re='^[A-Z][a-z]{2} [0-9]{2} [0-9]{2}:[0-9]{2}:[0-9]{2}$'
expect "GET /time (unconditional)" "$time_re" "$($client -B 5 "$U/time" 2>&1)"
expect "GET /up/time (path based)" "$time_re" "$($client -B 5 "$P/up/time" 2>&1)"
expect "GET /time with Uri-Host origin.example (name based)" "$time_re" \
  "$($client -B 5 -O 3,origin.example "$P/time" 2>&1)"
expect "GET /time matching no rule is 4.04" '4\.04' "$($client -B 5 "$P/time" 2>&1)"
expect_empty "PUT /time" "$($client -B 5 -m put -e 1000 "$U/time" 2>&1)"
expect_empty "PUT /up/example_data" \
  "$($client -B 5 -m put -e 'reverse' "$P/up/example_data" 2>&1)"
expect "GET /example_data after it" '^reverse$' "$($client -B 5 "$U/example_data" 2>&1)"
expect "a forward request to a reverse proxy is 5.05" '5\.05' \
  "$($client -B 5 -P "$U" "coap://[::1]:$sport/time" 2>&1)"
out=$(timeout 10 $client -B 5 -s 3 "$U/time" 2>&1)
expect "observe /time: the first response and notifications" \
  '^([A-Z][a-z]{2} [0-9]{2} [0-9:]{8}\s*){2,}$' "$(printf '%s' "$out" | tr '\n' ' ')"
# Two observers share one upstream observation; both are served.
o1=$(mktemp); o2=$(mktemp)
timeout 10 $client -B 5 -s 3 "$U/time" >"$o1" 2>&1 &
c1=$!
timeout 10 $client -B 5 -s 3 "$U/time" >"$o2" 2>&1 &
c2=$!
wait $c1 $c2
expect "two observers: the first notified" '([0-9:]{8}.*){2,}' "$(tr '\n' ' ' <"$o1")"
expect "two observers: the second notified" '([0-9:]{8}.*){2,}' "$(tr '\n' ' ' <"$o2")"
rm -f "$o1" "$o2"

kill -INT $ppid_
wait $ppid_
expect "SIGINT ends the proxy with status 0" '^0$' "$?"
finish
