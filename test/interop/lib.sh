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

# enter_netns SCRIPT ARGS...: runs SCRIPT again, with ARGS, in a network
# namespace of its own (root, as CI is: a plain one; anyone else: an
# unprivileged user namespace), and returns at once when already inside;
# where none can be made the script is skipped (exit 77) with the reason.
enter_netns() {
  [ "${AIOCOAP_IN_NETNS:-}" = 1 ] && return 0
  local ns
  if [ "$(id -u)" -eq 0 ]; then ns=(unshare -n); else ns=(unshare -rn); fi
  if ! "${ns[@]}" true 2>/dev/null; then
    echo "SKIP $(basename "$1"): cannot make a network namespace here: $("${ns[@]}" true 2>&1 | head -n 1)"
    exit 77
  fi
  AIOCOAP_IN_NETNS=1 exec "${ns[@]}" bash "$@"
}

# veth_pair: inside such a namespace, loopback up and a veth pair v0/v1
# (what goes to a group by one end arrives on the other: Linux loops no
# IPv6 multicast over lo) whose link-local addresses are usable, without
# duplicate address detection where sysctl allows, else once it is over.
veth_pair() {
  sysctl -qw net.ipv6.conf.default.accept_dad=0 2>/dev/null
  ip link set lo up && ip link add v0 type veth peer name v1 &&
    ip link set v0 up && ip link set v1 up || return 1
  wait_until 50 sh -c 'ip -6 addr show dev v1 | grep -q "fe80.*scope link" && ! ip -6 addr show | grep -q tentative'
}
