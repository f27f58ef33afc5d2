#!/usr/bin/env bash
# Issue 14's multicast matrix, with aiocoap-client as a user runs it: in a
# network namespace of its own (the hub) a bridge br0 carries the client,
# and three servers (multicast-node a, b, c: different names, rt and
# bodies; leisure 0.3 s) each sit in a namespace of their own on a veth
# into br0.  Checked: discovery to ff02::fd and 224.0.1.187 answered by all
# three, each from its unicast address (RFC 7252 §8.2); a 4 KiB body from
# each, whole, its later blocks fetched by unicast (RFC 7959 §2.8); a
# missing path answered by nobody, the client ending at its timeout; an
# ?rt= filter answered by the one node it matches (RFC 6690 §4.1); observe
# over multicast; No-Response (RFC 7967) to the group; the client's dump
# read by tshark without a warning.  Needs network namespaces: root (as CI
# has) or unprivileged user namespaces; skips with the reason otherwise.
# Usage: multicast_bridge.sh PATH/TO/multicast-node PATH/TO/aiocoap-client
set -u
here=$(cd "$(dirname "$0")" && pwd)
. "$here/lib.sh"
node=$1
client=$2
case $node in /*) ;; *) node=$PWD/$node ;; esac
case $client in /*) ;; *) client=$PWD/$client ;; esac
enter_netns "$0" "$@"
. "$here/multicast_netns.sh"

dir=$(mktemp -d)
# MULTICAST_BRIDGE_KEEP=1 keeps the outputs and dumps for a look.
trap 'netns_cleanup; [ -n "${MULTICAST_BRIDGE_KEEP:-}" ] && echo "kept $dir" || rm -rf "$dir"' EXIT
names=(a b c)
netns_hub || exit $?
for i in 0 1 2; do
  netns_server "$((i + 1))" || exit 1
done
netns_settle
for i in 0 1 2; do
  n=${names[$i]}
  extra=()
  # a's own dump shows what it received and sent (No-Response below).
  [ "$n" = a ] && extra=(--dump "$dir/a.pcap")
  netns_run "$((i + 1))" "$node" --name "$n" --rt "rt-$n" --leisure 0.3 \
    --big 4096 "${extra[@]}" 2>"$dir/$n.log"
done
for n in "${names[@]}"; do
  wait_until 50 grep -q "serving" "$dir/$n.log" ||
    { echo "FAIL multicast-node $n did not start:"; cat "$dir/$n.log"; exit 1; }
done
# Every address of server i (link-local, fd00:7::/64, 10.7.0.0/24), one a
# line, as ip prints them.
addrs() { netns_exec "$1" ip -o addr show dev "s$1" | awk '{sub("/.*", "", $4); print $4}'; }
for i in 1 2 3; do addrs "$i" >"$dir/addrs$i"; done

# run OUT ARGS...: the client, its stdout, stderr and status in OUT.{out,err,rc},
# how long it took, in ms, in OUT.ms, and when it ended (epoch) in OUT.end.
run() {
  local out=$1 start
  shift
  start=$(date +%s%N)
  "$client" "$@" >"$dir/$out.out" 2>"$dir/$out.err"
  echo $? >"$dir/$out.rc"
  ms_since "$start" >"$dir/$out.ms"
  date +%s.%N >"$dir/$out.end"
}
# The hosts of the base URIs the client named, one a line; an IPv4 source
# comes as the v4-mapped [::ffff:A.B.C.D] (coap_remote_hostinfo's form),
# taken here as A.B.C.D.
sources() {
  sed -n -e 's/^Response arrived from different address; base URI is coap:\/\/\[\([^]%]*\).*/\1/p' \
    -e 's/^Response arrived from different address; base URI is coap:\/\/\([0-9.]*\).*/\1/p' "$dir/$1.err" |
    sed 's/^::ffff:\([0-9.]*\)$/\1/'
}
# Which servers (1 2 3) the sources of OUT are, sorted, space-separated;
# "?" for a source that is no server's.
who() {
  local s i found out=""
  for s in $(sources "$1"); do
    found='?'
    for i in 1 2 3; do grep -qx -- "$s" "$dir/addrs$i" && found=$i; done
    out="$out $found"
  done
  echo $out | tr ' ' '\n' | sort | tr '\n' ' ' | sed 's/ $//'
}
g6='coap://[ff02::fd%br0]'
g4='coap://224.0.1.187'

