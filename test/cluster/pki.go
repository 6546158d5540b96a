package main

import (
	"crypto"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/pem"
	"errors"
	"flag"
	"fmt"
	"math/big"
	"net"
	"os"
	"path/filepath"
	"time"

	"k8s.io/client-go/tools/clientcmd"
	clientcmdapi "k8s.io/client-go/tools/clientcmd/api"
)

// runPKI creates (once) the cluster's CA, serving and client certificates and
// the service-account key pair under <dir>/pki, and (every time) the
// kubeconfigs under <dir>, pointing at --server.
//
//	<dir>/kubeconfig                      contexts admin (current) and readonly
//	<dir>/kubeconfigs/<component>.kubeconfig  controller-manager, scheduler, kwok
func runPKI() int {
	fs := flag.NewFlagSet("pki", flag.ExitOnError)
	dir := fs.String("dir", "", "state directory")
	server := fs.String("server", "", "API server URL, e.g. https://127.0.0.1:6443")
	cluster := fs.String("cluster-name", "istio-ca-test", "cluster name in the kubeconfig")
	_ = fs.Parse(os.Args[1:])
	if *dir == "" || *server == "" {
		fmt.Fprintln(os.Stderr, "pki: --dir and --server are required")
		return 2
	}
	if err := makePKI(*dir, *server, *cluster); err != nil {
		fmt.Fprintf(os.Stderr, "pki: %v\n", err)
		return 1
	}
	return 0
}

type keyPair struct {
	cert *x509.Certificate
	key  crypto.Signer
}

func makePKI(dir, server, clusterName string) error {
	pkiDir := filepath.Join(dir, "pki")
	if err := os.MkdirAll(pkiDir, 0o700); err != nil {
		return err
	}
	ca, err := loadOrCreate(pkiDir, "ca", nil, func() *x509.Certificate {
		return &x509.Certificate{
			Subject:               pkix.Name{CommonName: "istio-ca-test-cluster-ca"},
			KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageDigitalSignature | x509.KeyUsageCRLSign,
			BasicConstraintsValid: true,
			IsCA:                  true,
			NotAfter:              time.Now().AddDate(10, 0, 0),
		}
	})
	if err != nil {
		return err
	}
	if _, err := loadOrCreate(pkiDir, "apiserver", ca, func() *x509.Certificate {
		return &x509.Certificate{
			Subject:     pkix.Name{CommonName: "kube-apiserver"},
			KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
			ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
			DNSNames: []string{"kubernetes", "kubernetes.default", "kubernetes.default.svc",
				"kubernetes.default.svc.cluster.local", "localhost"},
			IPAddresses: []net.IP{net.ParseIP("127.0.0.1"), net.ParseIP("::1"), net.ParseIP("10.96.0.1")},
			NotAfter:    time.Now().AddDate(10, 0, 0),
		}
	}); err != nil {
		return err
	}
	clients := []struct{ file, cn, org string }{
		{"admin", "admin", "system:masters"},
		{"readonly", "readonly", ""},
		{"controller-manager", "system:kube-controller-manager", ""},
		{"scheduler", "system:kube-scheduler", ""},
		{"kwok", "kwok", "system:masters"},
	}
	pairs := map[string]*keyPair{}
	for _, c := range clients {
		c := c
		kp, err := loadOrCreate(pkiDir, c.file, ca, func() *x509.Certificate {
			subj := pkix.Name{CommonName: c.cn}
			if c.org != "" {
				subj.Organization = []string{c.org}
			}
			return &x509.Certificate{
				Subject:     subj,
				KeyUsage:    x509.KeyUsageDigitalSignature | x509.KeyUsageKeyEncipherment,
				ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageClientAuth},
				NotAfter:    time.Now().AddDate(10, 0, 0),
			}
		})
		if err != nil {
			return err
		}
		pairs[c.file] = kp
	}
	if err := serviceAccountKey(pkiDir); err != nil {
		return err
	}

	caPath := filepath.Join(pkiDir, "ca.crt")
	user := func(name string) *clientcmdapi.AuthInfo {
		return &clientcmdapi.AuthInfo{
			ClientCertificate: filepath.Join(pkiDir, name+".crt"),
			ClientKey:         filepath.Join(pkiDir, name+".key"),
		}
	}
	newConfig := func() *clientcmdapi.Config {
		cfg := clientcmdapi.NewConfig()
		cfg.Clusters[clusterName] = &clientcmdapi.Cluster{Server: server, CertificateAuthority: caPath}
		return cfg
	}

	// The kubeconfig handed to tests: contexts admin (current) and readonly.
	cfg := newConfig()
	cfg.AuthInfos["admin"] = user("admin")
	cfg.AuthInfos["readonly"] = user("readonly")
	cfg.Contexts["admin"] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: "admin"}
	cfg.Contexts["readonly"] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: "readonly"}
	cfg.CurrentContext = "admin"
	if err := clientcmd.WriteToFile(*cfg, filepath.Join(dir, "kubeconfig")); err != nil {
		return err
	}

	compDir := filepath.Join(dir, "kubeconfigs")
	if err := os.MkdirAll(compDir, 0o700); err != nil {
		return err
	}
	for _, name := range []string{"controller-manager", "scheduler", "kwok"} {
		cfg := newConfig()
		cfg.AuthInfos[name] = user(name)
		cfg.Contexts[name] = &clientcmdapi.Context{Cluster: clusterName, AuthInfo: name}
		cfg.CurrentContext = name
		if err := clientcmd.WriteToFile(*cfg, filepath.Join(compDir, name+".kubeconfig")); err != nil {
			return err
		}
	}
	return nil
}

