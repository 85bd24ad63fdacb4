package e2e

import (
	"crypto/x509"
	"log"
	"net"
	"net/http/httptest"
	"path/filepath"
	"testing"

	"github.com/letsencrypt/pebble/v2/ca"
	"github.com/letsencrypt/pebble/v2/db"
	"github.com/letsencrypt/pebble/v2/va"
	"github.com/letsencrypt/pebble/v2/wfe"
	"github.com/miekg/dns"
)

// pebbleCA is Let's Encrypt's test ACME server, run inside the test
// process, validating challenges against Gatehouse's real listeners.
type pebbleCA struct {
	// Directory is the ACME directory URL.
	Directory string
	// ServerRoot is a PEM file of the certificate of the ACME server's own
	// HTTPS endpoint (Gatehouse's ca_root).
	ServerRoot string
	// Roots holds the root that signs the certificates Pebble issues.
	Roots *x509.CertPool
	// RootFile is that root as a PEM file, for curl.
	RootFile string
}

// startPebble runs Pebble. Its validation authority resolves every name to
// 127.0.0.1 and connects to httpPort for HTTP-01 and tlsPort for
// TLS-ALPN-01. Certificates are valid for validity seconds (0: 90 days).
func startPebble(t *testing.T, httpPort, tlsPort int, validity uint64) *pebbleCA {
	t.Helper()
	t.Setenv("PEBBLE_VA_NOSLEEP", "1")
	t.Setenv("PEBBLE_WFE_NONCEREJECT", "0")
	logs := &syncBuffer{}
	logger := log.New(logs, "", log.Ltime)
	t.Cleanup(func() {
		if t.Failed() {
			t.Logf("pebble log:\n%s", tail(logs.String(), 6000))
		}
	})
	resolver := startLoopbackDNS(t)
	store := db.NewMemoryStore()
	authority := ca.New(logger, store, "", "ecdsa", 0, 1, map[string]ca.Profile{
		"default": {Description: "test", ValidityPeriod: validity},
	})
	validator := va.New(logger, httpPort, tlsPort, false, resolver, store)
	front := wfe.New(logger, store, validator, authority, []string{"pebble.letsencrypt.org"}, false, false, 3, 5)
	srv := httptest.NewTLSServer(front.Handler())
	t.Cleanup(srv.Close)

	dir := t.TempDir()
	p := &pebbleCA{Directory: srv.URL + wfe.DirectoryPath, Roots: x509.NewCertPool()}
	p.ServerRoot = filepath.Join(dir, "acme-server.pem")
	writePEM(t, p.ServerRoot, "CERTIFICATE", srv.Certificate().Raw)
	root := authority.GetRootCert(0)
	p.Roots.AddCert(root.Cert)
	p.RootFile = filepath.Join(dir, "pebble-root.pem")
	writePEM(t, p.RootFile, "CERTIFICATE", root.DER)
	return p
}

// startLoopbackDNS serves DNS over TCP, answering every A query with
// 127.0.0.1 and every other query with no records.
func startLoopbackDNS(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := &dns.Server{Listener: ln, Net: "tcp", Handler: dns.HandlerFunc(func(w dns.ResponseWriter, q *dns.Msg) {
		m := new(dns.Msg)
		m.SetReply(q)
		for _, question := range q.Question {
			if question.Qtype == dns.TypeA {
				m.Answer = append(m.Answer, &dns.A{
					Hdr: dns.RR_Header{Name: question.Name, Rrtype: dns.TypeA, Class: dns.ClassINET, Ttl: 60},
					A:   net.IPv4(127, 0, 0, 1),
				})
			}
		}
		_ = w.WriteMsg(m)
	})}
	go func() { _ = srv.ActivateAndServe() }()
	t.Cleanup(func() { _ = srv.Shutdown() })
	return ln.Addr().String()
}
