package e2e

import (
	"os"
	"path/filepath"
	"strings"
	"testing"
)

// `gatehouse import nginx` as a user runs it: flags before or after the
// file, -o, -p for relative includes, warnings on stderr naming file and
// line, --strict, and the exit status of input that is not nginx.
func TestImportNginxCommand(t *testing.T) {
	dir := t.TempDir()
	write := func(name, body string) string {
		t.Helper()
		p := filepath.Join(dir, name)
		if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
			t.Fatal(err)
		}
		if err := os.WriteFile(p, []byte(body), 0o644); err != nil {
			t.Fatal(err)
		}
		return p
	}
	conf := write("etc/nginx.conf", "events {}\nhttp {\n    include sites/*.conf;\n}\n")
	write("prefix/sites/app.conf", "server {\n    listen 127.0.0.1:8080;\n    location / {\n        if ($x) { return 403; }\n        proxy_pass http://127.0.0.1:8000;\n    }\n}\n")
	out := filepath.Join(dir, "gatehouse.yaml")

	// The includes are relative to -p's directory.
	stdout, code := runCLI(t, dir, "import", "nginx", conf, "-p", filepath.Join(dir, "prefix"), "-o", out)
	if code != 0 {
		t.Fatalf("import: exit %d\n%s", code, stdout)
	}
	if !strings.Contains(stdout, "sites/app.conf:4: warning: if: not supported") {
		t.Errorf("the warning names the file and line:\n%s", stdout)
	}
	yaml, err := os.ReadFile(out)
	if err != nil || !strings.Contains(string(yaml), "# from sites/app.conf:3") || !strings.Contains(string(yaml), `to: "http://127.0.0.1:8000"`) {
		t.Fatalf("the output: %v\n%s", err, yaml)
	}
	if v, code := runCLI(t, dir, "validate", "-c", out); code != 0 {
		t.Fatalf("the output does not validate: %s", v)
	}
	// --strict: something was left out.
	if _, code := runCLI(t, dir, "import", "nginx", "--strict", "-p", filepath.Join(dir, "prefix"), conf); code != 2 {
		t.Errorf("--strict with warnings: exit %d, want 2", code)
	}
	// Not nginx syntax.
	bad := write("bad.conf", "http { server { listen 80; }\n")
	if msg, code := runCLI(t, dir, "import", "nginx", bad); code != 1 || !strings.Contains(msg, "not a valid nginx configuration") {
		t.Errorf("bad syntax: exit %d: %s", code, msg)
	}
}
