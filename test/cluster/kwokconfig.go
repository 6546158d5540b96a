package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	kwokcrd "sigs.k8s.io/kwok/kustomize/crd"
	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

// RealAgentLabel marks the pods whose istio-proxy is a real pilot-agent run by test/istiod's sidecar-kubelet:
// kwok starts them Running but not Ready, and the sidecar-kubelet marks them Ready when the agent's own
// /healthz/ready answers, as the kubelet's readiness probe would.
const RealAgentLabel = "istio-ca.test/agent"

// runKwokConfig prints a kwok configuration: KwokConfiguration options plus the
// upstream default Stage objects (kwok v0.8 has no built-in stages), with a
// small delay on pod-ready so a pod is Running and Ready shortly after it is
// scheduled, as a kubelet would make it.
func runKwokConfig() int {
	fs := flag.NewFlagSet("kwok-config", flag.ExitOnError)
	readyDelay := fs.Int("pod-ready-delay-ms", 200, "delay before a scheduled pod becomes Running and Ready")
	cidr := fs.String("cidr", "10.244.0.0/16", "pod IP range")
	_ = fs.Parse(os.Args[1:])

	podReady := podfast.DefaultPodReady
	if *readyDelay > 0 {
		delay := fmt.Sprintf("  delay:\n    durationMilliseconds: %d\n  next:\n", *readyDelay)
		if !strings.Contains(podReady, "\n  next:\n") {
			fmt.Fprintln(os.Stderr, "kwok-config: unexpected pod-ready stage layout")
			return 1
		}
		podReady = strings.Replace(podReady, "  next:\n", delay, 1)
	}
	podStartReal, err := realAgentPodStart(podReady)
	if err != nil {
		fmt.Fprintln(os.Stderr, "kwok-config:", err)
		return 1
	}
	podReady, err = replaceOnce(podReady, selectorHead, selectorHead+labelExpr("DoesNotExist"))
	if err != nil {
		fmt.Fprintln(os.Stderr, "kwok-config:", err)
		return 1
	}
	docs := []string{
		fmt.Sprintf(`apiVersion: config.kwok.x-k8s.io/v1alpha1
kind: KwokConfiguration
options:
  cidr: %q
  nodeIP: 127.0.0.1
  manageAllNodes: false
  manageNodesWithAnnotationSelector: kwok.x-k8s.io/node=fake
  nodeLeaseDurationSeconds: 40
  podPlayStageParallelism: 16
  nodePlayStageParallelism: 4
  nodeLeaseParallelism: 4
  podsOnNodeSyncParallelism: 4
  # exec (and logs) through the nodes' kubelet endpoint, kwok's server on loopback: kwok's Exec resources
  enableDebuggingHandlers: true
`, *cidr),
		nodefast.DefaultNodeInit,
		nodeheartbeat.DefaultNodeHeartbeatWithLease,
		podReady,
		podStartReal,
		podfast.DefaultPodComplete,
		podfast.DefaultPodDelete,
	}
	for i, d := range docs {
		if i > 0 {
			fmt.Println("---")
		}
		fmt.Print(strings.TrimRight(d, "\n") + "\n")
	}
	return 0
}

const selectorHead = "  selector:\n    matchExpressions:\n"

func labelExpr(op string) string {
	return fmt.Sprintf("    - key: '.metadata.labels[\"%s\"]'\n      operator: '%s'\n", RealAgentLabel, op)
}

func replaceOnce(s, old, repl string) (string, error) {
	if strings.Count(s, old) != 1 {
		return "", fmt.Errorf("unexpected pod-ready stage layout: %q occurs %d times", old, strings.Count(s, old))
	}
	return strings.Replace(s, old, repl, 1), nil
}

// realAgentPodStart derives from kwok's pod-ready stage a stage for real-agent pods: Running with an IP, every
// container started, but Ready, ContainersReady and each container's ready left false.
func realAgentPodStart(podReady string) (string, error) {
	steps := [][2]string{
		{"name: pod-ready\n", "name: pod-start-real-agent\n"},
		{selectorHead, selectorHead + labelExpr("Exists")},
		{"status: \"True\"\n        type: Ready\n", "status: \"False\"\n        type: Ready\n"},
		{"status: \"True\"\n        type: ContainersReady\n", "status: \"False\"\n        type: ContainersReady\n"},
		{"ready: true\n        restartCount: 0\n        state:\n          running:", "ready: false\n        restartCount: 0\n        state:\n          running:"},
	}
	s := podReady
	for _, st := range steps {
		var err error
		if s, err = replaceOnce(s, st[0], st[1]); err != nil {
			return "", err
		}
	}
	return s, nil
}

// runKwokCRDs prints the CustomResourceDefinitions of the kwok resources the test cluster enables with
// --enable-crds (kwok installs none when run as a plain binary): Exec, so that `kubectl exec` into a real-agent
// pod runs a command on this host in the pod's directory.
func runKwokCRDs() int {
	fmt.Print(strings.TrimRight(string(kwokcrd.Exec), "\n") + "\n")
	return 0
}