run wkc6 "$g6/.well-known/core" --multicast-timeout 2
expect "discovery to ff02::fd%br0: exit 0" '^0$' "$(cat "$dir/wkc6.rc")"
expect "three answers, one from each server's own unicast address" '^1 2 3$' "$(who wkc6)"
expect "the sources are link-local unicast, not the group" '^3 3$' \
  "$(sources wkc6 | wc -l) $(sources wkc6 | grep -c '^fe80::')"
expect "each server's links on stdout, one line each" '^3$' "$(grep -c '^</.well-known/core>' "$dir/wkc6.out")"
for n in a b c; do
  expect "... $n's /name with its rt" "</name>;ct=0;rt=\"rt-$n\"" "$(cat "$dir/wkc6.out")"
done

run wkc4 "$g4/.well-known/core" --multicast-timeout 2 --dump "$dir/wkc4.pcap"
expect "discovery to 224.0.1.187: exit 0" '^0$' "$(cat "$dir/wkc4.rc")"
expect "three answers, from 10.7.0.11, .12, .13" '^1 2 3$' "$(who wkc4)"
expect "the sources are IPv4 unicast" '^10\.7\.0\.11 10\.7\.0\.12 10\.7\.0\.13 $' \
  "$(sources wkc4 | sort | tr '\n' ' ')"

