#!/usr/bin/env bash
# aiocoap-client's pretty printing and payload conversion against a
# scripted peer (coap_peer.py): JSON indented, CBOR in diagnostic notation
# (RFC 8949 §8), raw bytes without --pretty-print; --payload in the JSON
# subset of diagnostic notation encoded as CBOR, JSON passed as it is.
# Usage: client_pretty.sh PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
client=$1
dir=$(mktemp -d)
peer_pid=
trap '[ -n "$peer_pid" ] && kill $peer_pid 2>/dev/null; wait 2>/dev/null; rm -rf "$dir"' EXIT

# respond_with CF HEX: a peer answering everything with that body.
respond_with() {
  [ -n "$peer_pid" ] && { kill "$peer_pid"; wait "$peer_pid" 2>/dev/null; }
  port=$(free_udp_port)
  : >"$dir/peer.log"
  start_peer "$port" "$dir/peer.log" respond "$1" "$2" || exit 1
  url="coap://[::1]:$port/r"
}

json='{"b":[1,2],"c":"d"}'
respond_with 50 "$(printf '%s' "$json" | od -An -tx1 | tr -d ' \n')"
out=$("$client" --pretty-print "$url" 2>"$dir/err")
expect "JSON is indented" '^\{ +"b": \[ +1, +2 +\], +"c": "d" +\}$' "$(printf '%s' "$out" | tr '\n' ' ')"
expect "JSON spreads over lines" '^7$' "$(printf '%s\n' "$out" | wc -l | tr -d ' ')"
expect "without --pretty-print JSON is as sent" '^same$' \
  "$([ "$("$client" "$url" 2>/dev/null)" = "$json" ] && echo same)"

# {"a": [1, -2, 1.5, h'0102', true, null], 3: "x"}, 1.5 as a half float.
cbor=a26161860121f93e00420102f5f6036178
respond_with 60 "$cbor"
out=$("$client" --pretty-print "$url" 2>"$dir/err")
expect "CBOR in diagnostic notation" \
  '^\{ "a": \[ 1, -2, 1\.5, h.0102., true, null \], 3: "x" \}$' \
  "$(printf '%s' "$out" | tr '\n' ' ' | tr -s ' ')"
expect "the note on stderr says so" '^# CBOR message shown in diagnostic notation$' "$(cat "$dir/err")"
expect_empty "-q drops the note" "$("$client" -q --pretty-print "$url" 2>&1 >/dev/null)"
expect "without --pretty-print CBOR is the bytes" "^$cbor\$" \
  "$("$client" "$url" 2>/dev/null | od -An -tx1 | tr -d ' \n')"

# Edge cases of the printer: -2**64, tags, indefinite lengths, floats,
# undefined, empty containers (libcbor 0.8 decodes no other simple values).
# [-18446744073709551616, 1(1363896240), (_ h'01', h'02'), [_ 1], 1.0e300,
#  NaN, -Infinity, undefined, {}, [], ""]
cbor='8b3bffffffffffffffffc11a514b67b05f41014102ff9f01ff fb7e37e43c8800759c f97e00 f9fc00 f7 a0 80 60'
cbor=$(printf '%s' "$cbor" | tr -d ' ')
respond_with 60 "$cbor"
out=$("$client" --pretty-print "$url" 2>/dev/null | tr '\n' ' ' | tr -s ' ')
expect "the printer's edge cases" \
  '^\[ -18446744073709551616, 1\(1363896240\), \(_ h.01., h.02.\), \[_ 1 \], 1e\+300, NaN, -Infinity, undefined, \{\}, \[\], "" \]$' "$out"
# Nesting past the printer's depth, and counts no body could hold, are
# not decoded at all (libcbor recurses and allocates up front).
respond_with 60 "$(printf '81%.0s' $(seq 200))01"
"$client" --pretty-print "$url" >"$dir/out" 2>"$dir/err"
expect "CBOR nested 200 deep goes out as it is" '^201$' "$(wc -c <"$dir/out" | tr -d ' ')"
expect "with a note" 'not one CBOR item' "$(cat "$dir/err")"
respond_with 60 "$(printf '81%.0s' $(seq 100))01"
expect "CBOR nested 100 deep is printed" '^ok$' \
  "$("$client" --pretty-print "$url" 2>/dev/null | grep -c '^ *1$' | grep -qx 1 && echo ok)"
respond_with 60 9bffffffffffffffff01
expect "an array of 2**64-1 items in 10 bytes is not decoded" '^9bffffffffffffffff01$' \
  "$("$client" --pretty-print "$url" 2>/dev/null | od -An -tx1 | tr -d ' \n')"
respond_with 60 ff00
out=$("$client" --pretty-print "$url" 2>"$dir/err" | od -An -tx1 | tr -d ' \n')
expect "malformed CBOR goes out as it is" '^ff00$' "$out"
expect "with a note" 'not one CBOR item' "$(cat "$dir/err")"

# Link format from a peer that does not end in a newline.
respond_with 40 "$(printf '</a>;rt="x,y",</b>' | od -An -tx1 | tr -d ' \n')"
expect "link format: commas inside quotes stay" '^</a>;rt="x,y", </b>$' \
  "$("$client" --pretty-print "$url" 2>/dev/null | tr '\n' ' ')"

# --payload converted: JSON stays as given, CBOR is encoded from it.
respond_with 0 6f6b
"$client" -m POST --content-format application/cbor --payload '{"a": [1, -1, "x", 1.5, true, null]}' "$url" >/dev/null 2>&1
expect "--content-format application/cbor encodes the JSON as CBOR" \
  'body=a161618601206178fa3fc00000f5f6 ' \
  "$(grep 'code=0.02' "$dir/peer.log") "
: >"$dir/peer.log"
"$client" -m POST --content-format 60 --payload '[1,2]' "$url" >/dev/null 2>&1
expect "--content-format 60 too" 'body=820102 ' "$(grep 'code=0.02' "$dir/peer.log") "
: >"$dir/peer.log"
"$client" -m POST --content-format application/json --payload '{"a": 1}' "$url" >/dev/null 2>&1
expect "JSON goes as it is" "body=$(printf '{"a": 1}' | od -An -tx1 | tr -d ' \n') " "$(grep 'code=0.02' "$dir/peer.log") "
: >"$dir/peer.log"
"$client" -m POST --content-format text/plain --payload 'text/plain without charset' "$url" >/dev/null 2>&1
expect "text/plain without charset is accepted" 'body=74657874' "$(grep 'code=0.02' "$dir/peer.log")"
finish
