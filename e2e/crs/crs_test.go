// Package crs runs the OWASP Core Rule Set's regression tests (the YAML
// files shipped with the embedded rule set) against the real gatehouse
// binary, through the go-ftw runner used as a library, with the CRS
// project's albedo as the upstream. It is a module of its own so that
// go-ftw's dependencies stay out of Gatehouse's.
//
// CRS_TESTS (a regular expression over test ids such as 942100-1)
// selects a subset; CRS_NO_IGNORE=1 runs the ignored tests too;
// CRS_DEBUG=1 prints the audit log the runner read;
// scripts/crs.sh runs them all and prints the figures.
package crs

import (
	"fmt"
	"io"
	"io/fs"
	"log/slog"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"sort"
	"strings"
	"testing"
	"time"

	crstests "github.com/corazawaf/coraza-coreruleset/v4/tests"
	albedo "github.com/coreruleset/albedo/server"
	"github.com/coreruleset/go-ftw/config"
	"github.com/coreruleset/go-ftw/output"
	"github.com/coreruleset/go-ftw/runner"
	"github.com/coreruleset/go-ftw/test"
	"github.com/rs/zerolog"
)

// testRules is what the CRS test suite asks of the engine under test
// (dev/tests/regression/README.md of the CRS): detection only, every
// paranoia level, its argument limits, and a rule that writes the
// X-CRS-Test marker header to the log so that go-ftw finds each test's
// lines.
const testRules = `SecAction "id:900005,phase:1,nolog,pass,ctl:ruleEngine=DetectionOnly,ctl:ruleRemoveById=910000,setvar:tx.blocking_paranoia_level=4,setvar:tx.crs_validate_utf8_encoding=1,setvar:tx.arg_name_length=100,setvar:tx.arg_length=400,setvar:tx.total_arg_length=64000,setvar:tx.max_num_args=255,setvar:tx.max_file_size=64100,setvar:tx.combined_file_sizes=65535"
SecRule REQUEST_HEADERS:X-CRS-Test "@rx ^.*$" "id:999999,phase:1,pass,t:none,log,msg:'X-CRS-Test %{MATCHED_VAR}',ctl:ruleRemoveById=1-999999"`

// ignored are the tests that cannot pass against a conforming HTTP
// server in front of the WAF, each with the reason (docs/waf.md lists
// them too).
var ignored = map[string]string{
	"920100-4": "invalid request line; the HTTP/1.1 front end answers 400 before the WAF",
	"920100-8": "a colon in the request target's path; the front end refuses it (400)",
	"920181-1": "both Content-Length and Transfer-Encoding; the front end refuses it (400, request smuggling)",
	"920270-4": "a NUL byte in the request target; the front end refuses it (400)",
	"920274-1": "invalid Host field; the front end refuses it (400)",
	"920290-1": "an empty Host field; the front end refuses it (400)",
	"920290-4": "an empty Host field; the front end refuses it (400)",
	"920280-3": "an HTTP/0.9 request line; the front end answers 505 (unsupported version) where the test expects 400",
	"920430-3": "HTTP/0.9-style request line; the front end refuses it",
	"920430-5": "an unknown HTTP version; the front end answers 505",
	"920430-8": "HTTP/3.0 on an HTTP/1.1 connection; the front end answers 505",
	"920430-9": "an unknown HTTP version; the front end answers 505",
	"920610-2": "a fragment in the request target; the front end refuses it (400)",
}

