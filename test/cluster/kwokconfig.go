package main

import (
	"flag"
	"fmt"
	"os"
	"strings"

	nodefast "sigs.k8s.io/kwok/kustomize/stage/node/fast"
	nodeheartbeat "sigs.k8s.io/kwok/kustomize/stage/node/heartbeat-with-lease"
	podfast "sigs.k8s.io/kwok/kustomize/stage/pod/fast"
)

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
`, *cidr),
		nodefast.DefaultNodeInit,
		nodeheartbeat.DefaultNodeHeartbeatWithLease,
		podReady,
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
