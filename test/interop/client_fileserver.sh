#!/usr/bin/env bash
# aiocoap-client against aiocoap-fileserver, as a user runs the two: a
# 1 MiB file fetched blockwise byte for byte, the listing pretty-printed,
# ETag then 2.03, an observed file's change within a second, every
# traversal attempt refused, PUT and DELETE with If-Match and
# If-None-Match, and a 10 MiB PUT streamed from a file and read back.
# Usage: client_fileserver.sh PATH/TO/aiocoap-client PATH/TO/aiocoap-fileserver
set -u
here=$(dirname "$0")
. "$here/lib.sh"
client=$1
fileserver=$2
dir=$(mktemp -d)
mkdir "$dir/root" "$dir/root/sub" "$dir/outside"
echo secret >"$dir/outside/secret.txt"
ln -s ../outside "$dir/root/escape"
ln -s ../outside/secret.txt "$dir/root/leak.txt"
head -c $((1 << 20)) /dev/urandom >"$dir/root/one.bin"
printf 'hello\n' >"$dir/root/a.txt"

port=$(free_udp_port)
"$fileserver" --bind "[::1]:$port" --write "$dir/root" 2>"$dir/log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -rf "$dir"' EXIT
B="coap://[::1]:$port"
wait_until 50 "$client" "$B/a.txt" || true

"$client" "$B/one.bin" >"$dir/one.back" 2>"$dir/err"; rc=$?
expect "GET of a 1 MiB file exits 0" '^0$' "$rc"
expect "the 1 MiB file arrives byte for byte" '^same$' \
  "$(cmp -s "$dir/root/one.bin" "$dir/one.back" && echo same)"

out=$("$client" --pretty-print "$B/"); rc=$?
expect "the listing exits 0" '^0$' "$rc"
expect "the listing has one link per line" '^</a.txt>' "$(printf '%s\n' "$out" | head -n 1)"
expect "directories are ct=40 in it" '^</sub/>;ct=40' "$(printf '%s\n' "$out" | grep sub)"

etag=$("$client" -v "$B/a.txt" 2>&1 >/dev/null | sed -n 's/^- ETag (4): 0x\([0-9a-f]*\)$/\1/p')
expect "the file has an ETag" '^[0-9a-f]{16}$' "$etag"
err=$("$client" -v --etag "$etag" "$B/a.txt" 2>&1 >"$dir/out"); rc=$?
expect "GET with the current ETag exits 0" '^0$' "$rc"
expect "GET with the current ETag is 2.03 Valid" 'ACK 2\.03 Valid' "$err"
expect_empty "2.03 carries no payload" "$(cat "$dir/out")"

# Observe: the first response, then a change made a moment later must
# arrive within a second of it.
"$client" --observe --observe-count 2 "$B/a.txt" >"$dir/obs" 2>"$dir/obs.err" &
opid=$!
for _ in $(seq 50); do [ -s "$dir/obs" ] && break; sleep 0.05; done
changed=$(date +%s%N)
printf 'changed\n' >"$dir/root/a.txt"
for _ in $(seq 100); do grep -q changed "$dir/obs" && break; sleep 0.01; done
seen=$(date +%s%N)
wait $opid; rc=$?
ms=$(( (seen - changed) / 1000000 ))
expect "observing a file ends 0 after two payloads" '^0$' "$rc"
expect "the change is notified within a second ($ms ms)" '^ok$' \
  "$(grep -q changed "$dir/obs" && [ "$ms" -lt 1000 ] && echo ok)"

# A literal . or .. never reaches the server: the client removes dot
# segments from the URI (RFC 3986 §5.2.4, RFC 7252 §6.4); percent-encoded
# they arrive as segments and must be refused.
for path in %2E%2E/outside/secret.txt sub/%2E%2E/%2E%2E/outside/secret.txt \
            %2E sub//a.txt 'a%2Fb' 'x%00y' escape/secret.txt leak.txt; do
  out=$("$client" "$B/$path" 2>"$dir/err"); rc=$?
  expect "'$path' is refused (exit $rc)" '^1$' "$rc"
  expect "'$path' gets a 4.xx" '^4\.0[034]' "$(cat "$dir/err")"
  expect "'$path' reveals nothing" '^ok$' \
    "$(printf '%s' "$out" | grep -q secret || echo ok)"
done

printf 'v1\n' >"$dir/v1"
"$client" -m PUT --if-none-match --payload "@$dir/v1" "$B/new.txt" 2>"$dir/err"; rc=$?
expect "PUT If-None-Match of an absent file succeeds" '^0$' "$rc"
"$client" -m PUT --if-none-match --payload "@$dir/v1" "$B/new.txt" 2>"$dir/err"; rc=$?
expect "PUT If-None-Match of a present file is refused" '^1$' "$rc"
expect "... with 4.12" '^4\.12 Precondition Failed' "$(cat "$dir/err")"
"$client" -m PUT --if-match 0000000000000000 --payload "@$dir/v1" "$B/new.txt" 2>"$dir/err"; rc=$?
expect "PUT If-Match with a wrong ETag is 4.12" '^4\.12' "$(cat "$dir/err")"
tag=$("$client" -v "$B/new.txt" 2>&1 >/dev/null | sed -n 's/^- ETag (4): 0x\([0-9a-f]*\)$/\1/p')
printf 'v2\n' >"$dir/v2"
"$client" -m PUT --if-match "$tag" --payload "@$dir/v2" "$B/new.txt" 2>"$dir/err"; rc=$?
expect "PUT If-Match with the current ETag succeeds" '^0$' "$rc"
expect "... and wrote the file" '^v2$' "$(cat "$dir/root/new.txt")"
"$client" -m DELETE --if-match "$tag" "$B/new.txt" 2>"$dir/err"; rc=$?
expect "DELETE If-Match with the old ETag is 4.12" '^4\.12' "$(cat "$dir/err")"
"$client" -m DELETE "$B/new.txt" 2>"$dir/err"; rc=$?
expect "DELETE removes the file" '^0 gone$' "$rc $([ -e "$dir/root/new.txt" ] || echo gone)"

head -c $((10 << 20)) /dev/urandom >"$dir/ten.bin"
"$client" -m PUT --payload "@$dir/ten.bin" "$B/ten.bin" 2>"$dir/err"; rc=$?
expect "PUT of 10 MiB streamed from a file exits 0" '^0$' "$rc"
"$client" "$B/ten.bin" >"$dir/ten.back" 2>"$dir/err"
expect "the 10 MiB file reads back the same" '^same$' \
  "$(cmp -s "$dir/ten.bin" "$dir/ten.back" && echo same)"
finish