run big "$g6/big" --multicast-timeout 3 --dump "$dir/big.pcap"
expect "/big: exit 0" '^0$' "$(cat "$dir/big.rc")"
expect "/big: three answers, one from each server" '^1 2 3$' "$(who big)"
# Each body as the node makes it (multicast_node.c), then the client's
# newline; whole and once each.
intact=$(python3 - "$dir/big.out" <<'PY'
import sys
out = open(sys.argv[1], "rb").read()
res = []
for n in "abc":
    body = b"".join(b"%s %06d\n" % (n.encode(), i) for i in range(4096 // 9 + 1))[:4096]
    res.append("%s:%d" % (n, out.count(body + b"\n")))
res.append("total:%d" % len(out))
print(" ".join(res))
PY
)
expect "/big: each of the three bodies intact, once" '^a:1 b:1 c:1 total:12291$' "$intact"
if command -v tshark >/dev/null; then
  ts() { tshark -r "$dir/big.pcap" "$@" 2>/dev/null; }
  expect "the dump opens: requests to the group, one" '^1$' \
    "$(ts -Y 'coap.code == 1 && ipv6.dst == ff02::fd' -T fields -e frame.number | wc -l)"
  follow=$(ts -Y 'coap.code == 1 && coap.opt.block_number > 0' -T fields -e ipv6.dst | sort | uniq -c)
  expect "block 1.. asked for by unicast only, from three servers: $(echo $follow)" '^3$' \
    "$(echo "$follow" | grep -vc ff0)"
  expect "... 3 follow-ups each (4 KiB in 1 KiB blocks)" '^(3 )+$' \
    "$(echo "$follow" | awk '{printf "%s ", $1}')"
  expect "... to the three servers' unicast addresses" '^ok$' \
    "$(for d in $(echo "$follow" | awk '{print $2}'); do grep -qx "$d" "$dir"/addrs* || { echo "bad $d"; exit; }; done; echo ok)"
  expect "every packet in the dump decodes as CoAP" '^0$' \
    "$(ts -Y '!coap' -T fields -e frame.number | wc -l)"
  # 1 request, 3 first blocks, 3 * 3 follow-ups and their answers; a
# retransmission on a loaded machine may add a few.
  expect "... and there are 1 + 3 + 3*3 + 3*3 of them, or a few more" '^ok$' \
    "$(n=$(ts -T fields -e frame.number | wc -l); [ "$n" -ge 22 ] && [ "$n" -le 30 ] && echo ok || echo "$n")"
  expert=$(tshark -r "$dir/big.pcap" -q -z expert 2>/dev/null)
  expect "tshark -z expert: no warnings, nothing malformed" '^ok$' \
    "$(printf '%s' "$expert" | grep -Eiq 'warn|malformed|error' && printf '%s' "$expert" || echo ok)"
  # The IPv4 group as dumped: IPv4 headers, answers from the unicast
  # addresses.
  expect "the IPv4 dump: one request to 224.0.1.187, three answers from 10.7.0.11-13" \
    '^1 10\.7\.0\.11 10\.7\.0\.12 10\.7\.0\.13 $' \
    "$(tshark -r "$dir/wkc4.pcap" -Y 'ip.dst == 224.0.1.187 && coap.code == 1' -T fields -e frame.number 2>/dev/null | wc -l) $(tshark -r "$dir/wkc4.pcap" -Y 'coap.code == 69' -T fields -e ip.src 2>/dev/null | sort | tr '\n' ' ')"
  expect "... decoded as CoAP without an expert note" '^0 $' \
    "$(tshark -r "$dir/wkc4.pcap" -Y '!coap' -T fields -e frame.number 2>/dev/null | wc -l) $(tshark -r "$dir/wkc4.pcap" -q -z expert 2>/dev/null | grep -Eic 'warn|malformed|error' | grep -v '^0$')"
else
  echo "SKIP the --dump checks: no tshark"
fi

run missing "$g6/nosuch" --multicast-timeout 1.5
expect "a missing path: exit 1" '^1$' "$(cat "$dir/missing.rc")"
expect_empty "... nothing on stdout (§8.2: no 4.04 to a group)" "$(cat "$dir/missing.out")"
expect "... no server named on stderr" '^0$' "$(sources missing | wc -l)"
expect "... and the client says why" 'no server answered' "$(cat "$dir/missing.err")"
expect "... it ended at its timeout of 1.5 s: $(cat "$dir/missing.ms") ms" '^ok$' \
  "$(ms=$(cat "$dir/missing.ms"); [ "$ms" -ge 1450 ] && [ "$ms" -le 2500 ] && echo ok)"

run rt "$g6/.well-known/core?rt=rt-b" --multicast-timeout 1.5
expect "?rt=rt-b: exit 0" '^0$' "$(cat "$dir/rt.rc")"
expect "... answered by b alone" '^2$' "$(who rt)"
expect "... with b's /name only" '^</name>;ct=0;rt="rt-b"$' "$(cat "$dir/rt.out")"
run rt4 "$g4/.well-known/core?rt=rt-c" --multicast-timeout 1.5
expect "?rt=rt-c to 224.0.1.187: answered by c alone" '^3$' "$(who rt4)"
run rtnone "$g6/.well-known/core?rt=nothing" --multicast-timeout 1
expect "?rt=nothing: nobody answers (RFC 6690 §4.1), exit 1" '^1 0$' \
  "$(cat "$dir/rtnone.rc") $(sources rtnone | wc -l)"

run obs "$g6/obs" --observe --observe-count 12 --multicast-timeout 10
expect "--observe over multicast: exit 0 after 12 payloads" '^0 12$' \
  "$(cat "$dir/obs.rc") $(grep -c . "$dir/obs.out")"
expect "... notifications from all three" '^a b c$' \
  "$(awk '{print $1}' "$dir/obs.out" | sort -u | tr '\n' ' ' | sed 's/ $//')"
expect "... each server's count growing (RFC 7641 §3.4 per source)" '^ok$' \
  "$(awk '{ if ($1 in last && $2 <= last[$1]) bad = 1; last[$1] = $2 }
          END { print bad ? "bad" : "ok" }' "$dir/obs.out")"
expect "... all three named on stderr" '^1 2 3$' "$(who obs | tr ' ' '\n' | sort -u | tr '\n' ' ' | sed 's/ $//')"
expect "... well within the timeout: $(cat "$dir/obs.ms") ms" '^ok$' \
  "$([ "$(cat "$dir/obs.ms")" -lt 9000 ] && echo ok)"

if command -v tshark >/dev/null; then
  # The client's exit ends a's observation too: its next notification
  # meets a closed port (ICMP port unreachable ends an observation,
  # observation.h), so in a's dump none goes out later than 1 s after the
  # client's end.
  sleep 1.5
  tok=$(tshark -r "$dir/a.pcap" -Y 'coap.code == 1 && coap.opt.observe == 0 && coap.opt.uri_path == "obs"' -T fields -e coap.token 2>/dev/null | head -n 1)
  expect "a got the registration by the group (its dump)" '^[0-9a-f]+$' "$tok"
  expect "... and no notification 1 s after the client's end" '^0$' \
    "$(tshark -r "$dir/a.pcap" -Y "coap.token == $tok && coap.code == 69 && frame.time_epoch > $(awk -v e="$(cat "$dir/obs.end")" 'BEGIN {printf "%.3f", e + 1}')" -T fields -e frame.number 2>/dev/null | wc -l)"
fi

# RFC 7967: No-Response 2 (suppress 2.xx) to the group.
# RFC 7967 with RFC 7252 §8.2: a group sends no 4.xx/5.xx, so suppressing
# 2.xx leaves nothing to wait for: the client is done once it has sent.
run nr "$g6/name" --option 258:2 --multicast-timeout 5
expect "No-Response 2.xx to the group: nobody answers, exit 0" '^0 0$' \
  "$(cat "$dir/nr.rc") $(sources nr | wc -l)"
expect_empty "... nothing on stdout" "$(cat "$dir/nr.out")"
expect "... done at once, not at the 5 s timeout: $(cat "$dir/nr.ms") ms" '^ok$' \
  "$([ "$(cat "$dir/nr.ms")" -le 1000 ] && echo ok)"
run nrall "$g6/name" --option 258:26 --multicast-timeout 5
expect "No-Response 26 (all) to the group: exit 0 at once ($(cat "$dir/nrall.ms") ms)" '^0 ok$' \
  "$(cat "$dir/nrall.rc") $([ "$(cat "$dir/nrall.ms")" -le 1000 ] && echo ok)"
if command -v tshark >/dev/null; then
  # a's dump: the request with No-Response reached it, and nothing went
  # back (RFC 7967 §2: the answer alone is suppressed).
  nrreq=$(tshark -r "$dir/a.pcap" -Y 'coap.code == 1 && coap.opt.uri_path == "name" && ipv6.dst == ff02::fd' -T fields -e coap.token 2>/dev/null)
  expect "a received the request (its dump)" '^[0-9a-f]+$' "$nrreq"
  expect "... and sent nothing back with its token" '^0$' \
    "$(tshark -r "$dir/a.pcap" -Y "coap.token == $nrreq && coap.code != 1" -T fields -e frame.number 2>/dev/null | wc -l)"
fi
run nr4 "$g6/name" --option 258:16 --multicast-timeout 1.5
expect "No-Response 4.xx only: the 2.05s still come from all three" '^0 1 2 3$' \
  "$(cat "$dir/nr4.rc") $(who nr4)"
expect "... with the three names" '^a b c$' "$(sort "$dir/nr4.out" | tr '\n' ' ' | sed 's/ $//')"

# SIGTERM: every node shuts down cleanly.
for i in "${!netns_pids[@]}"; do kill -TERM "${netns_pids[$i]}"; done
st=""
for i in "${!netns_pids[@]}"; do wait "${netns_pids[$i]}"; st="$st$? "; done
netns_pids=()
expect "SIGTERM: the three nodes exit 0" '^0 0 0 $' "$st"
# Under ASan+UBSan a report goes to stderr, and a runtime error does not
# always change an exit status.
expect_empty "no sanitizer report from the client or the nodes" \
  "$(grep -lE 'AddressSanitizer|LeakSanitizer|runtime error' "$dir"/*.err "$dir"/*.log)"
finish
