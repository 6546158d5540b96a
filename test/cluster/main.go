// Command testcluster is a multi-call binary holding the real components of the
// kubectl-istio-ca test cluster, all built from Go modules pinned in this
// directory's go.mod:
//
//	etcd                     go.etcd.io/etcd/server/v3 embed
//	kube-apiserver           k8s.io/kubernetes/cmd/kube-apiserver/app
//	kube-controller-manager  k8s.io/kubernetes/cmd/kube-controller-manager/app
//	kube-scheduler           k8s.io/kubernetes/cmd/kube-scheduler/app
//	kwok                     sigs.k8s.io/kwok/pkg/kwok/cmd
//
// plus helpers used by scripts/test-cluster (pki, kwok-config, readonly-rbac,
// ports). Linking once keeps the cold build short; each component still runs
// as its own process with the upstream command and flags. kubectl is a binary
// of its own (./kubectl), from the same modules.
//
// The component is chosen by the base name of argv[0] (bin/kube-apiserver etc.
// are symlinks to this binary) or, when invoked as testcluster, by the first
// argument.
package main

import (
	"fmt"
	"os"
	"path/filepath"
	"sort"
	"strings"
)

const selfName = "testcluster"

var commands = map[string]func() int{
	"etcd":                    runEtcd,
	"kube-apiserver":          runAPIServer,
	"kube-controller-manager": runControllerManager,
	"kube-scheduler":          runScheduler,
	"kwok":                    runKwok,
	"pki":                     runPKI,
	"kwok-config":             runKwokConfig,
	"kwok-crds":               runKwokCRDs,
	"readonly-rbac":           runReadonlyRBAC,
	"free-ports":              runFreePorts,
}

func usage() {
	names := make([]string, 0, len(commands))
	for n := range commands {
		names = append(names, n)
	}
	sort.Strings(names)
	fmt.Fprintf(os.Stderr, "usage: %s <%s> [args...]\n", selfName, strings.Join(names, "|"))
}

func main() {
	name := filepath.Base(os.Args[0])
	if _, ok := commands[name]; !ok {
		if len(os.Args) < 2 {
			usage()
			os.Exit(2)
		}
		name = os.Args[1]
		if name == "-h" || name == "--help" || name == "help" {
			usage()
			os.Exit(0)
		}
		if _, ok := commands[name]; !ok {
			fmt.Fprintf(os.Stderr, "%s: unknown command %q\n", selfName, name)
			usage()
			os.Exit(2)
		}
		// Present the component with the argv its upstream main expects.
		os.Args = append([]string{name}, os.Args[2:]...)
	}
	os.Exit(commands[name]())
}
