#!/usr/bin/env bash
# aiocoap-fileserver under valgrind: GETs (blockwise and a listing), a
# streamed PUT, an upload left open, an observation still running, then
# SIGTERM; shutdown must exit 0 with no error and no leak, and remove the
# open upload's temporary file.
# Usage: fileserver_valgrind.sh PATH/TO/aiocoap-fileserver
set -u
here=$(dirname "$0")
. "$here/lib.sh"
fs=$1
command -v valgrind >/dev/null || { echo "FAIL valgrind not installed"; exit 1; }
command -v coap-client-notls >/dev/null ||
  { echo "FAIL coap-client-notls not installed (libcoap3-bin)"; exit 1; }
work=$(mktemp -d)
trap 'kill $pid $obs 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
mkdir -p "$work/root/sub"
head -c 20000 /dev/urandom >"$work/root/file.bin"
echo watched >"$work/root/sub/w.txt"
head -c 5000 /dev/urandom >"$work/up"
port=$(free_udp_port)
valgrind --leak-check=full --show-leak-kinds=all --errors-for-leak-kinds=all \
  --track-fds=no --error-exitcode=99 "$fs" --bind "[::1]:$port" --write \
  "$work/root" 2>"$work/log" &
pid=$!
B="coap://[::1]:$port"
wait_until 150 coap-client-notls -B 1 "$B/sub/w.txt" || true
coap-client-notls -B 20 -b 256 "$B/file.bin" -o "$work/back" >/dev/null 2>&1
expect "blockwise GET under valgrind" '^same$' \
  "$(cmp -s "$work/root/file.bin" "$work/back" && echo same)"
expect "a listing under valgrind" '</sub/>;ct=40' "$(coap-client-notls -B 10 "$B/" 2>&1)"
expect_empty "a blockwise PUT under valgrind" \
  "$(coap-client-notls -B 20 -m put -b 512 -f "$work/up" "$B/sub/up" 2>&1)"
coap-client-notls -B 20 -s 30 "$B/sub/w.txt" >"$work/obs" 2>&1 &
obs=$!
wait_until 50 grep -q watched "$work/obs"
echo changed >"$work/root/sub/w.txt"
wait_until 30 grep -q changed "$work/obs"
expect "a notification under valgrind" 'changed' "$(cat "$work/obs")"
python3 - "$port" <<'PY'
import socket, sys
msg = bytes([0x40, 3, 0x12, 0x34, 0xb4]) + b"open" + bytes([0xd1, 3, 0x0e])
msg += b"\xff" + b"u" * 1024
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(5)
s.sendto(msg, ("::1", int(sys.argv[1])))
s.recv(2048)
PY
expect "an upload left open" '^1$' \
  "$(ls -a "$work/root" | grep -c '^\.aiocoap-upload-')"
kill -TERM "$pid"
wait "$pid"
status=$?
expect "exit 0 after SIGTERM (valgrind status $status)" '^0$' "$status"
expect "no leaks" 'All heap blocks were freed|definitely lost: 0 bytes' \
  "$(cat "$work/log")"
expect "no errors" 'ERROR SUMMARY: 0 errors' "$(cat "$work/log")"
expect "the open upload's temporary file is removed" '^0$' \
  "$(ls -a "$work/root" | grep -c '^\.aiocoap-upload-')"
if [ "$status" -ne 0 ]; then sed 's/^/     | /' "$work/log" | tail -40; fi
finish
