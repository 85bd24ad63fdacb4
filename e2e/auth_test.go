package e2e

import (
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/http/httptest"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// htpasswd runs Debian's htpasswd (apache2-utils) to add a bcrypt entry.
func htpasswd(t *testing.T, file, user, password string, create bool) {
	t.Helper()
	args := []string{"-bB"}
	if create {
		args = []string{"-cbB"}
	}
	out, err := exec.Command("htpasswd", append(args, file, user, password)...).CombinedOutput()
	if err != nil {
		t.Fatalf("htpasswd: %v %s (run scripts/install-peers.sh, which installs apache2-utils)", err, out)
	}
}

func TestBasicAuthWithHtpasswd(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	dir := t.TempDir()
	users := filepath.Join(dir, "users")
	htpasswd(t, users, "alice", "wonder land", true)
	addr, admin := freeAddr(t), freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: %s
bans: {threshold: 5, window: 1m, duration: 1m, statuses: [401]}
sites:
  - listen: ["%s"]
    auth: {basic: {users_file: %s, realm: Staff}}
    routes:
      - path: /
        proxy: {to: "http://%s"}
      - path: /healthz
        auth: off
        proxy: {to: "http://%s"}
`, admin, addr, users, up, up), addr, admin)

	call := func(ip, path, user, pass string, hdr map[string]string) (int, http.Header, map[string]string) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		if user != "" {
			req.SetBasicAuth(user, pass)
		}
		for k, v := range hdr {
			req.Header[k] = []string{v}
		}
		res, err := clientFrom(ip).Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		env := map[string]string{}
		_ = json.Unmarshal(body, &env)
		return res.StatusCode, res.Header, env
	}
	forged := map[string]string{"X-Auth-User": "root", "X_Auth_User": "root", "x-auth-USER": "root"}
	if st, hdr, _ := call("127.0.0.2", "/headers", "", "", nil); st != 401 || hdr.Get("WWW-Authenticate") != `Basic realm="Staff", charset="UTF-8"` {
		t.Fatalf("no credentials: %d %v", st, hdr)
	}
	st, _, env := call("127.0.0.2", "/headers", "alice", "wonder land", forged)
	if st != 200 || env["HTTP_X_AUTH_USER"] != "alice" || env["HTTP_AUTHORIZATION"] != "" {
		t.Fatalf("alice: %d, the app saw user %q, authorization %q", st, env["HTTP_X_AUTH_USER"], env["HTTP_AUTHORIZATION"])
	}
	// The open route: no credentials needed, and forged identities still
	// never reach the app.
	if st, _, env := call("127.0.0.2", "/healthz/headers", "", "", forged); st != 200 || env["HTTP_X_AUTH_USER"] != "" {
		t.Fatalf("open route: %d, the app saw user %q", st, env["HTTP_X_AUTH_USER"])
	}
	// A user added to the file is admitted without a reload (each try
	// from another address: the 401s before the file is read count
	// toward a ban).
	htpasswd(t, users, "bob", "builder", false)
	try := 10
	waitFor(t, func() bool {
		try++
		st, _, _ := call(fmt.Sprintf("127.0.0.%d", try), "/headers", "bob", "builder", nil)
		return st == 200
	})

	// Wrong passwords from one address: 401s, counted, and a ban.
	before := metricValue(t, scrape(t, "http://"+admin+"/metrics"), "gatehouse_refused_total", map[string]string{"reason": "auth"})
	for i := 0; i < 5; i++ {
		if st, _, _ := call("127.0.0.3", "/headers", "alice", fmt.Sprint("guess", i), nil); st != 401 {
			t.Fatalf("wrong password %d: %d", i, st)
		}
	}
	if served(t, "127.0.0.3", addr) {
		t.Fatal("the password guesser was not banned")
	}
	if st, _, _ := call("127.0.0.2", "/headers", "alice", "wonder land", nil); st != 200 {
		t.Fatalf("alice during another's ban: %d", st)
	}
	text := scrape(t, "http://"+admin+"/metrics")
	if v := metricValue(t, text, "gatehouse_refused_total", map[string]string{"reason": "auth"}) - before; v != 5 {
		t.Errorf("failed logins counted %v, want 5", v)
	}
}

func TestForwardAuth(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	// The auth service: oauth2-proxy-style answers by cookie.
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch {
		case r.Header.Get("Cookie") == "session=alice" && r.Header.Get("X-Forwarded-Host") == "app.test":
			w.Header().Set("X-User", "alice")
			w.Header().Set("X-Email", "alice@example.com")
			w.WriteHeader(202)
		case strings.HasPrefix(r.Header.Get("X-Forwarded-Uri"), "/api/"):
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token"`)
			w.WriteHeader(401)
			_, _ = io.WriteString(w, "token needed\n")
		default:
			http.Redirect(w, r, "https://login.test/start?rd="+r.Header.Get("X-Forwarded-Proto")+"://"+r.Header.Get("X-Forwarded-Host")+r.Header.Get("X-Forwarded-Uri"), http.StatusFound)
		}
	}))
	t.Cleanup(svc.Close)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    hosts: [app.test]
    auth: {forward: {url: "%s/oauth2/auth", copy_headers: [X-User, X-Email]}}
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, addr, svc.URL, up), addr)
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	do := func(path, cookie string) (*http.Response, []byte) {
		t.Helper()
		req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
		req.Host = "app.test"
		req.Header.Set("Cookie", cookie)
		req.Header.Set("X-Email", "forged@example.com")
		req.Header["X_User"] = []string{"root"}
		res, err := noFollow.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		defer res.Body.Close()
		body, _ := io.ReadAll(res.Body)
		return res, body
	}
	res, body := do("/headers", "session=alice")
	var env map[string]string
	_ = json.Unmarshal(body, &env)
	if res.StatusCode != 200 || env["HTTP_X_USER"] != "alice" || env["HTTP_X_EMAIL"] != "alice@example.com" {
		t.Fatalf("admitted: %d %s", res.StatusCode, body)
	}
	res, _ = do("/page?x=1", "")
	if res.StatusCode != 302 || res.Header.Get("Location") != "https://login.test/start?rd=http://app.test/page?x=1" {
		t.Fatalf("login redirect: %d %q", res.StatusCode, res.Header.Get("Location"))
	}
	res, body = do("/api/items", "session=mallory")
	if res.StatusCode != 401 || string(body) != "token needed\n" || res.Header.Get("WWW-Authenticate") != `Bearer error="invalid_token"` {
		t.Fatalf("refused: %d %q %v", res.StatusCode, body, res.Header)
	}
	svc.Close()
	if res, _ := do("/headers", "session=alice"); res.StatusCode != 503 {
		t.Fatalf("service down: %d, want 503 (fail closed)", res.StatusCode)
	}
}

// waitFor polls cond for up to ten seconds.
func waitFor(t *testing.T, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(10 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatal("condition not met within 10s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}
