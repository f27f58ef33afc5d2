#!/usr/bin/env bash
# aiocoap-server's command line as a user meets it: --help, usage errors for
# every malformed or out-of-range number (exit 2, message on stderr), and
# --bind with port 0 printing the port it bound.
# Usage: server_args.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2

out=$("$server" --help 2>/dev/null); rc=$?
expect "--help exits 0" '^0$' "$rc"
expect "--help prints the full usage on stdout" '--max-observers N' "$out"
for bad in abc -5 99999999999 4294967296 "" 1x; do
  err=$("$server" --max-observers "$bad" 2>&1 >/dev/null); rc=$?
  expect "--max-observers '$bad' is a usage error (exit $rc)" '^2$' "$rc"
  expect "--max-observers '$bad' is named on stderr" 'max-observers' "$err"
done
for bad in abc -1 4294967296 ""; do
  err=$("$server" --amplification-factor "$bad" 2>&1 >/dev/null); rc=$?
  expect "--amplification-factor '$bad' is a usage error (exit $rc)" '^2$' "$rc"
  expect "--amplification-factor '$bad' is named on stderr" \
    'amplification-factor' "$err"
done
out=$("$server" --version); rc=$?
expect "--version names the program and the version, exit 0" \
  '^0 aiocoap-server \(aiocoap-c\) [0-9]+\.[0-9]+\.[0-9]+$' "$rc $out"
err=$("$server" --frobnicate 2>&1 >/dev/null); rc=$?
expect "an unknown flag is a usage error" '^2$' "$rc"
expect "an unknown flag is named" 'frobnicate' "$err"

for bad in -1 soon 3601 ''; do
  "$server" --multicast-leisure "$bad" >/dev/null 2>"${TMPDIR:-/tmp}/sa.$$"; rc=$?
  expect "--multicast-leisure '$bad' is a usage error (exit 2)" '^2:.*--multicast-leisure' \
    "$rc:$(cat "${TMPDIR:-/tmp}/sa.$$")"
done
rm -f "${TMPDIR:-/tmp}/sa.$$"
expect "--help lists --multicast-leisure" 'multicast-leisure SECONDS' "$("$server" --help)"
log=$(mktemp)
"$server" --bind '[::1]:0' --max-observers 4294967295 \
  --amplification-factor 4294967295 --echo 2>"$log" &
pid=$!
trap 'kill $pid 2>/dev/null; wait $pid 2>/dev/null; rm -f "$log"' EXIT
port=
for _ in $(seq 50); do
  port=$(sed -n 's/.*serving on \[::1\]:\([0-9][0-9]*\).*/\1/p' "$log")
  [ -n "$port" ] && break
  sleep 0.1
done
expect "--bind [::1]:0 prints the port bound" '^[1-9][0-9]*$' "$port"
expect "and serves there" '^[0-9]{4}-' \
  "$("$client" "coap://[::1]:$port/time" 2>&1)"
finish
