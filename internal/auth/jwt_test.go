package auth

import (
	"context"
	"crypto/x509"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"io"
	"net/http"
	"net/http/httptest"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/gatehouse/gatehouse/internal/auth/oidctest"
)

// newKey makes a signing key (RSA or EC) or fails the test.
func newKey(t *testing.T, make func(string) (*oidctest.Key, error), kid string) *oidctest.Key {
	t.Helper()
	k, err := make(kid)
	if err != nil {
		t.Fatal(err)
	}
	return k
}

// sign makes a token for alice with k: issuer, audience api, an hour to
// live, edited by edit.
func sign(t *testing.T, k *oidctest.Key, edit func(jwt.Token)) string {
	t.Helper()
	tok := jwt.New()
	now := time.Now()
	_ = tok.Set(jwt.IssuerKey, "https://issuer.test")
	_ = tok.Set(jwt.AudienceKey, []string{"api"})
	_ = tok.Set(jwt.SubjectKey, "alice")
	_ = tok.Set("email", "alice@example.com")
	_ = tok.Set(jwt.IssuedAtKey, now)
	_ = tok.Set(jwt.ExpirationKey, now.Add(time.Hour))
	if edit != nil {
		edit(tok)
	}
	s, err := k.Sign(tok)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func b64(s string) string { return base64.RawURLEncoding.EncodeToString([]byte(s)) }

func jwtHandler(t *testing.T, keys *KeySet, failed *atomic.Int32) http.Handler {
	t.Helper()
	h, err := NewJWT(JWTOptions{Keys: keys, Issuer: "https://issuer.test", Audience: "api", Algorithms: []string{"RS256", "ES256"},
		ClaimsToHeaders: map[string]string{"sub": "X-User", "email": "X-Email"},
		From:            []TokenSource{{Kind: "header", Name: "Authorization"}, {Kind: "cookie", Name: "jwt"}},
		Failed:          func() { failed.Add(1) }},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.Header.Get("X-User")+"|"+r.Header.Get("X-Email")+"|"+r.Header.Get("Authorization")+"|"+r.Header.Get("Cookie"))
		}))
	if err != nil {
		t.Fatal(err)
	}
	return NewStrip([]string{"X-User", "X-Email"}, h)
}

func callJWT(h http.Handler, auth, cookie string) *httptest.ResponseRecorder {
	r := httptest.NewRequest("GET", "/", nil)
	if auth != "" {
		r.Header.Set("Authorization", auth)
	}
	if cookie != "" {
		r.Header.Set("Cookie", cookie)
	}
	r.Header.Set("X-User", "root")
	w := httptest.NewRecorder()
	h.ServeHTTP(w, r)
	return w
}

