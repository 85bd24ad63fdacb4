package e2e

import (
	"bytes"
	"compress/gzip"
	"crypto/sha256"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/zstd"
)

// rawGet sends a GET with headers and no transparent decompression, and
// returns the response with its body as sent.
func rawGet(t *testing.T, url string, hdr map[string]string) (*http.Response, []byte) {
	t.Helper()
	req, _ := http.NewRequest("GET", url, nil)
	for k, v := range hdr {
		if k == "Host" {
			req.Host = v
			continue
		}
		req.Header.Set(k, v)
	}
	tr := &http.Transport{DisableCompression: true}
	defer tr.CloseIdleConnections()
	client := &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	res, err := client.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		t.Fatal(err)
	}
	return res, body
}

func decode(t *testing.T, enc string, b []byte) []byte {
	t.Helper()
	var r io.Reader
	switch enc {
	case "gzip":
		zr, err := gzip.NewReader(bytes.NewReader(b))
		if err != nil {
			t.Fatal(err)
		}
		r = zr
	case "br":
		r = brotli.NewReader(bytes.NewReader(b))
	case "zstd":
		zr, err := zstd.NewReader(bytes.NewReader(b), zstd.WithDecoderMaxWindow(1<<25))
		if err != nil {
			t.Fatal(err)
		}
		defer zr.Close()
		r = zr
	default:
		return b
	}
	out, err := io.ReadAll(r)
	if err != nil {
		t.Fatalf("decode %s: %v", enc, err)
	}
	return out
}

