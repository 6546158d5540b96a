// Command sidecar-kubelet plays the kubelet for the istio-proxy container of the test world's real pods: for
// every pod labelled istio-ca.test/agent in the given namespaces it runs Istio's real pilot-agent (cmd/pilot-agent,
// without Envoy) in a directory of its own, with what a pod would give it, and stops it when the pod goes:
//
//   - ./var/run/secrets/tokens/istio-token: a TokenRequest token (audience istio-ca, bound to the Pod), refreshed
//     at 80 % of its lifetime as the kubelet refreshes projected tokens; istiod checks it with TokenReview;
//   - ./var/run/secrets/istio/root-cert.pem: the namespace's istio-ca-root-cert ConfigMap, or the ClusterTrustBundle
//     the pod's volume projects (--cluster-trust-bundles; Istio's template with ENABLE_CLUSTER_TRUST_BUNDLE_API),
//     written the way the kubelet writes a volume (atomic ..data swap), --mount-delay after each change;
//   - ./etc/istio/pod/{labels,annotations}: the downward-API files pilot-agent reads (proxy.istio.io/config);
//   - the istio-proxy container's literal env values over this process's defaults (SECRET_TTL, ...);
//   - OUTPUT_CERTS=./var/lib/istio/data: the agent writes cert-chain.pem, key.pem and root-cert.pem there;
//   - readiness: the agent's own /healthz/ready on a unique status port; the pod is marked Ready (status
//     conditions) and <pod dir>/ready.json written only then (cmd/mtls-probe reads it); removed first at stop;
//   - a kwok Exec resource naming the pod's directory, so `kubectl exec -c istio-proxy` runs there.
//
// pilot-agent's status server listens on every interface (Istio hard-codes ":<port>"); every other listener of
// the agent is a unix socket under the pod's directory.
package main

import (
	"context"
	"flag"
	"fmt"
	"log"
	"os"
	"os/signal"
	"path/filepath"
	"strings"
	"syscall"
	"time"

	"k8s.io/client-go/dynamic"
	"k8s.io/client-go/kubernetes"
	"k8s.io/client-go/tools/clientcmd"
)

// Label selects the pods whose istio-proxy is a real pilot-agent (kwok starts them unready: test/cluster).
const Label = "istio-ca.test/agent"

type config struct {
	namespaces       map[string]bool
	stateDir         string
	agentBin         string
	discoveryAddress string
	istiodSAN        string
	secretTTL        string
	mountDelay       time.Duration
	tokenTTL         time.Duration
	agentEnv         []string
	// Watch ClusterTrustBundles (certificates.k8s.io/v1beta1 must be served) for pods that project one.
	clusterTrustBundles bool
}

type envList []string

func (e *envList) String() string     { return strings.Join(*e, ",") }
func (e *envList) Set(v string) error { *e = append(*e, v); return nil }

func main() {
	var c config
	var namespaces, kubeconfig, context_ string
	var extra envList
	flag.StringVar(&kubeconfig, "kubeconfig", os.Getenv("KUBECONFIG"), "kubeconfig of the test cluster")
	flag.StringVar(&context_, "context", "admin", "kubeconfig context")
	flag.StringVar(&namespaces, "namespaces", "", "comma-separated namespaces whose labelled pods get a real agent (required)")
	flag.StringVar(&c.stateDir, "state", "", "directory for the pods' directories, <state>/pods/<namespace>/<pod>-<uid> (required)")
	flag.StringVar(&c.agentBin, "agent", "", "path of the pilot-agent binary (required)")
	flag.StringVar(&c.discoveryAddress, "discovery-address", "", "istiod's secure gRPC address (15012), 127.0.0.1:PORT (required)")
	flag.StringVar(&c.istiodSAN, "istiod-san", "istiod.istio-system.svc", "a DNS name in istiod's serving certificate")
	flag.StringVar(&c.secretTTL, "secret-ttl", "24h", "SECRET_TTL of every agent unless its container env sets one")
	flag.DurationVar(&c.mountDelay, "mount-delay", 1500*time.Millisecond, "delay between a ConfigMap change and the mounted file changing")
	flag.DurationVar(&c.tokenTTL, "token-ttl", time.Hour, "lifetime of the service-account tokens requested (at least 10m)")
	flag.BoolVar(&c.clusterTrustBundles, "cluster-trust-bundles", false, "also mount roots from ClusterTrustBundles (certificates.k8s.io/v1beta1) for pods whose volume projects one")
	flag.Var(&extra, "agent-env", "KEY=VALUE for every agent (repeatable)")
	flag.Parse()
	c.agentEnv = extra
	missing := []string{}
	for name, v := range map[string]string{"--namespaces": namespaces, "--state": c.stateDir, "--agent": c.agentBin, "--discovery-address": c.discoveryAddress} {
		if v == "" {
			missing = append(missing, name)
		}
	}
	if len(missing) > 0 {
		fmt.Fprintf(os.Stderr, "sidecar-kubelet: missing %s\n", strings.Join(missing, ", "))
		os.Exit(2)
	}
	if c.tokenTTL < 10*time.Minute {
		fmt.Fprintln(os.Stderr, "sidecar-kubelet: --token-ttl must be at least 10m (the TokenRequest API minimum)")
		os.Exit(2)
	}
	c.namespaces = map[string]bool{}
	for _, ns := range strings.Split(namespaces, ",") {
		if ns = strings.TrimSpace(ns); ns != "" {
			c.namespaces[ns] = true
		}
	}
	abs, err := filepath.Abs(c.stateDir)
	if err != nil {
		log.Fatalf("sidecar-kubelet: %v", err)
	}
	c.stateDir = abs
	if c.agentBin, err = filepath.Abs(c.agentBin); err != nil {
		log.Fatalf("sidecar-kubelet: %v", err)
	}
	if _, err := os.Stat(c.agentBin); err != nil {
		fmt.Fprintf(os.Stderr, "sidecar-kubelet: the agent binary: %v\n", err)
		os.Exit(2)
	}

	rules := &clientcmd.ClientConfigLoadingRules{ExplicitPath: kubeconfig}
	rest, err := clientcmd.NewNonInteractiveDeferredLoadingClientConfig(rules, &clientcmd.ConfigOverrides{CurrentContext: context_}).ClientConfig()
	if err != nil {
		fmt.Fprintf(os.Stderr, "sidecar-kubelet: kubeconfig: %v\n", err)
		os.Exit(3)
	}
	rest.QPS, rest.Burst = 50, 100
	cs := kubernetes.NewForConfigOrDie(rest)
	dyn := dynamic.NewForConfigOrDie(rest)

	ctx, stop := signal.NotifyContext(context.Background(), syscall.SIGTERM, syscall.SIGINT)
	defer stop()
	k := newKubelet(c, cs, dyn)
	if err := k.run(ctx); err != nil {
		fmt.Fprintf(os.Stderr, "sidecar-kubelet: %v\n", err)
		os.Exit(1)
	}
}
