package e2e

import (
	"bytes"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"mime"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/nginximport/corpus"
)

// comparedHeaders are the response headers the corpus's configs set
// (add_header, expires), compared on the answers nginx adds them to
// (Cache-Control only where nginx sends one: Gatehouse marks its own
// directory redirects no-store).
var comparedHeaders = []string{"X-Frame-Options", "X-Static", "Cache-Control", "Strict-Transport-Security"}

// comparedAlways are compared on every answer.
var comparedAlways = []string{"WWW-Authenticate"}

// importRequest is one request sent to both servers.
type importRequest struct {
	method, path, host string
	body               int    // bytes of body to send
	auth               string // user:password for basic auth
	authz              string // an Authorization field
	tls                bool   // over TLS, to the config's ssl listener
	only               string // sent to this corpus config only
}

// Each configuration of the corpus, imported by `gatehouse import
// nginx`, answers the same requests as nginx itself on the original, in
// front of the same upstreams: status, Location, body and the headers the
// config sets.
func TestImportedNginxConfigsAnswerLikeNginx(t *testing.T) {
	requests := []importRequest{
		{method: "GET", path: "/healthz", host: "api.example.test"},
		{method: "GET", path: "/old-pricing", host: "api.example.test"},
		{method: "GET", path: "/api/items?x=1", host: "api.example.test"},
		{method: "GET", path: "/api/", host: "api.example.test"},
		{method: "POST", path: "/api/echo", host: "api.example.test", body: 64 << 10},
		// /sha reads the whole body: an app that answers without reading
		// it races the upload, and nginx then says 502 or 200 by luck.
		{method: "POST", path: "/api/upload/sha", host: "api.example.test", body: 11 << 20},
		{method: "GET", path: "/static/app.css", host: "api.example.test"},
		{method: "GET", path: "/static/avatars/7.png", host: "api.example.test"},
		{method: "GET", path: "/static/missing.css", host: "api.example.test"},
		{method: "GET", path: "/users/7/avatar", host: "api.example.test"},
		{method: "GET", path: "/users/x/avatar", host: "api.example.test"},
		{method: "GET", path: "/", host: "api.example.test"},
		{method: "GET", path: "/index.html", host: "api.example.test"},
		{method: "GET", path: "/docs/", host: "api.example.test"},
		{method: "GET", path: "/docs", host: "api.example.test"},
		{method: "GET", path: "/nothing", host: "api.example.test"},
		{method: "GET", path: "/", host: "other.example.test"},
		{method: "GET", path: "/api/x", host: "other.example.test"},
		{method: "GET", path: "/api/items", host: "API.example.test:8080"},
		{method: "GET", path: "/", host: "blog.example.test"},
		{method: "GET", path: "/2024/hello-world/?p=1&x=%2F", host: "blog.example.test"},
		{method: "GET", path: "/wp-login.php", host: "blog.example.test"},
		{method: "POST", path: "/wp-login.php", host: "blog.example.test", body: 2000},
		{method: "GET", path: "/wp-content/uploads/pic.png", host: "blog.example.test"},
		{method: "GET", path: "/wp-content/themes/site.css", host: "blog.example.test"},
		{method: "GET", path: "/wp-content/", host: "blog.example.test"},
		{method: "GET", path: "/readme.txt", host: "blog.example.test"},
		{method: "GET", path: "/sub/", host: "blog.example.test"},
		{method: "GET", path: "/sub", host: "blog.example.test"},
		{method: "GET", path: "/nothing.php", host: "blog.example.test"},
		{method: "GET", path: "/wp-content/uploads/pic.png/x.php", host: "blog.example.test"},
		{method: "GET", path: "/private/report", host: "api.example.test", authz: "Bearer good"},
		{method: "GET", path: "/private/report", host: "api.example.test", authz: "Bearer bad"},
		{method: "GET", path: "/private/report", host: "api.example.test"},
		{method: "GET", path: "/auth", host: "api.example.test"},
		{method: "GET", path: "/media/app.css", host: "django.example.test", only: "uwsgi"},
		{method: "GET", path: "/polls/3/vote?choice=1", host: "django.example.test", only: "uwsgi"},
		{method: "POST", path: "/polls/3/echo", host: "django.example.test", body: 3000, only: "uwsgi"},
		{method: "GET", path: "/account?tab=2", host: "secure.example.test", only: "https"},
		{method: "POST", path: "/account", host: "www.secure.example.test", body: 10, only: "https"},
		{method: "GET", path: "/account?tab=2", host: "secure.example.test", tls: true, only: "https"},
		{method: "POST", path: "/form", host: "www.secure.example.test", body: 5000, tls: true, only: "https"},
		{method: "GET", path: "/static/app.css", host: "secure.example.test", tls: true, only: "https"},
		{method: "GET", path: "/static/nothing.css", host: "secure.example.test", tls: true, only: "https"},
		{method: "GET", path: "/some/page?y=1", host: "old.example.test"},
		{method: "GET", path: "/blog/2024/hello?utm=1", host: "api.example.test"},
		{method: "GET", path: "/blog/2024/hello", host: "api.example.test"},
		{method: "GET", path: "/admin/", host: "api.example.test"},
		{method: "GET", path: "/admin/users", host: "api.example.test", body: 0, auth: "admin:secret"},
		{method: "GET", path: "/admin/users", host: "api.example.test", body: 0, auth: "admin:wrong"},
		// Four logins at once: the login limit (burst 2) refuses the last.
		{method: "POST", path: "/api/login", host: "api.example.test", body: 10},
		{method: "POST", path: "/api/login", host: "api.example.test", body: 10},
		{method: "POST", path: "/api/login", host: "api.example.test", body: 10},
		{method: "POST", path: "/api/login", host: "api.example.test", body: 10},
	}
	peers := startCorpusPeers(t)
	for _, name := range corpus.Names() {
		t.Run(name, func(t *testing.T) { compareWithNginx(t, name, peers, requests) })
	}
}

