#!/usr/bin/env bash
# coaps (CoAP over DTLS, RFC 7252 §9) against libcoap's OpenSSL and GnuTLS
# builds, both ways, with PSK and with certificates:
# - coap-client-openssl / coap-client-gnutls against aiocoap-server, whose
#   one coaps endpoint holds PSK credentials and a certificate: GET, PUT
#   in 64-byte blocks read back, observe, a wrong key refused;
# - aiocoap-client --credentials against coap-server-openssl and
#   coap-server-gnutls (-k KEY; DTLS on -p's port + 1): GET, PUT with
#   blockwise read back, observe, a wrong key, no matching credentials and
#   a certificate from another CA each an error with exit status 1.
# Certificates are made at test time (make-certs.sh).
# Usage: dtls_libcoap.sh PATH/TO/aiocoap-server PATH/TO/aiocoap-client
set -u
here=$(dirname "$0")
. "$here/lib.sh"
server=$1
client=$2
for peer in coap-client-openssl coap-client-gnutls coap-server-openssl \
            coap-server-gnutls openssl; do
  command -v "$peer" >/dev/null || { echo "FAIL $peer not installed (libcoap3-bin, openssl)"; exit 1; }
done

dir=$(mktemp -d)
pids=()
cleanup() {
  for p in "${pids[@]}"; do kill "$p" 2>/dev/null; wait "$p" 2>/dev/null; done
  rm -rf "$dir"
}
trap cleanup EXIT
"$here/make-certs.sh" "$dir/certs" || { echo "FAIL make-certs.sh"; exit 1; }
"$here/make-certs.sh" "$dir/other" || { echo "FAIL make-certs.sh (second CA)"; exit 1; }
certs=$dir/certs
key=secretPSK
id=client_Identity
t() { timeout 30 "$@"; }

# A 3 KiB text with a recognisable end, for the blockwise PUTs.
for i in $(seq 0 99); do printf 'line %04d of the upload, 0123456789abc\n' "$i"; done \
  | head -c 3072 >"$dir/upload"
printf 'END\n' >>"$dir/upload"

# ---- libcoap's clients against aiocoap-server ----
cat >"$dir/server.json" <<JSON
{":client": {"dtls": {"psk": {"ascii": "$key"}, "client-identity": {"ascii": "$id"}}}}
JSON
port=$(free_udp_port)
sport=$(free_udp_port)
while [ "$sport" = "$port" ]; do sport=$(free_udp_port); done
"$server" --bind "coap://127.0.0.1:$port" --bind "coaps://127.0.0.1:$sport" \
  --server-credentials "$dir/server.json" \
  --tls-server-certificate "$certs/server.pem" \
  --tls-server-key "$certs/server.key" 2>"$dir/server.log" &
pids+=($!)
wait_until 50 grep -q "serving on coaps://" "$dir/server.log" || true
expect "aiocoap-server serves coap and coaps" \
  "serving on .*127.0.0.1\]?:$port.*serving on coaps://.*127.0.0.1\]?:$sport" \
  "$(tr '\n' ' ' <"$dir/server.log")"
sbase="coaps://127.0.0.1:$sport"

for peer in coap-client-openssl coap-client-gnutls; do
  psk=(-k "$key" -u "$id")
  pki=(-c "$certs/client.pem" -j "$certs/client.key" -C "$certs/ca.pem")
  expect "$peer PSK: GET /time" '^[0-9]{4}-[0-9]{2}-[0-9]{2} ' \
    "$(t $peer -B 10 "${psk[@]}" "$sbase/time" 2>&1)"
  expect "$peer certificates: GET /.well-known/core" '</time>' \
    "$(t $peer -B 10 "${pki[@]}" "$sbase/.well-known/core" 2>&1)"
  expect_empty "$peer PSK: PUT 3 KiB in 64-byte blocks" \
    "$(t $peer -B 10 "${psk[@]}" -m put -b 64 -f "$dir/upload" "$sbase/other/block" 2>&1)"
  t $peer -B 10 "${pki[@]}" -b 64 "$sbase/other/block" -o "$dir/back-$peer" >/dev/null 2>&1
  expect "$peer certificates: the upload reads back in 64-byte blocks" '^same$' \
    "$(cmp -s "$dir/upload" "$dir/back-$peer" && echo same || echo differs)"
  out=$(t $peer -w -s 4 -B 8 "${psk[@]}" "$sbase/time" 2>&1)
  lines=$(printf '%s\n' "$out" | grep -Ec '^[0-9]{4}-[0-9]{2}-[0-9]{2} [0-9]{2}:[0-9]{2}$')
  expect "$peer PSK: observe /time for 4 s ($lines payloads)" '^ok$' \
    "$([ "$lines" -ge 3 ] && echo ok || printf '%s\n' "$out")"
  out=$(t $peer -B 5 -k wrongPSK -u "$id" "$sbase/time" 2>&1)
  expect "$peer with a wrong key gets no answer" '^ok$' \
    "$(printf '%s' "$out" | grep -Eq '^[0-9]{4}-' && printf 'answered:\n%s\n' "$out" || echo ok)"
