#!/usr/bin/env bash
# Writes the differential corpus: bundle directories made with openssl alone (no code of ours touches a byte), one
# per case, and OUT/index.tsv (name, what the case is). The differential test feeds every directory to the
# plugin's validator and to the istiod oracle (test/istiod/cmd/bundle-oracle) and compares the verdicts.
#   test/corpus/openssl-corpus.sh OUT_DIR
# EC P-256 keys unless the case is about the algorithm, so the corpus builds in a few seconds.
set -euo pipefail

OUT=${1:?usage: openssl-corpus.sh OUT_DIR}
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
W=$(mktemp -d)
trap 'rm -rf "$W"' EXIT
: >"$OUT/index.tsv"

# --- openssl configuration: one section per extension profile ----------------------------------------------------
cat >"$W/x.cnf" <<'EOF'
[ca]
default_ca = dated
[dated]
database = $ENV::W/index.txt
new_certs_dir = $ENV::W/newcerts
serial = $ENV::W/serial
crlnumber = $ENV::W/crlnumber
default_md = sha256
default_crl_days = 30
policy = any
unique_subject = no
preserve = yes
[any]
organizationName = optional
commonName = optional
[req]
distinguished_name = dn
[dn]
[root]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[root_pathlen0]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[root_eku_server]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
[root_nc_mesh]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,permitted;URI:cluster.local,permitted;DNS:svc
subjectKeyIdentifier = hash
[root_nc_uri_excluded]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,excluded;URI:cluster.local
subjectKeyIdentifier = hash
[root_nc_uri_other]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,permitted;URI:example.com
subjectKeyIdentifier = hash
[root_nc_dns_other]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,permitted;DNS:.example.com
subjectKeyIdentifier = hash
[root_nc_dns_excluded]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,excluded;DNS:istio-system.svc
subjectKeyIdentifier = hash
[root_nc_dns_cluster_local]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,permitted;DNS:.cluster.local,permitted;URI:cluster.local
subjectKeyIdentifier = hash
[mid]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[mid_pathlen0]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[int]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
subjectAltName = DNS:istiod.istio-system.svc
[int_nosan]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[int_nc_mesh]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
nameConstraints = critical,permitted;URI:cluster.local,permitted;DNS:istiod.istio-system.svc
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid:always
[int_eku_server]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
[int_eku_client]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = clientAuth
subjectKeyIdentifier = hash
[int_eku_both]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = serverAuth,clientAuth
subjectKeyIdentifier = hash
[int_eku_any]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,keyCertSign,cRLSign
extendedKeyUsage = anyExtendedKeyUsage
subjectKeyIdentifier = hash
[int_no_ku]
basicConstraints = critical,CA:TRUE,pathlen:0
subjectKeyIdentifier = hash
[int_ku_no_certsign]
basicConstraints = critical,CA:TRUE,pathlen:0
keyUsage = critical,digitalSignature,cRLSign
subjectKeyIdentifier = hash
[int_not_ca]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
subjectKeyIdentifier = hash
[int_no_bc]
keyUsage = critical,keyCertSign,cRLSign
subjectKeyIdentifier = hash
[leaf]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth,clientAuth
subjectAltName = DNS:shop.example.com
EOF
export W
mkdir -p "$W/newcerts"
: >"$W/index.txt"
echo 1000 >"$W/serial"
echo 1000 >"$W/crlnumber"
X="$W/x.cnf"