// startCorpusPeers writes the content the corpus's configs serve and
// starts what they send to, once for all of them: two HTTP upstreams that
// answer alike (so that balancing does not show; /check is the auth
// service of auth_request), php-fpm and uWSGI. Only Port and TLSPort are
// left to fill.
func startCorpusPeers(t *testing.T) corpus.Values {
	dir := t.TempDir()
	writeContent(t, dir)
	echo := http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/check" {
			if r.Header.Get("Authorization") != "Bearer good" {
				w.Header().Set("WWW-Authenticate", "Bearer")
				w.WriteHeader(401)
				return
			}
			w.Header().Set("X-User", "alice")
			return
		}
		n, _ := io.Copy(io.Discard, r.Body)
		// Not the X-Forwarded-* headers: Gatehouse always sends its own,
		// whatever the config says (docs/nginx.md).
		fmt.Fprintf(w, "upstream saw %s %s host=%s tier=%s user=%s body=%d\n", r.Method, r.RequestURI, r.Host,
			r.Header.Get("X-App-Tier"), r.Header.Get("X-User"), n)
	})
	app1, app2 := httptest.NewServer(echo), httptest.NewServer(echo)
	t.Cleanup(app1.Close)
	t.Cleanup(app2.Close)
	php := startPHPFPM(t, dir, filepath.Join(dir, "wp"))
	uwsgi := filepath.Join(dir, "uwsgi.sock")
	startUWSGI(t, "app", "--socket", uwsgi)
	ca := newTestCA(t)
	cert, key := ca.issue("secure.example.test", "www.secure.example.test")
	return corpus.Values{App1: app1.Listener.Addr().String(), App2: app2.Listener.Addr().String(),
		PHP: php, UWSGI: uwsgi, Dir: dir, Cert: cert, Key: key, CAFile: ca.File}
}

