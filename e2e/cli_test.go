package e2e

import (
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

func runCLI(t *testing.T, dir string, args ...string) (string, int) {
	t.Helper()
	cmd := exec.Command(binPath, args...)
	cmd.Dir = dir
	out, err := cmd.CombinedOutput()
	if ee, ok := err.(*exec.ExitError); ok {
		return string(out), ee.ExitCode()
	} else if err != nil {
		t.Fatal(err)
	}
	return string(out), 0
}

func TestValidateReportsEveryProblemWithPosition(t *testing.T) {
	dir := t.TempDir()
	path := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(path, []byte(`admin: "off"
upstream:
  app: {servers: ["http://127.0.0.1:8000"]}
sites:
  - listen: [":8080", "ftp://:21"]
    routes:
      - path: "~ ^/(unclosed"
        proxy: {to: ap}
      - path: nope
        redirect: {to: /y, status: 200}
`), 0o644)
	out, code := runCLI(t, dir, "validate", "-c", path)
	if code != 1 {
		t.Fatalf("exit %d, want 1:\n%s", code, out)
	}
	for _, want := range []string{
		path + `:2:1: upstream: unknown key "upstream" (did you mean "upstreams"?)`,
		path + `:5:23: sites[0].listen[1]: unknown scheme "ftp"`,
		path + `:7:9: sites[0].routes[0].path: invalid regex`,
		path + `:8:17: sites[0].routes[0].proxy.to: no upstream pool named "ap"`,
		path + `:9:9: sites[0].routes[1].path: path "nope" must start with /`,
		path + `:10:28: sites[0].routes[1].redirect.status: redirect status must be`,
	} {
		if !strings.Contains(out, want) {
			t.Errorf("validate output lacks %q:\n%s", want, out)
		}
	}
	good := filepath.Join(dir, "good.yaml")
	_ = os.WriteFile(good, []byte("sites:\n  - listen: [\":8080\"]\n    routes:\n      - path: /\n        respond: {body: hi}\n"), 0o644)
	if out, code := runCLI(t, dir, "validate", "-c", good); code != 0 {
		t.Errorf("valid config: exit %d: %s", code, out)
	}
	if out, code := runCLI(t, dir, "validate", "-c", filepath.Join(dir, "missing.yaml")); code != 1 || !strings.Contains(out, "missing.yaml") {
		t.Errorf("missing file: exit %d: %s", code, out)
	}
}

func TestQuickstartServesOutOfTheBox(t *testing.T) {
	// `gatehouse run` in a directory without gatehouse.yaml (the test's
	// working directory, e2e/, has none) serves the built-in quickstart, as
	// the README's first command does.
	dir := t.TempDir()
	startProcess(t, "", []string{"run"}, "127.0.0.1:8080", "127.0.0.1:8081")
	res, body := get(t, "http://127.0.0.1:8080/", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), "Gatehouse is running") {
		t.Errorf("welcome page: %d %q", res.StatusCode, body)
	}
	res, body = get(t, "http://127.0.0.1:8080/demo/hello", nil)
	if res.StatusCode != 200 || !strings.Contains(string(body), "demo upstream") {
		t.Errorf("demo upstream through the proxy: %d %q", res.StatusCode, body)
	}
	if out, code := runCLI(t, dir, "reload"); code != 0 || !strings.Contains(out, "config reloaded") {
		t.Errorf("gatehouse reload against the quickstart: exit %d: %s", code, out)
	}
}

func TestVersion(t *testing.T) {
	out, code := runCLI(t, t.TempDir(), "version")
	if code != 0 || !strings.HasPrefix(out, "gatehouse ") {
		t.Errorf("version: exit %d: %q", code, out)
	}
}

var srvRoot = regexp.MustCompile(`/srv/[a-z]+`)

// certFile matches the certificate and key files an example names under
// /srv/certs/.
var certFile = regexp.MustCompile(`/srv/certs/([\w.-]+)\.(pem|key)`)

// pageFile matches the HTML files (error pages) an example names under
// /srv/.
var pageFile = regexp.MustCompile(`/srv/[a-z]+/([\w.-]+\.html)`)

// writeExamplePages creates, in dir, the HTML files an example names.
func writeExamplePages(t *testing.T, block, dir string) {
	t.Helper()
	for _, m := range pageFile.FindAllStringSubmatch(block, -1) {
		if err := os.WriteFile(filepath.Join(dir, m[1]), []byte("<p>page</p>\n"), 0o644); err != nil {
			t.Fatal(err)
		}
	}
}

// writeExampleCerts creates, in dir, the files an example config names
// under /srv/certs/: a certificate and key for each NAME.pem with a
// NAME.key beside it, and a CA certificate for a NAME.pem alone.
func writeExampleCerts(t *testing.T, ca *testCA, block, dir string) {
	t.Helper()
	keys := map[string]bool{}
	for _, m := range certFile.FindAllStringSubmatch(block, -1) {
		if m[2] == "key" {
			keys[m[1]] = true
		}
	}
	for _, m := range certFile.FindAllStringSubmatch(block, -1) {
		if m[2] != "pem" {
			continue
		}
		src := ca.File
		if keys[m[1]] {
			cert, key := ca.issue(m[1] + ".example")
			copyFile(t, key, filepath.Join(dir, m[1]+".key"))
			src = cert
		}
		copyFile(t, src, filepath.Join(dir, m[1]+".pem"))
	}
}

func copyFile(t *testing.T, src, dst string) {
	t.Helper()
	b, err := os.ReadFile(src)
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(dst, b, 0o600); err != nil {
		t.Fatal(err)
	}
}

// TestDocsExamplesAreValid runs `gatehouse validate` on every complete
// config (a YAML block with sites:) in the README and docs/, so the
// documentation stays true.
func TestDocsExamplesAreValid(t *testing.T) {
	files, _ := filepath.Glob("../docs/*.md")
	files = append(files, "../README.md")
	ca := newTestCA(t)
	n := 0
	for _, f := range files {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		blocks := strings.Split(string(data), "```yaml\n")
		for i, b := range blocks[1:] {
			block, _, _ := strings.Cut(b, "```")
			if !strings.Contains(block, "sites:") {
				continue
			}
			dir := t.TempDir()
			for _, sub := range []string{"public", "assets"} {
				_ = os.MkdirAll(filepath.Join(dir, sub), 0o755)
			}
			writeExampleCerts(t, ca, block, dir)
			writeExamplePages(t, block, dir)
			if strings.Contains(block, "cookie.key") {
				_ = os.WriteFile(filepath.Join(dir, "cookie.key"), []byte(strings.Repeat("c0ffee", 11)+"\n"), 0o600)
			}
			if strings.Contains(block, "users.htpasswd") {
				htpasswd(t, filepath.Join(dir, "users.htpasswd"), "alice", "wonder land", true)
			}
			path := filepath.Join(dir, "gatehouse.yaml")
			// Example roots under /srv stand for a directory of the reader's.
			_ = os.WriteFile(path, []byte(srvRoot.ReplaceAllString(block, dir)), 0o644)
			if out, code := runCLI(t, dir, "validate", "-c", path); code != 0 {
				t.Errorf("%s, yaml block %d does not validate:\n%s\n%s", f, i+1, out, block)
			}
			n++
		}
	}
	if n < 3 {
		t.Errorf("found only %d example configs in the docs", n)
	}
}
