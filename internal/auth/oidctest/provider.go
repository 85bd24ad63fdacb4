// Package oidctest is an OpenID Connect provider for tests: discovery,
// keys, an authorization endpoint that logs in its one user at once (or
// shows a login page to submit), a token endpoint that checks the client
// secret and the PKCE verifier and hands out signed ID tokens and refresh
// tokens, and an end-session endpoint. Codes are single use.
package oidctest

import (
	"crypto/rand"
	"crypto/sha256"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"html"
	"net/http"
	"net/http/httptest"
	"net/url"
	"sync"
	"sync/atomic"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwt"
)

// Provider is a running test provider.
type Provider struct {
	*httptest.Server
	ClientID, ClientSecret string
	// Email is the user's; LoginPage makes /authorize show a form.
	Email     string
	LoginPage bool
	// TokenTTL is the ID token's lifetime.
	TokenTTL time.Duration
	// CACert is the PEM certificate to trust for a provider over HTTPS.
	CACert []byte

	key *Key

	mu    sync.Mutex
	codes map[string]grant
	// Logins counts the codes issued; Refreshes the refresh grants.
	Logins, Refreshes atomic.Int32
	// LoggedOut counts visits to the end-session endpoint.
	LoggedOut atomic.Int32
}

// grant is what a code stands for.
type grant struct {
	nonce, challenge, redirect string
}

// New starts a provider for the client id and secret.
func New(clientID, secret string) (*Provider, error) {
	key, err := NewRSAKey("test-key")
	if err != nil {
		return nil, err
	}
	p := &Provider{ClientID: clientID, ClientSecret: secret, Email: "alice@example.com", TokenTTL: time.Hour,
		key: key, codes: map[string]grant{}}
	mux := http.NewServeMux()
	mux.HandleFunc("GET /.well-known/openid-configuration", p.discovery)
	mux.HandleFunc("GET /jwks", p.jwks)
	mux.HandleFunc("GET /authorize", p.authorize)
	mux.HandleFunc("POST /login", p.login)
	mux.HandleFunc("POST /token", p.token)
	mux.HandleFunc("GET /logout", func(w http.ResponseWriter, r *http.Request) {
		p.LoggedOut.Add(1)
		_, _ = fmt.Fprintln(w, "logged out of the provider")
	})
	p.Server = httptest.NewServer(mux)
	return p, nil
}

// NewTLS starts a provider over HTTPS, its certificate from a test CA
// (CACert is the CA's PEM, for clients to trust).
func NewTLS(clientID, secret string) (*Provider, error) {
	p, err := New(clientID, secret)
	if err != nil {
		return nil, err
	}
	h := p.Server.Config.Handler
	p.Server.Close()
	p.Server = httptest.NewTLSServer(h)
	p.CACert = pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: p.Server.Certificate().Raw})
	return p, nil
}

func (p *Provider) discovery(w http.ResponseWriter, _ *http.Request) {
	writeJSON(w, map[string]any{
		"issuer": p.URL, "authorization_endpoint": p.URL + "/authorize", "token_endpoint": p.URL + "/token",
		"jwks_uri": p.URL + "/jwks", "end_session_endpoint": p.URL + "/logout",
		"response_types_supported": []string{"code"}, "subject_types_supported": []string{"public"},
		"id_token_signing_alg_values_supported": []string{"RS256"}, "code_challenge_methods_supported": []string{"S256"},
	})
}

func (p *Provider) jwks(w http.ResponseWriter, _ *http.Request) {
	w.Header().Set("Content-Type", "application/json")
	_, _ = w.Write(JWKS(p.key))
}

// authorize checks the request and logs the user in: at once, or
// through the login page's form.
func (p *Provider) authorize(w http.ResponseWriter, r *http.Request) {
	q := r.URL.Query()
	if q.Get("client_id") != p.ClientID || q.Get("response_type") != "code" || q.Get("code_challenge_method") != "S256" ||
		q.Get("code_challenge") == "" || q.Get("state") == "" || q.Get("nonce") == "" {
		http.Error(w, "bad authorization request", http.StatusBadRequest)
		return
	}
	if p.LoginPage {
		w.Header().Set("Content-Type", "text/html")
		_, _ = fmt.Fprintf(w, `<html><body><h1>Test provider login</h1><form id="f" method="post" action="/login">
<input type="hidden" name="q" value="%s"><button>Log in as %s</button></form>
<script>document.getElementById("f").submit()</script></body></html>`, html.EscapeString(r.URL.RawQuery), html.EscapeString(p.Email))
		return
	}
	p.issue(w, r, q)
}

