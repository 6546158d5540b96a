package main

import (
	"context"

	corev1 "k8s.io/api/core/v1"
	apierrors "k8s.io/apimachinery/pkg/api/errors"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
	"k8s.io/apimachinery/pkg/apis/meta/v1/unstructured"
	"k8s.io/apimachinery/pkg/runtime/schema"
)

var execGVR = schema.GroupVersionResource{Group: "kwok.x-k8s.io", Version: "v1alpha1", Resource: "execs"}

// ensureExec creates (or points at this pod) the kwok Exec resource that makes `kubectl exec -c istio-proxy`
// run its command on this host in the pod's directory, with the agent's binary named for the config_dump answer
// (test/cluster/exec-path/pilot-agent). Owned by the pod, so the garbage collector removes it with the pod.
func (k *kubelet) ensureExec(ctx context.Context, pod *corev1.Pod, dir string) error {
	env := func(name, value string) map[string]any { return map[string]any{"name": name, "value": value} }
	spec := map[string]any{"execs": []any{map[string]any{
		"containers": []any{proxyName},
		"local": map[string]any{
			"workDir": dir,
			"envs": []any{
				env("ISTIO_CA_TEST_PILOT_AGENT", k.cfg.agentBin),
				env("OUTPUT_CERTS", "./"+certDir),
				env("POD_NAME", pod.Name),
				env("POD_NAMESPACE", pod.Namespace),
			},
		},
	}}}
	owner := []any{map[string]any{"apiVersion": "v1", "kind": "Pod", "name": pod.Name, "uid": string(pod.UID)}}
	obj := &unstructured.Unstructured{Object: map[string]any{
		"apiVersion": "kwok.x-k8s.io/v1alpha1", "kind": "Exec",
		"metadata": map[string]any{"name": pod.Name, "namespace": pod.Namespace, "ownerReferences": owner},
		"spec":     spec,
	}}
	res := k.dyn.Resource(execGVR).Namespace(pod.Namespace)
	_, err := res.Create(ctx, obj, metav1.CreateOptions{})
	if !apierrors.IsAlreadyExists(err) {
		return err
	}
	// A StatefulSet's new pod has the old one's name: take the resource over.
	cur, err := res.Get(ctx, pod.Name, metav1.GetOptions{})
	if err != nil {
		return err
	}
	cur.Object["spec"] = spec
	cur.SetOwnerReferences(nil)
	_ = unstructured.SetNestedSlice(cur.Object, owner, "metadata", "ownerReferences")
	_, err = res.Update(ctx, cur, metav1.UpdateOptions{})
	return err
}
