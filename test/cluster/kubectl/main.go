// Command kubectl is upstream kubectl (k8s.io/kubernetes/cmd/kubectl/kubectl.go) built from the same pinned
// modules as the test cluster. It is a binary of its own, not a subcommand of testcluster: without the
// control-plane packages it starts about a third faster, which tests and benchmarks that run kubectl
// hundreds of times notice.
package main

import (
	"os"

	_ "k8s.io/client-go/plugin/pkg/client/auth" // client auth plugins, as upstream
	"k8s.io/component-base/cli"
	"k8s.io/component-base/logs"
	"k8s.io/kubectl/pkg/cmd"
	"k8s.io/kubectl/pkg/cmd/util"
)

func main() {
	logs.GlogSetter(cmd.GetLogVerbosity(os.Args)) // nolint:errcheck
	command := cmd.NewDefaultKubectlCommand()
	if err := cli.RunNoErrOutput(command); err != nil {
		util.CheckErr(err)
	}
}
