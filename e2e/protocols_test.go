package e2e

import (
	"bytes"
	"crypto/rand"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"syscall"
	"testing"
	"time"
)

// startUWSGI serves testdata/app.py under real uWSGI, bound with flag
// (--socket for the uwsgi protocol, --scgi-socket for SCGI) to bind (a
// host:port or a socket path); it returns the address to wait on.
func startUWSGI(t *testing.T, name, flag, bind string) {
	t.Helper()
	bin, err := exec.LookPath("uwsgi")
	if err != nil {
		t.Fatal("uwsgi is not installed: run scripts/test.sh, which installs the test peers")
	}
	cmd := exec.Command(bin, "--plugin", "python3", flag, bind, "--chdir", "testdata", "--module", "app:app",
		"--master", "--processes", "2", "--die-on-term", "--env", "APP_NAME="+name, "--buffer-size", "32768",
		"--disable-logging", "--chmod-socket=660")
	wait := bind
	if strings.HasPrefix(bind, "/") {
		wait = "unix:" + bind
	}
	runPeer(t, "uwsgi "+name, cmd, syscall.SIGTERM, wait)
}

// wsgiProtocols are the ways TestWSGIOverEveryProtocolMatchesHTTP reaches
// the same app: the route prefix and the upstream URL.
type wsgiRoute struct{ prefix, upstream string }

