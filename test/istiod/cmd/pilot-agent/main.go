// Command pilot-agent is Istio's real pilot-agent (istio.io/istio/pilot/cmd/pilot-agent/app, the same module pin
// as ../../main.go's istiod), for the test world's real workloads. It is run without Envoy (DISABLE_ENVOY=true,
// the proxyless mode of Istio's grpc-agent template) by cmd/sidecar-kubelet, one process per real pod: it fetches
// the workload certificate from the test mesh's istiod with the pod's service-account token and writes it out
// with OUTPUT_CERTS. Upstream's main differs only by importing automemlimit (a GOMEMLIMIT from the cgroup).
package main

import (
	"os"

	meshconfig "istio.io/api/mesh/v1alpha1"
	"istio.io/istio/pilot/cmd/pilot-agent/app"
	istioagent "istio.io/istio/pkg/istio-agent"
	"istio.io/istio/pkg/log"
	"istio.io/istio/pkg/security"
	"istio.io/istio/security/pkg/nodeagent/sds"
)

func main() {
	log.EnableKlogWithCobra()
	rootCmd := app.NewRootCommand(
		func(options *security.Options, cache security.SecretManager, pkp *meshconfig.PrivateKeyProvider) istioagent.SDSService {
			return sds.NewServer(options, cache, pkp)
		})
	if err := rootCmd.Execute(); err != nil {
		log.Error(err)
		os.Exit(-1)
	}
}