// login is the login form's target.
func (p *Provider) login(w http.ResponseWriter, r *http.Request) {
	q, err := url.ParseQuery(r.PostFormValue("q"))
	if err != nil {
		http.Error(w, "bad form", http.StatusBadRequest)
		return
	}
	p.issue(w, r, q)
}

// issue sends the browser back to the client with a new code.
func (p *Provider) issue(w http.ResponseWriter, r *http.Request, q url.Values) {
	code := random()
	p.mu.Lock()
	p.codes[code] = grant{nonce: q.Get("nonce"), challenge: q.Get("code_challenge"), redirect: q.Get("redirect_uri")}
	p.mu.Unlock()
	p.Logins.Add(1)
	back, err := url.Parse(q.Get("redirect_uri"))
	if err != nil {
		http.Error(w, "bad redirect_uri", http.StatusBadRequest)
		return
	}
	v := back.Query()
	v.Set("code", code)
	v.Set("state", q.Get("state"))
	back.RawQuery = v.Encode()
	http.Redirect(w, r, back.String(), http.StatusFound)
}

// token redeems a code (once, with the PKCE verifier) or a refresh token.
func (p *Provider) token(w http.ResponseWriter, r *http.Request) {
	id, secret, ok := r.BasicAuth()
	if !ok {
		id, secret = r.PostFormValue("client_id"), r.PostFormValue("client_secret")
	}
	if id != p.ClientID || secret != p.ClientSecret {
		tokenError(w, "invalid_client")
		return
	}
	nonce := ""
	switch r.PostFormValue("grant_type") {
	case "authorization_code":
		code := r.PostFormValue("code")
		p.mu.Lock()
		g, found := p.codes[code]
		delete(p.codes, code)
		p.mu.Unlock()
		sum := sha256.Sum256([]byte(r.PostFormValue("code_verifier")))
		if !found || base64.RawURLEncoding.EncodeToString(sum[:]) != g.challenge || r.PostFormValue("redirect_uri") != g.redirect {
			tokenError(w, "invalid_grant")
			return
		}
		nonce = g.nonce
	case "refresh_token":
		if r.PostFormValue("refresh_token") != "refresh-"+p.Email {
			tokenError(w, "invalid_grant")
			return
		}
		p.Refreshes.Add(1)
	default:
		tokenError(w, "unsupported_grant_type")
		return
	}
	idToken, err := p.IDToken(nonce, p.TokenTTL)
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	writeJSON(w, map[string]any{"access_token": "access-" + random(), "token_type": "Bearer", "expires_in": int(p.TokenTTL.Seconds()),
		"id_token": idToken, "refresh_token": "refresh-" + p.Email})
}

// IDToken signs an ID token for the user.
func (p *Provider) IDToken(nonce string, ttl time.Duration) (string, error) {
	tok := jwt.New()
	now := time.Now()
	_ = tok.Set(jwt.IssuerKey, p.URL)
	_ = tok.Set(jwt.AudienceKey, p.ClientID)
	_ = tok.Set(jwt.SubjectKey, "user-1")
	_ = tok.Set(jwt.IssuedAtKey, now)
	_ = tok.Set(jwt.ExpirationKey, now.Add(ttl))
	_ = tok.Set("email", p.Email)
	_ = tok.Set("email_verified", true)
	if nonce != "" {
		_ = tok.Set("nonce", nonce)
	}
	return p.key.Sign(tok)
}

func tokenError(w http.ResponseWriter, code string) {
	w.Header().Set("Content-Type", "application/json")
	w.WriteHeader(http.StatusBadRequest)
	_ = json.NewEncoder(w).Encode(map[string]string{"error": code})
}

func writeJSON(w http.ResponseWriter, v any) {
	w.Header().Set("Content-Type", "application/json")
	_ = json.NewEncoder(w).Encode(v)
}

func random() string {
	b := make([]byte, 16)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}
