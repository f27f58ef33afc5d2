#!/usr/bin/env bash
# aiocoap-client's output rules as a user meets them, against
# aiocoap-server and libcoap's coap-server-notls: payload on stdout byte
# for byte (no newline added off a terminal), unsuccessful codes on stderr
# with exit 1, failures in one line with exit 1 (a closed port at once),
# bodies of every size intact through files and pipes, -v, --help and
# --version.
# Usage: client_output.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client \
#          PATH/TO/aiocoap-fileserver
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2
fileserver=$3
command -v coap-server-notls >/dev/null || { echo "FAIL coap-server-notls not installed (libcoap3-bin)"; exit 1; }

dir=$(mktemp -d)
port=$(free_udp_port)
"$server" --bind "[::1]:$port" 2>/dev/null &
spid=$!
lport=$(free_udp_port)
while [ "$lport" = "$port" ]; do lport=$(free_udp_port); done
coap-server-notls -A ::1 -p "$lport" 2>/dev/null &
lpid=$!
peer_pid=
trap 'kill $spid $lpid $peer_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
base="coap://[::1]:$port"
lbase="coap://[::1]:$lport"
wait_until 50 "$client" "$base/time" || true
wait_until 50 "$client" "$lbase/" || true

# GET text: stdout is the payload exactly, stderr silent, exit 0.
"$client" "$base/time" >"$dir/out" 2>"$dir/err"; rc=$?
expect "GET /time exits 0" '^0$' "$rc"
expect "GET /time prints the time" '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$' "$(cat "$dir/out")"
expect "no newline appended off a terminal (16 bytes)" '^16$' "$(wc -c <"$dir/out")"
expect_empty "GET /time says nothing on stderr" "$(cat "$dir/err")"

# aiocoap's rule: the payload as it is; a trailing newline stays.
expect "a payload ending in a newline keeps exactly one" '^390a$' \
  "$("$client" "$base/other/block" 2>/dev/null | tail -c 2 | od -An -tx1 | tr -d ' ')"

# Link format, one link per line.
out=$("$client" --pretty-print "$base/.well-known/core" 2>&1)
expect "--pretty-print puts every link on a line of its own" '^ok$' \
  "$(n=$(printf '%s\n' "$out" | grep -c '^</'); [ "$n" -ge 4 ] && [ "$n" -eq "$(printf '%s\n' "$out" | wc -l)" ] && echo ok || printf '%s\n' "$out")"
expect "--no-pretty-print leaves it as sent (one line, no newline)" '^0 </' \
  "$("$client" --no-pretty-print "$base/.well-known/core" >"$dir/wkc" 2>/dev/null; wc -l <"$dir/wkc" | tr -d ' \n'; printf ' '; cat "$dir/wkc")"

# 4.04: code on stderr, nothing on stdout, exit 1.
"$client" "$base/missing" >"$dir/out" 2>"$dir/err"; rc=$?
expect "4.04 exits 1" '^1$' "$rc"
expect "4.04 Not Found on stderr" '^4\.04 Not Found' "$(cat "$dir/err")"
expect_empty "4.04 leaves stdout empty" "$(cat "$dir/out")"

# Colour: never off a terminal unless asked for.
err=$("$client" "$base/missing" 2>&1 >/dev/null)
expect "no colour off a terminal" '^ok$' "$(printf '%s' "$err" | grep -q $'\033' || echo ok)"
err=$("$client" --color "$base/missing" 2>&1 >/dev/null)
expect "--color forces it" '^ok$' "$(printf '%s' "$err" | grep -q $'\033\\[31m4.04' && echo ok)"

# A closed port: ICMP port unreachable, one line, well under a second.
cport=$(free_udp_port)
start=$(date +%s%N)
"$client" "coap://[::1]:$cport/x" >"$dir/out" 2>"$dir/err"; rc=$?
ms=$(ms_since "$start")
expect "closed port exits 1" '^1$' "$rc"
expect "closed port fails at once ($ms ms)" '^ok$' "$([ "$ms" -lt 1000 ] && echo ok)"
expect "closed port says why in one line" '^1 .*refused' \
  "$(printf '%s ' "$(wc -l <"$dir/err")"; cat "$dir/err")"
err=$("$client" "coap://no-such-host.invalid/x" 2>&1 >/dev/null); rc=$?
expect "an unresolvable name exits 1" '^1$' "$rc"
expect "an unresolvable name says so" 'did not resolve' "$err"

