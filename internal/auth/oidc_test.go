package auth

import (
	"io"
	"net/http"
	"net/http/cookiejar"
	"net/http/httptest"
	"net/url"
	"strings"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/auth/oidctest"
)

func oidcSetup(t *testing.T, ttl time.Duration) (*oidctest.Provider, *httptest.Server) {
	t.Helper()
	idp, err := oidctest.New("gatehouse", "s3cret")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(idp.Close)
	idp.TokenTTL = ttl
	h, err := NewOIDC(OIDCOptions{Issuer: idp.URL, ClientID: "gatehouse", ClientSecret: "s3cret", RedirectPath: "/oauth2/callback",
		LogoutPath: "/oauth2/logout", Scopes: []string{"email"}, CookieSecret: []byte(strings.Repeat("k", 32)),
		ClaimsToHeaders: map[string]string{"email": "X-Email"}, SessionTTL: time.Hour, APIPaths: []string{"/api/"}, Log: quiet},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, "app sees "+r.Header.Get("X-Email")+" cookies "+r.Header.Get("Cookie"))
		}))
	if err != nil {
		t.Fatal(err)
	}
	app := httptest.NewServer(h)
	t.Cleanup(app.Close)
	return idp, app
}

func browser() *http.Client {
	jar, _ := cookiejar.New(nil)
	return &http.Client{Jar: jar}
}

func fetch(t *testing.T, c *http.Client, u string, hdr ...string) (int, string, *http.Response) {
	t.Helper()
	req, _ := http.NewRequest("GET", u, nil)
	for i := 0; i+1 < len(hdr); i += 2 {
		req.Header.Set(hdr[i], hdr[i+1])
	}
	res, err := c.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res
}

func TestOIDCLoginFlow(t *testing.T) {
	idp, app := oidcSetup(t, time.Hour)
	b := browser()
	st, body, _ := fetch(t, b, app.URL+"/page?x=1", "Cookie", "theme=dark")
	if st != 200 || !strings.HasPrefix(body, "app sees alice@example.com cookies ") || strings.Contains(body, "_gatehouse") {
		t.Fatalf("after login: %d %q", st, body)
	}
	// The session holds: no second login.
	if st, body, _ := fetch(t, b, app.URL+"/other"); st != 200 || !strings.Contains(body, "alice@example.com") || idp.Logins.Load() != 1 {
		t.Fatalf("with the session: %d %q, logins %d", st, body, idp.Logins.Load())
	}
	// An API client without a session gets 401, not a redirect.
	noFollow := &http.Client{CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	if st, _, _ := fetch(t, noFollow, app.URL+"/api/items"); st != 401 {
		t.Fatalf("API without a session: %d", st)
	}
	if st, _, _ := fetch(t, noFollow, app.URL+"/data", "Accept", "application/json"); st != 401 {
		t.Fatalf("JSON without a session: %d", st)
	}
	// Logging out clears the session and goes to the provider.
	st, _, res := fetch(t, &http.Client{Jar: b.Jar, CheckRedirect: noFollow.CheckRedirect}, app.URL+"/oauth2/logout")
	if st != 302 || !strings.HasPrefix(res.Header.Get("Location"), idp.URL+"/logout?") {
		t.Fatalf("logout: %d %q", st, res.Header.Get("Location"))
	}
	if st, _, res := fetch(t, &http.Client{Jar: b.Jar, CheckRedirect: noFollow.CheckRedirect}, app.URL+"/page"); st != 302 || !strings.HasPrefix(res.Header.Get("Location"), idp.URL+"/authorize?") {
		t.Fatalf("after logout: %d %q", st, res.Header.Get("Location"))
	}
}

func TestOIDCForgedAndReplayedCallbacks(t *testing.T) {
	idp, app := oidcSetup(t, time.Hour)
	jar, _ := cookiejar.New(nil)
	c := &http.Client{Jar: jar, CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse }}
	_, _, res := fetch(t, c, app.URL+"/page")
	toIdP := res.Header.Get("Location")
	authz, _ := url.Parse(toIdP)
	q := authz.Query()
	if q.Get("code_challenge_method") != "S256" || q.Get("nonce") == "" || q.Get("state") == "" || q.Get("redirect_uri") != app.URL+"/oauth2/callback" {
		t.Fatalf("authorization request: %s", toIdP)
	}
	_, _, res = fetch(t, c, toIdP)
	callback := res.Header.Get("Location")
	appURL, _ := url.Parse(app.URL)
	loginCookies := jar.Cookies(appURL)

	// A callback this browser did not start: 400, no session.
	stranger := &http.Client{CheckRedirect: c.CheckRedirect}
	if st, _, res := fetch(t, stranger, callback); st != 400 || len(res.Cookies()) != 0 {
		t.Fatalf("callback without the login cookie: %d", st)
	}
	if st, _, _ := fetch(t, stranger, app.URL+"/oauth2/callback?code=x&state="+strings.Repeat("a", 43)); st != 400 {
		t.Fatalf("forged callback: %d", st)
	}
	// The real one: a session, and back to the page.
	if st, _, res := fetch(t, c, callback); st != 302 || res.Header.Get("Location") != "/page" {
		t.Fatalf("callback: %d %q", st, res.Header.Get("Location"))
	}
	// Replayed with the spent login cookie: the code is used up.
	replay, _ := cookiejar.New(nil)
	replay.SetCookies(appURL, loginCookies)
	if st, _, res := fetch(t, &http.Client{Jar: replay, CheckRedirect: c.CheckRedirect}, callback); st != 401 || len(res.Cookies()) > 1 {
		t.Fatalf("replayed callback: %d %v", st, res.Cookies())
	}
	// A tampered session cookie is no session.
	for _, ck := range jar.Cookies(appURL) {
		if ck.Name == sessionCookie+"_0" {
			ck.Value = ck.Value[:len(ck.Value)-4] + "AAAA"
			tampered, _ := cookiejar.New(nil)
			tampered.SetCookies(appURL, []*http.Cookie{ck})
			if st, _, _ := fetch(t, &http.Client{Jar: tampered, CheckRedirect: c.CheckRedirect}, app.URL+"/page"); st != 302 {
				t.Fatalf("tampered session: %d", st)
			}
		}
	}
	if idp.Logins.Load() != 1 {
		t.Fatalf("logins %d", idp.Logins.Load())
	}
}