// TestWSGIOverEveryProtocolMatchesHTTP serves the same WSGI app under
// Gunicorn over TCP (the reference), Gunicorn on a unix socket, uWSGI
// speaking uwsgi over TCP and over a unix socket, and uWSGI speaking SCGI,
// and checks request by request that every protocol gets the answer
// plain HTTP gets: status, the headers that matter, the body, and the
// request as the app saw it.
func TestWSGIOverEveryProtocolMatchesHTTP(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	ref := startGunicorn(t, 2)
	gsock := filepath.Join(dir, "gunicorn.sock")
	runPeer(t, "gunicorn unix", gunicornCmd(t, "unix:"+gsock, 2, "app"), syscall.SIGTERM, "unix:"+gsock)
	uwsgiTCP, scgiTCP := freeAddr(t), freeAddr(t)
	usock := filepath.Join(dir, "uwsgi.sock")
	startUWSGI(t, "app", "--socket", uwsgiTCP)
	startUWSGI(t, "app", "--socket", usock)
	startUWSGI(t, "app", "--scgi-socket", scgiTCP)
	routes := []wsgiRoute{
		{"/ref", "http://" + ref},
		{"/gunix", "http://unix:" + gsock},
		{"/uwsgi", "uwsgi://" + uwsgiTCP},
		{"/uunix", "uwsgi://unix:" + usock},
		{"/scgi", "scgi://" + scgiTCP},
	}
	addr := freeAddr(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin: \"off\"\nsites:\n  - listen: [\"%s\"]\n    routes:\n", addr)
	for _, r := range routes {
		// Every app sees the same path, whatever the route.
		fmt.Fprintf(&cfg, "      - path: %s/\n        rewrite: [{from: \"^%s(/.*)$\", to: \"$1\"}]\n        proxy: {to: \"%s\"}\n",
			r.prefix, r.prefix, r.upstream)
	}
	// An app mounted below a prefix, with variables of the route's own.
	fmt.Fprintf(&cfg, `      - path: /mounted/
        proxy: {to: "uwsgi://%s"}
        uwsgi: {script_name: /mounted, params: {APP_TIER: edge, SEEN_FROM: "{client_ip} {method}"}}
`, uwsgiTCP)
	g := startGatehouse(t, cfg.String(), addr)
	base := "http://" + addr
	client := &http.Client{Timeout: 60 * time.Second}

	type answer struct {
		status  int
		headers map[string][]string
		body    string
	}
	fetch := func(method, prefix, path string, body io.Reader, hdr map[string]string) answer {
		t.Helper()
		req, err := http.NewRequest(method, base+prefix+path, body)
		if err != nil {
			t.Fatal(err)
		}
		for k, v := range hdr {
			req.Header[k] = []string{v}
		}
		res, err := client.Do(req)
		if err != nil {
			t.Fatalf("%s %s%s: %v", method, prefix, path, err)
		}
		defer res.Body.Close()
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("%s %s%s: body: %v", method, prefix, path, err)
		}
		a := answer{status: res.StatusCode, headers: map[string][]string{}, body: string(b)}
		for _, k := range []string{"Content-Type", "Content-Length", "Set-Cookie", "X-App", "X-Powered-By"} {
			if v := res.Header[k]; v != nil {
				a.headers[k] = v
			}
		}
		if len(b) > 1<<20 {
			sum := sha256.Sum256(b)
			a.body = fmt.Sprintf("%d bytes, sha256 %s", len(b), hex.EncodeToString(sum[:]))
		}
		return a
	}
	same := func(what string, get func(prefix string) answer) {
		t.Helper()
		want := get(routes[0].prefix)
		for _, r := range routes[1:] {
			got := get(r.prefix)
			if got.status != want.status || !equalHeaders(got.headers, want.headers) || got.body != want.body {
				t.Errorf("%s over %s:\n got  %d %v %.200q\n want %d %v %.200q", what, r.upstream,
					got.status, got.headers, got.body, want.status, want.headers, want.body)
			}
		}
	}

	same("GET with query and escapes", func(p string) answer { return fetch("GET", p, "/a%20b/hello?q=a%20b&x=%2F", nil, nil) })
	same("GET of an escaped path", func(p string) answer { return fetch("GET", p, "/%7Euser/a%2Fb%3F/hello", nil, nil) })
	same("HEAD", func(p string) answer { return fetch("HEAD", p, "/hello", nil, nil) })
	same("multiple Set-Cookie", func(p string) answer { return fetch("GET", p, "/cookies", nil, nil) })
	same("an error status", func(p string) answer { return fetch("GET", p, "/code?c=404", nil, nil) })
	same("a slow response", func(p string) answer { return fetch("GET", p, "/slow?s=1", nil, nil) })
	upload := make([]byte, 5<<20)
	_, _ = rand.Read(upload)
	same("5 MB POST", func(p string) answer {
		return fetch("POST", p, "/sha", bytes.NewReader(upload), map[string]string{"Content-Type": "application/octet-stream"})
	})
	same("chunked POST", func(p string) answer {
		return fetch("POST", p, "/sha", io.MultiReader(bytes.NewReader(upload[:3<<20])), nil)
	})
	same("64 MB download", func(p string) answer { return fetch("GET", p, "/bytes?n=67108864", nil, nil) })

	// The request as the app saw it: the same CGI variables over every
	// protocol, hop-by-hop fields and spoofs dropped everywhere.
	env := func(prefix string) map[string]string {
		a := fetch("GET", prefix, "/x%2By%20z/headers?q=a%20b&x=%2F", nil, map[string]string{
			"Cookie": "a=1; b=2", "X-Custom": "v1", "Connection": "X-Hop", "X-Hop": "secret",
			"Proxy": "http://evil.example", "X-Forwarded-For": "6.6.6.6", "X_Real_Ip": "6.6.6.6",
		})
		var m map[string]string
		if err := json.Unmarshal([]byte(a.body), &m); err != nil {
			t.Fatalf("%s: %v: %q", prefix, err, a.body)
		}
		return m
	}
	want := env(routes[0].prefix)
	_, port, _ := strings.Cut(addr, ":")
	for _, r := range routes {
		got := env(r.prefix)
		for _, k := range []string{"PATH_INFO", "QUERY_STRING", "REQUEST_METHOD", "SERVER_PROTOCOL",
			"HTTP_COOKIE", "HTTP_X_CUSTOM", "HTTP_HOST", "HTTP_X_FORWARDED_FOR", "HTTP_X_FORWARDED_PROTO",
			"HTTP_X_FORWARDED_HOST", "HTTP_X_REAL_IP", "wsgi.url_scheme"} {
			if got[k] != want[k] {
				t.Errorf("%s over %s: %q, over HTTP %q", k, r.upstream, got[k], want[k])
			}
		}
		if cgi := !strings.HasPrefix(r.upstream, "http"); cgi && (got["SERVER_PORT"] != port || got["REMOTE_ADDR"] != "127.0.0.1" || got["REMOTE_PORT"] == "") {
			// Gunicorn tells its own port, or the Host's on a unix
			// socket; CGI-style variables tell the client's view.
			t.Errorf("over %s: SERVER_PORT %q (want %s), REMOTE_ADDR %q, REMOTE_PORT %q", r.upstream, got["SERVER_PORT"], port, got["REMOTE_ADDR"], got["REMOTE_PORT"])
		}
		if got["PATH_INFO"] != "/x+y z/headers" || got["HTTP_X_FORWARDED_FOR"] != "127.0.0.1" || got["HTTP_X_REAL_IP"] != "127.0.0.1" {
			t.Errorf("over %s: PATH_INFO %q, X-Forwarded-For %q, X-Real-IP %q", r.upstream, got["PATH_INFO"], got["HTTP_X_FORWARDED_FOR"], got["HTTP_X_REAL_IP"])
		}
		for _, k := range []string{"HTTP_X_HOP", "HTTP_CONNECTION", "HTTP_PROXY"} {
			if v, ok := got[k]; ok {
				t.Errorf("over %s: %s=%q reached the app", r.upstream, k, v)
			}
		}
	}
	if m := env("/mounted"); m["SCRIPT_NAME"] != "/mounted" || m["PATH_INFO"] != "/x+y z/headers" ||
		m["APP_TIER"] != "edge" || m["SEEN_FROM"] != "127.0.0.1 GET" {
		t.Errorf("mounted app: SCRIPT_NAME %q PATH_INFO %q APP_TIER %q SEEN_FROM %q", m["SCRIPT_NAME"], m["PATH_INFO"], m["APP_TIER"], m["SEEN_FROM"])
	}
	if strings.Contains(g.stderr.String(), "level=ERROR") {
		t.Errorf("errors logged:\n%s", g.stderr.String())
	}
}

