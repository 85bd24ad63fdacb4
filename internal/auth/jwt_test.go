package auth

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/rsa"
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
	"github.com/lestrrat-go/jwx/v3/jwk"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"
)

// signer is a private key with its kid.
type signer struct {
	kid  string
	alg  jwa.SignatureAlgorithm
	priv any
	pub  jwk.Key
}

func newRSASigner(t *testing.T, kid string) signer {
	t.Helper()
	k, err := rsa.GenerateKey(rand.Reader, 2048)
	if err != nil {
		t.Fatal(err)
	}
	return newSigner(t, kid, jwa.RS256(), k, &k.PublicKey)
}

func newECSigner(t *testing.T, kid string) signer {
	t.Helper()
	k, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	return newSigner(t, kid, jwa.ES256(), k, &k.PublicKey)
}

func newSigner(t *testing.T, kid string, alg jwa.SignatureAlgorithm, priv, pub any) signer {
	t.Helper()
	pk, err := jwk.Import(pub)
	if err != nil {
		t.Fatal(err)
	}
	_ = pk.Set(jwk.KeyIDKey, kid)
	return signer{kid: kid, alg: alg, priv: priv, pub: pk}
}

// jwksOf is the JSON key set of the signers' public keys.
func jwksOf(t *testing.T, ss ...signer) []byte {
	t.Helper()
	set := jwk.NewSet()
	for _, s := range ss {
		_ = set.AddKey(s.pub)
	}
	b, err := json.Marshal(set)
	if err != nil {
		t.Fatal(err)
	}
	return b
}

// sign makes a token with the claims, edited by edit.
func (s signer) sign(t *testing.T, edit func(jwt.Token)) string {
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
	hdr := jws.NewHeaders()
	_ = hdr.Set(jws.KeyIDKey, s.kid)
	b, err := jwt.Sign(tok, jwt.WithKey(s.alg, s.priv, jws.WithProtectedHeaders(hdr)))
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
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
	rs, ec := newRSASigner(t, "rsa1"), newECSigner(t, "ec1")
	other := newRSASigner(t, "rsa1") // the same kid, another key
	path := filepath.Join(t.TempDir(), "jwks.json")
	_ = os.WriteFile(path, jwksOf(t, rs, ec), 0o600)
	keys, err := NewKeySet(nil, path, quiet)
	if err != nil {
		t.Fatal(err)
	}
	var failed atomic.Int32
	h := jwtHandler(t, keys, &failed)

	if w := callJWT(h, "Bearer "+rs.sign(t, nil), ""); w.Code != 200 || w.Body.String() != "alice|alice@example.com||" {
		t.Fatalf("valid RS256: %d %q", w.Code, w.Body.String())
	}
	if w := callJWT(h, "", "a=1; jwt="+ec.sign(t, nil)+"; b=2"); w.Code != 200 || w.Body.String() != "alice|alice@example.com||a=1; b=2" {
		t.Fatalf("valid ES256 in a cookie: %d %q", w.Code, w.Body.String())
	}
	qh, _ := NewJWT(JWTOptions{Keys: keys, Algorithms: []string{"RS256"}, From: []TokenSource{{Kind: "query", Name: "access_token"}}},
		http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			_, _ = io.WriteString(w, r.URL.RawQuery+"|"+r.RequestURI)
		}))
	qr := httptest.NewRequest("GET", "/x?b=2&access_token="+rs.sign(t, nil)+"&a=1", nil)
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
	der, _ := x509.MarshalPKIXPublicKey(rs.priv.(*rsa.PrivateKey).Public())
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
		"expired":                   {rs.sign(t, func(tk jwt.Token) { _ = tk.Set(jwt.ExpirationKey, time.Now().Add(-time.Minute)) }), "exp not valid"},
		"not yet valid":             {rs.sign(t, func(tk jwt.Token) { _ = tk.Set(jwt.NotBeforeKey, time.Now().Add(time.Hour)) }), "nbf not valid"},
		"issued later":              {rs.sign(t, func(tk jwt.Token) { _ = tk.Set(jwt.IssuedAtKey, time.Now().Add(time.Hour)) }), "iat not valid"},
		"wrong issuer":              {rs.sign(t, func(tk jwt.Token) { _ = tk.Set(jwt.IssuerKey, "https://evil.test") }), "iss not valid"},
		"wrong audience":            {rs.sign(t, func(tk jwt.Token) { _ = tk.Set(jwt.AudienceKey, []string{"web"}) }), "aud not valid"},
		"bad signature":             {other.sign(t, nil), "signature not valid"},
		"unknown kid":               {newRSASigner(t, "rsa9").sign(t, nil), "unknown key"},
		"alg none":                  {b64(`{"alg":"none","kid":"rsa1"}`) + "." + b64(string(payload)) + ".", "algorithm not accepted"},
		"HS256 with the public key": {string(hs), "algorithm not accepted"},
		"malformed":                 {"a.b", "malformed token"},
		"tampered payload": {func() string {
			p := strings.Split(rs.sign(t, nil), ".")
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
	old, rotated := newRSASigner(t, "k1"), newRSASigner(t, "k2")
	var current atomic.Value
	current.Store(jwksOf(t, old))
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
	for callJWT(h, "Bearer "+old.sign(t, nil), "").Code != 200 {
		if time.Now().After(deadline) {
			t.Fatal("the first key set was never fetched")
		}
		time.Sleep(10 * time.Millisecond)
	}
	current.Store(jwksOf(t, rotated))
	time.Sleep(250 * time.Millisecond)
	if w := callJWT(h, "Bearer "+rotated.sign(t, nil), ""); w.Code != 200 {
		t.Fatalf("the rotated key: %d %v", w.Code, w.Header())
	}
	// Unknown kids do not hammer the JWKS: one fetch per interval.
	stranger := newRSASigner(t, "k9").sign(t, nil)
	n := fetches.Load()
	for range 20 {
		callJWT(h, "Bearer "+stranger, "")
	}
	if got := fetches.Load() - n; got > 1 {
		t.Errorf("%d fetches for 20 unknown kids in a burst", got)
	}
}
