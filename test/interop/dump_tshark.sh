#!/usr/bin/env bash
# --dump FILE as a user runs it: aiocoap-server and aiocoap-client each
# write a pcap of a whole blockwise exchange (GET /other/block, a PUT of
# it, the GET again) and a coaps GET, and tshark opens the dumps with no
# configuration: every coap packet decodes as CoAP, the blocks in order,
# no malformed packet and no expert warning; the coaps packets show as
# DTLS records (handshake and application data).
#
# Wireshark picks CoAP by port (udp.port 5683, DTLS 5684), so the server
# runs on the default ports, in a network namespace of its own (unshare
# -rn needs no root; nothing else is on the ports there).  On another port
# tshark 4.0 shows plain UDP until told `-d udp.port==PORT,coap`; the
# last checks show that too.
# Usage: dump_tshark.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2
if ! command -v tshark >/dev/null; then
  echo "SKIP $(basename "$0"): tshark is not installed (.ci/install-deps installs it)"
  exit 77
fi
# A user namespace where the kernel allows them; as root, a network
# namespace alone does (containers often forbid user namespaces).
if unshare -rn true 2>/dev/null; then
  netns=(unshare -rn)
elif unshare -n true 2>/dev/null; then
  netns=(unshare -n)
else
  echo "SKIP $(basename "$0"): cannot make a network namespace here: $(unshare -rn true 2>&1 | head -n 1)"
  exit 77
fi
dir=$(mktemp -d)
trap 'rm -rf "$dir"' EXIT
if "$client" --dump "$dir/probe.pcap" coap://[::1]:9/ 2>&1 |
    grep -q 'not built in (libpcap)'; then
  echo "SKIP $(basename "$0"): built without libpcap"
  exit 77
fi
# tshark warns on stderr when run as root; its verdicts are on stdout.
tsh() { tshark "$@" 2>/dev/null; }

key=secretkey-$$
cat >"$dir/server.json" <<JSON
{":client": {"dtls": {"psk": {"ascii": "$key"}, "client-identity": {"ascii": "me"}}}}
JSON
cat >"$dir/client.json" <<JSON
{"coaps://[::1]/*": {"dtls": {"psk": {"ascii": "$key"}, "client-identity": {"ascii": "me"}}}}
JSON

# The session, inside the namespace: every step's status and output into
# files the checks below read.
cat >"$dir/session.sh" <<'SH'
set -u
server=$1 client=$2 dir=$3
ip link set lo up
"$server" --bind '[::1]:5683' --bind '127.0.0.1:5683' \
  --bind 'coaps://[::1]:5684' \
  --server-credentials "$dir/server.json" --dump "$dir/server.pcap" \
  2>"$dir/server.err" &
pid=$!
for _ in $(seq 50); do
  "$client" coap://[::1]/time >/dev/null 2>&1 && break
  sleep 0.1
done
# A fresh server dump from here on would be nicer, but the probes above
# are honest traffic too: the checks count /other/block exchanges only.
"$client" --dump "$dir/client.pcap" coap://[::1]/other/block \
  >"$dir/block" 2>"$dir/get.err"
echo $? >"$dir/get.rc"
"$client" --dump "$dir/put.pcap" -m PUT --payload "@$dir/block" \
  coap://[::1]/other/block >"$dir/put.out" 2>"$dir/put.err"
echo $? >"$dir/put.rc"
"$client" coap://[::1]/other/block >"$dir/block2" 2>"$dir/get2.err"
echo $? >"$dir/get2.rc"
"$client" --dump "$dir/v4.pcap" coap://127.0.0.1/other/block \
  >"$dir/block4" 2>"$dir/get4.err"
echo $? >"$dir/get4.rc"
"$client" --credentials "$dir/client.json" --dump "$dir/coaps.pcap" \
  coaps://[::1]/time >"$dir/coaps.out" 2>"$dir/coaps.err"
echo $? >"$dir/coaps.rc"
kill -TERM "$pid"
wait "$pid"
echo $? >"$dir/server.rc"
SH
"${netns[@]}" bash "$dir/session.sh" "$server" "$client" "$dir"

expect "GET /other/block succeeds" '^0$' "$(cat "$dir/get.rc" 2>&1)"
expect "the body is several blocks" '^[0-9]{4,}$' "$(wc -c <"$dir/block")"
expect "PUT /other/block succeeds" '^0$' "$(cat "$dir/put.rc" 2>&1)"
expect "GET after PUT gets the body back" '^same$' \
  "$(cmp -s "$dir/block" "$dir/block2" && echo same || echo differs)"
expect "GET over IPv4 succeeds" '^0$' "$(cat "$dir/get4.rc" 2>&1)"
expect "coaps GET /time succeeds" '^0$' "$(cat "$dir/coaps.rc" 2>&1)"
expect "the server shuts down cleanly on SIGTERM" '^0$' \
  "$(cat "$dir/server.rc" 2>&1)"

# tshark once per file (it takes seconds to start): one line per packet,
# "protocols;sport;dport;udp checksum status;code;block number;M;info",
# checksums checked (tshark skips them by default; status 1 is Good; the
# IPv4 header checksum's verdict is an expert item).
fields() {
  tsh -r "$1" -o udp.check_checksum:TRUE -o ip.check_checksum:TRUE "${@:2}" \
    -T fields -E separator=';' \
    -e frame.protocols -e udp.srcport -e udp.dstport -e udp.checksum.status \
    -e coap.code -e coap.opt.block_number -e coap.opt.block_mflag \
    -e _ws.col.Info
}
# count FILE AWK-CONDITION: how many lines of FILE's field dump match.
count() { awk -F';' "$2 {n++} END {print n + 0}" "$dir/$1.txt"; }
# blocks FILE AWK-CONDITION: their block numbers, space-separated.
blocks() { awk -F';' "$2 {printf \"%s \", \$6}" "$dir/$1.txt"; }

