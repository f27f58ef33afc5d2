#!/usr/bin/env bash
# aiocoap-plugtest-server (issue 15) as a process, against real clients:
# libcoap's coap-client-notls for the TD_COAP_CORE/BLOCK/OBS/LINK basics
# (its -v 7 log shows every message, so types and options are checked on
# the wire), our own aiocoap-client for the rest, and a raw socket (python3)
# for the RFC 7641 §4.5.2 replacement of an unacknowledged CON
# notification.  Kept under a minute: --obs-period 1, -s 4.
# Usage: plugtest_libcoap.sh PATH/TO/aiocoap-plugtest-server
#                            PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2
command -v coap-client-notls >/dev/null ||
  { echo "FAIL coap-client-notls not installed (libcoap3-bin)"; exit 1; }
tmp=$(mktemp -d)
port=$(free_udp_port)
"$server" --bind "[::1]:$port" --obs-period 1 2>"$tmp/server.err" &
spid=$!
trap 'kill $spid 2>/dev/null; wait $spid 2>/dev/null; rm -rf "$tmp"' EXIT
base="coap://[::1]:$port"
wait_until 50 coap-client-notls -B 1 "$base/test" || true

lc() { timeout 20 coap-client-notls -B 10 "$@" 2>&1; }

# --- usage ---
out=$("$server" --help); status=$?
expect "--help names the options" '--obs-period SECONDS' "$out"
expect "--help exits 0" '^0$' "$status"
out=$("$server" --obs-period 0 2>&1); status=$?
expect "--obs-period 0 is a usage error (2)" '^2$' "$status"
expect "--obs-period 0 says why" 'obs-period: not a number' "$out"

# --- TD_COAP_CORE with coap-client-notls ---
out=$(lc -v 7 "$base/test")
expect "GET /test piggybacked 2.05 text" 't:ACK c:2.05 .*Content-Format:text/plain' "$out"
out=$(lc -v 7 -m post -e x "$base/test")
expect "POST /test 2.01 Location-Path" 'c:2.01 .*Location-Path:location1, Location-Path:location2, Location-Path:location3' "$out"
out=$(lc -v 7 -m put -e "put by libcoap" "$base/test")
expect "PUT /test 2.04" 't:ACK c:2.04' "$out"
out=$(lc "$base/test")
expect "GET /test returns what PUT stored" '^put by libcoap$' "$out"
out=$(lc -v 7 -m delete "$base/test")
expect "DELETE /test 2.02" 't:ACK c:2.02' "$out"
out=$(lc "$base/test")
expect "GET /test works after DELETE" "/test resource" "$out"
out=$(lc -v 7 -N "$base/test")
expect "NON GET /test answered with NON 2.05" 't:NON c:2.05' "$out"
start=$(date +%s%N)
out=$(lc -v 7 "$base/separate")
ms=$(ms_since "$start")
expect "GET /separate: empty ACK first" 't:ACK c:0.00' "$out"
expect "GET /separate: then a CON 2.05" 't:CON c:2.05 .*Content-Format:text/plain' "$out"
expect "GET /separate: 1 to 3 s ($ms ms)" '^ok$' \
  "$([ "$ms" -ge 1000 ] && [ "$ms" -lt 3000 ] && echo ok || echo "$ms ms")"
out=$(lc -v 7 -N "$base/separate")
expect "NON GET /separate answered with NON later" 't:NON c:2.05' "$out"
out=$(lc -v 7 -m post -e x "$base/location-query")
expect "POST /location-query 2.01 Location-Query" 'c:2.01 .*Location-Query:first=1, Location-Query:second=2' "$out"
out=$(lc "$base/query?first=1&second=2")
expect "GET /query echoes the query" '^first=1&second=2$' "$out"
out=$(lc "$base/seg1/seg2/seg3")
expect "GET /seg1/seg2/seg3" 'seg1/seg2/seg3' "$out"
out=$(lc -v 7 -A 41 "$base/multi-format")
expect "GET /multi-format Accept 41: XML" 'Content-Format:application/xml' "$out"
out=$(lc -v 7 -A 50 "$base/multi-format")
expect "GET /multi-format Accept 50: 4.06" 'c:4.06' "$out"

