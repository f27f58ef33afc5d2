#!/usr/bin/env bash
# aiocoap-fileserver --write against thousands of random requests whose
# paths try every way out (fileserver_fuzz.py): no response carries the
# outside file, nothing outside changes, every request is answered, and
# the server still serves and shuts down cleanly (under ASan in that
# build).
# Usage: fileserver_fuzz.sh PATH/TO/aiocoap-fileserver
set -u
here=$(dirname "$0")
. "$here/lib.sh"
fs=$1
command -v python3 >/dev/null || { echo "FAIL python3 not installed"; exit 1; }
work=$(mktemp -d)
pid=
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT

# run_mode NAME [ENV=VALUE]: a fresh tree, a server, the fuzz.
run_mode() {
  local mode=$1
  shift
  rm -rf "$work/root" "$work/outside"
  mkdir -p "$work/root/d" "$work/outside"
  echo secret >"$work/outside/s"
  ln -s "$work/outside" "$work/root/o"
  ln -s ../../outside/s "$work/root/d/x"
  ln -s "$work/outside/s" "$work/root/s"
  echo z >"$work/root/z" # no name the fuzz can make
  local before
  before=$(cd "$work/outside" && find . -printf '%p %s %T@\n' | sort)
  env "$@" "$fs" --bind "[::1]:0" --write "$work/root" 2>"$work/log" &
  pid=$!
  for _ in $(seq 50); do grep -q serving "$work/log" 2>/dev/null && break; sleep 0.1; done
  port=$(grep -Eo '\]:[0-9]+$' "$work/log" | tr -d ']:')
  for seed in 1 2 3; do
    out=$(python3 "$here/fileserver_fuzz.py" "$port" 2000 "$seed"); st=$?
    expect "$mode: 2000 random requests (seed $seed): no leak" '^0 ' "$st $out"
    expect "$mode: every one answered (seed $seed)" '^[^t]*$' "$out"
  done
  expect "$mode: nothing outside changed" '^same$' \
    "$([ "$before" = "$(cd "$work/outside" && find . -printf '%p %s %T@\n' | sort)" ] && echo same || echo changed)"
  expect "$mode: the server still serves" '^0 ' \
    "$(python3 -c "
import socket; s=socket.socket(socket.AF_INET6, socket.SOCK_DGRAM); s.settimeout(2)
s.sendto(b'\x40\x01\x00\x02\xb1z', ('::1', $port)); r=s.recv(100); print(0 if r[1]==0x45 else 1, r[1])")"
  kill -TERM "$pid"; wait "$pid"; st=$?
  expect "$mode: SIGTERM: exit 0" '^0$' "$st"
  expect "$mode: nothing but the start line on stderr" '^1$' "$(wc -l <"$work/log")"
}
run_mode openat2
run_mode walk AIOCOAP_FILESERVER_NO_OPENAT2=1
finish