done

# ---- aiocoap-client against aiocoap-server ----
cat >"$dir/self-psk.json" <<JSON
{"coaps://127.0.0.1:$sport/*": {"dtls": {"psk": {"ascii": "$key"}, "client-identity": {"ascii": "$id"}}}}
JSON
cat >"$dir/self-ca.json" <<JSON
{"coaps://127.0.0.1:$sport/*": {"x509": {"cafile": "certs/ca.pem"}}}
JSON
cat >"$dir/self-otherca.json" <<JSON
{"coaps://127.0.0.1:$sport/*": {"x509": {"cafile": "other/ca.pem"}}}
JSON
cat >"$dir/self-noverify.json" <<JSON
{"coaps://127.0.0.1:$sport/*": {"x509": {"cafile": "other/ca.pem", "insecure-no-verify": true}}}
JSON
expect "aiocoap-client PSK against aiocoap-server: GET /time" '^[0-9]{4}-' \
  "$(t "$client" --credentials "$dir/self-psk.json" "$sbase/time" 2>&1)"
expect "aiocoap-client checking the server's certificate: GET /time" '^[0-9]{4}-' \
  "$(t "$client" --credentials "$dir/self-ca.json" "$sbase/time" 2>&1)"
expect "insecure-no-verify accepts a certificate from another CA" '^[0-9]{4}-' \
  "$(t "$client" --credentials "$dir/self-noverify.json" "$sbase/time" 2>&1)"
out=$(t "$client" --credentials "$dir/self-otherca.json" "$sbase/time" 2>"$dir/err"); rc=$?
expect "a server certificate from another CA: exit 1" '^1$' "$rc"
expect "and says why" '^Error: .*certificate' "$(cat "$dir/err")"
t "$client" --credentials "$dir/self-psk.json" "$sbase/other/block" >"$dir/self-block" 2>&1
expect "GET /other/block over coaps is the upload (Block2)" '^same$' \
  "$(cmp -s "$dir/upload" "$dir/self-block" && echo same || echo differs)"
out=$(t "$client" --credentials "$dir/self-psk.json" --observe --observe-count 2 "$sbase/time" 2>&1); rc=$?
expect "aiocoap-client --observe-count 2 over coaps" '^0 2$' \
  "$rc $(printf '%s\n' "$out" | grep -Ec '^[0-9]{4}-[0-9]{2}-[0-9]{2} ')"

# ---- aiocoap-server refusing to serve coaps without what it needs ----
err=$(timeout 10 "$server" --bind "coaps://127.0.0.1:0" 2>&1); rc=$?
expect "coaps without credentials: exit 1" '^1$' "$rc"
expect "and says so" 'cannot serve on coaps://127.0.0.1:0: .*credentials' "$err"
err=$(timeout 10 "$server" --bind "127.0.0.1:0" --bind "coaps://127.0.0.1:0" \
  --tls-server-certificate "$dir/none.pem" --tls-server-key "$dir/none.key" 2>&1); rc=$?
expect "a certificate file that is not there: exit 1" '^1$' "$rc"
expect "and names it" "cannot serve on coaps://127.0.0.1:0: .*$dir/none.pem" "$err"