func TestCRS(t *testing.T) {
	root, err := filepath.Abs("../..")
	if err != nil {
		t.Fatal(err)
	}
	dir := t.TempDir()
	bin := filepath.Join(dir, "gatehouse")
	build := exec.Command("go", "build", "-o", bin, "./cmd/gatehouse")
	build.Dir = root
	if out, err := build.CombinedOutput(); err != nil {
		t.Fatalf("build gatehouse: %v\n%s", err, out)
	}

	// albedo, the CRS project's test backend, answers behind Gatehouse
	// (quietly: it logs every request through slog's default logger).
	slog.SetDefault(slog.New(slog.NewTextHandler(io.Discard, nil)))
	upLn, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	up := &http.Server{Handler: albedo.Handler()}
	go func() { _ = up.Serve(upLn) }()
	defer up.Close()

	addr, admin := freeAddr(t), freeAddr(t)
	wafLog := filepath.Join(dir, "waf.log")
	rules := filepath.Join(dir, "crs-test.conf")
	if err := os.WriteFile(rules, []byte(testRules+"\n"), 0o644); err != nil {
		t.Fatal(err)
	}
	cfg := fmt.Sprintf(`admin: %s
access_log: {output: "off"}
waf_log: %q
client: {max_uri_length: 60k, max_header_size: 64k}
sites:
  - listen: ["http://%s"]
    waf:
      paranoia: 4
      rules_files: [%q]
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, admin, wafLog, addr, rules, upLn.Addr())
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o644); err != nil {
		t.Fatal(err)
	}
	var stderr strings.Builder
	g := exec.Command(bin, "run", "-c", cfgPath)
	g.Stderr = &stderr
	if err := g.Start(); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = g.Process.Kill(); _ = g.Wait() }()
	if !waitPort(addr) {
		t.Fatalf("gatehouse did not start:\n%s", stderr.String())
	}

	tests := loadTests(t)
	zerolog.SetGlobalLevel(zerolog.WarnLevel)
	var ign strings.Builder
	ign.WriteString("testoverride:\n  ignore:\n")
	keys := make([]string, 0, len(ignored))
	for k := range ignored {
		keys = append(keys, k)
	}
	sort.Strings(keys)
	for _, k := range keys {
		if os.Getenv("CRS_NO_IGNORE") != "" {
			break
		}
		fmt.Fprintf(&ign, "    '^%s$': %q\n", regexp.QuoteMeta(k), ignored[k])
	}
	ftw, err := config.NewConfigFromString(ign.String())
	if err != nil {
		t.Fatal(err)
	}
	if err := ftw.LoadPlatformOverrides("ftw-overrides.yml"); err != nil {
		t.Fatal(err)
	}
	ftw.LogFile = wafLog
	host, port, _ := net.SplitHostPort(addr)
	var portNum int
	fmt.Sscan(port, &portNum)
	ftw.TestOverride.Overrides.DestAddr = &host
	ftw.TestOverride.Overrides.Port = &portNum
	rc := &runner.RunnerConfig{ReadTimeout: 5 * time.Second, ShowOnlyFailed: true}
	if sel := os.Getenv("CRS_TESTS"); sel != "" {
		rc.Include = regexp.MustCompile(sel)
	}
	mode := "quiet"
	if os.Getenv("CRS_DEBUG") != "" {
		mode = "normal"
	}
	res, err := runner.Run(ftw, tests, rc, output.NewOutput(mode, os.Stdout))
	if err != nil {
		t.Fatal(err)
	}
	st := res.Stats
	t.Logf("CRS regression tests: %d run, %d passed, %d failed, %d ignored, %d skipped",
		st.Run, len(st.Success), len(st.Failed), len(st.Ignored), len(st.Skipped))
	if len(st.Failed) > 0 {
		t.Errorf("%d failed: %v", len(st.Failed), st.Failed)
	}
	if st.Run == 0 {
		t.Error("no test ran")
	}
	if t.Failed() {
		t.Logf("gatehouse stderr:\n%s", stderr.String())
	}
	if os.Getenv("CRS_DEBUG") != "" {
		b, _ := os.ReadFile(wafLog)
		t.Logf("waf log:\n%s", b)
	}
}

// loadTests reads the CRS's test files from the coraza-coreruleset
// module (they match the embedded rules).
func loadTests(t *testing.T) []*test.FTWTest {
	t.Helper()
	var tests []*test.FTWTest
	err := fs.WalkDir(crstests.FS, ".", func(path string, d fs.DirEntry, err error) error {
		if err != nil || d.IsDir() || !strings.HasSuffix(path, ".yaml") {
			return err
		}
		b, err := fs.ReadFile(crstests.FS, path)
		if err != nil {
			return err
		}
		ft, err := test.GetTestFromYaml(b, path)
		if err != nil {
			return fmt.Errorf("%s: %w", path, err)
		}
		tests = append(tests, ft)
		return nil
	})
	if err != nil {
		t.Fatal(err)
	}
	return tests
}

func freeAddr(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	return ln.Addr().String()
}

func waitPort(addr string) bool {
	deadline := time.Now().Add(30 * time.Second)
	for time.Now().Before(deadline) {
		if c, err := net.DialTimeout("tcp", addr, 200*time.Millisecond); err == nil {
			c.Close()
			return true
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}
