package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"
)

// acmeSites is a config with two automatic-certificate sites on one https
// listener: a.test also listens on plain HTTP and is limited to HTTP-01;
// b.test is https only, so TLS-ALPN-01 is its one way.
func acmeSites(p *pebbleCA, httpAddr, httpsAddr, storage, extra string) string {
	return fmt.Sprintf(`admin: "off"
%[6]s
sites:
  - listen: ["http://%[1]s", "https://%[2]s"]
    hosts: [a.test]
    tls: {acme: {email: ops@a.test, ca: "%[3]s", ca_root: %[4]s, storage: %[5]s, challenges: [http-01]}}
    routes:
      - path: /
        respond: {status: 200, body: "site a\n"}
  - listen: ["https://%[2]s"]
    hosts: [b.test]
    tls: {acme: {ca: "%[3]s", ca_root: %[4]s, storage: %[5]s}}
    routes:
      - path: /
        respond: {status: 200, body: "site b\n"}
`, httpAddr, httpsAddr, p.Directory, p.ServerRoot, storage, extra)
}

// port returns the port of addr as a number.
func port(t *testing.T, addr string) int {
	t.Helper()
	_, p, _ := net.SplitHostPort(addr)
	n, err := strconv.Atoi(p)
	if err != nil {
		t.Fatal(err)
	}
	return n
}

// waitIssued polls addr until a handshake for name verifies against roots,
// and returns the certificate served.
func waitIssued(t *testing.T, g *gatehouse, addr, name string, roots *x509.CertPool, timeout time.Duration) *x509.Certificate {
	t.Helper()
	deadline := time.Now().Add(timeout)
	var last error
	for time.Now().Before(deadline) {
		c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: name, RootCAs: roots})
		if err == nil {
			cert := c.ConnectionState().PeerCertificates[0]
			c.Close()
			return cert
		}
		last = err
		time.Sleep(200 * time.Millisecond)
	}
	t.Fatalf("no certificate for %s from the ACME CA within %s: %v\ngatehouse log:\n%s", name, timeout, last, tail(g.stderr.String(), 4000))
	return nil
}

func TestACMEObtainsCertificatesByHTTP01AndTLSALPN01(t *testing.T) {
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	p := startPebble(t, port(t, httpAddr), port(t, httpsAddr), 0)
	storage := t.TempDir()
	g := startGatehouse(t, acmeSites(p, httpAddr, httpsAddr, storage, ""), httpAddr, httpsAddr)

	for _, name := range []string{"a.test", "b.test"} {
		cert := waitIssued(t, g, httpsAddr, name, p.Roots, 60*time.Second)
		if !strings.HasPrefix(cert.Issuer.CommonName, "Pebble Intermediate CA") {
			t.Errorf("%s: issuer %q", name, cert.Issuer.CommonName)
		}
		// Served to real clients over HTTP/1.1 and HTTP/2, verified
		// against the CA's root.
		_, prt, _ := net.SplitHostPort(httpsAddr)
		url := "https://" + name + ":" + prt + "/"
		for _, proto := range []string{"--http1.1", "--http2"} {
			out := curl(t, proto, "--cacert", p.RootFile, "--resolve", name+":"+prt+":127.0.0.1", url)
			if want := "site " + name[:1] + "\n"; out != want {
				t.Errorf("%s %s: %q, want %q", name, proto, out, want)
			}
		}
	}
	logs := g.stderr.String()
	for _, want := range []string{"http-01", "tls-alpn-01"} {
		if !strings.Contains(logs, want) {
			t.Errorf("no %s challenge in the log", want)
		}
	}

	// The certificates and keys are kept in storage, so a restart serves
	// them at once without asking the CA again.
	var stored []string
	_ = filepath.WalkDir(storage, func(path string, d os.DirEntry, err error) error {
		if err == nil && strings.HasSuffix(path, ".crt") {
			stored = append(stored, filepath.Base(path))
		}
		return nil
	})
	if len(stored) != 2 {
		t.Errorf("storage holds certificates %v, want a.test.crt and b.test.crt", stored)
	}
}

func TestACMERenewsAShortLivedCertificate(t *testing.T) {
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	// Certificates live 30 s; renewal is checked every second and falls
	// in the last third of the lifetime (or the CA's renewal window).
	p := startPebble(t, port(t, httpAddr), port(t, httpsAddr), 30)
	g := startGatehouse(t, acmeSites(p, httpAddr, httpsAddr, t.TempDir(), "certificates: {renew_interval: 1s}"), httpAddr, httpsAddr)

	first := waitIssued(t, g, httpsAddr, "a.test", p.Roots, 60*time.Second)
	deadline := time.Now().Add(60 * time.Second)
	for time.Now().Before(deadline) {
		cert := waitIssued(t, g, httpsAddr, "a.test", p.Roots, 10*time.Second)
		if cert.SerialNumber.Cmp(first.SerialNumber) != 0 {
			if !cert.NotAfter.After(first.NotAfter) {
				t.Errorf("renewed certificate expires %s, the first %s", cert.NotAfter, first.NotAfter)
			}
			return
		}
		time.Sleep(500 * time.Millisecond)
	}
	t.Fatalf("certificate %s (expiring %s) not renewed\ngatehouse log:\n%s", first.SerialNumber, first.NotAfter, tail(g.stderr.String(), 4000))
}