func TestCompressionOfALargeProxiedBody(t *testing.T) {
	app := startGunicorn(t, 2)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    compress: [zstd, br, gzip]
    routes:
      - path: /
        proxy: {to: "http://%s"}
      - path: /plain/
        compress: []
        proxy: {to: "http://%s"}
`, addr, app, app), addr)
	const n = 64 << 20
	url := fmt.Sprintf("http://%s/text?n=%d", addr, n)
	res, plain := rawGet(t, url, nil)
	if res.StatusCode != 200 || len(plain) != n || res.Header.Get("Content-Encoding") != "" {
		t.Fatalf("without Accept-Encoding: %d, %d bytes, encoding %q", res.StatusCode, len(plain), res.Header.Get("Content-Encoding"))
	}
	if res.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("uncompressed answer lacks Vary: %v", res.Header)
	}
	want := sha256.Sum256(plain)
	for _, c := range []struct{ accept, enc string }{
		{"zstd", "zstd"}, {"br", "br"}, {"gzip", "gzip"},
		{"gzip;q=0.5, br;q=0.9, zstd;q=0.1", "br"},
		{"gzip, deflate, br, zstd", "zstd"},
		{"*;q=0.3, gzip;q=0", "zstd"},
		{"identity", ""},
	} {
		res, body := rawGet(t, url, map[string]string{"Accept-Encoding": c.accept})
		if got := res.Header.Get("Content-Encoding"); got != c.enc {
			t.Errorf("Accept-Encoding %q: Content-Encoding %q, want %q", c.accept, got, c.enc)
			continue
		}
		if c.enc != "" {
			// The upstream's length is dropped; the front end may set the
			// encoded length when the whole encoded body fit its buffer.
			if res.ContentLength != -1 && res.ContentLength != int64(len(body)) {
				t.Errorf("%s: Content-Length %d for %d encoded bytes", c.enc, res.ContentLength, len(body))
			}
			if et := res.Header.Get("Etag"); et != `W/"text-67108864"` {
				t.Errorf("%s: ETag %q, want it weak", c.enc, et)
			}
			if len(body) > n/20 {
				t.Errorf("%s: %d bytes, hardly compressed", c.enc, len(body))
			}
		}
		if sha256.Sum256(decode(t, c.enc, body)) != want {
			t.Errorf("%s: does not decode to the original", c.enc)
		}
	}
	// A route with compress: [] sends it as it is.
	res, _ = rawGet(t, fmt.Sprintf("http://%s/plain/text?n=5000", addr), map[string]string{"Accept-Encoding": "gzip"})
	if res.Header.Get("Content-Encoding") != "" {
		t.Errorf("compress: [] route compressed")
	}
	// Small bodies are not worth it.
	res, _ = rawGet(t, fmt.Sprintf("http://%s/text?n=100", addr), map[string]string{"Accept-Encoding": "gzip"})
	if res.Header.Get("Content-Encoding") != "" {
		t.Errorf("100-byte body compressed")
	}
}

func TestStaticFilesRangesValidatorsPrecompressedAndTry(t *testing.T) {
	root := t.TempDir()
	must := func(err error) {
		t.Helper()
		if err != nil {
			t.Fatal(err)
		}
	}
	data := bytes.Repeat([]byte("0123456789"), 1000)
	must(os.MkdirAll(filepath.Join(root, "assets"), 0o755))
	must(os.WriteFile(filepath.Join(root, "assets", "data.txt"), data, 0o644))
	must(os.WriteFile(filepath.Join(root, "assets", "app.js"), []byte("console.log('plain')\n"), 0o644))
	brBody := []byte("not really brotli, served as it is")
	must(os.WriteFile(filepath.Join(root, "assets", "app.js.br"), brBody, 0o644))
	must(os.WriteFile(filepath.Join(root, "assets", "app.js.gz"), []byte("gz bytes"), 0o644))
	must(os.MkdirAll(filepath.Join(root, "spa"), 0o755))
	must(os.WriteFile(filepath.Join(root, "spa", "index.html"), []byte("<p>spa</p>"), 0o644))
	must(os.WriteFile(filepath.Join(filepath.Dir(root), "secret.txt"), []byte("secret"), 0o644))

	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%[1]s"]
    routes:
      - path: /assets/
        static: {root: %[2]s, precompressed: true}
        expires: 1h
      - path: /spa/
        static: {root: %[2]s, try: [$uri, $uri/, /spa/index.html]}
`, addr, root), addr)
	base := "http://" + addr

	res, body := rawGet(t, base+"/assets/data.txt", map[string]string{"Range": "bytes=10-19"})
	if res.StatusCode != 206 || string(body) != "0123456789" || res.Header.Get("Content-Range") != "bytes 10-19/10000" {
		t.Errorf("single range: %d %q %v", res.StatusCode, body, res.Header)
	}
	res, body = rawGet(t, base+"/assets/data.txt", map[string]string{"Range": "bytes=0-1,5-6"})
	if res.StatusCode != 206 || !strings.HasPrefix(res.Header.Get("Content-Type"), "multipart/byteranges") || !bytes.Contains(body, []byte("56")) {
		t.Errorf("multiple ranges: %d %v", res.StatusCode, res.Header)
	}
	res, _ = rawGet(t, base+"/assets/data.txt", nil)
	if cc := res.Header.Get("Cache-Control"); cc != "max-age=3600" || res.Header.Get("Expires") == "" {
		t.Errorf("expires 1h: Cache-Control %q, Expires %q", cc, res.Header.Get("Expires"))
	}
	etag := res.Header.Get("Etag")
	res, body = rawGet(t, base+"/assets/data.txt", map[string]string{"If-None-Match": etag})
	if res.StatusCode != 304 || len(body) != 0 {
		t.Errorf("If-None-Match: %d, %d bytes", res.StatusCode, len(body))
	}
	// The precompressed sibling, byte for byte, with the original's type.
	res, body = rawGet(t, base+"/assets/app.js", map[string]string{"Accept-Encoding": "gzip, br"})
	if res.Header.Get("Content-Encoding") != "br" || !bytes.Equal(body, brBody) ||
		!strings.Contains(res.Header.Get("Content-Type"), "javascript") || res.Header.Get("Vary") != "Accept-Encoding" {
		t.Errorf("precompressed: %q %v", body, res.Header)
	}
	res, body = rawGet(t, base+"/assets/app.js", nil)
	if res.Header.Get("Content-Encoding") != "" || string(body) != "console.log('plain')\n" {
		t.Errorf("plain: %q %v", body, res.Header)
	}
	// No way out of the root.
	for _, p := range []string{"/assets/../../secret.txt", "/assets/%2e%2e/%2e%2e/secret.txt", "/assets/..%2f..%2fsecret.txt"} {
		out := curl(t, "--path-as-is", "-o", "/dev/null", "-w", "%{http_code}", base+p)
		if out == "200" {
			t.Errorf("%s served", p)
		}
	}
	// try: the file, else the directory's index, else the app's shell.
	res, body = rawGet(t, base+"/spa/some/client/route", nil)
	if res.StatusCode != 200 || string(body) != "<p>spa</p>" {
		t.Errorf("try fallback: %d %q", res.StatusCode, body)
	}
}

