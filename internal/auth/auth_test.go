package auth

import (
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/crypto/bcrypt"

	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

// Made by Apache's htpasswd: -B (bcrypt, cost 5) and -s ({SHA}).
const (
	aliceLine = "alice:$2y$05$fBqAOBryOENA5Bvdfh151ursBP4q41yrPIfEBfJ1S63lRfo5jcpoy" // "wonder land"
	bobLine   = "bob:{SHA}9SMYoF5RilWWASry7TjeaKwmpGg="                              // "builder"
)

func writeUsers(t *testing.T, lines ...string) string {
	t.Helper()
	path := filepath.Join(t.TempDir(), "users")
	if err := os.WriteFile(path, []byte(strings.Join(lines, "\n")+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	return path
}

func TestHtpasswdEntries(t *testing.T) {
	for _, c := range []struct{ line, err string }{
		{aliceLine, ""},
		{bobLine, ""},
		{"carol:$apr1$rQu4Q0Kl$vH5YDE3KEBvSGppwZxpTl1", "MD5 hashes are not accepted"},
		{"dave:YE0xIUoQq6zOo", "crypt hashes are not accepted"},
		{"erin:$6$salt$abc", "crypt hashes are not accepted"},
		{"frank:secret", "plain text?"},
		{"nocolon", "want user:hash"},
		{"gina:$2y$05$short", "malformed bcrypt hash"},
		{"hal:{SHA}notbase64!", "malformed {SHA} hash"},
	} {
		_, err := parseHtpasswd("f", []byte("# comment\n\n"+c.line+"\n"))
		if (err == nil) != (c.err == "") || err != nil && !strings.Contains(err.Error(), c.err) {
			t.Errorf("%q: %v, want %q", c.line, err, c.err)
		}
		if err != nil && !strings.Contains(err.Error(), "f:3:") {
			t.Errorf("%q: the error does not name the line: %v", c.line, err)
		}
	}
	if _, err := parseHtpasswd("f", []byte(aliceLine+"\n"+aliceLine+"\n")); err == nil {
		t.Error("a user listed twice was accepted")
	}
}

func TestPasswordsCheck(t *testing.T) {
	pw, err := NewPasswords(writeUsers(t, aliceLine, bobLine), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	for _, c := range []struct {
		user, pass string
		ok         bool
	}{
		{"alice", "wonder land", true}, {"alice", "wonder land", true}, {"alice", "wonderland", false}, {"alice", "", false},
		{"bob", "builder", true}, {"bob", "Builder", false}, {"mallory", "wonder land", false}, {"", "", false},
	} {
		if got := pw.Check(ctx, "192.0.2.1", c.user, c.pass); got != c.ok {
			t.Errorf("%s/%q: %v", c.user, c.pass, got)
		}
	}
	if len(pw.clients) != 0 {
		t.Fatalf("turns left behind: %v", pw.clients)
	}
}

func TestPasswordsFileReloads(t *testing.T) {
	path := writeUsers(t, bobLine)
	pw, err := NewPasswords(path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go pw.Watch(ctx, 10*time.Millisecond)
	if pw.Check(ctx, "c", "alice", "wonder land") {
		t.Fatal("alice before she was added")
	}
	time.Sleep(20 * time.Millisecond) // a new modification time
	if err := os.WriteFile(path, []byte(bobLine+"\n"+aliceLine+"\n"), 0o600); err != nil {
		t.Fatal(err)
	}
	deadline := time.Now().Add(5 * time.Second)
	for !pw.Check(ctx, "c", "alice", "wonder land") {
		if time.Now().After(deadline) {
			t.Fatal("the changed file was not read")
		}
		time.Sleep(20 * time.Millisecond)
	}
	// A broken file keeps the users in force.
	_ = os.WriteFile(path, []byte("alice:plaintext\n"), 0o600)
	time.Sleep(100 * time.Millisecond)
	if !pw.Check(ctx, "c", "bob", "builder") {
		t.Fatal("a broken file dropped the users in force")
	}
}

// TestWrongPasswordStormDoesNotStallOthers sends 100 wrong passwords, 8 at
// a time, from one address at a cost-10 bcrypt entry, while another user
// logs in: each of that user's checks must finish well under half a
// second.
func TestWrongPasswordStormDoesNotStallOthers(t *testing.T) {
	hash, _ := bcrypt.GenerateFromPassword([]byte("right"), bcrypt.DefaultCost)
	pw, err := NewPasswords(writeUsers(t, "victim:"+string(hash), "other:"+string(hash)), quiet)
	if err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	var wg sync.WaitGroup
	var next atomic.Int32
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for next.Add(1) <= 100 {
				pw.Check(ctx, "203.0.113.9", "victim", "wrong")
			}
		}()
	}
	time.Sleep(100 * time.Millisecond)
	var worst time.Duration
	for range 5 {
		start := time.Now()
		if !pw.Check(ctx, "198.51.100.7", "other", "right") {
			t.Fatal("the other user was refused")
		}
		worst = max(worst, time.Since(start))
		time.Sleep(50 * time.Millisecond)
	}
	wg.Wait()
	t.Logf("the other user's slowest check during the storm: %v", worst)
	if worst > 400*time.Millisecond {
		t.Errorf("the other user waited %v during the storm", worst)
	}
}

func TestBasicHandler(t *testing.T) {
	pw, _ := NewPasswords(writeUsers(t, aliceLine), quiet)
	var failed atomic.Int32
	h := NewStrip([]string{UserHeader}, NewBasic(pw, `Staff "only"`, false, func() { failed.Add(1) }, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, r.Header.Get(UserHeader)+"|"+r.Header.Get("Authorization")+"|"+r.Header.Get("X_Auth_User"))
	})))
	do := func(user, pass string, extra map[string]string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("GET", "/", nil)
		if user != "" {
			r.SetBasicAuth(user, pass)
		}
		for k, v := range extra {
			r.Header[k] = []string{v}
		}
		r = r.WithContext(reqinfo.With(r.Context(), &reqinfo.Info{ClientIP: "192.0.2.1"}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("", "", nil); w.Code != 401 || w.Header().Get("WWW-Authenticate") != `Basic realm="Staff \"only\"", charset="UTF-8"` {
		t.Fatalf("no credentials: %d %q", w.Code, w.Header().Get("WWW-Authenticate"))
	}
	if w := do("alice", "nope", nil); w.Code != 401 || failed.Load() != 1 {
		t.Fatalf("wrong password: %d, failed %d", w.Code, failed.Load())
	}
	w := do("alice", "wonder land", map[string]string{"X-Auth-User": "root", "X_auth_user": "root", "x-AUTH-user": "root"})
	if w.Code != 200 || w.Body.String() != "alice||" {
		t.Fatalf("right password with forged identities: %d %q", w.Code, w.Body.String())
	}
}

func TestForward(t *testing.T) {
	var asked atomic.Int32
	svc := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		asked.Add(1)
		if r.Method != "GET" || r.Header.Get("X-Forwarded-Uri") == "" || r.Header.Get("X-Forwarded-Method") != "POST" {
			w.WriteHeader(500)
			return
		}
		switch r.Header.Get("Cookie") {
		case "s=good":
			w.Header().Set("X-User", "alice")
			w.Header().Set("X-Other", "not copied")
			w.WriteHeader(204)
		case "s=login":
			http.Redirect(w, r, "https://login.example/?rd="+url.QueryEscape(r.Header.Get("X-Forwarded-Uri")), http.StatusFound)
		case "s=teapot":
			w.WriteHeader(418)
		case "s=slow":
			time.Sleep(300 * time.Millisecond)
		default:
			w.Header().Set("WWW-Authenticate", `Bearer realm="x"`)
			w.WriteHeader(401)
			_, _ = io.WriteString(w, "who are you?")
		}
	}))
	defer svc.Close()
	u, _ := url.Parse(svc.URL + "/auth")
	h := NewStrip([]string{"X-User"}, NewForward(ForwardOptions{URL: u, CopyHeaders: []string{"X-User"}, PassHeaders: []string{"Cookie", "Authorization"},
		Cache: time.Minute, Timeout: 100 * time.Millisecond, Log: quiet}, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "app sees "+r.Header.Get("X-User")+"|"+r.Header.Get("X-Other")+"|"+r.Header.Get("Authorization"))
	})))
	do := func(cookie string) *httptest.ResponseRecorder {
		r := httptest.NewRequest("POST", "/app?q=1", strings.NewReader("body"))
		r.Header.Set("Cookie", cookie)
		r.Header.Set("Authorization", "Bearer t")
		r.Header.Set("X-User", "forged")
		r = r.WithContext(reqinfo.With(r.Context(), &reqinfo.Info{ClientIP: "192.0.2.1", Scheme: "https"}))
		w := httptest.NewRecorder()
		h.ServeHTTP(w, r)
		return w
	}
	if w := do("s=good"); w.Code != 200 || w.Body.String() != "app sees alice||" {
		t.Fatalf("admitted: %d %q", w.Code, w.Body.String())
	}
	n := asked.Load()
	if w := do("s=good"); w.Code != 200 || asked.Load() != n {
		t.Fatalf("cached admission: %d, service asked again %v", w.Code, asked.Load() != n)
	}
	if w := do("s=bad"); w.Code != 401 || w.Body.String() != "who are you?" || w.Header().Get("WWW-Authenticate") != `Bearer realm="x"` {
		t.Fatalf("refused: %d %q %v", w.Code, w.Body.String(), w.Header())
	}
	if w := do("s=login"); w.Code != 302 || !strings.HasPrefix(w.Header().Get("Location"), "https://login.example/?rd=%2Fapp%3Fq%3D1") {
		t.Fatalf("login redirect: %d %v", w.Code, w.Header())
	}
	if w := do("s=teapot"); w.Code != 500 {
		t.Fatalf("other status: %d", w.Code)
	}
	if w := do("s=slow"); w.Code != 503 {
		t.Fatalf("timeout: %d", w.Code)
	}
	svc.Close()
	if w := do("s=other"); w.Code != 503 {
		t.Fatalf("service down: %d", w.Code)
	}
}

// FuzzParseHtpasswd feeds arbitrary files to the htpasswd parser: it must
// not panic, and every entry it accepts is one it can check a password
// against.
func FuzzParseHtpasswd(f *testing.F) {
	f.Add([]byte(aliceLine + "\n" + bobLine + "\n# x\n\n"))
	f.Add([]byte("u:$2y$05$\nv:{SHA}AAAA\n"))
	f.Fuzz(func(t *testing.T, data []byte) {
		users, err := parseHtpasswd("f", data)
		if err != nil {
			return
		}
		for name, e := range users {
			if name == "" || strings.ContainsRune(name, ':') || (e.kind != hashBcrypt && e.kind != hashSHA1) {
				t.Fatalf("accepted %q: %+v", name, e)
			}
			if e.kind == hashSHA1 {
				e.verify("x")
			}
		}
	})
}