# --- TD_COAP_BLOCK with coap-client-notls ---
out=$(lc -v 7 -b 16 "$base/large")
blocks=$(printf '%s\n' "$out" | grep -c 't:ACK c:2.05 .*Block2:[0-9]*/[MS_]*/16' || true)
expect "GET /large -b 16: 16-byte blocks ($blocks)" '^ok$' \
  "$([ "$blocks" -ge 120 ] && echo ok || printf '%s\n' "$out" | tail -5)"
body=$(lc -b 16 "$base/large")
expect "GET /large -b 16: the whole text" '30 abcdefghijklmnopqrstuvwxyz0123456789' "$body"
etags=$(printf '%s\n' "$out" | grep -o 'ETag:0x[0-9a-f]*' | sort -u | wc -l)
expect "GET /large -b 16: one ETag on every block ($etags)" '^1$' "$etags"
head -c 1500 /dev/urandom | base64 -w 64 > "$tmp/upload"
out=$(lc -v 7 -m put -b 64 -f "$tmp/upload" "$base/large-update")
expect "PUT /large-update -b 64: 2.31 per block" 'c:2.31 .*Block1:0/M/64' "$out"
expect "PUT /large-update -b 64: 2.04 at the end" 'c:2.04 .*Block1:[0-9]+/_/64' "$out"
back=$(lc "$base/large-update")
expect "GET /large-update returns what was stored" '^same$' \
  "$([ "$back" = "$(cat "$tmp/upload")" ] && echo same || echo differs)"

# --- TD_COAP_OBS with coap-client-notls ---
out=$(lc -v 7 -w -s 4 "$base/obs")
n=$(printf '%s\n' "$out" | grep -c 't:CON c:2.05 .*Observe:' || true)
expect "coap-client -s 4 /obs: CON notifications ($n)" '^ok$' \
  "$([ "$n" -ge 2 ] && echo ok || printf '%s\n' "$out" | tail -5)"
out=$(lc -v 7 -w -s 4 "$base/obs-non")
n=$(printf '%s\n' "$out" | grep -c 't:NON c:2.05 .*Observe:' || true)
expect "coap-client -s 4 /obs-non: NON notifications ($n)" '^ok$' \
  "$([ "$n" -ge 2 ] && echo ok || printf '%s\n' "$out" | tail -5)"

# --- TD_COAP_LINK with coap-client-notls ---
out=$(lc "$base/.well-known/core?rt=Type1")
expect "wkc ?rt=Type1: link1 and link3" '^</link1>;rt="Type1 Type2";if="If1",</link3>;rt="Type1 Type3";if="foo"$' "$out"
out=$(lc "$base/.well-known/core?if=If*")
expect "wkc ?if=If*: link1 and link2" '^</link1>[^,]*,</link2>[^,]*$' "$out"
out=$(lc -A 40 "$base/.well-known/core")
expect "wkc: every resource, /large with sz" '</large>;ct=0;rt="block";sz=[0-9]+' "$out"
expect "wkc: /path with ct=40" '</path>;ct=40' "$out"
out=$(lc "$base/.well-known/core?href=/path*")
expect "wkc ?href=/path*: /path and its subresources" '^</path>;ct=40,</path/sub1>;ct=0,</path/sub2>;ct=0,</path/sub3>;ct=0$' "$out"

