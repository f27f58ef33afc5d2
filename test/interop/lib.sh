# Shared by the interop scripts: a free UDP port, waiting for a server, and
# checks that print one line each and count failures.
failures=0
checks=0

free_udp_port() {
  python3 - <<'PY' 2>/dev/null || echo $((20000 + RANDOM % 20000))
import socket
s = socket.socket(socket.AF_INET6, socket.SOCK_DGRAM)
s.bind(("::1", 0))
print(s.getsockname()[1])
PY
}

# wait_until TRIES CMD...: runs CMD every 0.1 s, at most TRIES times, until
# it succeeds (a peer that was just started answers).  Its output is
# dropped; what it finally says is for the checks that follow.
wait_until() {
  local tries=$1
  shift
  for _ in $(seq "$tries"); do
    "$@" >/dev/null 2>&1 && return 0
    sleep 0.1
  done
  return 1
}

# expect NAME PATTERN OUTPUT: OUTPUT must match the extended regex PATTERN.
expect() {
  checks=$((checks + 1))
  if printf '%s' "$3" | grep -Eq -- "$2"; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected /$2/, got:"
    printf '%s\n' "$3" | sed 's/^/     | /'
    failures=$((failures + 1))
  fi
}

# expect_empty NAME OUTPUT: a success with no payload prints nothing.
expect_empty() {
  checks=$((checks + 1))
  if [ -z "$2" ]; then
    echo "ok   $1"
  else
    echo "FAIL $1: expected no output, got:"
    printf '%s\n' "$2" | sed 's/^/     | /'
    failures=$((failures + 1))
  fi
}

finish() {
  echo "$((checks - failures)) passed, $failures failed"
  [ "$failures" -eq 0 ]
}

# start_peer PORT LOG MODE [ARGS]: test/interop/coap_peer.py (a scriptable
# CoAP peer) in the background, waited for; its pid in peer_pid.
start_peer() {
  local port=$1 log=$2
  shift 2
  python3 "$here/coap_peer.py" "$port" "$log" "$@" &
  peer_pid=$!
  for _ in $(seq 100); do
    grep -q '^ready$' "$log" 2>/dev/null && return 0
    sleep 0.1
  done
  echo "FAIL coap_peer.py did not start"
  return 1
}

# ms_since START_NS: milliseconds since a `date +%s%N` reading.
ms_since() {
  echo $(( ($(date +%s%N) - $1) / 1000000 ))
}
