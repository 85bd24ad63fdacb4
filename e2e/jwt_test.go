package e2e

import (
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/gatehouse/gatehouse/internal/auth/oidctest"
)

// jwtToken signs, with k, a token for sub alice and the api audience,
// expiring in ttl.
func jwtToken(t *testing.T, k *oidctest.Key, ttl time.Duration) string {
	t.Helper()
	tok := jwt.New()
	_ = tok.Set(jwt.IssuerKey, "https://id.test")
	_ = tok.Set(jwt.AudienceKey, "api")
	_ = tok.Set(jwt.SubjectKey, "alice")
	_ = tok.Set(jwt.ExpirationKey, time.Now().Add(ttl))
	s, err := k.Sign(tok)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func TestJWTAuthWithRotatingKeys(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	k1, err := oidctest.NewRSAKey("2026-11")
	if err != nil {
		t.Fatal(err)
	}
	k2, err := oidctest.NewRSAKey("2026-12")
	if err != nil {
		t.Fatal(err)
	}
	var jwks atomic.Value
	jwks.Store(oidctest.JWKS(k1))
	idp := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		w.Header().Set("Content-Type", "application/json")
		_, _ = w.Write(jwks.Load().([]byte))
	}))
	t.Cleanup(idp.Close)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    auth:
      jwt:
        jwks_url: "%s/.well-known/jwks.json"
        issuer: https://id.test
        audience: api
        algorithms: [RS256]
        claims_to_headers: {sub: X-User}
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, addr, idp.URL, up), addr)
	call := func(token string) (int, http.Header, map[string]string) {
		t.Helper()
		hdr := map[string]string{"X-User": "root", "X_User": "root"}
		if token != "" {
			hdr["Authorization"] = "Bearer " + token
		}
		res, body := get(t, "http://"+addr+"/headers", hdr)
		env := map[string]string{}
		_ = json.Unmarshal(body, &env)
		return res.StatusCode, res.Header, env
	}
	waitFor(t, func() bool { st, _, _ := call(jwtToken(t, k1, time.Hour)); return st == 200 })
	st, _, env := call(jwtToken(t, k1, time.Hour))
	if st != 200 || env["HTTP_X_USER"] != "alice" || env["HTTP_AUTHORIZATION"] != "" {
		t.Fatalf("valid token: %d, the app saw user %q, authorization %q", st, env["HTTP_X_USER"], env["HTTP_AUTHORIZATION"])
	}
	if st, hdr, _ := call(jwtToken(t, k1, -time.Minute)); st != 401 || hdr.Get("WWW-Authenticate") != `Bearer error="invalid_token", error_description="exp not valid"` {
		t.Fatalf("expired token: %d %q", st, hdr.Get("WWW-Authenticate"))
	}
	if st, hdr, env := call(""); st != 401 || hdr.Get("WWW-Authenticate") != "Bearer" || env["HTTP_X_USER"] != "" {
		t.Fatalf("no token: %d %q", st, hdr.Get("WWW-Authenticate"))
	}
	// The issuer rotates to a new key: tokens signed with it pass within
	// seconds, without a reload.
	jwks.Store(oidctest.JWKS(k1, k2))
	start := time.Now()
	waitFor(t, func() bool { st, _, _ := call(jwtToken(t, k2, time.Hour)); return st == 200 })
	t.Logf("the rotated key was honoured after %v", time.Since(start).Round(time.Millisecond))
}
