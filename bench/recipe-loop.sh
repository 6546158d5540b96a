#!/usr/bin/env bash
# The recipe's check that every namespace trusts the root: one kubectl and one openssl per namespace, in turn.
#   recipe-loop.sh KUBECTL KUBECONFIG EXPECTED_SHA256_FINGERPRINT [EVERY]
# Lists the namespaces with kubectl, then checks every EVERY-th of them (default 1: all). Prints ok= bad= checked=.
set -uo pipefail
kubectl=$1 kubeconfig=$2 expected=$3 every=${4:-1}
k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }
read -r -a namespaces <<<"$(k get namespaces -o jsonpath='{.items[*].metadata.name}')"
ok=0 bad=0 checked=0
for ((i = 0; i < ${#namespaces[@]}; i += every)); do
  ns=${namespaces[i]}
  fp=$(k get configmap istio-ca-root-cert -n "$ns" -o jsonpath='{.data.root-cert\.pem}' 2>/dev/null | openssl x509 -noout -fingerprint -sha256 2>/dev/null)
  if [[ "${fp#*=}" == "$expected" ]]; then ok=$((ok + 1)); else bad=$((bad + 1)); fi
  checked=$((checked + 1))
done
echo "ok=$ok bad=$bad checked=$checked namespaces=${#namespaces[@]}"
