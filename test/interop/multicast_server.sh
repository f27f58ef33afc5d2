#!/usr/bin/env bash
# A server in a group (RFC 7252 §8, §12.8): aiocoap-server bound to [::]
# in a network namespace of its own with a veth pair v0/v1 joins the All
# CoAP Nodes groups by itself; a NON GET /.well-known/core sent to ff02::fd
# or 224.0.1.187 out of v0 is answered from a unicast address, never from
# the group; a CON to the group and anything with a critical option it does
# not know are met with silence, never an RST (§8.1); --multicast joins
# another group, --no-multicast none.  Needs a network namespace: root (as
# CI has) or unprivileged user namespaces; skips with the reason otherwise.
# Usage: multicast_server.sh PATH/TO/aiocoap-server
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
server=$1
case $server in /*) ;; *) server=$PWD/$server ;; esac
enter_netns "$0" "$@"

veth_pair || { echo "FAIL cannot make the veth pair v0/v1"; exit 1; }
ip addr add 10.9.0.1/24 dev v0
ip addr add 10.9.0.2/24 dev v1
# Both ends are ours: let the addresses of one arrive on the other.
for k in all v0 v1; do
  sysctl -qw "net.ipv4.conf.$k.accept_local=1" "net.ipv4.conf.$k.rp_filter=0" 2>/dev/null
done
probe() { python3 "$here/multicast_probe.py" "$@"; }
dir=$(mktemp -d)
pids=()
trap 'kill "${pids[@]}" 2>/dev/null; rm -rf "$dir"' EXIT

# Answers at once (--multicast-leisure 0) for the checks of what is said;
# the leisure itself is checked below.
"$server" --bind '[::]:5683' --multicast-leisure 0 2>"$dir/log" &
pids+=($!)
wait_until 50 grep -q "serving on" "$dir/log"

out=$(probe ff02::fd 5683 v0 NON .well-known/core)
expect "NON GET /.well-known/core to ff02::fd is answered" 'NON 2\.05 .*</time>' "$out"
expect "from a unicast address, not the group" '^fe80::' "$out"
out=$(probe 224.0.1.187 5683 v0 NON .well-known/core)
expect "NON GET /.well-known/core to 224.0.1.187 is answered" 'NON 2\.05 .*</time>' "$out"
expect "from a unicast IPv4 address" '^10\.9\.0\.' "$out"
expect "a NON GET of a missing path to the group: no 4.04 (§8.2)" '^none$' \
  "$(probe ff02::fd 5683 v0 NON nosuch)"
expect "the same by unicast gets its 4.04" '^::1 NON 4\.04' \
  "$(probe ::1 5683 lo NON nosuch)"
# Uri-Query (15, delta 4 after Uri-Path) as a raw option.
q() { printf '4%x' "${#1}"; printf '%s' "$1" | od -An -tx1 | tr -d ' \n'; }
expect "a discovery filter matching nothing: silence (RFC 6690 §4.1)" '^none$' \
  "$(probe ff02::fd 5683 v0 NON .well-known/core "$(q rt=nothing)")"
expect "a filter matching /time: answered with it alone" 'NON 2\.05 </time>;ct=0;obs$' \
  "$(probe ff02::fd 5683 v0 NON .well-known/core "$(q ct=0)" | head -n 1)"
expect "by unicast a filter matching nothing gets an empty 2.05" '^::1 NON 2\.05 $' \
  "$(probe ::1 5683 lo NON .well-known/core "$(q rt=nothing)")"
expect "a CON to the group gets nothing (§8.1)" '^none$' \
  "$(probe ff02::fd 5683 v0 CON .well-known/core)"
# Option 65001 (critical, unknown): delta 65001 - 11 as a 2-byte extended
# delta (nibble 14, then 65001 - 11 - 269 = 0xfcd1), no value.
expect "a NON with an unknown critical option to the group: no RST" '^none$' \
  "$(probe ff02::fd 5683 v0 NON .well-known/core e0fcd1)"
expect "the same by unicast is rejected with RST (§5.4.1)" '^::1 RST' \
  "$(probe ::1 5683 lo NON .well-known/core e0fcd1)"
kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; pids=()

"$server" --bind '[::]:5683' --multicast-leisure 0 --no-multicast --multicast 'ff02::1234%v1' 2>"$dir/log2" &
pids+=($!)
wait_until 50 grep -q "joined" "$dir/log2"
expect "--multicast says what it joined" 'joined ff02::1234%v1 \(1 membership\)' "$(cat "$dir/log2")"
expect "--no-multicast: ff02::fd is not joined" '^none$' \
  "$(probe ff02::fd 5683 v0 NON .well-known/core)"
expect "the asked group is" 'NON 2\.05 .*</time>' \
  "$(probe ff02::1234 5683 v0 NON .well-known/core)"
kill "${pids[@]}" 2>/dev/null; wait 2>/dev/null; pids=()

# RFC 7252 §8.2: a multicast request is answered at a random point within
# the leisure; a unicast one at once.
"$server" --bind '[::]:5683' --multicast-leisure 1 2>"$dir/log3" &
pids+=($!)
wait_until 50 grep -q "serving on" "$dir/log3"
delays=()
for _ in 1 2 3 4 5 6; do
  d=$(probe ff02::fd 5683 v0 NON .well-known/core "" 1.4 timed | awk '{print $1; exit}')
  delays+=("${d:-none}")
done
expect "every answer within the leisure of 1 s (+0.3 s): ${delays[*]}" '^ok$' \
  "$(for d in "${delays[@]}"; do [ "$d" != none ] && [ "$d" -le 1300 ] || { echo bad; exit; }; done; echo ok)"
expect "the answers are spread, not all at once: ${delays[*]}" '^ok$' \
  "$(for d in "${delays[@]}"; do [ "$d" -ge 60 ] && { echo ok; exit; }; done; echo bad)"
d=$(probe ::1 5683 lo NON .well-known/core "" 0.5 timed | awk '{print $1; exit}')
expect "by unicast the same server answers at once: ${d}ms" '^ok$' \
  "$([ "${d:-9999}" -le 300 ] && echo ok || echo bad)"
expect "leisure 0 answered at once earlier; --multicast-leisure rejects junk" '^2$' \
  "$("$server" --multicast-leisure -1 >/dev/null 2>&1; echo $?)"

expect "an unknown interface fails with exit 1" '^1$' \
  "$("$server" --bind '[::]:0' --multicast 'ff02::1%nosuch0' 2>/dev/null; echo $?)"
finish
