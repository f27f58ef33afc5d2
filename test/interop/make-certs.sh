#!/usr/bin/env bash
# Throwaway test certificates for the coaps interop tests, made at test
# time so that no private key is ever committed: an EC P-256 CA, a server
# certificate for 127.0.0.1, ::1 and localhost, and a client certificate,
# each valid for two days.  The keys are unencrypted PEM (PKCS#8).
# Usage: make-certs.sh DIR   (DIR is created; writes ca.pem ca.key
#        server.pem server.key client.pem client.key)
set -eu
dir=${1:?usage: make-certs.sh DIR}
command -v openssl >/dev/null || { echo "make-certs.sh: openssl not installed" >&2; exit 1; }
mkdir -p "$dir"
cd "$dir"
ec=(-newkey ec -pkeyopt ec_paramgen_curve:P-256 -nodes)
serial() { echo "0x$(openssl rand -hex 8)"; }

openssl req -x509 "${ec[@]}" -keyout ca.key -out ca.pem -days 2 \
  -subj "/CN=aiocoap-c test CA (throwaway)" -set_serial "$(serial)" \
  -addext "basicConstraints=critical,CA:TRUE" \
  -addext "keyUsage=critical,keyCertSign,cRLSign" 2>/dev/null

# issue NAME CN EXTENDED_KEY_USAGE [SAN]
issue() {
  local name=$1 cn=$2 eku=$3 san=${4:-}
  openssl req "${ec[@]}" -keyout "$name.key" -out "$name.csr" \
    -subj "/CN=$cn" 2>/dev/null
  {
    echo "basicConstraints=critical,CA:FALSE"
    echo "keyUsage=critical,digitalSignature"
    echo "extendedKeyUsage=$eku"
    [ -n "$san" ] && echo "subjectAltName=$san"
  } >"$name.ext"
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key \
    -set_serial "$(serial)" -days 2 -extfile "$name.ext" -out "$name.pem" \
    2>/dev/null
  rm -f "$name.csr" "$name.ext"
  openssl verify -CAfile ca.pem "$name.pem" >/dev/null
}
issue server localhost serverAuth "IP:127.0.0.1,IP:::1,DNS:localhost"
issue client aiocoap-c-test-client clientAuth
chmod 600 ./*.key
