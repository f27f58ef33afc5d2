#!/usr/bin/env bash
# Runs bench-requests against aiocoap-server and coap-server-notls in the
# same run (piggybacked GET /time, N = 1, 64 and 4096 outstanding) and prints
# each server's CPU use, the datagrams the kernel dropped for want of
# receive-buffer room, and peak RSS.  A benchmark, not a test.
#
# Drops are counted three ways: the kernel's RcvbufErrors (the Udp line of
# /proc/net/snmp plus Udp6 in /proc/net/snmp6: every socket on the host,
# the client's too), the server socket's own drop count (the last column of
# /proc/net/udp6, the figure SO_RXQ_OVFL reports), and, at the end,
# aiocoap-server's kernel_drops stat as it logs it on shutdown.
# Usage: cli/bench-servers.sh [BUILD_DIR] [SECONDS] [N...]
set -eu
build=${1:-build}
seconds=${2:-5}
shift $(( $# > 2 ? 2 : $# ))
sizes=${*:-1 64 4096}
bench=$build/cli/bench-requests
ours_log=$(mktemp)
"$build/cli/aiocoap-server" --bind '[::1]:56831' 2>"$ours_log" &
ours=$!
coap-server-notls -A ::1 -p 56832 2>/dev/null &
theirs=$!
trap 'kill $ours $theirs 2>/dev/null; rm -f "$ours_log"' EXIT
sleep 0.5
ticks() { awk '{print $14 + $15}' "/proc/$1/stat"; }
rcvbuf_errors() {
  awk '/^Udp:/ && !h {for (i = 1; i <= NF; i++) if ($i == "RcvbufErrors") c = i; h = 1; next}
       /^Udp:/ {n += $c}
       END {print n}' /proc/net/snmp
  awk '$1 == "Udp6RcvbufErrors" {print $2}' /proc/net/snmp6
}
kernel_drops() { rcvbuf_errors | awk '{n += $1} END {print n}'; }
socket_drops() {
  awk -v port="$(printf ':%04X' "$1")" \
    'substr($2, length($2) - 4) == port {n += $NF} END {print n + 0}' \
    /proc/net/udp6
}
hz=$(getconf CLK_TCK)
for n in $sizes; do
  for server in "aiocoap-server $ours 56831" "coap-server-notls $theirs 56832"; do
    set -- $server
    before=$(ticks "$2")
    kbefore=$(kernel_drops)
    sbefore=$(socket_drops "$3")
    printf '%-18s ' "$1"
    "$bench" -n "$n" -t "$seconds" "coap://[::1]:$3/time" | tr -d '\n' || true
    after=$(ticks "$2")
    echo "  server CPU $(( (after - before) * 100 / hz / seconds ))%," \
      "drops: server socket +$(( $(socket_drops "$3") - sbefore )), host" \
      "RcvbufErrors +$(( $(kernel_drops) - kbefore ))"
  done
done
for server in "aiocoap-server $ours" "coap-server-notls $theirs"; do
  set -- $server
  echo "$1 peak RSS: $(awk '/VmHWM/{print $2, $3}' "/proc/$2/status")"
done
kill -INT $ours
wait $ours 2>/dev/null || true
grep -h 'buffer\|kernel_drops' "$ours_log" | sed 's/^/  /' || true
