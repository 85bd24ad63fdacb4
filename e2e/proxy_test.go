package e2e

import (
	"bufio"
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"
)

// proxyConfig is a single site on addr proxying everything to upstream.
func proxyConfig(addr, upstream, extra string) string {
	return fmt.Sprintf(`admin: "off"
%s
sites:
  - listen: ["%s"]
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, extra, addr, upstream)
}

func get(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	return send(t, "GET", url, nil, hdr)
}

// send makes one request with the given fields ("Host" sets the Host)
// and returns the response and its whole body.
func send(t *testing.T, method, url string, body io.Reader, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, err := http.NewRequest(method, url, body)
	if err != nil {
		t.Fatal(err)
	}
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	if err != nil {
		t.Fatal(err)
	}
	return res, b
}

func TestLargeBodiesArriveByteExact(t *testing.T) {
	up := startGunicorn(t, 2)
	addr := freeAddr(t)
	startGatehouse(t, proxyConfig(addr, up, ""), addr)

	upload := make([]byte, 8<<20+123)
	_, _ = rand.Read(upload)
	// Content-Length upload, echoed back.
	res, err := http.Post("http://"+addr+"/echo", "application/octet-stream", bytes.NewReader(upload))
	if err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, upload) {
		t.Fatalf("echo of %d bytes: status %d, got %d bytes, equal=%v", len(upload), res.StatusCode, len(got), bytes.Equal(got, upload))
	}
	// Chunked upload (unknown length), echoed back.
	res, err = http.Post("http://"+addr+"/echo", "application/octet-stream", io.MultiReader(bytes.NewReader(upload)))
	if err != nil {
		t.Fatal(err)
	}
	got, _ = io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 200 || !bytes.Equal(got, upload) {
		t.Fatalf("chunked echo: status %d, got %d bytes", res.StatusCode, len(got))
	}
	// Download.
	n := 12<<20 + 7
	res, body := get(t, fmt.Sprintf("http://%s/bytes?n=%d", addr, n), nil)
	want := make([]byte, n)
	for i := range want {
		want[i] = byte(i % 251)
	}
	if res.StatusCode != 200 || sha256.Sum256(body) != sha256.Sum256(want) {
		t.Fatalf("download: status %d, %d bytes, content differs", res.StatusCode, len(body))
	}
}

func TestSitesOnOneListenerRouteByHost(t *testing.T) {
	up := startGunicorn(t, 1)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%[1]s"]
    hosts: [a.test]
    routes:
      - path: /
        respond: {body: "site A"}
  - listen: ["http://%[1]s"]
    hosts: [b.test, "*.wild.test"]
    routes:
      - path: /
        proxy: {to: "http://%[2]s"}
      - path: "= /exact"
        respond: {body: "exact B"}
      - path: "~ ^/re/(\\d+)$"
        respond: {body: "regex B"}
      - path: /re/
        respond: {body: "prefix B"}
`, addr, up), addr)

	cases := []struct {
		host, path, want string
		status           int
	}{
		{"a.test", "/anything", "site A", 200},
		{"A.TEST:80", "/", "site A", 200},
		{"b.test", "/hello", "hello from the app /hello\n", 200},
		{"x.y.wild.test", "/w", "hello from the app /w\n", 200},
		{"b.test", "/exact", "exact B", 200},
		{"b.test", "/re/42", "regex B", 200},
		{"b.test", "/re/abc", "prefix B", 200},
		{"b.test", "/re/../exact", "exact B", 200},
		{"unknown.test", "/", "", 404},
	}
	for _, c := range cases {
		res, body := get(t, "http://"+addr+c.path, map[string]string{"Host": c.host})
		if res.StatusCode != c.status || (c.want != "" && string(body) != c.want) {
			t.Errorf("Host %s %s: got %d %q, want %d %q", c.host, c.path, res.StatusCode, body, c.status, c.want)
		}
	}
}

