#!/usr/bin/env bash
# aiocoap-client's command line: every usage error exits 2 with the flag
# named on stderr and nothing sent; --help and --version.
# Usage: client_args.sh PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
client=$1
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
url="coap://[::1]:9/x"

# usage_error NAME PATTERN ARGS...: exit 2, PATTERN on stderr, stdout empty.
usage_error() {
  local name=$1 pattern=$2
  shift 2
  local out err rc
  out=$("$client" "$@" 2>"$dir/err"); rc=$?
  err=$(cat "$dir/err")
  expect "$name exits 2 (got $rc)" '^2$' "$rc"
  expect "$name is named on stderr" "$pattern" "$err"
  expect_empty "$name prints nothing on stdout" "$out"
}

mkdir "$dir/adir"
usage_error "an unknown flag" 'frobnicate' --frobnicate "$url"
usage_error "no URL" 'URL' -m GET
usage_error "two URLs" 'one URL' "$url" "$url"
usage_error "--method without a value" '--method' "$url" --method
usage_error "an unknown method" '--method.*FROB' -m FROB "$url"
usage_error "a response code as method" '--method' -m 2.05 "$url"
usage_error "an unknown --accept" '--accept.*foo/bar' --accept foo/bar "$url"
usage_error "an unknown --content-format" '--content-format.*nope' --content-format nope "$url"
usage_error "a --content-format number too large" '--content-format' --content-format 65536 "$url"
usage_error "--payload-initial-szx 7" '--payload-initial-szx' --payload-initial-szx 7 "$url"
usage_error "--payload-initial-szx -1" '--payload-initial-szx' --payload-initial-szx -1 "$url"
usage_error "--observe-count 0" '--observe-count' --observe --observe-count 0 "$url"
usage_error "--observe-count abc" '--observe-count' --observe --observe-count abc "$url"
usage_error "--observe-count without --observe" '--observe-count' --observe-count 3 "$url"
usage_error "--payload @missing" '--payload.*missing' --payload "@$dir/missing" "$url"
usage_error "--payload @directory" '--payload.*directory' --payload "@$dir/adir" "$url"
usage_error "--payload @ without a name" '--payload' --payload @ "$url"
# Root reads every file: the unreadable one is tried as nobody.
: >"$dir/secret"
chmod 000 "$dir/secret"
chmod 755 "$dir"
if [ "$(id -u)" -ne 0 ]; then
  usage_error "--payload @unreadable" '--payload.*secret' --payload "@$dir/secret" "$url"
elif command -v setpriv >/dev/null; then
  err=$(setpriv --reuid=nobody --regid=nogroup --clear-groups "$client" \
    --payload "@$dir/secret" "$url" 2>&1 >/dev/null); rc=$?
  expect "--payload @unreadable exits 2 (got $rc)" '^2$' "$rc"
  expect "--payload @unreadable is named" '--payload.*secret.*denied' "$err"
fi
usage_error "--option without a colon" '--option' --option 12 "$url"
usage_error "--option with a bad number" '--option' --option x:1 "$url"
usage_error "--option with bad hex" '--option' --option 2048:0xzz "$url"
usage_error "--etag with odd hex" '--etag' --etag abc "$url"
usage_error "--etag longer than 8 bytes" '--etag' --etag 00112233445566778899 "$url"
usage_error "--if-match with bad hex" '--if-match' --if-match xy "$url"
usage_error "a switch given a value" '--non' --non=1 "$url"
usage_error "--interactive with a URL" '--interactive' --interactive "$url"
usage_error "a malformed URL" 'URL' "not a url"
usage_error "--content-format json with a payload that is not JSON" '--payload.*JSON' \
  --content-format application/json --payload '{bad' -m POST "$url"
usage_error "--content-format cbor with a payload that is not JSON" '--payload.*JSON' \
  --content-format application/cbor --payload 'h"x' -m POST "$url"
usage_error "--multicast-timeout not a number" '--multicast-timeout' \
  --multicast-timeout soon "$url"
usage_error "--multicast-timeout 0" '--multicast-timeout' --multicast-timeout 0 "$url"
usage_error "--multicast-timeout negative" '--multicast-timeout' --multicast-timeout -1 "$url"
usage_error "--multicast-timeout beyond a day" '--multicast-timeout' \
  --multicast-timeout 86401 "$url"
out=$("$client" --multicast-timeout 1 'coap://[ff02::fd]/' 2>&1); rc=$?
expect "an ff02:: group without an interface: exit 1" '^1$' "$rc"
expect "saying the group needs one" 'ff02:: groups an interface' "$out"
out=$("$client" --observe --observe-exec cat 'coap://[ff02::fd%lo]/' 2>&1); rc=$?
expect "--observe-exec with a group URI: usage error (exit 2)" '^2:.*not a group' \
  "$rc:$out"
out=$("$client" --multicast-timeout 1 'coap://[ff02::fd%nosuch0]/' 2>&1); rc=$?
expect "a zone naming no interface: exit 1" '^1$' "$rc"

out=$("$client" --help 2>/dev/null); rc=$?
expect "--help exits 0" '^0$' "$rc"
expect "--help shows the usage line" '^usage: aiocoap-client \[options\] URL' "$out"
for flag in --method --non --observe --observe-exec --observe-count --accept \
    --payload --payload-initial-szx --content-format --proxy --no-set-hostname \
    --verbose --quiet --color --no-color --pretty-print --no-pretty-print \
    --interactive --version --option --etag --if-match --if-none-match \
    --multicast-timeout; do
  case "$out" in
    *"$flag"*) ;;
    *) expect "--help lists $flag" 'listed' "missing" ;;
  esac
done
expect "--help lists every flag" '^ok$' "ok"
expect "-h is --help" '^usage:' "$("$client" -h 2>/dev/null)"
expect "--version" '^aiocoap-client \(aiocoap-c\) [0-9]' "$("$client" --version 2>&1)"
finish
