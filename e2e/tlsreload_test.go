package e2e

import (
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	"golang.org/x/crypto/ocsp"
)

// fileSite is a config with one https site using certificate files.
func fileSite(admin, httpsAddr, app, cert, key string) string {
	return fmt.Sprintf(`admin: "%s"
shutdown_timeout: 20s
sites:
  - listen: ["https://%s"]
    hosts: [a.test]
    tls: {cert: %s, key: %s}
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, admin, httpsAddr, cert, key, app)
}

// servedSerial returns the serial number of the certificate addr serves
// for a.test.
func servedSerial(t *testing.T, addr string, ca *testCA) string {
	t.Helper()
	c, err := tls.Dial("tcp", addr, &tls.Config{ServerName: "a.test", RootCAs: ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	return c.ConnectionState().PeerCertificates[0].SerialNumber.String()
}

func TestCertificateFilesReplacedOnDiskArePickedUpByReload(t *testing.T) {
	app := startGunicorn(t, 2)
	ca := newTestCA(t)
	admin, httpsAddr := freeAddr(t), freeAddr(t)
	cert, key := ca.issue("a.test")
	g := startGatehouse(t, fileSite(admin, httpsAddr, app, cert, key), httpsAddr, admin)
	before := servedSerial(t, httpsAddr, ca)

	// A keep-alive HTTPS connection and a request in flight across the
	// reload.
	client := &http.Client{Transport: &http.Transport{
		TLSClientConfig: &tls.Config{RootCAs: ca.Pool},
		DialContext: func(ctx context.Context, network, _ string) (net.Conn, error) {
			return (&net.Dialer{}).DialContext(ctx, network, httpsAddr)
		},
	}}
	_, prt, _ := net.SplitHostPort(httpsAddr)
	base := "https://a.test:" + prt
	if res, err := client.Get(base + "/warm"); err != nil {
		t.Fatal(err)
	} else {
		_, _ = io.Copy(io.Discard, res.Body)
		res.Body.Close()
	}
	inflight := make(chan string, 1)
	go func() {
		res, err := client.Get(base + "/slow?s=2")
		if err != nil {
			inflight <- err.Error()
			return
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		inflight <- fmt.Sprintf("%d %s", res.StatusCode, body)
	}()
	time.Sleep(500 * time.Millisecond)

	// The renewed certificate is written over the same files.
	newCert, newKey := ca.issue("a.test")
	for src, dst := range map[string]string{newCert: cert, newKey: key} {
		b, err := os.ReadFile(src)
		if err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(dst, b, 0o600); err != nil {
			t.Fatal(err)
		}
	}
	if out, code := g.reload(); code != 0 {
		t.Fatalf("reload: exit %d: %s", code, out)
	}
	after := servedSerial(t, httpsAddr, ca)
	if after == before {
		t.Errorf("still serving certificate %s after the reload", before)
	}
	if got := <-inflight; got != "200 slept" {
		t.Errorf("request in flight during the reload: %s", got)
	}
	res, err := client.Get(base + "/after")
	if err != nil {
		t.Fatalf("keep-alive connection after the reload: %v", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Errorf("keep-alive connection after the reload: %s", res.Status)
	}

	// A key that does not match its certificate is refused and the
	// running certificate stays.
	otherCert, _ := ca.issue("a.test")
	b, _ := os.ReadFile(otherCert)
	if err := os.WriteFile(cert, b, 0o600); err != nil {
		t.Fatal(err)
	}
	if out, code := g.reload(); code == 0 || !strings.Contains(out, "tls") {
		t.Errorf("reload with a mismatched key: exit %d: %s", code, out)
	}
	if got := servedSerial(t, httpsAddr, ca); got != after {
		t.Errorf("after a failed reload serving %s, want %s", got, after)
	}
}

func TestOCSPResponsesAreStapled(t *testing.T) {
	ca := newTestCA(t)
	hits := ca.startOCSP()
	admin, httpsAddr := freeAddr(t), freeAddr(t)
	cert, key := ca.issue("a.test")
	g := startGatehouse(t, fileSite(admin, httpsAddr, "127.0.0.1:9", cert, key), httpsAddr, admin)

	staple := func() []byte {
		c, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "a.test", RootCAs: ca.Pool})
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		return c.ConnectionState().OCSPResponse
	}
	deadline := time.Now().Add(15 * time.Second)
	var raw []byte
	for raw == nil && time.Now().Before(deadline) {
		if raw = staple(); raw == nil {
			time.Sleep(100 * time.Millisecond)
		}
	}
	if raw == nil {
		t.Fatalf("no OCSP staple; log:\n%s", g.stderr.String())
	}
	c, err := tls.Dial("tcp", httpsAddr, &tls.Config{ServerName: "a.test", RootCAs: ca.Pool})
	if err != nil {
		t.Fatal(err)
	}
	chain := c.ConnectionState().PeerCertificates
	c.Close()
	resp, err := ocsp.ParseResponseForCert(raw, chain[0], ca.cert)
	if err != nil || resp.Status != ocsp.Good {
		t.Fatalf("staple: %v, status %v", err, resp)
	}

	// A reload keeps the staple without asking the responder again.
	if out, code := g.reload(); code != 0 {
		t.Fatalf("reload: exit %d: %s", code, out)
	}
	if staple() == nil {
		t.Error("no staple right after a reload")
	}
	if n := hits.Load(); n != 1 {
		t.Errorf("responder asked %d times, want 1", n)
	}
}
