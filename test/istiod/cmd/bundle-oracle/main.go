// Command bundle-oracle does with each bundle directory named on the command line what istiod does with its
// mounted cacerts, using Istio's own code from the istio.io/istio module: detect the layout (tls.crt wins), refuse
// an incomplete bundle, load it with the plugged-CA constructor (ca.NewPluggedCertIstioCAOptions, CRL included in
// the cacerts layout), create the CA (ca.NewIstioCA), then sign a workload certificate and istiod's own serving
// certificate and verify both as a peer does: crypto/x509 against the root bundle with the chain istiod sends as
// intermediates, for client and for server authentication. One JSON line per bundle on stdout.
package main

import (
	"crypto/x509"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"strings"

	"istio.io/istio/security/pkg/cmd"
	"istio.io/istio/security/pkg/pki/ca"
	"istio.io/istio/security/pkg/pki/util"
)

const (
	workloadID   = "spiffe://cluster.local/ns/default/sa/default"
	istiodDNS    = "istiod.istio-system.svc"
	caRSAKeySize = 2048 // CITADEL_SELF_SIGNED_CA_RSA_KEY_SIZE default
)

// Verdict is one bundle's outcome. Loads is istiod's start-up (or reload) decision; the leaf fields say whether
// a peer verifies the certificates the loaded CA issues.
type Verdict struct {
	Bundle      string `json:"bundle"`
	Layout      string `json:"layout"`
	Loads       bool   `json:"loads"`
	Error       string `json:"error,omitempty"`
	WorkloadOK  bool   `json:"workloadOk"`
	WorkloadErr string `json:"workloadError,omitempty"`
	IstiodOK    bool   `json:"istiodOk"`
	IstiodErr   string `json:"istiodError,omitempty"`
}

func main() {
	if len(os.Args) < 2 {
		fmt.Fprintln(os.Stderr, "usage: bundle-oracle BUNDLE_DIR...")
		os.Exit(2)
	}
	out := json.NewEncoder(os.Stdout)
	for _, dir := range os.Args[1:] {
		if err := out.Encode(judge(dir)); err != nil {
			fmt.Fprintln(os.Stderr, err)
			os.Exit(1)
		}
	}
}

func exists(path string) bool {
	_, err := os.Stat(path)
	return err == nil
}

// fileBundle mirrors pilot/pkg/bootstrap detectSigningCABundleAndCRL with PILOT_ENABLE_CA_CRL at its default (true).
func fileBundle(dir string) (ca.SigningCAFileBundle, string) {
	tlsCert := filepath.Join(dir, ca.TLSSecretCACertFile)
	if exists(tlsCert) {
		return ca.SigningCAFileBundle{
			RootCertFile:    filepath.Join(dir, ca.TLSSecretRootCertFile),
			CertChainFiles:  []string{tlsCert, filepath.Join(dir, ca.TLSSecretRootCertFile)},
			SigningCertFile: tlsCert,
			SigningKeyFile:  filepath.Join(dir, ca.TLSSecretCAPrivateKeyFile),
		}, "tls"
	}
	b := ca.SigningCAFileBundle{
		RootCertFile:    filepath.Join(dir, ca.RootCertFile),
		CertChainFiles:  []string{filepath.Join(dir, ca.CertChainFile)},
		SigningCertFile: filepath.Join(dir, ca.CACertFile),
		SigningKeyFile:  filepath.Join(dir, ca.CAPrivateKeyFile),
	}
	if crl := filepath.Join(dir, ca.CACRLFile); exists(crl) {
		b.CRLFile = crl
	}
	return b, "cacerts"
}

func judge(dir string) Verdict {
	fb, layout := fileBundle(dir)
	v := Verdict{Bundle: filepath.Base(dir), Layout: layout}

	// pilot/pkg/bootstrap checkCABundleCompleteness: all of key, cert, root and a chain file, or istiod refuses.
	anyChain := false
	for _, f := range fb.CertChainFiles {
		anyChain = anyChain || exists(f)
	}
	present := []bool{exists(fb.SigningKeyFile), exists(fb.SigningCertFile), exists(fb.RootCertFile), anyChain}
	complete, some := true, false
	for _, p := range present {
		complete, some = complete && p, some || p
	}
	if !complete {
		if some {
			v.Error = "failed to create an istiod CA: incomplete signing CA bundle detected"
		} else {
			v.Error = "no plugged-in CA files: istiod would use its self-signed CA"
		}
		return v
	}

	opts, err := ca.NewPluggedCertIstioCAOptions(fb, cmd.DefaultWorkloadCertTTL, cmd.DefaultMaxWorkloadCertTTL, caRSAKeySize)
	if err != nil {
		v.Error = "failed to create an istiod CA: " + err.Error()
		return v
	}
	istioCA, err := ca.NewIstioCA(opts)
	if err != nil {
		v.Error = "failed to create an istiod CA: " + err.Error()
		return v
	}
	v.Loads = true

	_, _, chainPEM, rootPEM := istioCA.GetCAKeyCertBundle().GetAll()

	// A workload: pilot-agent sends a CSR, istiod signs it for the caller's identity (security/pkg/server/ca).
	csrPEM, _, err := util.GenCSR(util.CertOptions{Host: workloadID, ECSigAlg: util.EcdsaSigAlg, ECCCurve: util.P256Curve})
	if err != nil {
		v.WorkloadErr = "generating the workload CSR: " + err.Error()
	} else if leaf, signErr := istioCA.Sign(csrPEM, ca.CertOpts{SubjectIDs: []string{workloadID}, TTL: cmd.DefaultWorkloadCertTTL}); signErr != nil {
		v.WorkloadErr = "signing the workload certificate: " + signErr.Error()
	} else {
		v.WorkloadErr = verifyLeaf(leaf, chainPEM, rootPEM, "")
	}
	v.WorkloadOK = v.WorkloadErr == ""

	// istiod's own serving certificate, signed by the plugged CA (pilot/pkg/bootstrap/certcontroller.go).
	certChain, _, err := istioCA.GenKeyCert([]string{istiodDNS}, cmd.DefaultSelfSignedCACertTTL, false)
	if err != nil {
		v.IstiodErr = "signing istiod's serving certificate: " + err.Error()
	} else {
		v.IstiodErr = verifyLeaf(certChain, chainPEM, rootPEM, istiodDNS)
	}
	v.IstiodOK = v.IstiodErr == ""
	return v
}

// verifyLeaf checks the first certificate of leafPEM as a peer does: the intermediates are the chain istiod
// appends to every issued certificate, the anchors the root bundle it distributes. Empty string means verified.
func verifyLeaf(leafPEM, chainPEM, rootPEM []byte, dnsName string) string {
	leaf, err := util.ParsePemEncodedCertificate(leafPEM)
	if err != nil {
		return "parsing the issued certificate: " + err.Error()
	}
	intermediates := x509.NewCertPool()
	for _, c := range util.PemCertBytestoString(chainPEM) {
		intermediates.AppendCertsFromPEM([]byte(c + "\n"))
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(rootPEM)
	var problems []string
	for _, usage := range []struct {
		name string
		eku  x509.ExtKeyUsage
	}{{"client auth", x509.ExtKeyUsageClientAuth}, {"server auth", x509.ExtKeyUsageServerAuth}} {
		_, err := leaf.Verify(x509.VerifyOptions{
			Intermediates: intermediates,
			Roots:         roots,
			DNSName:       dnsName,
			KeyUsages:     []x509.ExtKeyUsage{usage.eku},
		})
		if err != nil {
			problems = append(problems, usage.name+": "+err.Error())
		}
	}
	return strings.Join(problems, "; ")
}