# --- the rest with aiocoap-client ---
ac() { timeout 20 "$client" "$@" 2>&1; }
out=$(ac -v -m post --payload x "$base/test")
expect "aiocoap-client POST /test: Location-Path" 'Location options indicate new resource: /location1/location2/location3' "$out"
out=$(ac "$base/separate")
expect "aiocoap-client GET /separate" 'delayed answer' "$out"
out=$(ac -m put --payload "put by aiocoap" "$base/test"); status=$?
expect "aiocoap-client PUT /test" '^0$' "$status"
out=$(ac "$base/test")
expect "aiocoap-client GET /test after PUT" '^put by aiocoap$' "$out"
out=$(ac -v -m delete "$base/test")
expect "aiocoap-client DELETE /test: 2.02" '2\.02 Deleted' "$out"
out=$(ac --non "$base/test")
expect "aiocoap-client --non GET /test" '/test resource' "$out"
out=$(ac "$base/seg1/seg2/seg3")
expect "aiocoap-client GET /seg1/seg2/seg3" 'seg1/seg2/seg3' "$out"
out=$(ac "$base/query?first=1&second=2")
expect "aiocoap-client GET /query" '^first=1&second=2$' "$out"
out=$(ac -v -m post --payload x "$base/location-query")
expect "aiocoap-client POST /location-query: Location-Query" "Location-Query \\(20\\): 'first=1'" "$out"
out=$(ac --accept 41 "$base/multi-format")
expect "aiocoap-client --accept 41 /multi-format: XML" '^<\?xml version' "$out"
out=$(ac --accept 50 "$base/multi-format"); status=$?
expect "aiocoap-client --accept 50 /multi-format: 4.06, exit 1" '^1 .*4\.06' "$status $out"
out=$(ac "$base/large")
expect "aiocoap-client GET /large: the whole text" '30 abcdefghijklmnopqrstuvwxyz0123456789' "$out"
out=$(ac --no-pretty-print "$base/.well-known/core?rt=Type2")
expect "aiocoap-client wkc ?rt=Type2: link1 and link2" '^</link1>[^,]*,</link2>[^,]*$' "$out"
out=$(ac "$base/path/sub1")
expect "aiocoap-client GET /path/sub1" '^/path/sub1$' "$out"

out=$(ac --non "$base/separate")
expect "aiocoap-client --non GET /separate" 'delayed answer' "$out"
out=$(ac -v -m put --if-none-match --payload one "$base/create1")
expect "PUT /create1 If-None-Match: 2.01" '2\.01 Created' "$out"
out=$(ac -m put --if-none-match --payload two "$base/create1"); status=$?
expect "PUT /create1 If-None-Match again: 4.12, exit 1" '^1 .*4\.12' "$status $out"
out=$(ac -v -m delete "$base/create1")
expect "DELETE /create1: 2.02" '2\.02 Deleted' "$out"
out=$(ac -v "$base/validate")
etag=$(printf '%s\n' "$out" | sed -n "s/^- ETag (4): //p" | tr -d "'" | head -1)
expect "GET /validate carries an ETag ($etag)" '^0x[0-9a-f]+$' "$etag"
out=$(ac -v --etag "$etag" "$base/validate")
expect "GET /validate with its ETag: 2.03" '2\.03 Valid' "$out"
out=$(ac -v -m put --payload "new state" "$base/validate")
expect "PUT /validate: 2.04" '2\.04 Changed' "$out"
out=$(ac -m put --if-match "$etag" --payload stale "$base/validate"); status=$?
expect "PUT /validate If-Match stale ETag: 4.12" '^1 .*4\.12' "$status $out"
out=$(ac "$base/validate")
expect "GET /validate: the stale PUT changed nothing" '^new state$' "$out"
head -c 3000 /dev/zero | tr '\0' 'z' > "$tmp/big"
out=$(ac -v -m post --payload "@$tmp/big" --payload-initial-szx 4 "$base/large-create")
loc=$(printf '%s\n' "$out" | sed -n 's/^Location options indicate new resource: //p')
expect "POST /large-create: a new location ($loc)" '^/large-create/[0-9]+$' "$loc"
out=$(ac "$base$loc")
expect "GET the new location: the body" '^z{3000}$' "$out"
out=$(ac -m post --payload "@$tmp/big" "$base/large-post")
expect "POST /large-post: the whole blockwise answer" 'received 3000 bytes' "$out"
expect "POST /large-post: to its end" '30 abcdefghijklmnopqrstuvwxyz0123456789' "$out"
out=$(ac --observe --observe-count 3 "$base/obs"); status=$?
n=$(printf '%s\n' "$out" | grep -c '^/obs state ' || true)
expect "aiocoap-client --observe /obs: 3 states, exit 0" '^3 0$' "$n $status"
out=$(ac --observe --observe-count 2 "$base/obs-large"); status=$?
n=$(printf '%s\n' "$out" | grep -c '^/obs-large state ' || true)
expect "aiocoap-client --observe /obs-large: whole notifications" '^2 0$' "$n $status"
len=$(printf '%s\n' "$out" | awk '/^---$/ {exit} {n += length($0) + 1} END {print n}')
expect "aiocoap-client --observe /obs-large: 1500 bytes each ($len)" '^ok$' \
  "$([ "$len" -ge 1499 ] && [ "$len" -le 1501 ] && echo ok || echo "$len")"
