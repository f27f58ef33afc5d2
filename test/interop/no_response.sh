#!/usr/bin/env bash
# No-Response (RFC 7967) against libcoap: aiocoap-client's --option 258:N
# against coap-server-notls (which honours the option), and
# coap-client-notls -O 258,0xNN against aiocoap-server.
# Usage: no_response.sh PATH/TO/aiocoap-client PATH/TO/aiocoap-server
set -u
here=$(dirname "$0")
. "$here/lib.sh"
client=$1
server=$2
for p in coap-server-notls coap-client-notls; do
  command -v $p >/dev/null || { echo "FAIL $p not installed (libcoap3-bin)"; exit 1; }
done
dir=$(mktemp -d)
lport=$(free_udp_port)
coap-server-notls -A ::1 -p "$lport" 2>/dev/null &
lpid=$!
aport=$(free_udp_port)
while [ "$aport" = "$lport" ]; do aport=$(free_udp_port); done
"$server" --bind "[::1]:$aport" 2>/dev/null &
apid=$!
trap 'kill $lpid $apid 2>/dev/null; wait $lpid $apid 2>/dev/null; rm -rf "$dir"' EXIT
lbase="coap://[::1]:$lport"
abase="coap://[::1]:$aport"
wait_until 50 "$client" "$lbase/" || true
wait_until 50 "$client" "$abase/time" || true

# run NAME ARGS...: aiocoap-client ARGS; stdout, stderr, status and time.
run() {
  local start
  start=$(date +%s%N)
  "$client" "$@" >"$dir/out" 2>"$dir/err"
  rc=$?
  ms=$(ms_since "$start")
}

# Every class suppressed: done once acknowledged (CON) or sent (NON), far
# below ACK_TIMEOUT (2 s) and NON_LIFETIME (145 s); silent, exit 0.
for mode in "" --non; do
  for path in time missing; do
    run ${mode:+$mode} --option 258:26 "$lbase/$path"
    name="aiocoap-client ${mode:-(CON)} --option 258:26 GET /$path"
    expect "$name exits 0" '^0$' "$rc"
    expect_empty "$name prints nothing" "$(cat "$dir/out" "$dir/err")"
    expect "$name is over in $ms ms (< 1000)" '^ok$' \
      "$([ "$ms" -lt 1000 ] && echo ok)"
  done
done
# A class not suppressed is printed as usual.
run --option 258:8 "$lbase/time"
expect "--option 258:8 GET /time prints the 2.05" '^[A-Z][a-z]{2} [0-9]{2} ' \
  "$(cat "$dir/out")"
run --option 258:2 "$lbase/missing"
expect "--option 258:2 GET /missing exits 1" '^1$' "$rc"
expect "--option 258:2 GET /missing is the 4.04" '^4\.04 Not Found' \
  "$(cat "$dir/err")"
# -v says why nothing came.
run -v --option 258:26 "$lbase/time"
expect "-v says no response was expected" 'No response expected' \
  "$(cat "$dir/err")"

# libcoap's client against aiocoap-server: what is suppressed does not
# come (libcoap waits its -B 1 out), the rest does, and the request is
# still processed.
for mode in "" -N; do
  expect_empty "coap-client ${mode:-(CON)} -O 258,0x1a GET /time: nothing" \
    "$(coap-client-notls $mode -B 1 -O 258,0x1a "$abase/time" 2>&1)"
  expect_empty "coap-client ${mode:-(CON)} -O 258,0x02 GET /time: nothing" \
    "$(coap-client-notls $mode -B 1 -O 258,0x02 "$abase/time" 2>&1)"
  expect "coap-client ${mode:-(CON)} -O 258,0x08 GET /time: the 2.05" \
    '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' \
    "$(coap-client-notls $mode -B 1 -O 258,0x08 "$abase/time" 2>&1)"
  expect_empty "coap-client ${mode:-(CON)} -O 258,0x08 GET /nothing: no 4.04" \
    "$(coap-client-notls $mode -B 1 -O 258,0x08 "$abase/nothing" 2>&1)"
  expect "coap-client ${mode:-(CON)} -O 258,0x12 GET /nothing: the 4.04" \
    '4\.04' \
    "$(coap-client-notls $mode -B 1 -O 258,0x12 "$abase/nothing" 2>&1)"
done
expect_empty "a PUT with -O 258,0x1a is answered with nothing" \
  "$(coap-client-notls -B 1 -O 258,0x1a -m put -e 'quiet put' "$abase/other/block" 2>&1)"
expect "and was processed" '^quiet put$' \
  "$(coap-client-notls -B 2 "$abase/other/block" 2>&1)"
# Both tools together: aiocoap-client against aiocoap-server.
run --option 258:26 "$abase/time"
expect "aiocoap-client --option 258:26 against aiocoap-server: exit 0" '^0$' "$rc"
expect_empty "... silent" "$(cat "$dir/out" "$dir/err")"
expect "... over in $ms ms (< 1000)" '^ok$' "$([ "$ms" -lt 1000 ] && echo ok)"
finish
