#!/usr/bin/env bash
# certs/make-dev-certs.sh DIR — a development PKI for pebble9p's TLS, made with openssl:
#
#   DIR/ca.pem, ca.key           a CA (10 years) that signs everything below
#   DIR/server.pem, server.key   the gateway's certificate: SAN DNS localhost and *.pebble9p.dev (for
#                                server-name routes), IP 127.0.0.1
#                                (server.pem holds the leaf, then the CA: a full chain)
#   DIR/alice.pem, alice.key     client certificates: CN alice, SAN URI spiffe://pebble9p.dev/alice
#   DIR/bob.pem, bob.key         CN bob, SAN DNS bob.pebble9p.dev
#   DIR/expired.pem, expired.key a client certificate (CN mallory) whose validity ended a day
#                                before it began: expired from the start
#   DIR/revoked.pem, revoked.key a client certificate (CN eve) that the CA has revoked
#   DIR/crl.pem                  the CA's certificate revocation list, naming eve's certificate
#
# Keys are EC P-256, written with mode 0600. Never use these outside development: anyone with
# DIR/ca.key can mint clients. See certs/README.md for real certificates.
set -euo pipefail
dir=${1:?usage: $0 DIR}
mkdir -p "$dir"
cd "$dir"
umask 077
command -v openssl >/dev/null || { echo "openssl is missing: apt-get install -y openssl" >&2; exit 1; }

key() { openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$1" 2>/dev/null; }

key ca.key
openssl req -x509 -new -key ca.key -sha256 -days 3650 -subj "/CN=pebble9p development CA" \
  -addext "basicConstraints=critical,CA:TRUE" -addext "keyUsage=critical,keyCertSign,cRLSign" -out ca.pem

# issue NAME SUBJECT EXTENSIONS [DAYS]: a certificate signed by the CA.
issue() {
  local name=$1 subject=$2 extensions=$3 days=${4:-825}
  key "$name.key"
  openssl req -new -key "$name.key" -subj "$subject" -out "$name.csr"
  printf '%s\n' "$extensions" > "$name.ext"
  # A negative DAYS puts notAfter that far before notBefore (now): the certificate has expired.
  openssl x509 -req -in "$name.csr" -CA ca.pem -CAkey ca.key -CAcreateserial -sha256 -days "$days" \
    -extfile "$name.ext" -out "$name.pem" 2>/dev/null
  rm -f "$name.csr" "$name.ext"
}

issue server "/CN=localhost" "$(printf '%s\n' 'subjectAltName=DNS:localhost,DNS:*.pebble9p.dev,IP:127.0.0.1' \
  'extendedKeyUsage=serverAuth' 'keyUsage=critical,digitalSignature')"
cat ca.pem >> server.pem
client_ext() { printf '%s\n' "subjectAltName=$1" 'extendedKeyUsage=clientAuth' 'keyUsage=critical,digitalSignature'; }
issue alice "/CN=alice" "$(client_ext URI:spiffe://pebble9p.dev/alice)"
issue bob "/CN=bob" "$(client_ext DNS:bob.pebble9p.dev)"
issue expired "/CN=mallory" "$(client_ext DNS:mallory.pebble9p.dev)" -1
issue revoked "/CN=eve" "$(client_ext DNS:eve.pebble9p.dev)"
# The CRL: openssl ca keeps its revocations in a small database, made here and removed after.
printf '%s\n' '[ ca ]' 'default_ca = dev' '[ dev ]' 'database = ca-index.txt' 'crlnumber = ca-crlnumber' \
  'default_md = sha256' 'default_crl_days = 3650' > ca.cnf
: > ca-index.txt
echo 01 > ca-crlnumber
openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -revoke revoked.pem 2>/dev/null
openssl ca -config ca.cnf -cert ca.pem -keyfile ca.key -gencrl -out crl.pem 2>/dev/null
rm -f ca.cnf ca-index.txt* ca-crlnumber* ca.srl
chmod 644 ./*.pem
echo "made in $PWD: ca.pem server.pem/key alice.pem/key bob.pem/key expired.pem/key revoked.pem/key crl.pem"