func TestForwardedHeadersComeFromTheConnection(t *testing.T) {
	up := startGunicorn(t, 1)
	forged := map[string]string{
		"X-Forwarded-For":   "6.6.6.6",
		"X-Forwarded-Proto": "https",
		"X-Forwarded-Host":  "evil.test",
		"X-Real-IP":         "6.6.6.6",
		"Forwarded":         "for=6.6.6.6",
		"X-Request-ID":      "forged-id",
		"Host":              "site.test",
	}
	t.Run("untrusted client", func(t *testing.T) {
		addr := freeAddr(t)
		startGatehouse(t, proxyConfig(addr, up, ""), addr)
		env := upstreamEnv(t, "http://"+addr+"/headers", forged, map[string]string{
			"HTTP_X_FORWARDED_FOR":   "127.0.0.1",
			"HTTP_X_FORWARDED_PROTO": "http",
			"HTTP_X_FORWARDED_HOST":  "site.test",
			"HTTP_X_REAL_IP":         "127.0.0.1",
			"HTTP_HOST":              "site.test",
		})
		if _, ok := env["HTTP_FORWARDED"]; ok {
			t.Errorf("Forwarded from an untrusted client was passed upstream")
		}
		if id := env["HTTP_X_REQUEST_ID"]; id == "" || id == "forged-id" {
			t.Errorf("X-Request-ID upstream = %q, want a fresh ID", id)
		}
	})
	t.Run("trusted proxy peer", func(t *testing.T) {
		addr := freeAddr(t)
		startGatehouse(t, proxyConfig(addr, up, "trusted_proxies: [127.0.0.0/8]"), addr)
		upstreamEnv(t, "http://"+addr+"/headers", forged, map[string]string{
			"HTTP_X_FORWARDED_FOR":   "6.6.6.6, 127.0.0.1",
			"HTTP_X_FORWARDED_PROTO": "https",
			"HTTP_X_FORWARDED_HOST":  "evil.test",
			"HTTP_X_REAL_IP":         "6.6.6.6",
			"HTTP_X_REQUEST_ID":      "forged-id",
		})
	})
}

// upstreamEnv requests the app's /headers page and checks the CGI
// environment the upstream saw against want; it returns the whole of it.
func upstreamEnv(t *testing.T, url string, hdr, want map[string]string) map[string]string {
	t.Helper()
	_, body := get(t, url, hdr)
	env := map[string]string{}
	if err := json.Unmarshal(body, &env); err != nil {
		t.Fatalf("%v: %s", err, body)
	}
	for k, v := range want {
		if env[k] != v {
			t.Errorf("%s = %q, want %q", k, env[k], v)
		}
	}
	return env
}

func TestNoVersionLeaks(t *testing.T) {
	up := startGunicorn(t, 1)
	addr := freeAddr(t)
	dead := freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    routes:
      - path: /
        proxy: {to: "http://%s"}
      - path: /down/
        proxy: {to: "http://%s"}
      - path: /kept/
        proxy: {to: "http://%s", pass_headers: [X-Powered-By], hide_headers: [X-App]}
`, addr, up, dead, up), addr)

	res, _ := get(t, "http://"+addr+"/x", nil)
	if s := res.Header.Values("Server"); len(s) != 1 || s[0] != "gatehouse" {
		t.Errorf("Server = %q, want [gatehouse] (the upstream's hidden)", s)
	}
	for _, h := range []string{"X-Powered-By", "X-Aspnet-Version"} {
		if v := res.Header.Get(h); v != "" {
			t.Errorf("%s leaked: %q", h, v)
		}
	}
	if res.Header.Get("X-App") != "test-app" {
		t.Errorf("an ordinary upstream header was dropped")
	}
	res, _ = get(t, "http://"+addr+"/kept/x", nil)
	if res.Header.Get("X-Powered-By") == "" || res.Header.Get("X-App") != "" {
		t.Errorf("pass_headers/hide_headers not applied: %v", res.Header)
	}
	for _, path := range []string{"/down/x", "/x"} {
		res, body := get(t, "http://"+addr+path, map[string]string{"Host": "x"})
		if path == "/down/x" && res.StatusCode != 502 {
			t.Errorf("dead upstream: status %d, want 502", res.StatusCode)
		}
		for _, leak := range []string{"go1.", "Go-http", "gunicorn", "nginx", "Python"} {
			if strings.Contains(string(body), leak) || strings.Contains(fmt.Sprint(res.Header), leak) {
				t.Errorf("%s: response reveals %q", path, leak)
			}
		}
	}
	// Generated 404s carry no version either.
	res, body := get(t, "http://"+addr+"/down/../nope", map[string]string{"Host": "x"})
	if strings.ContainsAny(res.Header.Get("Server"), "0123456789/") || bytes.Contains(body, []byte("gatehouse/")) {
		t.Errorf("version in generated response: %v %s", res.Header, body)
	}
	_ = g
}

func TestQuickMode(t *testing.T) {
	up := startGunicorn(t, 1)
	addr := freeAddr(t)
	g := startProcess(t, "", []string{"proxy", "--listen", addr, "--to", "http://" + up}, addr)
	res, body := get(t, "http://"+addr+"/quick", nil)
	if res.StatusCode != 200 || string(body) != "hello from the app /quick\n" {
		t.Fatalf("quick mode: %d %q", res.StatusCode, body)
	}
	if res.Header.Get("X-Powered-By") != "" || res.Header.Get("Server") != "gatehouse" {
		t.Errorf("quick mode does not hide upstream software: %v", res.Header)
	}
	g.waitLog(`"uri":"/quick"`)
}

func TestUpstreamTimeoutAndClientGone(t *testing.T) {
	up := startGunicorn(t, 2)
	addr := freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    routes:
      - path: /
        proxy: {to: "http://%s", response_timeout: 1s}
`, addr, up), addr)
	res, _ := get(t, "http://"+addr+"/slow?s=3", nil)
	if res.StatusCode != 504 {
		t.Errorf("slow upstream: status %d, want 504", res.StatusCode)
	}
	// A client that leaves before the answer is logged as 499.
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	fmt.Fprintf(c, "GET /slow?s=0.8&leaver=1 HTTP/1.1\r\nHost: x\r\n\r\n")
	time.Sleep(200 * time.Millisecond)
	c.Close()
	g.waitLog(`"uri":"/slow?s=0.8&leaver=1","proto":"HTTP/1.1","status":499`)
}

