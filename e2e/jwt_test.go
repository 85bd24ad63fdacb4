package e2e

import (
	"crypto/rand"
	"crypto/rsa"
	"encoding/json"
	"fmt"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// jwtKey is an RSA signing key and its public JWK.
type jwtKey struct {
	kid  string
	priv *rsa.PrivateKey
	pub  jwk.Key
}

func newJWTKey(t *testing.T, kid string) jwtKey {
	t.Helper()
	priv, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	pub, err := jwk.Import(&priv.PublicKey)
	if err != nil {
		t.Fatal(err)
	}
	_ = pub.Set(jwk.KeyIDKey, kid)
	_ = pub.Set(jwk.AlgorithmKey, jwa.RS256())
	return jwtKey{kid: kid, priv: priv, pub: pub}
}

// token signs claims sub=alice for the api audience, expiring in ttl.
func (k jwtKey) token(t *testing.T, ttl time.Duration) string {
	t.Helper()
	tok := jwt.New()
	_ = tok.Set(jwt.IssuerKey, "https://id.test")
	_ = tok.Set(jwt.AudienceKey, "api")
	_ = tok.Set(jwt.SubjectKey, "alice")
	_ = tok.Set(jwt.ExpirationKey, time.Now().Add(ttl))
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, k.kid)
	b, err := jwt.Sign(tok, jwt.WithKey(jwa.RS256(), k.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestJWTAuthWithRotatingKeys(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	k1, k2 := newJWTKey(t, "2026-11"), newJWTKey(t, "2026-12")
	var jwks atomic.Value
	set := jwk.NewSet()
	_ = set.AddKey(k1.pub)
	b, _ := json.Marshal(set)
	jwks.Store(b)
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
	waitFor(t, func() bool { st, _, _ := call(k1.token(t, time.Hour)); return st == 200 })
	st, _, env := call(k1.token(t, time.Hour))
	if st != 200 || env["HTTP_X_USER"] != "alice" || env["HTTP_AUTHORIZATION"] != "" {
		t.Fatalf("valid token: %d, the app saw user %q, authorization %q", st, env["HTTP_X_USER"], env["HTTP_AUTHORIZATION"])
	}
	if st, hdr, _ := call(k1.token(t, -time.Minute)); st != 401 || hdr.Get("WWW-Authenticate") != `Bearer error="invalid_token", error_description="exp not valid"` {
		t.Fatalf("expired token: %d %q", st, hdr.Get("WWW-Authenticate"))
	}
	if st, hdr, env := call(""); st != 401 || hdr.Get("WWW-Authenticate") != "Bearer" || env["HTTP_X_USER"] != "" {
		t.Fatalf("no token: %d %q", st, hdr.Get("WWW-Authenticate"))
	}
	// The issuer rotates to a new key: tokens signed with it pass within
	// seconds, without a reload.
	set = jwk.NewSet()
	_ = set.AddKey(k1.pub)
	_ = set.AddKey(k2.pub)
	b, _ = json.Marshal(set)
	jwks.Store(b)
	start := time.Now()
	waitFor(t, func() bool { st, _, _ := call(k2.token(t, time.Hour)); return st == 200 })
	t.Logf("the rotated key was honoured after %v", time.Since(start).Round(time.Millisecond))
}
