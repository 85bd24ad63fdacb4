package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"testing"
)

// unixClient is an HTTP client whose every connection goes to sock.
func unixClient(sock string) *http.Client {
	return &http.Client{Transport: &http.Transport{DialContext: func(ctx context.Context, _, _ string) (net.Conn, error) {
		var d net.Dialer
		return d.DialContext(ctx, "unix", sock)
	}}}
}

// TestUnixSocketListener serves a site on a unix socket, as behind another
// proxy or a CDN agent on the same machine: the socket file gets mode
// 0660 by default (unix_mode sets another), a stale file left by a
// crashed process is replaced, and the forwarding headers of the peer in
// front are believed only with trusted_proxies: ["unix:"].
func TestUnixSocketListener(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 1)
	dir := t.TempDir()
	trusted, second := filepath.Join(dir, "trusted.sock"), filepath.Join(dir, "second.sock")
	// A socket file left behind by a process that is gone.
	ln, err := net.Listen("unix", trusted)
	if err != nil {
		t.Fatal(err)
	}
	ln.(*net.UnixListener).SetUnlinkOnClose(false)
	ln.Close()
	tcp := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
trusted_proxies: ["unix:"]
sites:
  - listen: ["unix:%s", "%s"]
    routes:
      - path: /
        proxy: {to: "http://%s"}
  - listen: ["http://unix:%s"]
    unix_mode: 0600
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, trusted, tcp, up, second, up), tcp, "unix:"+trusted, "unix:"+second)

	for sock, want := range map[string]os.FileMode{trusted: 0o660, second: 0o600} {
		fi, err := os.Stat(sock)
		if err != nil {
			t.Fatal(err)
		}
		if fi.Mode()&os.ModeSocket == 0 || fi.Mode().Perm() != want {
			t.Errorf("%s: mode %v, want a socket with %#o", sock, fi.Mode(), want)
		}
	}
	env := func(client *http.Client) map[string]string {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://example.test/headers", nil)
		req.Header.Set("X-Forwarded-For", "203.0.113.9")
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		var m map[string]string
		if err := json.Unmarshal(body, &m); err != nil {
			t.Fatalf("%d %q", res.StatusCode, body)
		}
		return m
	}
	if m := env(unixClient(trusted)); m["HTTP_X_REAL_IP"] != "203.0.113.9" || m["HTTP_X_FORWARDED_FOR"] != "203.0.113.9, unix:" {
		t.Errorf("trusted unix peer: X-Real-IP %q, X-Forwarded-For %q", m["HTTP_X_REAL_IP"], m["HTTP_X_FORWARDED_FOR"])
	}
	tcpClient := &http.Client{}
	req, _ := http.NewRequest("GET", "http://"+tcp+"/headers", nil)
	req.Header.Set("X-Forwarded-For", "203.0.113.9")
	res, err := tcpClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var m map[string]string
	_ = json.Unmarshal(body, &m)
	if m["HTTP_X_REAL_IP"] != "127.0.0.1" {
		t.Errorf("a TCP client is no unix peer: X-Real-IP %q", m["HTTP_X_REAL_IP"])
	}
}