// writeContent makes the files the corpus's roots and aliases serve.
func writeContent(t *testing.T, dir string) {
	t.Helper()
	files := map[string]string{
		"public/index.html":             "<h1>home</h1>\n",
		"public/docs/index.html":        "<h1>docs</h1>\n",
		"public/500.html":               "<h1>down</h1>\n",
		"wp/index.php":                  `<?php echo "front: uri=", $_SERVER["REQUEST_URI"], " script=", $_SERVER["SCRIPT_NAME"], " doc=", $_SERVER["DOCUMENT_URI"], " query=", $_SERVER["QUERY_STRING"], "\n";`,
		"wp/wp-login.php":               `<?php echo "login ", $_SERVER["REQUEST_METHOD"], " ", strlen(file_get_contents("php://input")), "\n";`,
		"wp/wp-content/uploads/pic.png": "\x89PNG\r\n\x1a\nnot really",
		"wp/wp-content/themes/site.css": "body { margin: 0 }\n",
		"wp/readme.txt":                 "read me\n",
		"wp/sub/index.php":              `<?php echo "sub index ", $_SERVER["SCRIPT_NAME"], "\n";`,
		// admin:secret, as htpasswd -s writes it.
		"htpasswd":             "admin:{SHA}5en6G6MezRroT3XKqkdPOmY/BfQ=\n",
		"assets/app.css":       "body { color: black }\n",
		"assets/avatars/7.png": "\x89PNG\r\n\x1a\nnot really",
	}
	for name, body := range files {
		path := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(path), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(path, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

func compareWithNginx(t *testing.T, name string, values corpus.Values, requests []importRequest) {
	dir := t.TempDir()
	values.Port, values.TLSPort = freeAddr(t), freeAddr(t)
	nginxConf, err := corpus.Render(name, filepath.Join(dir, "nginx"), values)
	if err != nil {
		t.Fatal(err)
	}
	nginxAddr, nginxTLS := values.Port, values.TLSPort
	values.Port, values.TLSPort = freeAddr(t), freeAddr(t)
	ghConf, err := corpus.Render(name, filepath.Join(dir, "gatehouse"), values)
	if err != nil {
		t.Fatal(err)
	}
	ghAddr, ghTLS := values.Port, values.TLSPort
	roots := x509.NewCertPool()
	if pem, err := os.ReadFile(values.CAFile); err != nil || !roots.AppendCertsFromPEM(pem) {
		t.Fatalf("the test CA: %v", err)
	}

	prefix := filepath.Dir(nginxConf)
	if err := os.MkdirAll(filepath.Join(prefix, "logs"), 0o755); err != nil {
		t.Fatal(err)
	}
	nginx := exec.Command("nginx", "-p", prefix+"/", "-c", nginxConf, "-g",
		fmt.Sprintf("daemon off; user root; pid %s/nginx.pid; error_log %s/error.log;", prefix, prefix))
	var nginxOut syncBuffer
	nginx.Stdout, nginx.Stderr = &nginxOut, &nginxOut
	if err := nginx.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() {
		_ = nginx.Process.Signal(os.Interrupt)
		_ = nginx.Wait()
	}()

	out := filepath.Join(dir, "gatehouse.yaml")
	imp := exec.Command(binPath, "import", "nginx", ghConf, "-o", out)
	var warnings bytes.Buffer
	imp.Stderr = &warnings
	if err := imp.Run(); err != nil {
		t.Fatalf("gatehouse import nginx: %v\n%s", err, warnings.String())
	}
	t.Logf("import:\n%s", warnings.String())
	yaml, err := os.ReadFile(out)
	if err != nil {
		t.Fatal(err)
	}
	g := startGatehouse(t, "admin: \"off\"\n"+string(yaml), ghAddr)
	defer g.stop()
	waitPort(t, nginxAddr)

	client := &http.Client{Timeout: 10 * time.Second, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	ask := func(addr, tlsAddr string, rq importRequest) (*http.Response, []byte) {
		t.Helper()
		var body io.Reader
		if rq.body > 0 {
			body = bytes.NewReader(bytes.Repeat([]byte("x"), rq.body))
		}
		target, c := "http://"+addr+rq.path, client
		if rq.tls {
			target = "https://" + tlsAddr + rq.path
			c = &http.Client{Timeout: client.Timeout, CheckRedirect: client.CheckRedirect, Transport: &http.Transport{
				TLSClientConfig: &tls.Config{RootCAs: roots, ServerName: rq.host}}}
		}
		req, err := http.NewRequest(rq.method, target, body)
		if err != nil {
			t.Fatal(err)
		}
		req.Host = rq.host
		if user, pass, ok := strings.Cut(rq.auth, ":"); ok {
			req.SetBasicAuth(user, pass)
		}
		if rq.authz != "" {
			req.Header.Set("Authorization", rq.authz)
		}
		res, err := c.Do(req)
		if err != nil {
			t.Fatalf("%s %s to %s: %v", rq.method, rq.path, addr, err)
		}
		defer res.Body.Close()
		b, _ := io.ReadAll(res.Body)
		return res, b
	}
	for _, rq := range requests {
		if rq.only != "" && rq.only != name {
			continue
		}
		want, wantBody := ask(nginxAddr, nginxTLS, rq)
		got, gotBody := ask(ghAddr, ghTLS, rq)
		what := fmt.Sprintf("%s %s (Host %s)", rq.method, rq.path, rq.host)
		if got.StatusCode != want.StatusCode {
			t.Errorf("%s: status %d, nginx %d", what, got.StatusCode, want.StatusCode)
			continue
		}
		if l, wl := location(got, rq), location(want, rq); l != wl {
			t.Errorf("%s: Location %q, nginx %q", what, l, wl)
		}
		if want.StatusCode == 200 && !bytes.Equal(gotBody, wantBody) {
			t.Errorf("%s: body %q, nginx %q", what, gotBody, wantBody)
		}
		if want.StatusCode == 200 && mediaType(got) != mediaType(want) {
			t.Errorf("%s: Content-Type %q, nginx %q", what, got.Header.Get("Content-Type"), want.Header.Get("Content-Type"))
		}
		for _, h := range comparedAlways {
			// Gatehouse names the charset of basic auth (RFC 7617).
			g := strings.TrimSuffix(got.Header.Get(h), `, charset="UTF-8"`)
			if w := want.Header.Get(h); g != w {
				t.Errorf("%s: %s %q, nginx %q", what, h, g, w)
			}
		}
		if want.StatusCode < 400 {
			for _, h := range comparedHeaders {
				if g, w := got.Header.Get(h), want.Header.Get(h); g != w && (w != "" || h != "Cache-Control") {
					t.Errorf("%s: %s %q, nginx %q", what, h, g, w)
				}
			}
		}
	}
	if t.Failed() {
		t.Logf("the imported config:\n%s\nnginx:\n%s", yaml, nginxOut.String())
	}
}

// location is a response's Location as a path and query when it points
// at the host asked (nginx makes relative ones absolute, with the Host
// and its own port).
func location(res *http.Response, rq importRequest) string {
	l := res.Header.Get("Location")
	if l == "" {
		return ""
	}
	base, _ := url.Parse("http://" + rq.host + rq.path)
	u, err := base.Parse(l)
	if err != nil {
		return l
	}
	if u.Hostname() == rq.host {
		return u.RequestURI()
	}
	return u.String()
}

// mediaType is a response's Content-Type without its parameters.
func mediaType(res *http.Response) string {
	mt, _, _ := mime.ParseMediaType(res.Header.Get("Content-Type"))
	return mt
}
