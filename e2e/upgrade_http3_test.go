package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	"github.com/quic-go/quic-go"
	"github.com/quic-go/quic-go/http3"
)

// h3Client returns an HTTP/3 client trusting ca, for one QUIC connection
// at a time, and a function closing it.
func h3Client(t *testing.T, ca *testCA, serverName string) (*http.Client, func()) {
	t.Helper()
	pem, err := os.ReadFile(ca.File)
	if err != nil {
		t.Fatal(err)
	}
	roots := x509.NewCertPool()
	roots.AppendCertsFromPEM(pem)
	tr := &http3.Transport{
		TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: serverName},
		QUICConfig:      &quic.Config{HandshakeIdleTimeout: 5 * time.Second},
	}
	return &http.Client{Transport: tr, Timeout: 30 * time.Second}, func() { _ = tr.Close() }
}

// h3Body fetches url with c and returns the status and body.
func h3Body(c *http.Client, url string) (int, string, error) {
	res, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

// A binary upgrade keeps HTTP/3 requests in flight: the old process
// drains its QUIC connections on the shared UDP port while every new
// connection goes to the new process, and the old process exits once
// its last request is answered.
func TestBinaryUpgradeKeepsHTTP3Requests(t *testing.T) {
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	copyBinary(t, bin)
	release, arrived := make(chan struct{}), make(chan struct{}, 1)
	slow := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		arrived <- struct{}{}
		select {
		case <-release:
		case <-r.Context().Done():
		}
		_, _ = io.WriteString(w, "slow answer")
	}))
	defer slow.Close()
	defer func() {
		select {
		case <-release:
		default:
			close(release)
		}
	}()
	ca := newTestCA(t)
	cert, key := ca.issue("h3.test")
	addr, pidFile := freeAddr(t), filepath.Join(dir, "gatehouse.pid")
	config := func(body string) string {
		return fmt.Sprintf(`admin: "off"
pid_file: %s
shutdown_timeout: 20s
sites:
  - listen: ["https://%s"]
    tls: {cert: %s, key: %s}
    routes:
      - path: /slow
        proxy: {to: "%s"}
      - path: /
        respond: {body: "%s"}
`, pidFile, addr, cert, key, slow.URL, body)
	}
	g, oldPID, logged := startUpgradable(t, bin, dir, config("old"), pidFile, addr)
	url := "https://" + addr

	inFlight, closeInFlight := h3Client(t, ca, "h3.test")
	defer closeInFlight()
	if code, body, err := h3Body(inFlight, url+"/"); err != nil || code != 200 || body != "old" {
		t.Fatalf("before the upgrade: %d %q %v", code, body, err)
	}
	type answer struct {
		code int
		body string
		err  error
	}
	slowAnswer := make(chan answer, 1)
	go func() {
		code, body, err := h3Body(inFlight, url+"/slow")
		slowAnswer <- answer{code, body, err}
	}()
	select {
	case <-arrived:
	case a := <-slowAnswer:
		t.Fatalf("the slow request: %+v", a)
	}

	copyBinary(t, bin)
	g.writeConfig(config("new"))
	_ = g.cmd.Process.Signal(syscall.SIGUSR2)
	newPID := waitForSuccessor(t, pidFile, oldPID)

	// Every new QUIC connection reaches the new process, while the old
	// one still drains.
	for i := range 20 {
		c, closeC := h3Client(t, ca, "h3.test")
		code, body, err := h3Body(c, url+"/")
		closeC()
		if err != nil || code != 200 || body != "new" {
			t.Fatalf("new connection %d during the drain: %d %q %v", i, code, body, err)
		}
	}
	// No second upgrade while the first one's old process drains.
	_ = syscall.Kill(newPID, syscall.SIGUSR2)
	waitFor(t, func() bool { return strings.Contains(logged(), "still drains its connections") })
	select {
	case <-g.exited:
		t.Fatal("the old process exited with an HTTP/3 request in flight")
	case a := <-slowAnswer:
		t.Fatalf("the request in flight ended early: %+v", a)
	default:
	}
	close(release)
	select {
	case a := <-slowAnswer:
		if a.err != nil || a.code != 200 || a.body != "slow answer" {
			t.Fatalf("the request in flight over the upgrade: %+v", a)
		}
	case <-time.After(20 * time.Second):
		t.Fatal("no answer to the request in flight")
	}
	select {
	case <-g.exited:
	case <-time.After(20 * time.Second):
		t.Fatal("the old process did not exit once its last HTTP/3 request was answered")
	}
	if strings.Contains(logged(), "will close at the hand-over") {
		t.Fatal("the UDP socket was not shared")
	}
	c, closeC := h3Client(t, ca, "h3.test")
	defer closeC()
	if code, body, err := h3Body(c, url+"/"); err != nil || code != 200 || body != "new" {
		t.Fatalf("after the old process left: %d %q %v", code, body, err)
	}

	// Once it has left, the second process's socket is the first of the
	// port's group, and the next upgrade steers the same way.
	g.writeConfig(config("third"))
	_ = syscall.Kill(newPID, syscall.SIGUSR2)
	waitForSuccessor(t, pidFile, newPID)
	for i := range 10 {
		fresh, closeFresh := h3Client(t, ca, "h3.test")
		code, body, err := h3Body(fresh, url+"/")
		closeFresh()
		if err != nil || code != 200 || body != "third" {
			t.Fatalf("new connection %d after the second upgrade: %d %q %v", i, code, body, err)
		}
	}
}
