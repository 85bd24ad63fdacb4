package e2e

import (
	"context"
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"syscall"
	"testing"
	"time"
)

// cacheSuiteScore is what e2e/cachetests/score.mjs reports.
type cacheSuiteScore struct {
	Required, Pass, Fail, Setup, Dependency, Untested, Retry int
	Others                                                   []struct {
		ID, Outcome, Name string
		Result            any
	}
}

// runCacheSuite runs the HTTP caching test suite's client
// (http-cache-tests, pinned in e2e/cachetests) against the cache at base,
// which fronts the suite's origin server, and scores the results.
// When the client does not finish, stuck (if set) runs first, to show
// what the cache was doing.
func runCacheSuite(t *testing.T, node, base string, stuck func()) cacheSuiteScore {
	t.Helper()
	dir, err := filepath.Abs("cachetests")
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cli := exec.CommandContext(ctx, node, "--no-warnings", "cli.mjs")
	// On the timeout the server is dumped while the suite's requests are
	// still open, then the suite is killed.
	cli.Cancel = func() error {
		if stuck != nil {
			stuck()
		}
		return cli.Process.Kill()
	}
	cli.Dir = filepath.Join(dir, "node_modules", "http-cache-tests")
	cli.Env = append(os.Environ(), "npm_config_base="+base, "npm_package_config_id=")
	var stderr syncBuffer
	cli.Stderr = &stderr
	out, err := cli.Output()
	if err != nil {
		t.Fatalf("the suite's client: %v\n%s", err, stderr.String())
	}
	results := filepath.Join(t.TempDir(), "results.json")
	if err := os.WriteFile(results, out, 0o644); err != nil {
		t.Fatal(err)
	}
	score := exec.Command(node, "score.mjs", results, "--json")
	score.Dir = dir
	js, err := score.Output()
	if err != nil {
		t.Fatalf("score: %v", err)
	}
	var s cacheSuiteScore
	if err := json.Unmarshal(js, &s); err != nil {
		t.Fatal(err)
	}
	return s
}

// startCacheSuiteOrigin starts the suite's origin server on a loopback
// port and returns its address and the node binary.
func startCacheSuiteOrigin(t *testing.T) (addr, node string) {
	t.Helper()
	node, err := exec.LookPath("node")
	if err != nil {
		t.Fatal("node is not installed: run scripts/install-peers.sh")
	}
	dir, err := filepath.Abs("cachetests")
	if err != nil {
		t.Fatal(err)
	}
	pkg := filepath.Join(dir, "node_modules", "http-cache-tests")
	if _, err := os.Stat(filepath.Join(pkg, "server", "server.mjs")); err != nil {
		t.Fatal("http-cache-tests is not installed: run scripts/install-peers.sh")
	}
	addr = freeAddr(t)
	_, port, _ := net.SplitHostPort(addr)
	cmd := exec.Command(node, "--require", filepath.Join(dir, "loopback.cjs"), "server/server.mjs")
	cmd.Dir = pkg
	cmd.Env = append(os.Environ(), "npm_config_port="+port, "npm_config_protocol=http",
		"npm_config_pidfile="+filepath.Join(t.TempDir(), "origin.pid"))
	runPeer(t, "http-cache-tests origin", cmd, syscall.SIGTERM, addr)
	return addr, node
}

// TestHTTPCachingTestSuite runs the HTTP caching test suite's 157
// required RFC 9111 tests against Gatehouse with cache: {}: at least 140
// must pass and at most 5 fail (docs/cache.md lists the ones that do not
// pass, and why).
func TestHTTPCachingTestSuite(t *testing.T) {
	t.Parallel()
	origin, node := startCacheSuiteOrigin(t)
	addr := freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
access_log: {output: "off"}
sites:
  - listen: ["%s"]
    cache: {}
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, addr, origin), addr)
	s := runCacheSuite(t, node, "http://"+addr, func() {
		// A goroutine dump in the log that the failed test shows.
		_ = g.cmd.Process.Signal(syscall.SIGQUIT)
		time.Sleep(time.Second)
	})
	t.Logf("http-cache-tests 0.4.5, %d required: %d pass, %d fail, %d setup failures, %d dependency failures, %d untested",
		s.Required, s.Pass, s.Fail, s.Setup, s.Dependency, s.Untested)
	for _, o := range s.Others {
		t.Logf("  %s: %s %v", o.Outcome, o.ID, o.Result)
	}
	if s.Required != 157 || s.Pass < 140 || s.Fail > 5 {
		t.Errorf("want at least 140 of 157 passing and at most 5 failing")
	}
}