# A reset, Location options, an upload that cannot be read, closed
# standard streams (a scripted peer, coap_peer.py).
pport=$(free_udp_port)
start_peer "$pport" "$dir/rst.log" rst || exit 1
err=$("$client" "coap://[::1]:$pport/x" 2>&1 >/dev/null); rc=$?
expect "a reset exits 1 and says so" '^1 Error: .*reset' "$rc $err"
kill "$peer_pid"; wait "$peer_pid" 2>/dev/null
pport=$(free_udp_port)
start_peer "$pport" "$dir/created.log" created || exit 1
out=$("$client" -m POST --payload x "coap://[::1]:$pport/new" 2>"$dir/err"); rc=$?
expect "2.01 Created exits 0" '^0$' "$rc"
expect "Location-Path and Location-Query on stderr" \
  '^Location options indicate new resource: /a/b\?x=1$' "$(cat "$dir/err")"
expect_empty "-q leaves the Location out" \
  "$("$client" -q -m POST --payload x "coap://[::1]:$pport/new" 2>&1)"
err=$("$client" -m PUT --payload @/proc/self/mem "coap://[::1]:$pport/new" 2>&1); rc=$?
expect "an upload that cannot be read exits 1 and says why" \
  '^1 Error: reading /proc/self/mem: Input/output error$' "$rc $err"
err=$("$client" -m PUT --payload @- "coap://[::1]:$pport/new" 2>&1 <&-); rc=$?
expect "closed stdin is an empty upload, not a crash" '^0 Location' "$rc $err"
"$client" "coap://[::1]:$pport/new" >&- 2>&-; rc=$?
expect "closed stdout and stderr are no crash" '^0$' "$rc"
kill "$peer_pid"; wait "$peer_pid" 2>/dev/null
peer_pid=

# -v: the request and the response, options by name and number.
err=$("$client" -v "$base/time" 2>&1 >/dev/null)
expect "-v shows the request" 'Sending request:.*GET' "$err"
expect "-v names options with their numbers" "Uri-Path \\(11\\): 'time'" "$err"
expect "-v shows the response" 'Received response:.*2\.05 Content' "$err"
expect "-v summarises the payload" 'Payload: [0-9a-f]+.*\(16 bytes\)' "$err"
"$client" -vv "$base/time" >/dev/null 2>"$dir/err"
expect "-vv adds the library's log" '^info: ' "$(cat "$dir/err")"
expect_empty "-q keeps -v's absence quiet" "$("$client" -q "$base/time" 2>&1 >/dev/null)"

# Bodies of every size: a 5,120-byte and a 2 MiB download, a 100 KiB
# upload read back, and an upload from a pipe.
head -c 5120 /dev/urandom >"$dir/5k"
"$client" -m PUT --payload "@$dir/5k" "$lbase/example_data" >/dev/null 2>&1
"$client" "$lbase/example_data" >"$dir/5k.back" 2>"$dir/err"; rc=$?
expect "5,120-byte download exits 0" '^0$' "$rc"
expect "5,120-byte download is exactly 5,120 bytes" '^5120 same$' \
  "$(wc -c <"$dir/5k.back" | tr -d ' ') $(cmp -s "$dir/5k" "$dir/5k.back" && echo same)"
head -c 2097152 /dev/urandom >"$dir/2m"
"$client" -m PUT --payload "@$dir/2m" "$lbase/example_data" >/dev/null 2>&1
"$client" "$lbase/example_data" >"$dir/2m.back" 2>/dev/null
expect "2 MiB download is byte-identical" '^same$' \
  "$(cmp -s "$dir/2m" "$dir/2m.back" && echo same || echo "differs: $(wc -c <"$dir/2m.back") bytes")"
# 32 MiB from aiocoap-fileserver: streamed to the file, so the client's
# memory does not grow with the body (compared with a GET of /time).
mkdir "$dir/root"
head -c 33554432 /dev/urandom >"$dir/root/big"
fport=$(free_udp_port)
"$fileserver" --bind "[::1]:$fport" "$dir/root" 2>/dev/null &
fpid=$!
wait_until 50 "$client" "coap://[::1]:$fport/" || true
/usr/bin/time -o "$dir/rss" -f '%M' "$client" "$base/time" >/dev/null 2>&1
small=$(tail -1 "$dir/rss")
/usr/bin/time -o "$dir/rss" -f '%M' "$client" "coap://[::1]:$fport/big" >"$dir/big.back" 2>/dev/null
big=$(tail -1 "$dir/rss")
kill "$fpid"; wait "$fpid" 2>/dev/null
expect "a 32 MiB download is byte-identical" '^same$' \
  "$(cmp -s "$dir/root/big" "$dir/big.back" && echo same || echo "differs: $(wc -c <"$dir/big.back") bytes")"
expect "and takes no more memory than a small one (${small} kB, ${big} kB)" '^ok$' \
  "$([ -n "$small" ] && [ -n "$big" ] && [ $((big - small)) -lt 4096 ] && echo ok)"
