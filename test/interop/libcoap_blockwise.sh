#!/usr/bin/env bash
# RFC 7959 blockwise transfers against libcoap, both ways: coap-client-notls
# downloads and uploads in 64-byte blocks from aiocoap-server, and
# aiocoap-client uploads to and downloads from coap-server-notls.
# Usage: libcoap_blockwise.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2
for peer in coap-client-notls coap-server-notls; do
  command -v $peer >/dev/null || { echo "FAIL $peer not installed (libcoap3-bin)"; exit 1; }
done

dir=$(mktemp -d)
port=$(free_udp_port)
"$server" --bind "[::]:$port" 2>/dev/null &
pid=$!
lport=$(free_udp_port)
while [ "$lport" = "$port" ]; do lport=$(free_udp_port); done
coap-server-notls -A ::1 -p "$lport" 2>/dev/null &
lpid=$!
trap 'kill $pid $lpid 2>/dev/null; wait $pid $lpid 2>/dev/null; rm -rf "$dir"' EXIT
base="coap://[::1]:$port"
lbase="coap://[::1]:$lport"
wait_until 50 coap-client-notls -B 1 "$base/time" || true
wait_until 50 "$client" "$lbase/" || true

# A 3 KiB text file with a recognisable end.
for i in $(seq 0 99); do printf 'line %04d of the upload, 0123456789abc\n' "$i"; done \
  | head -c 3072 >"$dir/upload"
printf 'END\n' >>"$dir/upload"
size=$(wc -c <"$dir/upload")

# Block2: libcoap asks for 64-byte blocks (RFC 7959 §2.4, a size proposed
# with the first request); the body must equal what aiocoap-client gets.
"$client" "$base/other/block" >"$dir/whole" 2>&1
coap-client-notls -v 7 -B 10 -b 64 "$base/other/block" -o "$dir/blocks" \
  >"$dir/log" 2>&1
expect "GET /other/block in 64-byte blocks is intact" '^same$' \
  "$(cmp -s "$dir/whole" "$dir/blocks" && echo same || echo "differs: $(wc -c <"$dir/blocks") bytes")"
expect "the server sliced it into 64-byte blocks" '^[0-9]+ blocks$' \
  "$(n=$(grep -c 'c:2\.05.*Block2:[0-9]*/[M_]/64' "$dir/log"); [ "$n" -gt 30 ] && echo "$n blocks")"

# Block1: libcoap uploads in 64-byte blocks; the resource sees one body.
expect_empty "PUT $size bytes in 64-byte blocks to /other/block" \
  "$(coap-client-notls -B 10 -m put -b 64 -f "$dir/upload" "$base/other/block" 2>&1)"
"$client" "$base/other/block" >"$dir/back" 2>&1
expect "GET after the blockwise PUT returns the upload" '^same$' \
  "$(cmp -s "$dir/upload" "$dir/back" && echo same || echo "differs: $(wc -c <"$dir/back") bytes")"
coap-client-notls -B 10 -b 64 "$base/other/block" -o "$dir/back64" 2>/dev/null
expect "libcoap reads the upload back in 64-byte blocks" '^same$' \
  "$(cmp -s "$dir/upload" "$dir/back64" && echo same || echo differs)"

# The library client against libcoap's server: Block1 up, Block2 down.
expect_empty "aiocoap-client PUTs $size bytes to coap-server /example_data" \
  "$("$client" -m PUT --payload "@$dir/upload" "$lbase/example_data" 2>&1)"
"$client" "$lbase/example_data" >"$dir/lback" 2>&1
expect "aiocoap-client GETs it back intact" '^same$' \
  "$(cmp -s "$dir/upload" "$dir/lback" && echo same || echo "differs: $(wc -c <"$dir/lback") bytes")"

# --payload-initial-szx: the first Block1 blocks go at that size (libcoap's
# debug log shows them), on the command line and at the prompt.
vport=$(free_udp_port)
coap-server-notls -v 7 -A ::1 -p "$vport" >"$dir/v.log" 2>&1 &
vpid=$!
wait_until 50 "$client" "coap://[::1]:$vport/" || true
expect_empty "PUT with --payload-initial-szx 2" \
  "$("$client" -m PUT --payload "@$dir/upload" --payload-initial-szx 2 "coap://[::1]:$vport/example_data" 2>&1)"
expect "it goes in 64-byte blocks" '^ok$' \
  "$(grep -q 'Block1:1/M/64' "$dir/v.log" && ! grep -q 'Block1:[0-9]*/M/1024' "$dir/v.log" && echo ok)"
printf '%s\n' "-m PUT --payload @$dir/upload --payload-initial-szx 1 coap://[::1]:$vport/example_data" \
  | "$client" --interactive >/dev/null 2>&1
expect "at the prompt too, in 32-byte blocks" '^ok$' \
  "$(grep -q 'Block1:1/M/32' "$dir/v.log" && echo ok)"
kill "$vpid"; wait "$vpid" 2>/dev/null
finish
