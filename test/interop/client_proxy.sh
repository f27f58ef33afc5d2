#!/usr/bin/env bash
# aiocoap-client --proxy and --no-set-hostname, seen on the wire by a
# scripted peer (coap_peer.py): through a proxy the request carries the
# URI as Proxy-Uri (RFC 7252 §5.10.2) and no Uri-* options; Uri-Host goes
# for named hosts unless --no-set-hostname.
# Usage: client_proxy.sh PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
client=$1
dir=$(mktemp -d)
peer_pid=
trap '[ -n "$peer_pid" ] && kill $peer_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT
port=$(free_udp_port)
start_peer "$port" "$dir/peer.log" plain || exit 1

out=$("$client" --proxy "coap://[::1]:$port" "coap://example.com/a/b?x=1" 2>&1); rc=$?
expect "through the proxy (exit $rc)" '^plain$' "$out"
line=$(grep 'code=0.01' "$dir/peer.log" | tail -1)
expect "Proxy-Uri is the request URI" 'proxy-uri=coap://example.com/a/b\?x=1 ' "$line"
expect "no Uri-Path or Uri-Host beside it" 'uri-path= uri-host=- ' "$line"
: >"$dir/peer.log"
"$client" --proxy "[::1]:$port" "coap://[2001:db8::1]:1234/c" >/dev/null 2>&1
expect "--proxy HOST:PORT works too" 'proxy-uri=coap://\[2001:db8::1\]:1234/c ' \
  "$(grep 'code=0.01' "$dir/peer.log" | tail -1)"
err=$("$client" --proxy "http://[::1]:$port" "coap://example.com/" 2>&1 >/dev/null); rc=$?
expect "a proxy that is not a CoAP URI is a usage error" '^2 .*--proxy' "$rc $err"

: >"$dir/peer.log"
"$client" "coap://localhost:$port/n" >/dev/null 2>&1
expect "Uri-Host for a named host" 'uri-path=n uri-host=localhost ' \
  "$(grep 'code=0.01' "$dir/peer.log" | tail -1)"
: >"$dir/peer.log"
"$client" --no-set-hostname "coap://localhost:$port/n" >/dev/null 2>&1
expect "--no-set-hostname leaves it out" 'uri-path=n uri-host=- ' \
  "$(grep 'code=0.01' "$dir/peer.log" | tail -1)"
: >"$dir/peer.log"
"$client" --non --etag 0102 --if-match '' --if-match 0a0b --if-none-match \
  --option 2048:0xcafe --option 14:60 "coap://[::1]:$port/o" >/dev/null 2>&1
expect "--non sends a NON" '^type=1 ' "$(grep 'code=0.01' "$dir/peer.log" | tail -1)"
"$client" -v --etag 0102 --if-match '' --if-match 0a0b --if-none-match \
  --option 2048:0xcafe --option 14:60 --option 2050:text "coap://[::1]:$port/o" \
  >/dev/null 2>"$dir/err"
err=$(cat "$dir/err")
expect "--if-match, empty and hex" "If-Match \\(1\\): '' .*If-Match \\(1\\): 0x0a0b" "$(tr '\n' ' ' <"$dir/err")"
expect "--etag" 'ETag \(4\): 0x0102' "$err"
expect "--if-none-match" 'If-None-Match \(5\)' "$err"
expect "--option NUM:0xHEX" '- 2048: 0xcafe' "$err"
expect "--option NUM:DECIMAL for a uint option" 'Max-Age \(14\): 60$' "$err"
expect "--option NUM:TEXT" '- 2050: 0x74657874' "$err"
finish
