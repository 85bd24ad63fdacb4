package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startHAProxy runs Debian's HAProxy in TCP mode with one frontend per
// pair of fronts: it listens on the key and passes each connection to the
// value with a PROXY protocol v2 header (send-proxy-v2).
func startHAProxy(t *testing.T, fronts map[string]string) {
	t.Helper()
	bin, err := exec.LookPath("haproxy")
	if err != nil {
		t.Fatal("haproxy is not installed: run scripts/test.sh, which installs the test peers")
	}
	var cfg strings.Builder
	cfg.WriteString("global\n  maxconn 256\ndefaults\n  mode tcp\n  timeout connect 5s\n  timeout client 30s\n  timeout server 30s\n")
	i := 0
	var first string
	for front, back := range fronts {
		fmt.Fprintf(&cfg, "frontend f%d\n  bind %s\n  default_backend b%d\nbackend b%d\n  server gh %s send-proxy-v2\n", i, front, i, i, back)
		if first == "" {
			first = front
		}
		i++
	}
	path := filepath.Join(t.TempDir(), "haproxy.cfg")
	if err := os.WriteFile(path, []byte(cfg.String()), 0o644); err != nil {
		t.Fatal(err)
	}
	runPeer(t, "haproxy", exec.Command(bin, "-db", "-f", path), syscall.SIGTERM, first)
}

func TestProxyProtocolBehindHAProxy(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	ca := newTestCA(t)
	cert, key := ca.issue("shop.test")
	plain, tlsAddr := freeAddr(t), freeAddr(t)
	lbPlain, lbTLS := freeAddr(t), freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
trusted_proxies: [127.0.0.1]
sites:
  - listen: ["proxy+http://%s", "proxy+https://%s"]
    hosts: [shop.test]
    https_redirect: false
    tls: {cert: %s, key: %s}
    access: {deny: [127.0.0.4]}
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, plain, tlsAddr, cert, key, up), plain, tlsAddr)
	startHAProxy(t, map[string]string{lbPlain: plain, lbTLS: tlsAddr})

	_, lbPlainPort, _ := net.SplitHostPort(lbPlain)
	_, lbTLSPort, _ := net.SplitHostPort(lbTLS)
	forwarded := func(args ...string) map[string]string {
		t.Helper()
		out := curl(t, args...)
		var env map[string]string
		if err := json.Unmarshal([]byte(out), &env); err != nil {
			t.Fatalf("curl %v: %s", args, out)
		}
		return env
	}
	for _, c := range []struct {
		name string
		args []string
	}{
		{"http/1.1", []string{"--interface", "127.0.0.2", "-H", "X-Forwarded-For: 6.6.6.6", "--resolve", "shop.test:" + lbPlainPort + ":127.0.0.1", "http://shop.test:" + lbPlainPort + "/headers"}},
		{"h2c", []string{"--interface", "127.0.0.2", "--http2-prior-knowledge", "--resolve", "shop.test:" + lbPlainPort + ":127.0.0.1", "http://shop.test:" + lbPlainPort + "/headers"}},
		{"https h2", []string{"--interface", "127.0.0.2", "--cacert", ca.File, "--resolve", "shop.test:" + lbTLSPort + ":127.0.0.1", "https://shop.test:" + lbTLSPort + "/headers"}},
		{"https http/1.1", []string{"--interface", "127.0.0.2", "--http1.1", "--cacert", ca.File, "--resolve", "shop.test:" + lbTLSPort + ":127.0.0.1", "https://shop.test:" + lbTLSPort + "/headers"}},
	} {
		env := forwarded(c.args...)
		// The client's address, not HAProxy's (127.0.0.1), and not
		// what the client claimed.
		if env["HTTP_X_FORWARDED_FOR"] != "127.0.0.2" || env["HTTP_X_REAL_IP"] != "127.0.0.2" {
			t.Errorf("%s: X-Forwarded-For %q, X-Real-IP %q, want 127.0.0.2", c.name, env["HTTP_X_FORWARDED_FOR"], env["HTTP_X_REAL_IP"])
		}
	}
	// No HTTP/3 is announced behind a TCP balancer.
	if hdr := curl(t, "-D", "-", "-o", "/dev/null", "--interface", "127.0.0.2", "--cacert", ca.File, "--resolve", "shop.test:"+lbTLSPort+":127.0.0.1", "https://shop.test:"+lbTLSPort+"/"); strings.Contains(strings.ToLower(hdr), "alt-svc") {
		t.Errorf("a PROXY https listener announces HTTP/3:\n%s", hdr)
	}
	// Deny lists see the client behind the balancer.
	out, _ := exec.Command("curl", "-s", "-o", "/dev/null", "-w", "%{http_code}", "--max-time", "10", "--interface", "127.0.0.4",
		"--resolve", "shop.test:"+lbPlainPort+":127.0.0.1", "http://shop.test:"+lbPlainPort+"/headers").Output()
	if string(out) != "403" {
		t.Errorf("denied client behind the balancer: %s, want 403", out)
	}
	// The access log names the client.
	g.waitLog(`"remote":"127.0.0.2"`)
	if strings.Contains(g.stdout.String(), `"remote":"127.0.0.1"`) {
		t.Error("the access log names the balancer")
	}

	// A PROXY v1 header from a trusted peer is taken too.
	c := dialFrom(t, "127.0.0.1", plain)
	_, _ = fmt.Fprintf(c, "PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\nGET /headers HTTP/1.1\r\nHost: shop.test\r\n\r\n")
	var env map[string]string
	readJSONResponse(t, c, &env)
	if env["HTTP_X_FORWARDED_FOR"] != "203.0.113.9" {
		t.Errorf("PROXY v1: X-Forwarded-For %q", env["HTTP_X_FORWARDED_FOR"])
	}
	// A peer outside trusted_proxies is closed, header or not; so is a
	// trusted peer that sends no header.
	for _, tc := range []struct{ from, send string }{
		{"127.0.0.3", "PROXY TCP4 203.0.113.9 127.0.0.1 5555 80\r\nGET /headers HTTP/1.1\r\nHost: shop.test\r\n\r\n"},
		{"127.0.0.1", "GET /headers HTTP/1.1\r\nHost: shop.test\r\n\r\n"},
	} {
		c := dialFrom(t, tc.from, plain)
		_, _ = c.Write([]byte(tc.send))
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if n, err := c.Read(make([]byte, 1)); err == nil || n > 0 {
			t.Errorf("from %s sending %q: the connection was served", tc.from, tc.send[:10])
		}
	}
}

// readJSONResponse reads one HTTP/1.1 response from c and decodes its body.
func readJSONResponse(t *testing.T, c *rawConn, v any) {
	t.Helper()
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := readResponse(c)
	if err != nil {
		t.Fatal(err)
	}
	if err := json.Unmarshal(res, v); err != nil {
		t.Fatalf("%v: %s", err, res)
	}
}
