package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// Gunicorn's own deployment example, `try_files $uri @proxy_to_app`: a
// file under the root is served as a file, and everything else, any
// method, goes to the named route that proxies to Gunicorn (which sees
// the request's own path). A named route answers nothing by path.
func TestTryFallsBackToNamedRoute(t *testing.T) {
	app := startGunicorn(t, 2)
	root := t.TempDir()
	if err := os.MkdirAll(filepath.Join(root, "static"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "static", "site.css"), []byte("body{}\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	if err := os.MkdirAll(filepath.Join(root, "gone"), 0o755); err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(filepath.Join(root, "gone", "here.txt"), []byte("here\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    routes:
      - path: /
        static: {root: %s, try: [$uri, "@app"]}
      - name: app
        request_headers: {set: {X-From: named}}
        proxy: {to: "http://%s"}
      - path: /gone/
        static: {root: %s, try: [$uri, "=410"]}
`, addr, root, app, root), addr)
	defer g.stop()

	res, body := get(t, "http://"+addr+"/static/site.css", nil)
	if res.StatusCode != 200 || string(body) != "body{}\n" {
		t.Fatalf("a file: %d %q", res.StatusCode, body)
	}
	res, body = get(t, "http://"+addr+"/accounts/login?next=/", nil)
	if res.StatusCode != 200 || string(body) != "hello from the app /accounts/login\n" {
		t.Fatalf("no such file, to the app: %d %q", res.StatusCode, body)
	}
	res, body = send(t, "POST", "http://"+addr+"/accounts/login", strings.NewReader("user=a"), map[string]string{"Content-Type": "application/x-www-form-urlencoded"})
	if res.StatusCode != 200 || !strings.HasPrefix(string(body), "hello from the app") {
		t.Fatalf("a POST, to the app: %d %q", res.StatusCode, body)
	}
	res, _ = send(t, "POST", "http://"+addr+"/static/site.css", strings.NewReader("x"), nil)
	if res.StatusCode != http.StatusMethodNotAllowed {
		t.Fatalf("a POST to a file: %d, want 405", res.StatusCode)
	}
	res, _ = get(t, "http://"+addr+"/gone/page", nil)
	if res.StatusCode != http.StatusGone {
		t.Fatalf("=410: %d", res.StatusCode)
	}
	res, body = get(t, "http://"+addr+"/gone/here.txt", nil)
	if res.StatusCode != 200 || string(body) != "here\n" {
		t.Fatalf("a file under /gone/: %d %q", res.StatusCode, body)
	}
}

// A try entry that names no route, or a named route with a path, is a
// config error naming the key.
func TestNamedRouteConfigErrors(t *testing.T) {
	root := t.TempDir()
	cfg := fmt.Sprintf(`sites:
  - listen: [":8080"]
    routes:
      - path: /
        static: {root: %s, try: ["@app", $uri]}
      - name: app
        path: /x
        respond: {body: x}
      - path: /y/
        static: {root: %s, try: [$uri, "@nope"]}
`, root, root)
	path := filepath.Join(t.TempDir(), "gatehouse.yaml")
	if err := os.WriteFile(path, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	out, code := runCLI(t, filepath.Dir(path), "validate", "-c", path)
	if code != 1 {
		t.Errorf("validate exit %d, want 1", code)
	}
	for _, want := range []string{
		"sites[0].routes[0].static.try[0]: @app must be the last entry",
		"sites[0].routes[2].static.try[1]: no route of this site is named \"nope\"",
		"sites[0].routes[1].name: a named route has no path",
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate says:\n%s\nwant %q", out, want)
		}
	}
}
