#!/usr/bin/env bash
# Multicast against libcoap (RFC 7252 §8): aiocoap-client sends a group
# request that coap-server-notls (joined with -g) answers after its own
# leisure, from its unicast address; coap-client-notls sends one to
# aiocoap-server's group and gets its answers.  In a network namespace of
# its own with a veth pair v0/v1 (the group is asked by v0, joined on v1).
# Needs a network namespace: root (as CI has) or unprivileged user
# namespaces; skips with the reason otherwise.
# Usage: multicast_libcoap.sh PATH/TO/aiocoap-client PATH/TO/aiocoap-server
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
client=$1
server=$2
case $client in /*) ;; *) client=$PWD/$client ;; esac
case $server in /*) ;; *) server=$PWD/$server ;; esac
if ! command -v coap-server-notls >/dev/null; then
  echo "SKIP $(basename "$0"): coap-server-notls (libcoap3-bin) is not installed"
  exit 77
fi
enter_netns "$0" "$@"

veth_pair || { echo "FAIL cannot make the veth pair v0/v1"; exit 1; }
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT

# libcoap's server holds a multicast answer back for up to its leisure
# (5 s by default): the client waits 7 s.
coap-server-notls -g ff02::fd -G v1 -p 5683 -v 0 >/dev/null 2>&1 &
pids+=($!)
sleep 0.5
start=$(date +%s%N)
"$client" --multicast-timeout 7 'coap://[ff02::fd%v1]/' >"$dir/out" 2>"$dir/err"
rc=$?
took=$(( ($(date +%s%N) - start) / 1000000 ))
expect "aiocoap-client to coap-server-notls's group: exit 0" '^0$' "$rc"
expect "the libcoap server's answer on stdout" 'test server made with libcoap' "$(cat "$dir/out")"
expect "named by its unicast address on stderr" \
  '^Response arrived from different address; base URI is coap://\[fe80::[0-9a-f:]+%25v1\]/$' \
  "$(cat "$dir/err")"
expect "the client waited out its --multicast-timeout (${took} ms)" '^ok$' \
  "$([ "$took" -ge 6900 ] && [ "$took" -lt 12000 ] && echo ok || echo bad)"
"$client" --multicast-timeout 7 'coap://[ff02::fd%v1]/nosuch' >"$dir/out" 2>"$dir/err"
rc=$?
expect "a missing path: libcoap stays silent to a group (§8.2), exit 1" '^1$' "$rc"
expect "and says no server answered" 'no server answered' "$(cat "$dir/err")"
expect_empty "with nothing on stdout" "$(cat "$dir/out")"
kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; pids=()

"$server" --bind '[::]:5683' --no-multicast --multicast 'ff02::fd%v1' \
  --multicast-leisure 0.3 2>"$dir/slog" &
pids+=($!)
wait_until 50 grep -q "joined" "$dir/slog"
out=$(coap-client-notls -N -B 2 -w 'coap://[ff02::fd%v0]/.well-known/core' 2>&1)
expect "coap-client-notls -N to aiocoap-server's group gets its links" \
  '</time>;ct=0;obs' "$out"
out=$(coap-client-notls -N -B 2 -w 'coap://[ff02::fd%v0]/time' 2>&1)
expect "and /time" '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' "$out"
out=$(coap-client-notls -N -B 2 -w 'coap://[ff02::fd%v0]/nosuch' 2>&1)
expect_empty "a missing path by the group: no 4.04 from aiocoap-server" "$out"
finish
