// Command istiod runs Istio's real pilot-discovery (from the istio.io/istio module) as a local process against
// the test cluster, for the end-to-end tests of root rotation. Settings come from the environment, as in a pod.
package main

import (
	"os"

	"istio.io/istio/pilot/cmd/pilot-discovery/app"
	"istio.io/istio/pkg/log"
)

func main() {
	log.EnableKlogWithCobra()
	rootCmd := app.NewRootCommand()
	if err := rootCmd.Execute(); err != nil {
		log.Error(err)
		os.Exit(-1)
	}
}