func equalHeaders(a, b map[string][]string) bool {
	if len(a) != len(b) {
		return false
	}
	for k, v := range a {
		if !slices.Equal(v, b[k]) {
			return false
		}
	}
	return true
}

// TestBackendsDownAnswer502: for every protocol, a server that is not
// there is a 502 (no HTML from a gRPC route; that is TestGRPC's), soon.
func TestBackendsDownAnswer502(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	addr := freeAddr(t)
	var cfg strings.Builder
	fmt.Fprintf(&cfg, "admin: \"off\"\nsites:\n  - listen: [\"%s\"]\n    routes:\n", addr)
	ups := []string{"http://" + freeAddr(t), "http://unix:" + filepath.Join(dir, "none.sock"), "uwsgi://" + freeAddr(t),
		"uwsgi://unix:" + filepath.Join(dir, "none.sock"), "scgi://" + freeAddr(t), "fastcgi://" + freeAddr(t),
		"fastcgi://unix:" + filepath.Join(dir, "none.sock")}
	for i, u := range ups {
		fmt.Fprintf(&cfg, "      - path: /%d/\n        proxy: {to: \"%s\", connect_timeout: 1s}\n", i, u)
		if strings.HasPrefix(u, "fastcgi") {
			fmt.Fprintf(&cfg, "        fastcgi: {root: %s}\n", dir)
		}
	}
	startGatehouse(t, cfg.String(), addr)
	for i, u := range ups {
		start := time.Now()
		res, _ := get(t, fmt.Sprintf("http://%s/%d/x", addr, i), nil)
		if res.StatusCode != http.StatusBadGateway {
			t.Errorf("%s: %d, want 502", u, res.StatusCode)
		}
		if d := time.Since(start); d > 5*time.Second {
			t.Errorf("%s: answered after %v", u, d)
		}
	}
}
