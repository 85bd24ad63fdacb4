package e2e

import (
	"encoding/json"
	"fmt"
	"net"
	"os"
	"os/exec"
	"path/filepath"
	"testing"
)

// TestTestsslFindsNothingToFix runs testssl.sh (the Debian package) over
// an https site with its defaults. The certificate comes from the test CA
// (passed to testssl with --add-ca) with an OCSP responder, so certificate
// findings are about Gatehouse, not a self-signed certificate. The site
// sends one security header of its own, as an app would: testssl rates a
// response without any at MEDIUM, which is the app's choice, not TLS.
func TestTestsslFindsNothingToFix(t *testing.T) {
	ca := newTestCA(t)
	ca.startOCSP()
	cert, key := ca.issue("a.test")
	httpAddr, httpsAddr := freeAddr(t), freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["http://%s", "https://%s"]
    hosts: [a.test]
    tls: {cert: %s, key: %s}
    hsts: {}
    routes:
      - path: /
        respond: {status: 200, body: "hello\n", headers: {X-Content-Type-Options: nosniff}}
`, httpAddr, httpsAddr, cert, key), httpAddr, httpsAddr)

	_, port, _ := net.SplitHostPort(httpsAddr)
	report := filepath.Join(t.TempDir(), "testssl.json")
	cmd := exec.Command("testssl", "--quiet", "--color", "0", "--warnings", "off", "--severity", "LOW",
		"--add-ca", ca.File, "--ip", "127.0.0.1", "-oj", report, "https://a.test:"+port+"/")
	out, err := cmd.CombinedOutput()
	if _, ok := err.(*exec.ExitError); err != nil && !ok {
		t.Fatalf("testssl: %v", err)
	}
	data, err := os.ReadFile(report)
	if err != nil {
		t.Fatalf("no testssl report: %v\n%s", err, tail(string(out), 3000))
	}
	var findings []struct{ ID, Severity, Finding string }
	if err := json.Unmarshal(data, &findings); err != nil {
		t.Fatal(err)
	}
	if len(findings) == 0 {
		t.Fatalf("empty testssl report\n%s", tail(string(out), 3000))
	}
	for _, f := range findings {
		switch f.Severity {
		case "MEDIUM", "HIGH", "CRITICAL":
			t.Errorf("testssl %s %s: %s", f.Severity, f.ID, f.Finding)
		default:
			t.Logf("testssl %s %s: %s", f.Severity, f.ID, f.Finding)
		}
	}
}