rm -f "$dir/root/big" "$dir/big.back"
head -c 102400 /dev/urandom >"$dir/100k"
expect_empty "PUT --payload @file of 100 KiB" \
  "$("$client" -m PUT --payload "@$dir/100k" "$lbase/example_data" 2>&1)"
"$client" "$lbase/example_data" >"$dir/100k.back" 2>/dev/null
expect "GET returns the 100 KiB upload" '^same$' \
  "$(cmp -s "$dir/100k" "$dir/100k.back" && echo same || echo differs)"
head -c 30000 /dev/urandom >"$dir/pipe"
cat "$dir/pipe" | "$client" -m PUT --payload @- "$lbase/example_data" >/dev/null 2>&1; rc=$?
expect "PUT --payload @- from a pipe exits 0" '^0$' "$rc"
"$client" "$lbase/example_data" >"$dir/pipe.back" 2>/dev/null
expect "the piped upload comes back intact" '^same$' \
  "$(cmp -s "$dir/pipe" "$dir/pipe.back" && echo same || echo differs)"
"$client" -m PUT --payload 'short text' "$lbase/example_data" >/dev/null 2>&1
expect "--payload TEXT goes as it is" '^short text$' \
  "$("$client" "$lbase/example_data" 2>/dev/null)"

# A terminal: a newline is added, pretty printing is on, and a transfer
# longer than a second shows its progress (script(1) gives the pty).
if command -v script >/dev/null; then
  script -qec "'$client' '$base/time'" "$dir/ts" >/dev/null
  expect "on a terminal a newline is added" '^ok$' \
    "$(sed -n 2p "$dir/ts" | grep -q $'[0-9]\r$' && echo ok)"
  script -qec "'$client' '$base/missing'" "$dir/ts" >/dev/null
  expect "on a terminal the code is coloured" '^ok$' "$(grep -q $'\033\\[31m4.04' "$dir/ts" && echo ok)"
  script -qec "'$client' --no-color '$base/missing'" "$dir/ts" >/dev/null
  expect "--no-color turns it off" '^ok$' "$(grep -q $'\033' "$dir/ts" || echo ok)"
  NO_COLOR=1 script -qec "'$client' '$base/missing'" "$dir/ts" >/dev/null
  expect "and so does NO_COLOR" '^ok$' "$(grep -q $'\033' "$dir/ts" || echo ok)"
  script -qec "'$client' '$base/.well-known/core'" "$dir/ts" >/dev/null
  expect "on a terminal link format is pretty-printed" '^4$' \
    "$(grep -c '^</' "$dir/ts")"
  script -qec "timeout --preserve-status -s INT 1.8 '$client' -m PUT --payload @/dev/zero '$lbase/example_data'" \
    "$dir/ts" >/dev/null
  expect "a long upload shows its progress" 'sent [0-9.]+ [KM]iB, [0-9.]+ [KM]iB/s' "$(cat -v "$dir/ts")"
  expect "Ctrl-C ends an endless upload with exit 3" 'COMMAND_EXIT_CODE="3"' "$(cat "$dir/ts")"
  expect_empty "off a terminal there is no progress line" \
    "$(timeout --preserve-status -s INT 1.5 "$client" -m PUT --payload @/dev/zero "$lbase/example_data" 2>&1 | head -c 100)"
fi

# Ctrl-C while the upload waits for stdin: the blocking read gives up.
mkfifo "$dir/slow"
"$client" -m PUT --payload @- "$lbase/example_data" <"$dir/slow" >/dev/null 2>&1 &
cpid=$!
exec 4>"$dir/slow"
printf 'some' >&4
sleep 0.3
start=$(date +%s%N)
kill -INT "$cpid"
wait "$cpid"; rc=$?
ms=$(ms_since "$start")
exec 4>&-
expect "Ctrl-C while @- waits for input exits 3 ($ms ms)" '^3 ok$' \
  "$rc $([ "$ms" -lt 1000 ] && echo ok)"

# --help and --version.
out=$("$client" --help 2>"$dir/err"); rc=$?
expect "--help exits 0" '^0$' "$rc"
expect "--help lists every option on stdout" 'observe-exec.*' "$out"
expect "--help lists --payload-initial-szx" 'payload-initial-szx' "$out"
expect_empty "--help says nothing on stderr" "$(cat "$dir/err")"
out=$("$client" --version 2>&1); rc=$?
expect "--version exits 0 with the library version" '^0 aiocoap-client \(aiocoap-c\) [0-9]+\.[0-9]+\.[0-9]+$' "$rc $out"
finish