for f in server client put v4 coaps; do
  fields "$dir/$f.pcap" >"$dir/$f.txt"
  expect "tshark reads $f.pcap" '^[1-9][0-9]*$' "$(count "$f" 1)"
  # -z expert lists every expert item (malformed, bad checksum, and
  # notes and chats too) and prints nothing at all when there is none.
  expect_empty "no expert item in $f.pcap (tshark -z expert)" \
    "$(tsh -r "$dir/$f.pcap" -o udp.check_checksum:TRUE \
        -o ip.check_checksum:TRUE -q -z expert)"
  expect "no malformed packet in $f.pcap" '^0$' \
    "$(count "$f" '$1 ~ /malformed/')"
  expect "every UDP checksum in $f.pcap is good" '^0$' "$(count "$f" '$4 != 1')"
done

# Every packet on 5683 is CoAP, and there is nothing but UDP to 5683/5684.
for f in client put v4; do
  expect "every packet of $f.pcap is CoAP" '^0$' \
    "$(count "$f" '$1 !~ /:udp:coap(:|$)/')"
done
expect "every packet of server.pcap to or from 5683 is CoAP" '^0$' \
  "$(count server '($2 == 5683 || $3 == 5683) && $1 !~ /:udp:coap(:|$)/')"
expect "server.pcap holds the coaps session too" '^[1-9]' \
  "$(count server '$2 == 5684 || $3 == 5684')"
expect "server.pcap: no packet is neither CoAP nor DTLS" '^0$' \
  "$(count server '$1 !~ /:udp:(coap|dtls)(:|$)/')"

# The client's GET: Block2 numbers 0, 1, 2, ... in order, requests and
# responses alike (RFC 7959 §2.4), with M set on all but the last.
got=$(blocks client '$5 == 69')
expect "GET responses carry Block2 0, 1, 2, ... in order" '^0 1 2( [0-9]+)* $' \
  "$got"
n=$(printf '%s' "$got" | wc -w)
expect "as many blocks as the body needs (1024 each)" \
  "^$(( ($(wc -c <"$dir/block") + 1023) / 1024 ))\$" "$n"
expect "the GET requests ask for the same blocks (the first implicitly)" \
  "^${got}\$" "0 $(blocks client '$5 == 1 && $6 != ""')"
expect "only the last block has M clear" '^1$' "$(count client '$5 == 69 && $7 == 0')"
# The PUT: Block1 0, 1, 2, ... in order, each answered 2.31 but the last.
expect "PUT requests carry Block1 0, 1, 2, ... in order" '^0 1 2( [0-9]+)* $' \
  "$(blocks put '$5 == 3')"
expect "every PUT block but the last is answered 2.31 Continue" "^$((n - 1))\$" \
  "$(count put '$5 == 95')"
expect "the last is answered 2.04 Changed" '^1$' "$(count put '$5 == 68')"
# The server saw the same blocks arrive in the same order.
expect "server.pcap has the PUT's Block1s in order" '^0 1 2( [0-9]+)* $' \
  "$(blocks server '$5 == 3')"

expect "v4.pcap: IPv4 packets, each CoAP" '^0$' \
  "$(count v4 '$1 !~ /^raw:ip:udp:coap(:|$)/')"
expect "v4.pcap: the blocks in order" '^0 1 2( [0-9]+)* $' \
  "$(blocks v4 '$5 == 69')"

# coaps: the records as on the wire, the CoAP inside them unreadable.
expect "coaps.pcap: a DTLS handshake" 'Client Hello' "$(cat "$dir/coaps.txt")"
expect "coaps.pcap: application data records" 'Application Data' \
  "$(cat "$dir/coaps.txt")"
expect "coaps.pcap: every packet is DTLS, no CoAP in the clear" '^0$' \
  "$(count coaps '$1 !~ /:udp:dtls(:|$)/')"

# Off the default port (in the test's own namespace, port free): plain
# UDP for tshark until the port is named; then CoAP, with no warning.
port=$(free_udp_port)
"$server" --bind "[::1]:$port" --dump "$dir/other.pcap" 2>/dev/null &
pid=$!
wait_until 50 "$client" "coap://[::1]:$port/time" || true
"$client" "coap://[::1]:$port/other/block" >/dev/null 2>&1
kill -TERM "$pid"
wait "$pid"
fields "$dir/other.pcap" >"$dir/other.txt"
expect "on port $port tshark shows UDP, not CoAP" '^0$' \
  "$(count other '$1 ~ /coap/')"
fields "$dir/other.pcap" -d "udp.port==$port,coap" >"$dir/other.txt"
expect "with -d udp.port==$port,coap every packet is CoAP" '^0$' \
  "$(count other '$1 !~ /:udp:coap(:|$)/')"
expect_empty "and tshark -z expert says nothing" \
  "$(tsh -r "$dir/other.pcap" -d "udp.port==$port,coap" \
      -o udp.check_checksum:TRUE -q -z expert)"

# A file that cannot be created is the user's error, said as such.
out=$("$client" --dump /nonexistent-dir/x.pcap coap://[::1]:9/ 2>&1)
rc=$?
expect "client: unwritable --dump is named" '--dump /nonexistent-dir/x.pcap' "$out"
expect "client: and fails (exit 1)" '^1$' "$rc"
out=$("$server" --bind "[::1]:0" --dump /nonexistent-dir/x.pcap 2>&1)
rc=$?
expect "server: unwritable --dump is named" '--dump /nonexistent-dir/x.pcap: No such file' "$out"
expect "server: and fails (exit 1)" '^1$' "$rc"
finish
