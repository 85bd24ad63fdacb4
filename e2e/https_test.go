package e2e

import (
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
)

// httpsSites is a config with three sites on one https listener: a.test
// (also on plain HTTP, with HSTS), the wildcard *.w.test, and a default
// site without hosts; all proxy to the Gunicorn app.
func httpsSites(ca *testCA, httpAddr, httpsAddr, app string) string {
	aCert, aKey := ca.issue("a.test")
	wCert, wKey := ca.issue("*.w.test")
	dCert, dKey := ca.issue("default.test")
	return fmt.Sprintf(`admin: "off"
sites:
  - listen: ["http://%[1]s", "https://%[2]s"]
    hosts: [a.test]
    tls: {cert: %[4]s, key: %[5]s}
    hsts: {max_age: 1d, include_subdomains: true}
    routes:
      - path: /
        proxy: {to: "http://%[3]s"}
  - listen: ["https://%[2]s"]
    hosts: ["*.w.test"]
    tls: {cert: %[6]s, key: %[7]s}
    routes:
      - path: /
        proxy: {to: "http://%[3]s"}
  - listen: ["https://%[2]s"]
    tls: {cert: %[8]s, key: %[9]s}
    routes:
      - path: /
        respond: {status: 200, body: "default site\n"}
`, httpAddr, httpsAddr, app, aCert, aKey, wCert, wKey, dCert, dKey)
}

// curl runs curl with args and returns its standard output.
func curl(t *testing.T, args ...string) string {
	t.Helper()
	out, err := exec.Command("curl", append([]string{"-sS", "--max-time", "20"}, args...)...).Output()
	if err != nil {
		msg := ""
		if ee, ok := err.(*exec.ExitError); ok {
			msg = string(ee.Stderr)
		}
		t.Fatalf("curl %v: %v %s", args, err, msg)
	}
	return string(out)
}

