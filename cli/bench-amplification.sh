#!/usr/bin/env bash
# Amplification (RFC 7252 §11.3): how much a server sends in answer to one
# small request from a peer that never answers anything (no ACK, no RST),
# as a spoofed source address would be.  For aiocoap-server and
# coap-server-notls (libcoap3-bin) side by side, it sends from a fresh
# UDP socket each of
#   GET /time with Observe 0 (CON, no token: 10 bytes), and
#   GET /other/block (CON, no token: 16 bytes); libcoap serves no
#     /other/block, so its comparable is GET /example_data after a 2,300
#     byte PUT there (CON, no token: 17 bytes),
# then, for SECONDS (default 60) of real time, counts what comes back and
# prints bytes and datagrams sent per byte received.  All four run at the
# same time.  A benchmark, not a test.  Needs python3.
# AIOCOAP_ARGS go to aiocoap-server: e.g. --amplification-factor 0 for the
# figures without the limit, --echo for RFC 9175 §2.4.  PORT (default
# 56851) and PORT + 1 are the two servers' ports.
# Usage: cli/bench-amplification.sh [BUILD_DIR] [SECONDS] [AIOCOAP_ARGS...]
set -eu
port=${PORT:-56851}
build=${1:-build}
seconds=${2:-60}
shift $(( $# > 2 ? 2 : $# ))
"$build/cli/aiocoap-server" --bind "[::1]:$port" "$@" 2>/dev/null &
ours=$!
coap-server-notls -A ::1 -p $((port + 1)) 2>/dev/null &
theirs=$!
trap 'kill $ours $theirs 2>/dev/null' EXIT
sleep 0.5
body=$(mktemp)
head -c 2300 /dev/zero | tr '\0' 'x' > "$body"
coap-client-notls -m put -f "$body" "coap://[::1]:$((port + 1))/example_data" \
  >/dev/null 2>&1 || echo "PUT /example_data to libcoap failed" >&2
rm -f "$body"
python3 - "$seconds" "$port" <<'PY'
import select, socket, struct, sys, time

seconds = float(sys.argv[1])
ours, theirs = int(sys.argv[2]), int(sys.argv[2]) + 1

def option(delta, value):
    # RFC 7252 §3.1; the deltas and lengths here are all below 13.
    return bytes([delta << 4 | len(value)]) + value

def get(mid, opts):
    return struct.pack("!BBH", 0x40, 0x01, mid) + b"".join(opts)

observe_time = get(1, [option(6, b""), option(5, b"time")])
other_block = get(2, [option(11, b"other"), option(0, b"block")])
example_data = get(3, [option(11, b"example_data")])

cases = [
    ("aiocoap-server", ours, "GET /time Observe", observe_time),
    ("aiocoap-server", ours, "GET /other/block", other_block),
    ("coap-server-notls", theirs, "GET /time Observe", observe_time),
    ("coap-server-notls", theirs, "GET /example_data", example_data),
]
socks = []
for server, port, what, req in cases:
    s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
    s.bind(("::1", 0))
    s.sendto(req, ("::1", port))
    socks.append([s, 0, 0])
end = time.monotonic() + seconds
while True:
    left = end - time.monotonic()
    if left <= 0:
        break
    ready, _, _ = select.select([x[0] for x in socks], [], [], left)
    for x in socks:
        if x[0] in ready:
            data = x[0].recv(65536)
            x[1] += 1
            x[2] += len(data)
print(f"over {seconds:g} s, the peer never answering:")
print(f"{'server':<18} {'request':<20} {'in':>4} {'datagrams':>9} "
      f"{'bytes':>6} {'bytes/in':>8} {'dgrams/in':>9}")
for (server, port, what, req), (s, n, b) in zip(cases, socks):
    print(f"{server:<18} {what:<20} {len(req):>4} {n:>9} {b:>6} "
          f"{b / len(req):>7.1f}x {n / len(req):>9.2f}")
PY