# ---- aiocoap-client against libcoap's servers ----
for peer in coap-server-openssl coap-server-gnutls; do
  lport=$(free_udp_port)
  while [ "$lport" = "$port" ] || [ "$lport" = "$sport" ]; do lport=$(free_udp_port); done
  lsport=$((lport + 1))
  $peer -A 127.0.0.1 -p "$lport" -k "$key" -c "$certs/server.pem" \
    -j "$certs/server.key" -C "$certs/ca.pem" 2>/dev/null &
  pids+=($!)
  lbase="coaps://127.0.0.1:$lsport"
  cat >"$dir/psk.json" <<JSON
{"coaps://127.0.0.1:$lsport/*": {"dtls": {"psk": {"ascii": "$key"}, "client-identity": {"ascii": "$id"}}}}
JSON
  cat >"$dir/wrong.json" <<JSON
{"coaps://127.0.0.1:$lsport/*": {"dtls": {"psk": {"ascii": "wrongPSK"}, "client-identity": {"ascii": "$id"}}}}
JSON
  cat >"$dir/cert.json" <<JSON
{"coaps://127.0.0.1:$lsport/*": {"x509": {"certfile": "certs/client.pem", "keyfile": "certs/client.key", "cafile": "certs/ca.pem"}}}
JSON
  cat >"$dir/othercert.json" <<JSON
{"coaps://127.0.0.1:$lsport/*": {"x509": {"cafile": "other/ca.pem"}}}
JSON
  cat >"$dir/elsewhere.json" <<JSON
{"coaps://192.0.2.1/*": {"dtls": {"psk": {"ascii": "$key"}, "client-identity": {"ascii": "$id"}}}}
JSON
  wait_until 50 t "$client" --credentials "$dir/psk.json" "$lbase/" || true
  expect "aiocoap-client PSK against $peer: GET /" 'test server made with libcoap' \
    "$(t "$client" --credentials "$dir/psk.json" "$lbase/" 2>&1)"
  expect "aiocoap-client certificates against $peer: GET /" 'test server made with libcoap' \
    "$(t "$client" --credentials "$dir/cert.json" "$lbase/" 2>&1)"
  expect_empty "aiocoap-client PSK: PUT 3 KiB to $peer /example_data" \
    "$(t "$client" --credentials "$dir/psk.json" -m PUT --payload "@$dir/upload" "$lbase/example_data" 2>&1)"
  t "$client" --credentials "$dir/psk.json" "$lbase/example_data" >"$dir/lback" 2>&1
  expect "and GETs it back intact" '^same$' \
    "$(cmp -s "$dir/upload" "$dir/lback" && echo same || echo "differs: $(head -c 200 "$dir/lback")")"
  out=$(t "$client" --credentials "$dir/psk.json" --observe --observe-count 3 "$lbase/time" 2>&1); rc=$?
  lines=$(printf '%s\n' "$out" | grep -Ec '^[A-Z][a-z]{2} [0-9]{2} [0-9:]{8}$')
  expect "aiocoap-client --observe-count 3 against $peer /time" '^ok$' \
    "$([ "$lines" -eq 3 ] && [ "$rc" -eq 0 ] && echo ok || printf 'status %s:\n%s\n' "$rc" "$out")"
  for bad in wrong othercert elsewhere; do
    # A wrong PSK: OpenSSL's server drops the Finished it cannot decrypt
    # without an alert (RFC 6347 §4.1.2.7 allows it), so the client learns
    # of it only when the handshake times out (dtls_handshake_timeout_ms,
    # 60 s by default); GnuTLS's answers with an alert at once.
    out=$(timeout 100 "$client" --credentials "$dir/$bad.json" "$lbase/" 2>"$dir/err"); rc=$?
    expect "aiocoap-client with $bad.json against $peer: exit 1" '^1$' "$rc"
    expect_empty "and nothing on stdout" "$out"
    case $bad in
      wrong) want='^Error: .*(handshake|alert)' ;;
      othercert) want='^Error: .*certificate' ;;
      elsewhere) want='^Error: .*credentials' ;;
    esac
    expect "and says why" "$want" "$(cat "$dir/err")"
  done
done
finish
