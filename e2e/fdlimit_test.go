package e2e

import (
	"bufio"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"net"
	"net/http"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// TestOutOfFileDescriptorsClosesIdleConnections: with its open files
// limit reached by idle keep-alive clients, Gatehouse closes some of them
// (the longest idle first, as nginx does) to accept and answer new
// clients, over plain HTTP and TLS, and proxied requests still find a
// descriptor for their upstream connection.
func TestOutOfFileDescriptorsClosesIdleConnections(t *testing.T) {
	app := startGunicorn(t, 2)
	ca := newTestCA(t)
	cert, key := ca.issue("fd.test")
	plain, secure := freeAddr(t), freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
access_log: {output: "off"}
sites:
  - listen: ["%s"]
    routes:
      - path: /app
        proxy: {to: "http://%s"}
      - path: /
        respond: {body: "hello\n"}
  - listen: ["https://%s"]
    tls: {cert: %s, key: %s}
    routes:
      - path: /
        respond: {body: "secure\n"}
`, plain, app, secure, cert, key), plain, secure)
	// As a user would meet it: a low open files limit from the start
	// (the quiet process uses about 20).
	const limit = 128
	pid := g.cmd.Process.Pid
	if err := unix.Prlimit(pid, unix.RLIMIT_NOFILE, &unix.Rlimit{Cur: limit, Max: limit}, nil); err != nil {
		t.Fatal(err)
	}

	// More keep-alive clients than that, each served once and then idle:
	// the last ones are accepted once older idle ones are let go.
	var idle []net.Conn
	for range 150 {
		c, err := net.Dial("tcp", plain)
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		_ = c.SetDeadline(time.Now().Add(15 * time.Second))
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: fd.test\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			t.Fatalf("keep-alive client %d: %v", len(idle)+1, err)
		}
		_, _ = io.Copy(io.Discard, res.Body)
		_ = c.SetDeadline(time.Time{})
		idle = append(idle, c)
	}
	time.Sleep(time.Second) // idle long enough to park

	// New clients are answered, proxied requests get their upstream
	// connection, over plain HTTP and TLS.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true}}
	for range 3 {
		expectOK(t, client, "http://"+plain+"/app/whoami")
		expectOK(t, client, "http://"+plain+"/")
	}
	pool := x509.NewCertPool()
	pool.AddCert(ca.cert)
	tlsClient := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{DisableKeepAlives: true,
		TLSClientConfig: &tls.Config{RootCAs: pool, ServerName: "fd.test"}}}
	res, err := tlsClient.Get("https://" + secure + "/")
	if err != nil {
		t.Fatalf("HTTPS at the open files limit: %v", err)
	}
	_ = res.Body.Close()

	// Some idle clients were let go to make that room.
	closed := 0
	for _, c := range idle {
		_ = c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
		if _, err := c.Read(make([]byte, 1)); err == io.EOF {
			closed++
		}
	}
	if closed == 0 || closed == len(idle) {
		t.Fatalf("%d of %d idle connections closed; want some, not all", closed, len(idle))
	}
	t.Logf("%d of %d idle connections closed to make room", closed, len(idle))
}

// expectOK GETs url and wants a 200.
func expectOK(t *testing.T, client *http.Client, url string) {
	t.Helper()
	res, err := client.Get(url)
	if err != nil {
		t.Fatalf("GET %s at the open files limit: %v", url, err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	_ = res.Body.Close()
	if res.StatusCode != 200 {
		t.Fatalf("GET %s at the open files limit: %d", url, res.StatusCode)
	}
}
