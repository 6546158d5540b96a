#!/usr/bin/env bash
# Restarting sidecar workloads namespace by namespace with kubectl, as the recipe does.
#   kubectl-restart-loop.sh KUBECTL KUBECONFIG wait|nowait NAMESPACE...
# wait: after `kubectl rollout restart deployment -n NS`, `kubectl rollout status` each Deployment it restarted
# (kubectl's way to wait); nowait: the restart (a list and one patch per Deployment) only.
set -euo pipefail
kubectl=$1 kubeconfig=$2 mode=$3
shift 3
k() { "$kubectl" --kubeconfig "$kubeconfig" "$@"; }
restarted=0
for ns in "$@"; do
  out=$(k rollout restart deployment -n "$ns")
  while read -r ref _; do
    [[ -n "$ref" ]] || continue
    restarted=$((restarted + 1))
    if [[ "$mode" == wait ]]; then k rollout status "$ref" -n "$ns" --timeout=5m >/dev/null; fi
  done <<<"$out"
done
echo "restarted=$restarted"