func TestJWTChecks(t *testing.T) {
	rs, ec := newKey(t, oidctest.NewRSAKey, "rsa1"), newKey(t, oidctest.NewECKey, "ec1")
	other := newKey(t, oidctest.NewRSAKey, "rsa1") // the same kid, another key
	path := filepath.Join(t.TempDir(), "jwks.json")
	_ = os.WriteFile(path, oidctest.JWKS(rs, ec), 0o600)
	keys, err := NewKeySet(nil, path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int32
	h := jwtHandler(t, keys, &failed)

	if w := callJWT(h, "Bearer "+sign(t, rs, nil), ""); w.Code != 200 || w.Body.String() != "alice|alice@example.com||" {
		t.Fatalf("valid RS256: %d %q", w.Code, w.Body.String())
	}
	if w := callJWT(h, "", "a=1; jwt="+sign(t, ec, nil)+"; b=2"); w.Code != 200 || w.Body.String() != "alice|alice@example.com||a=1; b=2" {
		t.Fatalf("valid ES256 in a cookie: %d %q", w.Code, w.Body.String())
	}
	qh, _ := NewJWT(JWTOptions{Keys: keys, Algorithms: []string{"RS256"}, From: []TokenSource{{Kind: "query", Name: "access_token"}}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.URL.RawQuery+"|"+r.RequestURI)
		}))
	qr := httptest.NewRequest("GET", "/x?b=2&access_token="+sign(t, rs, nil)+"&a=1", nil)
	qw := httptest.NewRecorder()
	qh.ServeHTTP(qw, qr)
	if qw.Code != 200 || qw.Body.String() != "b=2&a=1|/x?b=2&a=1" {
		t.Fatalf("token in the query: %d %q", qw.Code, qw.Body.String())
	}
	if w := callJWT(h, "", ""); w.Code != 401 || w.Header().Get("WWW-Authenticate") != "Bearer" {
		t.Fatalf("no token: %d %v", w.Code, w.Header())
	}
	// HS256 with the RSA public key's PEM as the secret: the classic
	// key-confusion forgery.
	der, _ := x509.MarshalPKIXPublicKey(rs.Private.Public())
	pemKey := pem.EncodeToMemory(&pem.Block{Type: "PUBLIC KEY", Bytes: der})
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, "rsa1")
	payload, _ := json.Marshal(map[string]any{"iss": "https://issuer.test", "aud": "api", "sub": "mallory", "exp": time.Now().Add(time.Hour).Unix()})
	hs, err := jws.Sign(payload, jws.WithKey(jwa.HS256(), pemKey, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	for name, c := range map[string]struct {
		token, reason string
	}{
		"expired":                   {sign(t, rs, func(tk jwt.Token) { _ = tk.Set(jwt.ExpirationKey, time.Now().Add(-time.Minute)) }), "exp not valid"},
		"not yet valid":             {sign(t, rs, func(tk jwt.Token) { _ = tk.Set(jwt.NotBeforeKey, time.Now().Add(time.Hour)) }), "nbf not valid"},
		"issued later":              {sign(t, rs, func(tk jwt.Token) { _ = tk.Set(jwt.IssuedAtKey, time.Now().Add(time.Hour)) }), "iat not valid"},
		"wrong issuer":              {sign(t, rs, func(tk jwt.Token) { _ = tk.Set(jwt.IssuerKey, "https://evil.test") }), "iss not valid"},
		"wrong audience":            {sign(t, rs, func(tk jwt.Token) { _ = tk.Set(jwt.AudienceKey, []string{"web"}) }), "aud not valid"},
		"bad signature":             {sign(t, other, nil), "signature not valid"},
		"unknown kid":               {sign(t, newKey(t, oidctest.NewRSAKey, "rsa9"), nil), "unknown key"},
		"alg none":                  {b64(`{"alg":"none","kid":"rsa1"}`) + "." + b64(string(payload)) + ".", "algorithm not accepted"},
		"HS256 with the public key": {string(hs), "algorithm not accepted"},
		"malformed":                 {"a.b", "malformed token"},
		"tampered payload": {func() string {
			p := strings.Split(sign(t, rs, nil), ".")
			p[1] = b64(strings.Replace(string(payload), "mallory", "alice", 1))
			return strings.Join(p, ".")
		}(), "signature not valid"},
	} {
		w := callJWT(h, "Bearer "+c.token, "")
		if w.Code != 401 || w.Header().Get("WWW-Authenticate") != `Bearer error="invalid_token", error_description="`+c.reason+`"` {
			t.Errorf("%s: %d %q", name, w.Code, w.Header().Get("WWW-Authenticate"))
		}
	}
	if failed.Load() != 11 {
		t.Errorf("failed %d", failed.Load())
	}
}

// TestJWTRotatedKey serves a JWKS that changes: a token signed with a key
// the set did not have is honoured as soon as the set has it, through the
// refetch an unknown kid makes.
func TestJWTRotatedKey(t *testing.T) {
	old, rotated := newKey(t, oidctest.NewRSAKey, "k1"), newKey(t, oidctest.NewRSAKey, "k2")
	var current atomic.Value
	current.Store(oidctest.JWKS(old))
	var fetches atomic.Int32
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		fetches.Add(1)
		w.Header().Set("Cache-Control", "max-age=86400")
		_, _ = w.Write(current.Load().([]byte))
	}))
	defer srv.Close()
	u, _ := url.Parse(srv.URL)
	keys, _ := NewKeySet(u, "", quiet)
	keys.minRefetch = 200 * time.Millisecond
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go keys.Run(ctx)
	var failed atomic.Int32
	h := jwtHandler(t, keys, &failed)
	deadline := time.Now().Add(5 * time.Second)
	for callJWT(h, "Bearer "+sign(t, old, nil), "").Code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the first key set was never fetched")
		}
		time.Sleep(10 * time.Millisecond)
	}
	current.Store(oidctest.JWKS(rotated))
	time.Sleep(250 * time.Millisecond)
	if w := callJWT(h, "Bearer "+sign(t, rotated, nil), ""); w.Code != 200 {
		t.Fatalf("the rotated key: %d %v", w.Code, w.Header())
	}
	// Unknown kids do not hammer the JWKS: one fetch per interval.
	stranger := sign(t, newKey(t, oidctest.NewRSAKey, "k9"), nil)
	n := fetches.Load()
	for range 20 {
		callJWT(h, "Bearer "+stranger, "")
	}
	if got := fetches.Load() - n; got > 1 {
		t.Errorf("%d fetches for 20 unknown kids in a burst", got)
	}
}
