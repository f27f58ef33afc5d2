#!/usr/bin/env bash
# DTLS (coaps, PSK) against coap-server-openssl and aiocoap-server in the
# same run: the time a fresh client takes to its first response (a DTLS
# handshake plus one exchange), then requests per second over one
# established session at 1 and 64 outstanding, with plain coap to each
# server beside it for reference.  A benchmark, not a test.
# Usage: cli/bench-dtls.sh [BUILD_DIR] [SECONDS] [HANDSHAKES]
set -eu
build=${1:-build}
seconds=${2:-5}
handshakes=${3:-50}
bench=$build/cli/bench-requests
key=bench-secret-key
id=bench-client
dir=$(mktemp -d)
cat >"$dir/server.json" <<JSON
{":client": {"dtls": {"psk": {"ascii": "$key"}, "client-identity": {"ascii": "$id"}}}}
JSON
"$build/cli/aiocoap-server" --bind 127.0.0.1:56850 \
  --bind coaps://127.0.0.1:56851 --server-credentials "$dir/server.json" \
  2>"$dir/ours.log" &
ours=$!
# libcoap serves DTLS on the port after -p's.
coap-server-openssl -A 127.0.0.1 -p 56852 -k "$key" 2>/dev/null &
theirs=$!
trap 'kill $ours $theirs 2>/dev/null; rm -rf "$dir"' EXIT
sleep 0.5
kill -0 $ours || { cat "$dir/ours.log"; exit 1; }
run() {
  echo "== $1"
  shift
  "$bench" "$@"
}
for target in "aiocoap-server 56850 56851 /time" \
              "coap-server-openssl 56852 56853 /time"; do
  set -- $target
  name=$1 plain=$2 secure=$3 path=$4
  echo "== $name: coaps handshakes"
  "$bench" -k "$key" -u "$id" --handshakes "$handshakes" -t 0.01 \
    "coaps://127.0.0.1:$secure$path" | head -1
  for n in 1 64; do
    run "$name: coaps N=$n" -k "$key" -u "$id" -n $n -t "$seconds" \
      "coaps://127.0.0.1:$secure$path"
    run "$name: coap N=$n" -n $n -t "$seconds" "coap://127.0.0.1:$plain$path"
  done
done
for pid in $ours $theirs; do
  printf 'pid %s peak RSS %s\n' "$pid" "$(awk '/VmHWM/ {print $2, $3}' /proc/$pid/status)"
done