// TestStreamsAreNotBuffered checks the responses that must reach the client
// as they are produced, with response buffering on: server-sent events, and
// responses whose upstream sends X-Accel-Buffering: no. The app sends a
// first line and then waits for a gate file that the test creates only once
// it has that line: a buffering proxy could never deliver it.
func TestStreamsAreNotBuffered(t *testing.T) {
	up := startGunicorn(t, 1)
	addr := freeAddr(t)
	startGatehouse(t, proxyConfig(addr, up, ""), addr)
	for path, want := range map[string][2]string{
		"/sse":      {"data: event 0\n", "data: event 1"},
		"/progress": {"step 0\n", "step 1"},
	} {
		gate := filepath.Join(t.TempDir(), "gate")
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET %s?gate=%s HTTP/1.1\r\nHost: x\r\n\r\n", path, gate)
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		r := bufio.NewReader(c)
		res, err := http.ReadResponse(r, nil)
		if err != nil {
			t.Fatalf("%s: %v (the stream was held back)", path, err)
		}
		if res.Header.Get("X-Accel-Buffering") != "" {
			t.Errorf("%s: X-Accel-Buffering passed to the client", path)
		}
		br := bufio.NewReader(res.Body)
		line, err := br.ReadString('\n')
		if err != nil || line != want[0] {
			t.Fatalf("%s: first line %q %v: the stream was held back", path, line, err)
		}
		_ = os.WriteFile(gate, nil, 0o644)
		rest, _ := io.ReadAll(br)
		c.Close()
		if !strings.Contains(string(rest), want[1]) {
			t.Fatalf("%s: stream incomplete: %q", path, rest)
		}
	}
}

// startUpgradeEcho stands in for a WebSocket app (Gunicorn's sync workers
// cannot hold one): it answers an upgrade with 101 and echoes bytes
// upper-cased.
func startUpgradeEcho(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				req, err := http.ReadRequest(br)
				if err != nil || req.Header.Get("Upgrade") != "websocket" {
					fmt.Fprintf(c, "HTTP/1.1 400 Bad Request\r\nContent-Length: 0\r\n\r\n")
					return
				}
				fmt.Fprintf(c, "HTTP/1.1 101 Switching Protocols\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n")
				buf := make([]byte, 1024)
				for {
					n, err := br.Read(buf)
					if err != nil {
						return
					}
					_, _ = c.Write(bytes.ToUpper(buf[:n]))
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// upgrade opens a WebSocket through Gatehouse at addr and returns an echo
// check over it.
func upgrade(t *testing.T, addr string) func(string) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close() })
	_ = c.SetDeadline(time.Now().Add(10 * time.Second))
	fmt.Fprintf(c, "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\nSec-WebSocket-Key: dGhlIHNhbXBsZSBub25jZQ==\r\nSec-WebSocket-Version: 13\r\n\r\n")
	br := bufio.NewReader(c)
	res, err := http.ReadResponse(br, nil)
	if err != nil || res.StatusCode != 101 {
		t.Fatalf("upgrade: %v %v", res, err)
	}
	return func(msg string) {
		t.Helper()
		fmt.Fprint(c, msg)
		got := make([]byte, len(msg))
		if _, err := io.ReadFull(br, got); err != nil || string(got) != strings.ToUpper(msg) {
			t.Fatalf("echo over upgraded connection: %q %v", got, err)
		}
	}
}

func TestWebSocketUpgradeIsProxied(t *testing.T) {
	up := startUpgradeEcho(t)
	addr := freeAddr(t)
	g := startGatehouse(t, proxyConfig(addr, up, ""), addr)
	echo := upgrade(t, addr)
	echo("hello")
	echo("again")
	// A reload leaves the upgraded connection alone.
	g.writeConfig(proxyConfig(addr, up, "shutdown_timeout: 1s"))
	_ = g.cmd.Process.Signal(syscall.SIGHUP)
	g.waitLog("config reloaded")
	time.Sleep(1500 * time.Millisecond) // past the old graph's drain bound
	echo("after reload")
}
