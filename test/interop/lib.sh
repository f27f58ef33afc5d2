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