// http3Get fetches url over HTTP/3 with gtlsclient (ngtcp2), connecting to
// addr with sni, and returns the response's status line fields and body.
func http3Get(t *testing.T, addr, sni, url string) (headers, body string) {
	t.Helper()
	host, port, _ := net.SplitHostPort(addr)
	dir := t.TempDir()
	cmd := exec.Command("gtlsclient", "--exit-on-all-streams-close", "--no-quic-dump", "--no-http-dump",
		"--timeout=10s", "--download="+dir, "--sni="+sni, host, port, url)
	out, err := cmd.CombinedOutput()
	if err != nil {
		t.Fatalf("gtlsclient %s: %v\n%s", url, err, tail(string(out), 2000))
	}
	for _, line := range strings.Split(string(out), "\n") {
		if _, h, ok := strings.Cut(line, "http: stream 0x0 ["); ok {
			headers += strings.TrimSuffix(h, "]") + "\n"
		}
	}
	files, _ := os.ReadDir(dir)
	if len(files) != 1 {
		t.Fatalf("gtlsclient %s saved %d files\n%s", url, len(files), tail(string(out), 2000))
	}
	b, err := os.ReadFile(filepath.Join(dir, files[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	return headers, string(b)
}

// tail returns the last n bytes of s.
func tail(s string, n int) string {
	if len(s) > n {
		return s[len(s)-n:]
	}
	return s
}

func TestHTTPSServesSitesByNameOverHTTP1AndHTTP2AndHTTP3(t *testing.T) {
	app := startGunicorn(t, 2)
	ca := newTestCA(t)
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	startGatehouse(t, httpsSites(ca, httpAddr, httpsAddr, app), httpAddr, httpsAddr)
	_, port, _ := net.SplitHostPort(httpsAddr)

	// One https port, the same answer over HTTP/1.1, HTTP/2 (each
	// certificate verified by curl against the test CA) and HTTP/3.
	for _, host := range []string{"a.test", "x.w.test"} {
		url := fmt.Sprintf("https://%s:%s/bytes?n=100000", host, port)
		resolve := fmt.Sprintf("%s:%s:127.0.0.1", host, port)
		var bodies []string
		for _, proto := range []string{"--http1.1", "--http2"} {
			out := curl(t, proto, "--cacert", ca.File, "--resolve", resolve, "-w", "\n%{http_version} %{http_code}", url)
			i := strings.LastIndex(out, "\n")
			body, meta := out[:max(i, 0)], out[i+1:]
			want := map[string]string{"--http1.1": "1.1 200", "--http2": "2 200"}[proto]
			if meta != want {
				t.Errorf("%s %s: got %q, want %q", host, proto, meta, want)
			}
			bodies = append(bodies, body)
		}
		if bodies[0] != bodies[1] {
			t.Errorf("%s: HTTP/1.1 and HTTP/2 answers differ: %d vs %d bytes", host, len(bodies[0]), len(bodies[1]))
		}
		headers, body := http3Get(t, httpsAddr, host, url)
		if !strings.Contains(headers, ":status: 200") {
			t.Errorf("%s over HTTP/3: headers\n%s", host, headers)
		}
		if body != bodies[0] || len(body) != 100000 {
			t.Errorf("%s: HTTP/3 and HTTP/1.1 answers differ: %d vs %d bytes", host, len(body), len(bodies[0]))
		}
	}

	// HTTP/3 is advertised on the TCP side.
	out := curl(t, "-D", "-", "-o", "/dev/null", "--http2", "--cacert", ca.File, "--resolve", "a.test:"+port+":127.0.0.1", "https://a.test:"+port+"/echo")
	if !strings.Contains(strings.ToLower(out), `alt-svc: h3=":`+port+`"; ma=86400`) {
		t.Errorf("no Alt-Svc for HTTP/3:\n%s", out)
	}

	// A deeper name is routed to the wildcard site (like Host matching),
	// though a client verifying names refuses the certificate.
	if got := peerName(t, httpsAddr, "deep.x.w.test"); got != "*.w.test" {
		t.Errorf("deep.x.w.test got the certificate of %q", got)
	}

	// The upstream learns the request came over HTTPS.
	out = curl(t, "--http2", "--cacert", ca.File, "--resolve", "a.test:"+port+":127.0.0.1", "https://a.test:"+port+"/headers")
	if !strings.Contains(out, `"HTTP_X_FORWARDED_PROTO": "https"`) && !strings.Contains(out, `"HTTP_X_FORWARDED_PROTO":"https"`) {
		t.Errorf("X-Forwarded-Proto https not seen upstream: %s", out)
	}

	// No SNI, or a name no site claims: the default site's certificate,
	// not a failed handshake.
	if got := peerName(t, httpsAddr, ""); got != "default.test" {
		t.Errorf("without SNI got the certificate of %q", got)
	}
	if got := peerName(t, httpsAddr, "unknown.test"); got != "default.test" {
		t.Errorf("unknown name got the certificate of %q", got)
	}
	if got := peerName(t, httpsAddr, "A.TEST"); got != "a.test" {
		t.Errorf("SNI in capitals got the certificate of %q", got)
	}
}

func TestHTTPRedirectsToHTTPSAndHSTS(t *testing.T) {
	app := startGunicorn(t, 1)
	ca := newTestCA(t)
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	startGatehouse(t, httpsSites(ca, httpAddr, httpsAddr, app), httpAddr, httpsAddr)
	_, port, _ := net.SplitHostPort(httpsAddr)

	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	req, _ := http.NewRequest("GET", "http://"+httpAddr+"/some/path?x=1&y=%20", nil)
	req.Host = "a.test"
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	want := "https://a.test:" + port + "/some/path?x=1&y=%20"
	if res.StatusCode != http.StatusPermanentRedirect || res.Header.Get("Location") != want {
		t.Errorf("plain HTTP: %d Location %q, want 308 %q", res.StatusCode, res.Header.Get("Location"), want)
	}
	if res.Header.Get("Strict-Transport-Security") != "" {
		t.Error("HSTS sent over plain HTTP")
	}

	// ACME HTTP-01 challenges stay on plain HTTP.
	req, _ = http.NewRequest("GET", "http://"+httpAddr+"/.well-known/acme-challenge/token", nil)
	req.Host = "a.test"
	res, err = client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode == http.StatusPermanentRedirect {
		t.Error("ACME challenge path redirected")
	}

	out := curl(t, "-D", "-", "-o", "/dev/null", "--cacert", ca.File, "--resolve", "a.test:"+port+":127.0.0.1", "https://a.test:"+port+"/echo")
	if !strings.Contains(strings.ToLower(out), "strict-transport-security: max-age=86400; includesubdomains") {
		t.Errorf("no HSTS on HTTPS:\n%s", out)
	}
}

func TestTLSOnlyModernVersionsAndSuites(t *testing.T) {
	ca := newTestCA(t)
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	startGatehouse(t, httpsSites(ca, httpAddr, httpsAddr, "127.0.0.1:9"), httpAddr, httpsAddr)

	refused := map[string]*tls.Config{
		"TLS 1.1": {MaxVersion: tls.VersionTLS11},
		"TLS 1.0": {MaxVersion: tls.VersionTLS10},
		"CBC suite": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{
			tls.TLS_ECDHE_RSA_WITH_AES_128_CBC_SHA, tls.TLS_ECDHE_ECDSA_WITH_AES_128_CBC_SHA}},
		"RSA key exchange": {MaxVersion: tls.VersionTLS12, CipherSuites: []uint16{tls.TLS_RSA_WITH_AES_128_GCM_SHA256}},
	}
	for name, cfg := range refused {
		cfg.InsecureSkipVerify, cfg.ServerName = true, "a.test"
		if c, err := tls.Dial("tcp", httpsAddr, cfg); err == nil {
			c.Close()
			t.Errorf("%s accepted", name)
		}
	}
	for _, v := range []uint16{tls.VersionTLS12, tls.VersionTLS13} {
		c, err := tls.Dial("tcp", httpsAddr, &tls.Config{MinVersion: v, MaxVersion: v, ServerName: "a.test", RootCAs: ca.Pool})
		if err != nil {
			t.Errorf("TLS version %x refused: %v", v, err)
			continue
		}
		c.Close()
	}
}