// loadOrCreate returns the pair <dir>/<name>.crt/.key, creating it from tmpl
// (signed by parent, or self-signed when parent is nil) if either file is missing.
func loadOrCreate(dir, name string, parent *keyPair, tmpl func() *x509.Certificate) (*keyPair, error) {
	crtPath, keyPath := filepath.Join(dir, name+".crt"), filepath.Join(dir, name+".key")
	if kp, err := load(crtPath, keyPath); err == nil {
		return kp, nil
	} else if !errors.Is(err, os.ErrNotExist) {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, err
	}
	t := tmpl()
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 62))
	if err != nil {
		return nil, err
	}
	t.SerialNumber = serial
	t.NotBefore = time.Now().Add(-time.Hour)
	signerCert, signerKey := t, crypto.Signer(key)
	if parent != nil {
		signerCert, signerKey = parent.cert, parent.key
	}
	der, err := x509.CreateCertificate(rand.Reader, t, signerCert, key.Public(), signerKey)
	if err != nil {
		return nil, fmt.Errorf("%s: %w", name, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, err
	}
	keyDER, err := x509.MarshalPKCS8PrivateKey(key)
	if err != nil {
		return nil, err
	}
	if err := writePEM(keyPath, "PRIVATE KEY", keyDER, 0o600); err != nil {
		return nil, err
	}
	if err := writePEM(crtPath, "CERTIFICATE", der, 0o644); err != nil {
		return nil, err
	}
	return &keyPair{cert: cert, key: key}, nil
}

func load(crtPath, keyPath string) (*keyPair, error) {
	crtPEM, err := os.ReadFile(crtPath)
	if err != nil {
		return nil, err
	}
	keyPEM, err := os.ReadFile(keyPath)
	if err != nil {
		return nil, err
	}
	cb, _ := pem.Decode(crtPEM)
	kb, _ := pem.Decode(keyPEM)
	if cb == nil || kb == nil {
		return nil, fmt.Errorf("%s or %s holds no PEM block", crtPath, keyPath)
	}
	cert, err := x509.ParseCertificate(cb.Bytes)
	if err != nil {
		return nil, err
	}
	k, err := x509.ParsePKCS8PrivateKey(kb.Bytes)
	if err != nil {
		return nil, err
	}
	signer, ok := k.(crypto.Signer)
	if !ok {
		return nil, fmt.Errorf("%s: not a signing key", keyPath)
	}
	return &keyPair{cert: cert, key: signer}, nil
}

// serviceAccountKey creates sa.key (RSA, PKCS#1) and sa.pub for service-account tokens.
func serviceAccountKey(dir string) error {
	keyPath, pubPath := filepath.Join(dir, "sa.key"), filepath.Join(dir, "sa.pub")
	if _, err := os.Stat(keyPath); err == nil {
		if _, err := os.Stat(pubPath); err == nil {
			return nil
		}
	}
	key, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		return err
	}
	pub, err := x509.MarshalPKIXPublicKey(&key.PublicKey)
	if err != nil {
		return err
	}
	if err := writePEM(keyPath, "RSA PRIVATE KEY", x509.MarshalPKCS1PrivateKey(key), 0o600); err != nil {
		return err
	}
	return writePEM(pubPath, "PUBLIC KEY", pub, 0o644)
}

func writePEM(path, typ string, der []byte, mode os.FileMode) error {
	tmp := path + ".tmp"
	if err := os.WriteFile(tmp, pem.EncodeToMemory(&pem.Block{Type: typ, Bytes: der}), mode); err != nil {
		return err
	}
	return os.Rename(tmp, path)
}
