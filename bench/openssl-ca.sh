#!/usr/bin/env bash
# The same work as `kubectl istio-ca generate` with openssl, as Istio's tools/certs/common.mk does it: an RSA 4096
# root (genrsa, req, x509 -signkey) and an RSA 4096 intermediate signed by it (genrsa, req, x509 -CA), then
# cert-chain.pem.   openssl-ca.sh OUT_DIR
set -euo pipefail
out=$1
mkdir -p "$out"
cd "$out"
cat >root-ca.conf <<'CONF'
[ req ]
encrypt_key = no
prompt = no
utf8 = yes
default_md = sha256
default_bits = 4096
req_extensions = req_ext
x509_extensions = req_ext
distinguished_name = req_dn
[ req_ext ]
subjectKeyIdentifier = hash
basicConstraints = critical, CA:true
keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign
[ req_dn ]
O = Istio
CN = Root CA
CONF
cat >ca.conf <<'CONF'
[ req ]
encrypt_key = no
prompt = no
utf8 = yes
default_md = sha256
default_bits = 4096
req_extensions = req_ext
x509_extensions = req_ext
distinguished_name = req_dn
[ req_ext ]
subjectKeyIdentifier = hash
basicConstraints = critical, CA:true, pathlen:0
keyUsage = critical, digitalSignature, nonRepudiation, keyEncipherment, keyCertSign
subjectAltName = @san
[ san ]
DNS.1 = istiod.istio-system.svc
[ req_dn ]
O = Istio
CN = Intermediate CA
CONF
openssl genrsa -out root-key.pem 4096 2>/dev/null
openssl req -sha256 -new -key root-key.pem -config root-ca.conf -out root-cert.csr
openssl x509 -req -sha256 -days 3650 -signkey root-key.pem -extensions req_ext -extfile root-ca.conf -in root-cert.csr -out root-cert.pem 2>/dev/null
openssl genrsa -out ca-key.pem 4096 2>/dev/null
openssl req -sha256 -new -config ca.conf -key ca-key.pem -out cluster-ca.csr
openssl x509 -req -sha256 -days 1825 -CA root-cert.pem -CAkey root-key.pem -CAcreateserial -extensions req_ext -extfile ca.conf -in cluster-ca.csr -out ca-cert.pem 2>/dev/null
cat ca-cert.pem root-cert.pem >cert-chain.pem
