#!/usr/bin/env bash
# Figures for aiocoap-fileserver (a benchmark, not a test: it prints, it
# does not judge):
#  - peak RSS (VmHWM) of the server across a 100 MiB PUT in 1024-byte
#    blocks from coap-client-notls, which it streams to a temporary file;
#  - the time coap-client-notls -b 1024 and aiocoap-client take to fetch a
#    10 MiB file from it, one after the other;
#  - the latency from a file's change to its Observe notification, as a
#    hand-made observer sees it (inotify, coalesced for 10 ms).
# Usage: cli/bench-fileserver.sh [BUILD-DIR]   (default: build)
set -eu
build=${1:-build}
fs="$build/cli/aiocoap-fileserver"
[ -x "$fs" ] || { echo "no $fs: build first (ninja -C $build)"; exit 1; }
command -v coap-client-notls >/dev/null || { echo "needs coap-client-notls"; exit 1; }
work=$(mktemp -d)
trap 'kill $pid 2>/dev/null; wait 2>/dev/null; rm -rf "$work"' EXIT
mkdir "$work/root"
"$fs" --bind "[::1]:0" --write "$work/root" 2>"$work/log" &
pid=$!
for _ in $(seq 50); do grep -q serving "$work/log" && break; sleep 0.1; done
port=$(grep -Eo '\]:[0-9]+$' "$work/log" | tr -d ']:')
B="coap://[::1]:$port"
hwm() { awk '/VmHWM/ {print $2 " " $3}' "/proc/$pid/status"; }

echo "aiocoap-fileserver on $B"
echo "RSS after start: $(hwm) (VmHWM)"

head -c $((100 << 20)) /dev/urandom >"$work/up100"
start=$(date +%s.%N)
coap-client-notls -B 600 -m put -b 1024 -f "$work/up100" "$B/up100.bin" >/dev/null 2>&1
end=$(date +%s.%N)
cmp -s "$work/up100" "$work/root/up100.bin" && ok=intact || ok=DIFFERS
echo "PUT 100 MiB, 1024-byte blocks: $(awk "BEGIN {printf \"%.2f\", $end - $start}") s, file $ok;" \
  "server peak RSS $(hwm)"
rm -f "$work/up100" "$work/root/up100.bin"

head -c $((10 << 20)) /dev/urandom >"$work/root/get10.bin"
for run in 1 2 3; do
  start=$(date +%s.%N)
  coap-client-notls -B 120 -b 1024 "$B/get10.bin" -o "$work/back" >/dev/null 2>&1
  end=$(date +%s.%N)
  cmp -s "$work/root/get10.bin" "$work/back" && ok=intact || ok=DIFFERS
  echo "GET 10 MiB, 1024-byte blocks (run $run): $(awk "BEGIN {printf \"%.2f\", $end - $start}") s, $ok"
done
client="$build/cli/aiocoap-client"
if [ -x "$client" ]; then
  for run in 1 2 3; do
    start=$(date +%s.%N)
    "$client" "$B/get10.bin" >"$work/back" 2>/dev/null
    end=$(date +%s.%N)
    cmp -s "$work/root/get10.bin" "$work/back" && ok=intact || ok=DIFFERS
    echo "GET 10 MiB with aiocoap-client (run $run): $(awk "BEGIN {printf \"%.2f\", $end - $start}") s, $ok"
  done
fi
echo "server peak RSS after the GETs: $(hwm)"

echo start >"$work/root/watched.txt"
python3 - "$port" "$work/root/watched.txt" <<'PY'
import socket, statistics, sys, time
port, path = int(sys.argv[1]), sys.argv[2]
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.settimeout(5)
# GET /watched.txt with Observe 0 (RFC 7641), token 0x42, CON.
name = b"watched.txt"
msg = bytes([0x41, 1, 0, 1, 0x42, 0x60]) + bytes([0x50 | len(name)]) + name
s.sendto(msg, ("::1", port))
s.recv(2048)
lat = []
for i in range(20):
    with open(path, "w") as f:
        f.write("change %d\n" % i)
    t0 = time.monotonic()
    while True:
        r, addr = s.recvfrom(2048)
        if r[0] >> 4 & 3 == 0:  # CON notification: acknowledge it
            s.sendto(bytes([0x60, 0, r[2], r[3]]), addr)
        if b"change %d" % i in r:
            break
    lat.append((time.monotonic() - t0) * 1000)
    time.sleep(0.05)
print("Observe: change to notification, 20 changes: median %.1f ms, max %.1f ms"
      % (statistics.median(lat), max(lat)))
PY