# --- helpers -------------------------------------------------------------------------------------------------------
newkey() { # ALG OUT: PKCS#8 "PRIVATE KEY"
  case $1 in
  ec256) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-256 -out "$2" ;;
  ec384) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-384 -out "$2" ;;
  ec521) openssl genpkey -algorithm EC -pkeyopt ec_paramgen_curve:P-521 -out "$2" ;;
  ed25519) openssl genpkey -algorithm ED25519 -out "$2" ;;
  rsa*) openssl genpkey -quiet -algorithm RSA -pkeyopt "rsa_keygen_bits:${1#rsa}" -out "$2" ;;
  esac
}
serial() { echo "0x$(openssl rand -hex 16 | sed 's/^[89a-f]/7/')"; }
selfsigned() { # KEY SUBJ EXT OUT [openssl req args...]
  local key=$1 subj=$2 ext=$3 out=$4
  shift 4
  openssl req -x509 -new -key "$key" -subj "$subj" -config "$X" -extensions "$ext" -days 3650 -set_serial "${SERIAL:-$(serial)}" -out "$out" "$@"
}
issue() { # KEY SUBJ EXT CA CAKEY OUT [openssl x509 args...]
  local key=$1 subj=$2 ext=$3 ca=$4 cakey=$5 out=$6
  shift 6
  openssl req -new -key "$key" -subj "$subj" -config "$X" -out "$W/req.csr"
  openssl x509 -req -in "$W/req.csr" -CA "$ca" -CAkey "$cakey" -extfile "$X" -extensions "$ext" -days 1825 \
    -set_serial "$(serial)" -out "$out" "$@" 2>/dev/null
}
dated() { # KEY SUBJ EXT START END CA|self CAKEY OUT: validity set explicitly (openssl ca)
  local key=$1 subj=$2 ext=$3 start=$4 end=$5 ca=$6 cakey=$7 out=$8
  openssl req -new -key "$key" -subj "$subj" -config "$X" -out "$W/req.csr"
  if [ "$ca" = self ]; then
    openssl ca -batch -config "$X" -selfsign -keyfile "$key" -in "$W/req.csr" -startdate "$start" -enddate "$end" \
      -extfile "$X" -extensions "$ext" -notext -out "$out" 2>/dev/null
  else
    openssl ca -batch -config "$X" -cert "$ca" -keyfile "$cakey" -in "$W/req.csr" -startdate "$start" \
      -enddate "$end" -extfile "$X" -extensions "$ext" -notext -out "$out" 2>/dev/null
  fi
}
crl() { # CA CAKEY OUT: an empty CRL signed by CA
  openssl ca -batch -config "$X" -gencrl -cert "$1" -keyfile "$2" -out "$3" 2>/dev/null
}
CUR=
bundle() { # NAME DESCRIPTION: starts a case; files are then written with put
  CUR="$OUT/$1"
  rm -rf "$CUR"
  mkdir -p "$CUR"
  printf '%s\t%s\n' "$1" "$2" >>"$OUT/index.tsv"
}
put() { # FILE SOURCE...: concatenates SOURCEs into the current case's FILE
  local f=$1
  shift
  cat "$@" >"$CUR/$f"
}
cacerts() { # CA-CERT KEY ROOTS [CHAIN...]: the cacerts layout; chain defaults to ca-cert + roots
  local c=$1 k=$2 r=$3
  shift 3
  put ca-cert.pem "$c"
  put ca-key.pem "$k"
  put root-cert.pem "$r"
  if [ $# -gt 0 ]; then put cert-chain.pem "$@"; else put cert-chain.pem "$c" "$r"; fi
}
nonl() { printf '%s' "$(cat "$1")"; } # the file without its final line break

# --- the shared hierarchy: root A -> intermediate A, root A -> mid A -> intermediate A2, root B -> intermediate B --
cd "$W"
newkey ec256 rootA.key
selfsigned rootA.key "/O=Istio/CN=Root A" root rootA.pem
newkey ec256 intA.key
issue intA.key "/O=Istio/CN=Intermediate A" int rootA.pem rootA.key intA.pem
newkey ec256 midA.key
issue midA.key "/O=Istio/CN=Mid A" mid rootA.pem rootA.key midA.pem
newkey ec256 intA2.key
issue intA2.key "/O=Istio/CN=Intermediate A2" int midA.pem midA.key intA2.pem
newkey ec256 rootB.key
selfsigned rootB.key "/O=Istio/CN=Root B" root rootB.pem
newkey ec256 intB.key
issue intB.key "/O=Istio/CN=Intermediate B" int rootB.pem rootB.key intB.pem

# --- algorithms ----------------------------------------------------------------------------------------------------
bundle alg-ec-p256 "EC P-256 root and intermediate, cacerts layout (the baseline)"
cacerts intA.pem intA.key rootA.pem
for alg in ec384 ec521 ed25519 rsa2048; do
  newkey $alg r-$alg.key
  selfsigned r-$alg.key "/O=Istio/CN=Root $alg" root r-$alg.pem
  newkey $alg i-$alg.key
  issue i-$alg.key "/O=Istio/CN=Intermediate $alg" int r-$alg.pem r-$alg.key i-$alg.pem
  bundle alg-$alg "$alg root and intermediate"
  cacerts i-$alg.pem i-$alg.key r-$alg.pem
done
bundle alg-rsa-root-ec-intermediate "RSA 2048 root, EC P-256 intermediate"
issue intA.key "/O=Istio/CN=Intermediate under RSA" int r-rsa2048.pem r-rsa2048.key i-mixed.pem
cacerts i-mixed.pem intA.key r-rsa2048.pem
newkey rsa1024 i-rsa1024.key
issue i-rsa1024.key "/O=Istio/CN=Intermediate rsa1024" int rootA.pem rootA.key i-rsa1024.pem
bundle alg-rsa1024-intermediate "RSA 1024 intermediate (weak, but Go accepts it)"
cacerts i-rsa1024.pem i-rsa1024.key rootA.pem
issue intA.key "/O=Istio/CN=Intermediate SHA-1" int rootA.pem rootA.key i-sha1.pem -sha1
bundle alg-sha1-intermediate "intermediate signed with ECDSA-SHA1"
cacerts i-sha1.pem intA.key rootA.pem
selfsigned r-rsa2048.key "/O=Istio/CN=Root SHA-1" root r-sha1.pem -sha1
issue intA.key "/O=Istio/CN=Intermediate under SHA-1 root" int r-sha1.pem r-rsa2048.key i-under-sha1.pem
bundle alg-sha1-root "root self-signed with SHA-1 (its own signature is never checked)"
cacerts i-under-sha1.pem intA.key r-sha1.pem

# --- key encodings -------------------------------------------------------------------------------------------------
openssl ec -in intA.key -out intA.sec1 2>/dev/null
bundle key-sec1 "signing key as EC PRIVATE KEY (SEC1)"
cacerts intA.pem intA.sec1 rootA.pem
bundle key-pkcs8 "signing key as PRIVATE KEY (PKCS#8)"
cacerts intA.pem intA.key rootA.pem
openssl rsa -in i-rsa2048.key -traditional -out i-rsa2048.pkcs1 2>/dev/null
bundle key-pkcs1 "RSA signing key as RSA PRIVATE KEY (PKCS#1)"
cacerts i-rsa2048.pem i-rsa2048.pkcs1 r-rsa2048.pem
openssl ecparam -name prime256v1 -genkey -out ecparam.key
issue ecparam.key "/O=Istio/CN=Intermediate ecparam" int rootA.pem rootA.key i-ecparam.pem
bundle key-ec-parameters-first "key file from openssl ecparam -genkey: EC PARAMETERS block before the key"
cacerts i-ecparam.pem ecparam.key rootA.pem
openssl pkey -in intA.key -aes256 -passout pass:secret -out intA.enc
bundle key-encrypted "signing key encrypted (ENCRYPTED PRIVATE KEY)"
cacerts intA.pem intA.enc rootA.pem
bundle key-mismatch "signing key of another certificate"
cacerts intA.pem intB.key rootA.pem
cat intA.pem intA.key >cert-then-key.pem
bundle key-certificate-first "ca-key.pem holds the certificate first, then the key"
cacerts intA.pem cert-then-key.pem rootA.pem
{ echo "# signing key of Intermediate A"; cat intA.key; } >commented.key
bundle key-text-before "a comment line before the key block"
cacerts intA.pem commented.key rootA.pem
bundle key-missing "ca-key.pem absent"
put ca-cert.pem intA.pem
put cert-chain.pem intA.pem rootA.pem
put root-cert.pem rootA.pem
bundle key-is-certificate "ca-key.pem holds only a certificate"
cacerts intA.pem intA.pem rootA.pem

# --- chain shapes and orders ---------------------------------------------------------------------------------------
bundle chain-two-levels "root -> mid -> intermediate, chain ca-cert, mid, root"
cacerts intA2.pem intA2.key rootA.pem intA2.pem midA.pem rootA.pem
bundle chain-two-levels-without-root "root -> mid -> intermediate, chain without the root"
cacerts intA2.pem intA2.key rootA.pem intA2.pem midA.pem
bundle chain-without-root "chain holds only ca-cert"
cacerts intA.pem intA.key rootA.pem intA.pem
bundle chain-root-first "chain in reverse order: root, then ca-cert"
cacerts intA.pem intA.key rootA.pem rootA.pem intA.pem
bundle chain-two-levels-shuffled "two levels, chain ca-cert, root, mid"
cacerts intA2.pem intA2.key rootA.pem intA2.pem rootA.pem midA.pem
bundle chain-without-signer "chain holds only the root (ca-cert missing)"
cacerts intA.pem intA.key rootA.pem rootA.pem
bundle chain-two-levels-missing-mid "two levels, chain ca-cert, root: the mid intermediate is missing"
cacerts intA2.pem intA2.key rootA.pem intA2.pem rootA.pem
: >empty
bundle chain-empty "cert-chain.pem empty"
cacerts intA.pem intA.key rootA.pem empty
bundle chain-missing "cert-chain.pem absent"
put ca-cert.pem intA.pem
put ca-key.pem intA.key
put root-cert.pem rootA.pem
bundle ca-cert-two-blocks "ca-cert.pem holds ca-cert and the root (istiod reads the first)"
cacerts intA.pem intA.key rootA.pem
put ca-cert.pem intA.pem rootA.pem
bundle ca-cert-is-root "self-signed CA plugged as is: ca-cert = root-cert = cert-chain"
cacerts rootA.pem rootA.key rootA.pem rootA.pem
bundle ca-cert-is-root-empty-chain "self-signed CA plugged with an empty cert-chain.pem"
cacerts rootA.pem rootA.key rootA.pem empty
bundle ca-cert-is-leaf "a leaf certificate as ca-cert"
issue intB.key "/O=Istio/CN=shop.example.com" leaf intA.pem intA.key leafA.pem
cacerts leafA.pem intB.key rootA.pem leafA.pem intA.pem rootA.pem
dated midA.key "/O=Istio/CN=Old Mid A" mid 20200101000000Z 20210101000000Z rootA.pem rootA.key oldmid.pem
bundle chain-extra-expired-cert "chain ca-cert, root, plus an unrelated expired intermediate"
cacerts intA.pem intA.key rootA.pem intA.pem rootA.pem oldmid.pem
bundle chain-leaf-appended "chain ca-cert, root, plus an unrelated leaf certificate"
cacerts intA.pem intA.key rootA.pem intA.pem rootA.pem leafA.pem

# --- root bundles --------------------------------------------------------------------------------------------------
bundle roots-multi "root-cert.pem = root A + root B, signer under A"
cacerts intA.pem intA.key <(cat rootA.pem rootB.pem) intA.pem rootA.pem
bundle roots-multi-signer-second "root-cert.pem = root B + root A, signer under A"
cacerts intA.pem intA.key <(cat rootB.pem rootA.pem) intA.pem rootA.pem
bundle roots-multi-duplicate "root-cert.pem = A + B + B (the switch-signer phase of a rotation)"
cacerts intB.pem intB.key <(cat rootA.pem rootB.pem rootB.pem) intB.pem rootB.pem
bundle roots-wrong-root "root-cert.pem holds only root B; signer under A"
cacerts intA.pem intA.key rootB.pem intA.pem rootA.pem
bundle roots-with-intermediate "root-cert.pem = root A + intermediate B (a non-root inside)"
cacerts intA.pem intA.key <(cat rootA.pem intB.pem) intA.pem rootA.pem
bundle roots-intermediate-only "root-cert.pem holds the signer's own issuer chain minus the root: mid A only"
cacerts intA2.pem intA2.key midA.pem intA2.pem midA.pem
bundle roots-with-leaf "root-cert.pem = root A + a leaf certificate"
cacerts intA.pem intA.key <(cat rootA.pem leafA.pem) intA.pem rootA.pem
bundle roots-with-private-key "root-cert.pem = root A + root A's private key"
cacerts intA.pem intA.key <(cat rootA.pem rootA.key) intA.pem rootA.pem
bundle roots-missing "root-cert.pem absent"
put ca-cert.pem intA.pem
put ca-key.pem intA.key
put cert-chain.pem intA.pem rootA.pem
bundle roots-der "root-cert.pem in DER"
cacerts intA.pem intA.key rootA.pem
openssl x509 -in rootA.pem -outform DER -out "$CUR/root-cert.pem"

# --- serial numbers ------------------------------------------------------------------------------------------------
SERIAL=-4242 selfsigned rootA.key "/O=Istio/CN=Root A negative serial" root r-neg.pem
issue intA.key "/O=Istio/CN=Intermediate under negative root" int r-neg.pem rootA.key i-under-neg.pem
bundle serial-negative-root "the only root has a negative serial"
cacerts i-under-neg.pem intA.key r-neg.pem
bundle serial-negative-extra-root "root A + a second root with a negative serial"
cacerts intA.pem intA.key <(cat rootA.pem r-neg.pem) intA.pem rootA.pem
openssl req -new -key intA.key -subj "/O=Istio/CN=Intermediate negative serial" -config "$X" -out req.csr
openssl x509 -req -in req.csr -CA rootA.pem -CAkey rootA.key -extfile "$X" -extensions int -days 1825 \
  -set_serial -77 -out i-neg.pem 2>/dev/null
bundle serial-negative-signer "ca-cert has a negative serial"
cacerts i-neg.pem intA.key rootA.pem

# --- extensions ----------------------------------------------------------------------------------------------------
for ext in int_eku_server int_eku_client int_eku_both int_eku_any int_no_ku int_ku_no_certsign int_not_ca int_no_bc int_nosan int_nc_mesh; do
  issue intA.key "/O=Istio/CN=Intermediate $ext" $ext rootA.pem rootA.key i-$ext.pem
done
bundle eku-server-only "intermediate EKU serverAuth only (no clientAuth)"
cacerts i-int_eku_server.pem intA.key rootA.pem
bundle eku-client-only "intermediate EKU clientAuth only (no serverAuth)"
cacerts i-int_eku_client.pem intA.key rootA.pem
bundle eku-server-client "intermediate EKU serverAuth, clientAuth"
cacerts i-int_eku_both.pem intA.key rootA.pem
bundle eku-any "intermediate EKU anyExtendedKeyUsage"
cacerts i-int_eku_any.pem intA.key rootA.pem
selfsigned rootA.key "/O=Istio/CN=Root EKU server" root_eku_server r-eku.pem
issue intA.key "/O=Istio/CN=Intermediate under EKU root" int r-eku.pem rootA.key i-under-eku.pem
bundle eku-root-server-only "root EKU serverAuth only"
cacerts i-under-eku.pem intA.key r-eku.pem
bundle keyusage-absent "intermediate without a keyUsage extension"
cacerts i-int_no_ku.pem intA.key rootA.pem
bundle keyusage-without-certsign "intermediate keyUsage digitalSignature, cRLSign (no keyCertSign)"
cacerts i-int_ku_no_certsign.pem intA.key rootA.pem
bundle basic-constraints-not-ca "intermediate with CA:FALSE"
cacerts i-int_not_ca.pem intA.key rootA.pem
bundle basic-constraints-absent "intermediate without basicConstraints"
cacerts i-int_no_bc.pem intA.key rootA.pem
selfsigned rootA.key "/O=Istio/CN=Root pathlen 0" root_pathlen0 r-pl0.pem
issue midA.key "/O=Istio/CN=Mid under pathlen 0" mid r-pl0.pem rootA.key m-pl0.pem
issue intA2.key "/O=Istio/CN=Intermediate under pathlen 0" int m-pl0.pem midA.key i-pl0.pem
bundle pathlen-root-zero-two-levels "root pathlen 0 above two CA levels"
cacerts i-pl0.pem intA2.key r-pl0.pem i-pl0.pem m-pl0.pem r-pl0.pem
issue midA.key "/O=Istio/CN=Mid pathlen 0" mid_pathlen0 rootA.pem rootA.key m-zero.pem
issue intA2.key "/O=Istio/CN=Intermediate under mid pathlen 0" int m-zero.pem midA.key i-mzero.pem
bundle pathlen-mid-zero "mid pathlen 0 above the signing CA: istiod loads, workload certificates fail"
cacerts i-mzero.pem intA2.key rootA.pem i-mzero.pem m-zero.pem rootA.pem
bundle pathlen-signer-zero "signing CA pathlen 0 (the usual)"
cacerts intA.pem intA.key rootA.pem
for nc in root_nc_mesh root_nc_uri_excluded root_nc_uri_other root_nc_dns_other root_nc_dns_excluded root_nc_dns_cluster_local; do
  selfsigned rootA.key "/O=Istio/CN=Root $nc" $nc r-$nc.pem
  issue intA.key "/O=Istio/CN=Intermediate under $nc" int r-$nc.pem rootA.key i-$nc.pem
  issue intA.key "/O=Istio/CN=Intermediate no SAN under $nc" int_nosan r-$nc.pem rootA.key in-$nc.pem
done
bundle nc-mesh "root permits URI cluster.local and DNS svc"
cacerts i-root_nc_mesh.pem intA.key r-root_nc_mesh.pem
bundle nc-uri-excluded "root excludes URI cluster.local (the trust domain)"
cacerts i-root_nc_uri_excluded.pem intA.key r-root_nc_uri_excluded.pem
bundle nc-uri-other-domain "root permits only URI example.com"
cacerts i-root_nc_uri_other.pem intA.key r-root_nc_uri_other.pem
bundle nc-dns-other-domain "root permits only DNS .example.com; signing CA has SAN istiod.istio-system.svc"
cacerts i-root_nc_dns_other.pem intA.key r-root_nc_dns_other.pem
bundle nc-dns-other-domain-no-san "root permits only DNS .example.com; signing CA without SAN"
cacerts in-root_nc_dns_other.pem intA.key r-root_nc_dns_other.pem
bundle nc-dns-excluded-no-san "root excludes DNS istio-system.svc; signing CA without SAN"
cacerts in-root_nc_dns_excluded.pem intA.key r-root_nc_dns_excluded.pem
bundle nc-dns-cluster-local-no-san "root permits DNS .cluster.local and URI cluster.local; signing CA without SAN"
cacerts in-root_nc_dns_cluster_local.pem intA.key r-root_nc_dns_cluster_local.pem
bundle nc-on-signer "signing CA itself permits URI cluster.local and DNS istiod.istio-system.svc"
cacerts i-int_nc_mesh.pem intA.key rootA.pem
bundle san-absent "signing CA without subjectAltName"
cacerts i-int_nosan.pem intA.key rootA.pem

# --- validity ------------------------------------------------------------------------------------------------------
now=$(date -u +%s)
ts() { date -u -d "@$(($now + $1))" +%Y%m%d%H%M%SZ; }
DAY=86400
dated intA.key "/O=Istio/CN=Intermediate expired" int "$(ts $((-400 * DAY)))" "$(ts $((-1 * DAY)))" rootA.pem rootA.key i-expired.pem
bundle validity-signer-expired "signing CA expired yesterday"
cacerts i-expired.pem intA.key rootA.pem
dated intA.key "/O=Istio/CN=Intermediate future" int "$(ts $((2 * DAY)))" "$(ts $((400 * DAY)))" rootA.pem rootA.key i-future.pem
bundle validity-signer-not-yet-valid "signing CA valid from the day after tomorrow"
cacerts i-future.pem intA.key rootA.pem
dated intA.key "/O=Istio/CN=Intermediate expiring" int "$(ts $((-10 * DAY)))" "$(ts $((2 * DAY)))" rootA.pem rootA.key i-expiring.pem
bundle validity-signer-expiring "signing CA expires in two days (still valid)"
cacerts i-expiring.pem intA.key rootA.pem
dated rootB.key "/O=Istio/CN=Root expired" root "$(ts $((-800 * DAY)))" "$(ts $((-1 * DAY)))" self rootB.key r-expired.pem
dated intB.key "/O=Istio/CN=Intermediate under expired root" int "$(ts $((-700 * DAY)))" "$(ts $((300 * DAY)))" r-expired.pem rootB.key i-under-expired.pem
bundle validity-root-expired "root expired yesterday"
cacerts i-under-expired.pem intB.key r-expired.pem
bundle validity-extra-root-expired "root A + an expired second root"
cacerts intA.pem intA.key <(cat rootA.pem r-expired.pem) intA.pem rootA.pem
dated rootB.key "/O=Istio/CN=Root short" root "$(ts $((-10 * DAY)))" "$(ts $((100 * DAY)))" self rootB.key r-short.pem
dated intB.key "/O=Istio/CN=Intermediate outliving root" int "$(ts $((-1 * DAY)))" "$(ts $((1000 * DAY)))" r-short.pem rootB.key i-outlives.pem
bundle validity-signer-outlives-root "signing CA valid longer than its root"
cacerts i-outlives.pem intB.key r-short.pem

# --- CRLs ----------------------------------------------------------------------------------------------------------
crl intA.pem intA.key crl-intA.pem
crl rootA.pem rootA.key crl-rootA.pem
crl midA.pem midA.key crl-midA.pem
crl intA2.pem intA2.key crl-intA2.pem
bundle crl-all-signers "ca-crl.pem: CRLs of ca-cert and root (chain ca-cert, root)"
cacerts intA.pem intA.key rootA.pem
put ca-crl.pem crl-intA.pem crl-rootA.pem
bundle crl-signer-only "ca-crl.pem: CRL of ca-cert only, chain includes the root"
cacerts intA.pem intA.key rootA.pem
put ca-crl.pem crl-intA.pem
bundle crl-signer-only-chain-without-root "ca-crl.pem: CRL of ca-cert only, chain without the root"
cacerts intA.pem intA.key rootA.pem intA.pem
put ca-crl.pem crl-intA.pem
bundle crl-two-levels-missing-mid "two levels, CRLs of ca-cert and root, none of mid"
cacerts intA2.pem intA2.key rootA.pem intA2.pem midA.pem rootA.pem
put ca-crl.pem crl-intA2.pem crl-rootA.pem
bundle crl-two-levels-all "two levels, CRLs of ca-cert, mid and root"
cacerts intA2.pem intA2.key rootA.pem intA2.pem midA.pem rootA.pem
put ca-crl.pem crl-intA2.pem crl-midA.pem crl-rootA.pem
echo "not a CRL" >garbage.txt
bundle crl-garbage "ca-crl.pem holds no PEM block"
cacerts intA.pem intA.key rootA.pem
put ca-crl.pem garbage.txt
bundle crl-empty "ca-crl.pem empty"
cacerts intA.pem intA.key rootA.pem
put ca-crl.pem empty
bundle crl-tls-layout-garbage "tls.crt layout with a garbage ca-crl.pem (istiod never reads it there)"
put tls.crt intA.pem
put tls.key intA.key
put ca.crt rootA.pem
put ca-crl.pem garbage.txt
bundle crl-wrong-signer "ca-crl.pem: CRLs signed by root B and intermediate B"
cacerts intA.pem intA.key rootA.pem
crl intB.pem intB.key crl-intB.pem
crl rootB.pem rootB.key crl-rootB.pem
put ca-crl.pem crl-intB.pem crl-rootB.pem

# --- layouts -------------------------------------------------------------------------------------------------------
bundle tls-layout "tls.crt, tls.key, ca.crt"
put tls.crt intA.pem
put tls.key intA.key
put ca.crt rootA.pem
bundle tls-layout-two-levels "tls.crt = ca-cert + mid, ca.crt = root"
put tls.crt intA2.pem midA.pem
put tls.key intA2.key
put ca.crt rootA.pem
bundle tls-layout-wins "tls.crt layout beside a broken cacerts layout"
put tls.crt intA.pem
put tls.key intA.key
put ca.crt rootA.pem
put ca-cert.pem garbage.txt
put ca-key.pem intB.key
bundle tls-layout-without-ca-crt "tls.crt and tls.key, no ca.crt"
put tls.crt intA.pem
put tls.key intA.key
bundle tls-layout-no-final-newline "tls.crt without a final line break (istiod concatenates tls.crt and ca.crt)"
nonl intA.pem >tls-nonl.crt
put tls.crt tls-nonl.crt
put tls.key intA.key
put ca.crt rootA.pem

# --- PEM formatting ------------------------------------------------------------------------------------------------
bundle pem-crlf "every file with CRLF line ends"
for f in intA.pem intA.key rootA.pem; do sed 's/$/\r/' $f >crlf-$f; done
cacerts crlf-intA.pem crlf-intA.key crlf-rootA.pem
for f in intA.pem rootA.pem; do { openssl x509 -in $f -noout -subject -issuer; cat $f; echo "trailing notes"; } >text-$f; done
bundle pem-text-around "certificates with subject/issuer lines before and text after the block"
cacerts text-intA.pem intA.key text-rootA.pem
for f in intA.pem intA.key rootA.pem; do nonl $f >nonl-$f; done
cat intA.pem rootA.pem >chainA.pem
bundle pem-no-final-newline "every file without a final line break"
cacerts nonl-intA.pem nonl-intA.key nonl-rootA.pem <(nonl chainA.pem)
bundle pem-chain-joined "cert-chain.pem: ca-cert's END line joined to the root's BEGIN line"
cacerts intA.pem intA.key rootA.pem <(nonl intA.pem; cat rootA.pem)
bundle pem-roots-joined "root-cert.pem: root B's END line joined to root A's BEGIN line"
cacerts intA.pem intA.key <(nonl rootB.pem; cat rootA.pem) intA.pem rootA.pem
bundle pem-roots-joined-signer-first "root-cert.pem: root A's END joined to root B's BEGIN"
cacerts intA.pem intA.key <(nonl rootA.pem; cat rootB.pem) intA.pem rootA.pem
head -n 5 intA.pem >truncated.pem
bundle pem-begin-without-end "ca-cert.pem: a BEGIN line and no END line"
cacerts truncated.pem intA.key rootA.pem intA.pem rootA.pem
sed 's/^-----\(BEGIN\|END\) CERTIFICATE-----$/&  /' rootA.pem >spaces-rootA.pem
bundle pem-trailing-spaces "root-cert.pem: spaces after the BEGIN and END lines"
cacerts intA.pem intA.key spaces-rootA.pem
sed 's/^/  /' rootA.pem >indented-rootA.pem
bundle pem-indented "root-cert.pem: every line indented by two spaces"
cacerts intA.pem intA.key indented-rootA.pem intA.pem rootA.pem
