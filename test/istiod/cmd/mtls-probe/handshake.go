package main

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"sync"
	"time"
)

// workload is one ready pod as cmd/sidecar-kubelet describes it in ready.json.
type workload struct {
	Namespace      string `json:"namespace"`
	Pod            string `json:"pod"`
	ServiceAccount string `json:"serviceAccount"`
	// CertDir holds pilot-agent's OUTPUT_CERTS files, relative to the pod's directory.
	CertDir string `json:"certDir"`
	dir     string
}

func (w workload) id() string { return w.Namespace + "/" + w.Pod }

func (w workload) spiffeID(trustDomain string) string {
	return fmt.Sprintf("spiffe://%s/ns/%s/sa/%s", trustDomain, w.Namespace, w.ServiceAccount)
}

// material is what a workload's proxy holds at one moment: its leaf + chain with key, and its trusted roots.
type material struct {
	cert  tls.Certificate
	roots *x509.CertPool
}

var errGone = errors.New("pod gone")

// parsed keeps the last material parsed per pod directory with the bytes it came from: the files are read at
// every handshake, and parsed again only when their bytes change.
var parsed sync.Map // dir -> *cachedMaterial

type cachedMaterial struct {
	chain, key, roots []byte
	m                 *material
}

// load reads the workload's files now. pilot-agent writes key.pem, cert-chain.pem and root-cert.pem one after
// the other (each atomically): a read between two of them finds a key that does not match the chain. Envoy gets
// them together over SDS, so such a read is retried, not counted.
func (w workload) load() (*material, error) {
	var lastErr error
	for attempt := 0; attempt < 5; attempt++ {
		if attempt > 0 {
			time.Sleep(40 * time.Millisecond)
		}
		if _, err := os.Stat(filepath.Join(w.dir, "ready.json")); err != nil {
			return nil, errGone
		}
		dir := filepath.Join(w.dir, w.CertDir)
		chainPEM, err1 := os.ReadFile(filepath.Join(dir, "cert-chain.pem"))
		keyPEM, err2 := os.ReadFile(filepath.Join(dir, "key.pem"))
		rootPEM, err3 := os.ReadFile(filepath.Join(dir, "root-cert.pem"))
		if err := errors.Join(err1, err2, err3); err != nil {
			lastErr = fmt.Errorf("%s cannot read its certificate files: %v", w.id(), err)
			continue
		}
		if c, ok := parsed.Load(w.dir); ok {
			c := c.(*cachedMaterial)
			if bytes.Equal(c.chain, chainPEM) && bytes.Equal(c.key, keyPEM) && bytes.Equal(c.roots, rootPEM) {
				return c.m, nil
			}
		}
		cert, err := tls.X509KeyPair(chainPEM, keyPEM)
		if err != nil {
			lastErr = fmt.Errorf("%s cannot present its certificate: %v", w.id(), err)
			continue
		}
		roots := x509.NewCertPool()
		if !roots.AppendCertsFromPEM(rootPEM) {
			lastErr = fmt.Errorf("%s has no root in its trust bundle", w.id())
			continue
		}
		m := &material{cert: cert, roots: roots}
		parsed.Store(w.dir, &cachedMaterial{chain: chainPEM, key: keyPEM, roots: rootPEM, m: m})
		return m, nil
	}
	return nil, lastErr
}

// verifier checks a peer as an Istio sidecar does: its chain up to one of our roots, and its SPIFFE ID.
func verifier(roots *x509.CertPool, wantID string) func([][]byte, [][]*x509.Certificate) error {
	return func(raw [][]byte, _ [][]*x509.Certificate) error {
		if len(raw) == 0 {
			return errors.New("peer presented no certificate")
		}
		certs := make([]*x509.Certificate, 0, len(raw))
		for _, der := range raw {
			c, err := x509.ParseCertificate(der)
			if err != nil {
				return fmt.Errorf("peer certificate unparseable: %v", err)
			}
			certs = append(certs, c)
		}
		inter := x509.NewCertPool()
		for _, c := range certs[1:] {
			inter.AddCert(c)
		}
		// Envoy does not check extended key usage unless configured to; Istio does not configure it.
		_, err := certs[0].Verify(x509.VerifyOptions{
			Roots: roots, Intermediates: inter, KeyUsages: []x509.ExtKeyUsage{x509.ExtKeyUsageAny},
		})
		if err != nil {
			return err
		}
		ids := make([]string, 0, len(certs[0].URIs))
		for _, u := range certs[0].URIs {
			ids = append(ids, u.String())
		}
		if !slices.Contains(ids, wantID) {
			return fmt.Errorf("peer SPIFFE ID %s, want %s", strings.Join(ids, ","), wantID)
		}
		return nil
	}
}

// handshake runs one mTLS handshake from client to server in memory and returns why it failed, naming the side
// that refused. gone is true when a pod disappeared before its files could be read.
func handshake(client, server workload, trustDomain string) (err error, gone bool) {
	cm, err := client.load()
	if err != nil {
		return err, errors.Is(err, errGone)
	}
	sm, err := server.load()
	if err != nil {
		return err, errors.Is(err, errGone)
	}
	cConn, sConn := net.Pipe()
	defer cConn.Close()
	defer sConn.Close()
	deadline := time.Now().Add(5 * time.Second)
	_ = cConn.SetDeadline(deadline)
	_ = sConn.SetDeadline(deadline)

	var serverVerifyErr, clientVerifyErr error
	srvVerify := verifier(sm.roots, client.spiffeID(trustDomain))
	srv := tls.Server(sConn, &tls.Config{
		Certificates:           []tls.Certificate{sm.cert},
		ClientAuth:             tls.RequireAnyClientCert,
		SessionTicketsDisabled: true,
		VerifyPeerCertificate: func(raw [][]byte, chains [][]*x509.Certificate) error {
			serverVerifyErr = srvVerify(raw, chains)
			return serverVerifyErr
		},
	})
	cliVerify := verifier(cm.roots, server.spiffeID(trustDomain))
	cli := tls.Client(cConn, &tls.Config{
		Certificates:       []tls.Certificate{cm.cert},
		InsecureSkipVerify: true, // verified below against the client's own roots and the server's SPIFFE ID
		ServerName:         "outbound",
		VerifyPeerCertificate: func(raw [][]byte, chains [][]*x509.Certificate) error {
			clientVerifyErr = cliVerify(raw, chains)
			return clientVerifyErr
		},
	})
	srvDone := make(chan error, 1)
	go func() {
		err := srv.Handshake()
		srvDone <- err
		srv.Close() // close_notify (or the alert already sent) ends the client's read below
	}()
	cliErr := cli.Handshake()
	if cliErr == nil {
		// In TLS 1.3 the client completes before the server has checked its certificate: wait for the server.
		buf := make([]byte, 1)
		_, _ = cli.Read(buf)
	}
	srvErr := <-srvDone
	cli.Close()
	switch {
	case clientVerifyErr != nil:
		return fmt.Errorf("client rejected server: %v", clientVerifyErr), false
	case serverVerifyErr != nil:
		return fmt.Errorf("server rejected client: %v", serverVerifyErr), false
	case srvErr != nil:
		return fmt.Errorf("server: %v", srvErr), false
	case cliErr != nil:
		return fmt.Errorf("client: %v", cliErr), false
	}
	return nil, false
}