func TestRedirectsRewritesAndHeaderRules(t *testing.T) {
	app := startGunicorn(t, 1)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%[1]s"]
    headers:
      set: {X-Frame-Options: DENY, X-Served-By: "gatehouse {request_id}"}
      remove: [X-App]
    request_headers:
      set: {X-Client: "{client_ip}"}
    routes:
      - path: "~ ^/old/(.*)$"
        redirect: {to: "/new/$1", status: 301}
      - path: /api/
        rewrite: [{from: "^/api/v1/(.*)$", to: "/v2/$1"}]
        proxy: {to: "http://%[2]s"}
      - path: /frames/
        headers: {set: {X-Frame-Options: SAMEORIGIN}}
        proxy: {to: "http://%[2]s"}
      - path: /
        proxy: {to: "http://%[2]s"}
`, addr, app), addr)
	base := "http://" + addr

	res, _ := rawGet(t, base+"/old/a/b?x=1", nil)
	if res.StatusCode != 301 || res.Header.Get("Location") != "/new/a/b" {
		t.Errorf("redirect with a capture: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	_, body := rawGet(t, base+"/api/v1/headers?q=2", nil)
	if !strings.Contains(string(body), `"PATH_INFO": "/v2/headers"`) || !strings.Contains(string(body), `"QUERY_STRING": "q=2"`) {
		t.Errorf("rewrite: upstream saw %s", body)
	}
	if !strings.Contains(string(body), `"HTTP_X_CLIENT": "127.0.0.1"`) {
		t.Errorf("request header with {client_ip}: %s", body)
	}
	res, _ = rawGet(t, base+"/hello", nil)
	if res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("X-App") != "" ||
		!strings.HasPrefix(res.Header.Get("X-Served-By"), "gatehouse ") || len(res.Header.Get("X-Served-By")) != len("gatehouse ")+32 {
		t.Errorf("site headers: %v", res.Header)
	}
	// The route's rule wins for its header; the site's others still apply
	// (unlike nginx's add_header).
	res, _ = rawGet(t, base+"/frames/x", nil)
	if res.Header.Get("X-Frame-Options") != "SAMEORIGIN" || res.Header.Get("X-App") != "" || res.Header.Get("X-Served-By") == "" {
		t.Errorf("route headers merged over the site's: %v", res.Header)
	}
}

// Site header rules apply to what the site answers itself too: a path no
// route matches gets the site's headers on its 404.
func TestSiteHeadersOnResponsesNoRouteAnswers(t *testing.T) {
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    headers:
      set: {X-Frame-Options: DENY, Strict-Transport-Security: "max-age=60"}
    routes:
      - path: /only/
        respond: {body: "here\n"}
`, addr), addr)
	base := "http://" + addr
	for _, path := range []string{"/only/x", "/elsewhere"} {
		res, _ := rawGet(t, base+path, nil)
		if res.Header.Get("X-Frame-Options") != "DENY" || res.Header.Get("Strict-Transport-Security") != "max-age=60" {
			t.Errorf("%s (%d): site headers missing: %v", path, res.StatusCode, res.Header)
		}
	}
}

// Redirect targets take placeholders, as nginx's return takes variables:
// the usual `return 301 https://$host$request_uri` is
// "https://{host}{uri}" ({host} without the port, as $host), a regex's
// groups mix with them, a placeholder's value is never read as a
// template, and keep_query appends the request's query.
func TestRedirectTargetsTakePlaceholders(t *testing.T) {
	addr := freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    routes:
      - path: "~ ^/u/(\\w+)$"
        redirect: {to: "https://{host}/users/$1?from={path}", status: 301}
      - path: /old/
        redirect: {to: "/new/", status: 308, keep_query: true}
      - path: /
        redirect: {to: "https://{host}{uri}", status: 301}
`, addr), addr)
	defer g.stop()
	cases := []struct{ path, host, want string }{
		{"/a/b?x=1", "Example.COM:8080", "https://example.com/a/b?x=1"},
		{"/%241/x", "example.com", "https://example.com/%241/x"},
		{"/u/alice", "example.com", "https://example.com/users/alice?from=/u/alice"},
		{"/old/page?a=1&b=2", "example.com", "/new/?a=1&b=2"},
		{"/old/page", "example.com", "/new/"},
	}
	client := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	for _, c := range cases {
		req, _ := http.NewRequest("GET", "http://"+addr+c.path, nil)
		req.Host = c.host
		res, err := client.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if loc := res.Header.Get("Location"); loc != c.want || res.StatusCode < 300 || res.StatusCode > 308 {
			t.Errorf("%s (Host %s): %d %q, want %q", c.path, c.host, res.StatusCode, loc, c.want)
		}
	}
}

// A request header rule that sets Host sets the Host the upstream gets
// (one field, not two), with placeholders: nginx's
// `proxy_set_header Host $proxy_host` or a fixed name; X-Forwarded-Host
// still names the client's.
func TestRequestRuleSetsUpstreamHost(t *testing.T) {
	hosts := make(chan []string, 4)
	up := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		hosts <- append([]string{r.Host, r.Header.Get("X-Forwarded-Host")}, r.Header.Values("Host")...)
	}))
	defer up.Close()
	addr := freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    routes:
      - path: /fixed
        request_headers: {set: {Host: app.internal}}
        proxy: {to: "%s"}
      - path: /tenant
        request_headers: {set: {Host: "{header.X-Tenant}.apps.internal"}}
        proxy: {to: "%s"}
      - path: /
        proxy: {to: "%s"}
`, addr, up.URL, up.URL, up.URL), addr)
	defer g.stop()
	cases := []struct {
		path string
		hdr  map[string]string
		want string
	}{
		{"/fixed", map[string]string{"Host": "www.example.com"}, "app.internal"},
		{"/tenant", map[string]string{"Host": "www.example.com", "X-Tenant": "acme"}, "acme.apps.internal"},
		{"/", map[string]string{"Host": "www.example.com:8080"}, "www.example.com:8080"},
	}
	for _, c := range cases {
		res, _ := get(t, "http://"+addr+c.path, c.hdr)
		got := <-hosts
		if res.StatusCode != 200 || got[0] != c.want || len(got) != 2 {
			t.Errorf("%s: %d, the upstream saw Host %q (fields %q), want %q", c.path, res.StatusCode, got[0], got[2:], c.want)
		}
		if got[1] != c.hdr["Host"] {
			t.Errorf("%s: X-Forwarded-Host %q, want the client's %q", c.path, got[1], c.hdr["Host"])
		}
	}
}