out=$(ac --observe --observe-count 3 "$base/obs-pumping"); status=$?
n=$(printf '%s\n' "$out" | grep -c '^/obs-pumping state ' || true)
expect "aiocoap-client --observe /obs-pumping" '^3 0$' "$n $status"
# A PUT in another format ends the observation with 4.06; DELETE with 4.04.
( sleep 1.5; ac -m put --content-format 41 --payload '<x/>' "$base/obs-non" >/dev/null ) &
bg=$!
out=$(ac --observe "$base/obs-non"); status=$?
wait $bg
expect "PUT /obs-non in another format: observer gets 4.06" '4\.06' "$out"
( sleep 1.5; ac -m delete "$base/obs-non" >/dev/null ) &
bg=$!
out=$(ac --observe "$base/obs-non"); status=$?
wait $bg
expect "DELETE /obs-non: observer gets 4.04" '4\.04' "$out"
out=$(ac "$base/obs-non")
expect "/obs-non periodic again after DELETE" '^/obs-non state ' "$out"

# --- RFC 7641 §4.5.2 on the wire: a raw observer that never ACKs ---
out=$(timeout 30 python3 - "$port" <<'PY'
import socket, sys, time
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(12)
port = int(sys.argv[1])
# CON GET /obs, Observe 0, token 0x42 (options: Observe 6, Uri-Path 11).
s.sendto(bytes([0x41, 0x01, 0x12, 0x34, 0x42, 0x60, 0x53]) + b"obs", ("::1", port))
def parse(d):
    t, tkl, mid = d[0] >> 4 & 3, d[0] & 15, int.from_bytes(d[2:4], "big")
    i, num, obs = 4 + tkl, 0, None
    while i < len(d) and d[i] != 0xFF:
        delta, ln = d[i] >> 4, d[i] & 15
        i += 1
        if delta == 13: delta, i = d[i] + 13, i + 1
        if ln == 13: ln, i = d[i] + 13, i + 1
        num += delta
        if num == 6: obs = int.from_bytes(d[i:i + ln], "big")
        i += ln
    return t, d[1], mid, obs
first = parse(s.recv(1500))
print("registration type=%d code=%d observe=%s" % (first[0], first[1], first[3]))
# The first notification is acknowledged: that proves our address (RFC
# 7252 §11.3), so the server's anti-amplification limit stays out of it.
t, code, mid, obs = parse(s.recv(1500))
s.sendto(bytes([0x60, 0x00]) + mid.to_bytes(2, "big"), ("::1", port))
seen = []
while len(seen) < 3:
    t, code, mid, obs = parse(s.recv(1500))
    seen.append((time.monotonic(), t, mid, obs))
for at, t, mid, obs in seen:
    print("notification type=%d mid=%d observe=%d" % (t, mid, obs))
mids = {m for _, _, m, _ in seen}
print("distinct mids %d" % len(mids))
print("observe increasing %s" % all(a[3] < b[3] for a, b in zip(seen, seen[1:])))
g1, g2 = seen[1][0] - seen[0][0], seen[2][0] - seen[1][0]
# ACK_TIMEOUT 2 s with random factor 1.5, then doubled (RFC 7252 §4.2).
print("gaps %.1f %.1f schedule %s" % (g1, g2, 1.9 <= g1 <= 3.2 and 3.8 <= g2 <= 6.4))
# RST the last one: the server forgets this observer.
s.sendto(bytes([0x70, 0x00]) + seen[-1][2].to_bytes(2, "big"), ("::1", port))
PY
)
expect "raw observer: registered" 'registration type=2 code=69 observe=' "$out"
expect "raw observer: every notification CON" '^ok$' \
  "$(printf '%s\n' "$out" | grep '^notification' | grep -vq 'type=0' && echo no || echo ok)"
expect "raw observer: each replacement has a new MID" 'distinct mids 3' "$out"
expect "raw observer: each a newer state" 'observe increasing True' "$out"
expect "raw observer: on the retransmission schedule" 'schedule True' "$out"

# --- clean shutdown ---
kill -TERM $spid
wait $spid; status=$?
trap 'rm -rf "$tmp"' EXIT
expect "SIGTERM: clean exit 0" '^0$' "$status"
expect "stderr names the address" "serving on \\[::1\\]:$port" "$(cat "$tmp/server.err")"
finish
