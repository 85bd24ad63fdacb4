package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/cookiejar"
	"os"
	"path/filepath"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/auth/oidctest"
)

// TestOIDCLogin runs the whole OpenID Connect login against the real
// binary: a browser-like client with a cookie jar is sent to a test
// provider, comes back through the callback, and reaches the app with
// its email as a header (a forged one never does); then once more in
// headless Chromium, through the provider's login page.
func TestOIDCLogin(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	// The provider is on HTTPS with a certificate of a private CA, which
	// Gatehouse is told to trust (ca:).
	idp, err := oidctest.NewTLS("gatehouse-test", "client-secret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	caFile := filepath.Join(t.TempDir(), "idp-ca.pem")
	if err := os.WriteFile(caFile, idp.CACert, 0o600); err != nil {
		t.Fatal(err)
	}
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    auth:
      oidc:
        issuer: %s
        client_id: gatehouse-test
        client_secret: client-secret
        cookie_secret: 0123456789abcdef0123456789abcdef
        scopes: [openid, email]
        claims_to_headers: {email: X-Email, sub: X-User}
        api_paths: [/api/]
        ca: %s
    routes:
      - path: /
        proxy: {to: "http://%s"}
      - path: /healthz
        auth: off
        respond: {body: ok}
`, addr, idp.URL, caFile, up), addr)

	jar, _ := cookiejar.New(nil)
	browser := &http.Client{Jar: jar, Transport: idp.Client().Transport}
	req, _ := http.NewRequest("GET", "http://"+addr+"/headers", nil)
	req.Header.Set("X-Email", "mallory@example.com")
	req.Header["X_Email"] = []string{"mallory@example.com"}
	res, err := browser.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var env map[string]string
	if res.StatusCode != 200 || json.Unmarshal(body, &env) != nil {
		t.Fatalf("after the login: %d %s", res.StatusCode, body)
	}
	if env["HTTP_X_EMAIL"] != "alice@example.com" || env["HTTP_X_USER"] != "user-1" || strings.Contains(env["HTTP_COOKIE"], "_gatehouse") {
		t.Fatalf("the app saw email %q, user %q, cookies %q", env["HTTP_X_EMAIL"], env["HTTP_X_USER"], env["HTTP_COOKIE"])
	}
	if idp.Logins.Load() != 1 {
		t.Fatalf("logins %d", idp.Logins.Load())
	}
	// The open route and an API client without a session.
	if res, body := get(t, "http://"+addr+"/healthz", nil); res.StatusCode != 200 || string(body) != "ok" {
		t.Fatalf("open route: %d %s", res.StatusCode, body)
	}
	if res, _ := get(t, "http://"+addr+"/api/items", nil); res.StatusCode != 401 {
		t.Fatalf("API without a session: %d", res.StatusCode)
	}
	// A forged callback: 400, never a 5xx, never a session.
	if res, _ := get(t, "http://"+addr+"/oauth2/callback?code=stolen&state="+strings.Repeat("s", 43), nil); res.StatusCode != 400 {
		t.Fatalf("forged callback: %d", res.StatusCode)
	}

	// Headless Chromium: the provider's login page (a form its script
	// submits), the redirect back, the app's page.
	idp.LoginPage = true
	dom := chromium(t, "http://"+addr+"/headers", "--dump-dom", "--ignore-certificate-errors")
	if !strings.Contains(dom, `"HTTP_X_EMAIL": "alice@example.com"`) {
		t.Fatalf("Chromium did not reach the app logged in:\n%s", dom)
	}
	if idp.Logins.Load() != 2 {
		t.Fatalf("logins %d", idp.Logins.Load())
	}
}