func TestOIDCRefreshesAnExpiredSession(t *testing.T) {
	idp, app := oidcSetup(t, 2*time.Second)
	b := browser()
	if st, body, _ := fetch(t, b, app.URL+"/"); st != 200 || !strings.Contains(body, "alice@example.com") {
		t.Fatalf("login: %d %q", st, body)
	}
	time.Sleep(2100 * time.Millisecond)
	if st, body, _ := fetch(t, b, app.URL+"/"); st != 200 || !strings.Contains(body, "alice@example.com") {
		t.Fatalf("after the ID token expired: %d %q", st, body)
	}
	if idp.Refreshes.Load() != 1 || idp.Logins.Load() != 1 {
		t.Fatalf("refreshes %d, logins %d", idp.Refreshes.Load(), idp.Logins.Load())
	}
}

func TestSealedCookies(t *testing.T) {
	s, _ := newSealer([]byte(strings.Repeat("x", 32)))
	v, _ := s.seal("a", map[string]string{"k": "v"}, time.Now().Add(time.Minute))
	var got map[string]string
	if err := s.open("a", v, &got); err != nil || got["k"] != "v" {
		t.Fatalf("open: %v %v", err, got)
	}
	if s.open("b", v, &got) == nil {
		t.Fatal("a cookie opened under another name")
	}
	other, _ := newSealer([]byte(strings.Repeat("y", 32)))
	if other.open("a", v, &got) == nil {
		t.Fatal("a cookie opened with another secret")
	}
	old, _ := s.seal("a", 1, time.Now().Add(-time.Second))
	if s.open("a", old, &got) == nil {
		t.Fatal("an expired cookie opened")
	}
	// Long values are chunked and joined.
	w := httptest.NewRecorder()
	r := httptest.NewRequest("GET", "/", nil)
	long := strings.Repeat("z", 9000)
	setChunked(w, r, http.Cookie{Name: "s"}, long)
	r2 := httptest.NewRequest("GET", "/", nil)
	for _, c := range w.Result().Cookies() {
		r2.AddCookie(c)
	}
	if got := chunked(r2, "s"); got != long || len(w.Result().Cookies()) != 3 {
		t.Fatalf("chunks: %d cookies, joined %d bytes", len(w.Result().Cookies()), len(got))
	}
}
