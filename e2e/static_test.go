package e2e

import (
	"fmt"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

func TestStaticFiles(t *testing.T) {
	root := t.TempDir()
	_ = os.MkdirAll(filepath.Join(root, "assets", "sub"), 0o755)
	_ = os.WriteFile(filepath.Join(root, "assets", "app.css"), []byte("body{color:red}"), 0o644)
	_ = os.WriteFile(filepath.Join(root, "assets", "sub", "index.html"), []byte("<p>sub index</p>"), 0o644)
	_ = os.WriteFile(filepath.Join(root, "assets", ".env"), []byte("SECRET=1"), 0o644)
	_ = os.WriteFile(filepath.Join(filepath.Dir(root), "outside.txt"), []byte("outside"), 0o644)
	_ = os.Symlink(filepath.Join(filepath.Dir(root), "outside.txt"), filepath.Join(root, "assets", "escape.txt"))
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    routes:
      - path: /assets/
        static: {root: "%s"}
`, addr, root), addr)

	base := "http://" + addr
	res, body := get(t, base+"/assets/app.css", nil)
	if res.StatusCode != 200 || string(body) != "body{color:red}" || !strings.HasPrefix(res.Header.Get("Content-Type"), "text/css") {
		t.Errorf("file: %d %q %q", res.StatusCode, body, res.Header.Get("Content-Type"))
	}
	etag := res.Header.Get("ETag")
	if res, _ := get(t, base+"/assets/app.css", map[string]string{"If-None-Match": etag}); etag == "" || res.StatusCode != 304 {
		t.Errorf("If-None-Match %q: %d, want 304", etag, res.StatusCode)
	}
	if res, body := get(t, base+"/assets/app.css", map[string]string{"Range": "bytes=0-3"}); res.StatusCode != 206 || string(body) != "body" {
		t.Errorf("range: %d %q", res.StatusCode, body)
	}
	if res, body := get(t, base+"/assets/sub/", nil); res.StatusCode != 200 || string(body) != "<p>sub index</p>" {
		t.Errorf("index: %d %q", res.StatusCode, body)
	}
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if res, err := noFollow.Get(base + "/assets/sub"); err != nil || res.StatusCode != 301 || res.Header.Get("Location") != "/assets/sub/" {
		t.Errorf("directory without slash: %v %v", res, err)
	}
	for _, p := range []string{"/assets/.env", "/assets/escape.txt", "/assets/../outside.txt", "/assets/%2e%2e/%2e%2e/outside.txt", "/assets/missing"} {
		res, body := get(t, base+p, nil)
		if res.StatusCode != 404 || strings.Contains(string(body), "SECRET") || strings.Contains(string(body), "outside") {
			t.Errorf("%s: %d %q, want 404", p, res.StatusCode, body)
		}
	}
}
