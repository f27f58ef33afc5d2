#!/usr/bin/env bash
# The credentials and endpoint flags as a user meets them:
# aiocoap-server's repeatable --bind with a scheme, --server-credentials,
# --tls-server-certificate/--tls-server-key, and aiocoap-client's
# --credentials: what is printed, what is refused, the exit statuses.
# (coaps itself is exercised by dtls_libcoap.sh.)
# Usage: credentials_args.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2
dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT

cat >"$dir/good.json" <<'JSON'
{":client": {"dtls": {"psk": {"ascii": "secretPSK"},
                      "client-identity": {"ascii": "client_Identity"}}}}
JSON
cat >"$dir/bad-entry.json" <<'JSON'
{":client": {"dtls": {"psk": {"hex": "abc"}, "client-identity": "me"}}}
JSON
printf '{"coaps://h/*": ' >"$dir/bad-syntax.json"

# ---- aiocoap-server ----
out=$("$server" --help 2>/dev/null)
expect "server --help names --server-credentials" '--server-credentials FILE' "$out"
expect "server --help names the certificate flags" \
  '--tls-server-certificate FILE.*--tls-server-key FILE' "$(printf '%s' "$out" | tr '\n' ' ')"
expect "server --help says --bind takes a scheme" 'coap\[s\]://' "$out"

err=$("$server" --tls-server-certificate c.pem 2>&1 >/dev/null); rc=$?
expect "a certificate without its key is a usage error" '^2$' "$rc"
expect "and says what is missing" '--tls-server-certificate needs --tls-server-key' "$err"
err=$("$server" --tls-server-key k.pem 2>&1 >/dev/null); rc=$?
expect "a key without its certificate is a usage error" '^2$' "$rc"
expect "and says what is missing" '--tls-server-key needs --tls-server-certificate' "$err"
err=$("$server" --server-credentials 2>&1 >/dev/null); rc=$?
expect "--server-credentials without a value is a usage error" '^2$' "$rc"

err=$("$server" --bind '[::1]:0' --server-credentials "$dir/none.json" 2>&1); rc=$?
expect "a missing credentials file: exit 1" '^1$' "$rc"
expect "names the file and the reason" "--server-credentials $dir/none.json: No such file or directory" "$err"
err=$("$server" --bind '[::1]:0' --server-credentials "$dir/bad-entry.json" 2>&1); rc=$?
expect "a malformed entry: exit 1" '^1$' "$rc"
expect "names the entry and the field" ':client: dtls.psk.hex: odd number of hex digits' "$err"
err=$("$server" --bind '[::1]:0' --server-credentials "$dir/bad-syntax.json" 2>&1); rc=$?
expect "malformed JSON: exit 1" '^1$' "$rc"
expect "says where" 'bad-syntax.json: line 1' "$err"

err=$("$server" --bind '' 2>&1 >/dev/null); rc=$?
expect "--bind '' is a usage error" '^2$' "$rc"
args=()
for i in $(seq 17); do args+=(--bind "[::1]:0"); done
err=$("$server" "${args[@]}" 2>&1 >/dev/null); rc=$?
expect "a 17th --bind is a usage error" '^2 at most 16$' "$rc $(printf '%s' "$err" | head -1 | grep -o 'at most 16')"
err=$("$server" --bind 'gopher://[::1]:0' 2>&1); rc=$?
expect "an unknown scheme cannot be served: exit 1" '^1$' "$rc"
expect "and is named" 'cannot serve on gopher://\[::1\]:0' "$err"

# Three coap endpoints, two with the scheme written out: each printed, each
# serving.  (coaps endpoints are dtls_libcoap.sh's.)
log=$dir/three.log
"$server" --bind '[::1]:0' --bind 'coap://[::1]:0' --bind 'coap://127.0.0.1:0' \
  --server-credentials "$dir/good.json" 2>"$log" &
pids+=($!)
for _ in $(seq 50); do
  [ "$(grep -c 'serving on' "$log")" -ge 3 ] && break
  sleep 0.1
done
ports=$(sed -n 's/.*serving on \[[:.0-9a-f]*\]:\([0-9][0-9]*\)$/\1/p' "$log" | tr '\n' ' ')
expect "three --bind: three addresses printed" '^[0-9]+ [0-9]+ [0-9]+ $' "$ports"
set -- $ports
expect "the first endpoint serves" '^[0-9]{4}-' "$("$client" "coap://[::1]:${1:-0}/time" 2>&1)"
expect "the second endpoint serves" '^[0-9]{4}-' "$("$client" "coap://[::1]:${2:-0}/time" 2>&1)"
expect "the third (IPv4) endpoint serves" '^[0-9]{4}-' "$("$client" "coap://127.0.0.1:${3:-0}/time" 2>&1)"

# A later --bind that cannot be bound ends the server with exit 1.
err=$(timeout 10 "$server" --bind "[::1]:0" --bind "[::1]:${1:-0}" 2>&1); rc=$?
expect "a taken port in a later --bind: exit 1" '^1$' "$rc"
expect "and says which" "cannot serve on \[::1\]:${1:-0}" "$err"

# ---- aiocoap-client ----
out=$("$client" --help 2>/dev/null)
expect "client --help names --credentials" '--credentials FILE' "$out"
err=$("$client" --credentials '' coap://[::1]/ 2>&1 >/dev/null); rc=$?
expect "--credentials '' is a usage error" '^2$' "$rc"
out=$("$client" --credentials "$dir/none.json" "coap://[::1]:${1:-0}/time" 2>"$dir/err"); rc=$?
expect "a missing credentials file: exit 1" '^1$' "$rc"
expect "names the file and the reason" "Error: --credentials $dir/none.json: No such file" "$(cat "$dir/err")"
expect_empty "and sends nothing (stdout empty)" "$out"
err=$("$client" --credentials "$dir/bad-entry.json" "coap://[::1]:${1:-0}/time" 2>&1); rc=$?
expect "a malformed entry: exit 1" '^1$' "$rc"
expect "names the entry and the field" ':client: dtls.psk.hex: odd number' "$err"
expect "credentials do not get in the way of coap://" '^[0-9]{4}-' \
  "$("$client" --credentials "$dir/good.json" "coap://[::1]:${1:-0}/time" 2>&1)"
expect "--credentials=FILE works too" '^[0-9]{4}-' \
  "$("$client" --credentials="$dir/good.json" "coap://[::1]:${1:-0}/time" 2>&1)"
err=$(printf 'exit\n' | "$client" --interactive --credentials "$dir/bad-entry.json" 2>&1); rc=$?
expect "--interactive loads --credentials first: a bad file is exit 1" '^1$' "$rc"
expect "naming the entry" ':client: dtls.psk.hex' "$err"
out=$(printf '%s\n' "--credentials $dir/good.json coap://[::1]:${1:-0}/time" exit |
  "$client" --interactive 2>&1)
expect "--credentials is refused at the prompt" 'not inside the interactive prompt' "$out"
out=$("$client" --credentials "$dir/good.json" "coaps://[::1]:1/" 2>"$dir/err"); rc=$?
expect "a coaps URI no entry matches fails: exit 1" '^1$' "$rc"
expect "with an error on stderr" '^Error: ' "$(cat "$dir/err")"
expect_empty "and nothing on stdout" "$out"
finish
