package auth

import (
	"context"
	"crypto/rand"
	"crypto/subtle"
	"encoding/base64"
	"errors"
	"log/slog"
	"net/http"
	"net/url"
	"strings"
	"sync"
	"time"

	"github.com/coreos/go-oidc/v3/oidc"
	"golang.org/x/oauth2"

	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// OIDCOptions configure OpenID Connect login.
type OIDCOptions struct {
	// Issuer is the provider's URL (discovery at
	// /.well-known/openid-configuration).
	Issuer string
	// ClientID and ClientSecret are the client's registration.
	ClientID, ClientSecret string
	// RedirectPath is where the provider sends the browser back; LogoutPath
	// clears the session.
	RedirectPath, LogoutPath string
	// Scopes asked for (openid is always among them).
	Scopes []string
	// CookieSecret keys the session and login cookies.
	CookieSecret []byte
	// ClaimsToHeaders sets an upstream header from each ID token claim.
	ClaimsToHeaders map[string]string
	// SessionTTL bounds a session; the ID token's own expiry ends it
	// sooner, and then the refresh token, when there is one, renews it.
	SessionTTL time.Duration
	// APIPaths are path prefixes whose unauthenticated requests get 401
	// instead of a redirect (so do requests that accept JSON, not HTML).
	APIPaths []string
	// Client makes the requests to the provider (a private CA's trust).
	Client *http.Client
	// PassCredentials keeps the session cookie on the upstream request.
	PassCredentials bool
	// Failed, when set, counts refused callbacks.
	Failed func()
	Log    *slog.Logger
}

// OIDC logs browsers in with an OpenID Connect provider (authorization
// code flow with PKCE, state and nonce) and keeps the session in an
// encrypted, authenticated cookie; requests with a valid session pass
// with the claims named in ClaimsToHeaders as headers.
type OIDC struct {
	*OIDCClient
	next http.Handler
}

// OIDCClient is one OIDC configuration's state, shared by every route it
// guards: the cookie keys and the provider, discovered once.
type OIDCClient struct {
	opt    OIDCOptions
	seal   *sealer
	cookie string // the session cookie's name

	mu       sync.Mutex
	provider *discovered
	lastTry  time.Time
}

// discovered is the provider's metadata, once fetched.
type discovered struct {
	oauth    oauth2.Config
	verifier *oidc.IDTokenVerifier
	endURL   string
}

// session is what the session cookie holds.
type session struct {
	Claims  map[string]string `json:"c"`
	Refresh string            `json:"r,omitempty"`
	// Expiry is when the ID token expired or the TTL ends, whichever is
	// first; Until when the session ends whatever a refresh does.
	Expiry int64 `json:"e"`
	Until  int64 `json:"u"`
}

// login is what a login's cookie holds while the browser is away.
type login struct {
	State, Verifier, Nonce, Return string
}

// Cookie names and the login's lifetime.
const (
	sessionCookie = "_gatehouse_session"
	loginCookie   = "_gatehouse_login"
	loginTTL      = 10 * time.Minute
	retryDiscover = 5 * time.Second
)

// NewOIDC wraps next in OIDC login with a client of its own.
func NewOIDC(opt OIDCOptions, next http.Handler) (*OIDC, error) {
	c, err := NewOIDCClient(opt)
	if err != nil {
		return nil, err
	}
	return c.Wrap(next), nil
}

// Wrap guards next with the client's login.
func (o *OIDCClient) Wrap(next http.Handler) *OIDC { return &OIDC{OIDCClient: o, next: next} }

// NewOIDCClient returns the state of one OIDC configuration. The provider
// is discovered on first use (and again, at most every few seconds,
// while it cannot be).
func NewOIDCClient(opt OIDCOptions) (*OIDCClient, error) {
	s, err := newSealer(opt.CookieSecret)
	if err != nil {
		return nil, err
	}
	if opt.Client == nil {
		opt.Client = &http.Client{Timeout: 10 * time.Second}
	}
	if opt.Log == nil {
		opt.Log = slog.Default()
	}
	return &OIDCClient{opt: opt, seal: s, cookie: sessionCookie}, nil
}

// discover fetches the provider's metadata, once it answers.
func (o *OIDCClient) discover(ctx context.Context) (*discovered, error) {
	o.mu.Lock()
	defer o.mu.Unlock()
	if o.provider != nil {
		return o.provider, nil
	}
	if time.Since(o.lastTry) < retryDiscover {
		return nil, errors.New("OIDC provider not reachable yet")
	}
	o.lastTry = time.Now()
	ctx = oidc.ClientContext(ctx, o.opt.Client)
	p, err := oidc.NewProvider(ctx, o.opt.Issuer)
	if err != nil {
		o.opt.Log.Warn("OIDC provider discovery failed", "issuer", o.opt.Issuer, "error", err)
		return nil, err
	}
	var meta struct {
		EndSession string `json:"end_session_endpoint"`
	}
	_ = p.Claims(&meta)
	scopes := append([]string{oidc.ScopeOpenID}, o.opt.Scopes...)
	o.provider = &discovered{
		oauth:    oauth2.Config{ClientID: o.opt.ClientID, ClientSecret: o.opt.ClientSecret, Endpoint: p.Endpoint(), Scopes: dedupe(scopes)},
		verifier: p.VerifierContext(oidc.ClientContext(context.Background(), o.opt.Client), &oidc.Config{ClientID: o.opt.ClientID}),
		endURL:   meta.EndSession,
	}
	return o.provider, nil
}

func (o *OIDC) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	p, err := o.discover(r.Context())
	if err != nil {
		errpage.Write(w, http.StatusServiceUnavailable)
		return
	}
	switch r.URL.Path {
	case o.opt.RedirectPath:
		o.callback(w, r, p)
		return
	case o.opt.LogoutPath:
		o.logout(w, r, p)
		return
	}
	var s session
	if v := chunked(r, o.cookie); v != "" && o.seal.open(o.cookie, v, &s) == nil {
		if time.Now().Unix() < s.Expiry || o.renew(w, r, p, &s) {
			o.admit(w, r, &s)
			return
		}
	}
	if o.isAPI(r) {
		w.Header().Set("WWW-Authenticate", `Bearer realm="`+r.Host+`"`)
		errpage.Write(w, http.StatusUnauthorized)
		return
	}
	o.startLogin(w, r, p)
}

// admit passes the request on with the session's claims as headers.
func (o *OIDC) admit(w http.ResponseWriter, r *http.Request, s *session) {
	for claim, header := range o.opt.ClaimsToHeaders {
		if v, ok := s.Claims[claim]; ok {
			r.Header.Set(header, v)
		}
	}
	if !o.opt.PassCredentials {
		dropCookies(r, func(name string) bool { return isChunk(name, o.cookie) || strings.HasPrefix(name, loginCookie) })
	}
	o.next.ServeHTTP(w, r)
}

// isAPI tells requests that should get 401 rather than a login redirect.
func (o *OIDC) isAPI(r *http.Request) bool {
	for _, p := range o.opt.APIPaths {
		if strings.HasPrefix(r.URL.Path, p) {
			return true
		}
	}
	accept := r.Header.Get("Accept")
	return r.Method != http.MethodGet && r.Method != http.MethodHead ||
		strings.Contains(accept, "application/json") && !strings.Contains(accept, "text/html")
}

// startLogin sends the browser to the provider, keeping the state, PKCE
// verifier, nonce and the page to come back to in a cookie of its own
// (one per login, so that two tabs do not spoil each other's).
func (o *OIDC) startLogin(w http.ResponseWriter, r *http.Request, p *discovered) {
	l := login{State: randomToken(), Verifier: oauth2.GenerateVerifier(), Nonce: randomToken(), Return: r.URL.RequestURI()}
	name := loginCookie + "_" + l.State[:12]
	v, err := o.seal.seal(name, l, time.Now().Add(loginTTL))
	if err != nil {
		errpage.Write(w, http.StatusInternalServerError)
		return
	}
	http.SetCookie(w, o.cookieFor(r, name, v, loginTTL))
	cfg := p.oauth
	cfg.RedirectURL = o.redirectURL(r)
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, cfg.AuthCodeURL(l.State, oauth2.S256ChallengeOption(l.Verifier), oidc.Nonce(l.Nonce)), http.StatusFound)
}

// callback finishes a login: the state must be the one this browser's
// login cookie holds, the code is exchanged with the PKCE verifier, and
// the ID token must verify and carry the login's nonce. A forged or
// replayed callback gets 400 or 401, never a session.
func (o *OIDC) callback(w http.ResponseWriter, r *http.Request, p *discovered) {
	q := r.URL.Query()
	state := q.Get("state")
	if len(state) < 12 || q.Get("code") == "" {
		o.refuse(w, http.StatusBadRequest, "callback without code or state")
		return
	}
	name := loginCookie + "_" + state[:12]
	c, err := r.Cookie(name)
	var l login
	if err != nil || o.seal.open(name, c.Value, &l) != nil || subtle.ConstantTimeCompare([]byte(l.State), []byte(state)) != 1 {
		o.refuse(w, http.StatusBadRequest, "callback for no login of this browser")
		return
	}
	http.SetCookie(w, o.cookieFor(r, name, "", -1))
	cfg := p.oauth
	cfg.RedirectURL = o.redirectURL(r)
	ctx := oidc.ClientContext(r.Context(), o.opt.Client)
	tok, err := cfg.Exchange(ctx, q.Get("code"), oauth2.VerifierOption(l.Verifier))
	if err != nil {
		o.refuse(w, http.StatusUnauthorized, "code exchange failed: "+err.Error())
		return
	}
	s, err := o.newSession(ctx, p, tok, l.Nonce, time.Now().Add(o.opt.SessionTTL).Unix())
	if err != nil {
		o.refuse(w, http.StatusUnauthorized, err.Error())
		return
	}
	if err := o.setSession(w, r, s); err != nil {
		errpage.Write(w, http.StatusInternalServerError)
		return
	}
	back := l.Return
	if !strings.HasPrefix(back, "/") || strings.HasPrefix(back, "//") || strings.HasPrefix(back, "/\\") {
		back = "/"
	}
	w.Header().Set("Cache-Control", "no-store")
	http.Redirect(w, r, back, http.StatusFound)
}

// newSession verifies tok's ID token (and nonce, when given) and makes
// the session it stands for, ending at until at the latest.
func (o *OIDC) newSession(ctx context.Context, p *discovered, tok *oauth2.Token, nonce string, until int64) (*session, error) {
	raw, _ := tok.Extra("id_token").(string)
	if raw == "" {
		return nil, errors.New("no ID token in the provider's answer")
	}
	id, err := p.verifier.Verify(ctx, raw)
	if err != nil {
		return nil, err
	}
	if nonce != "" && subtle.ConstantTimeCompare([]byte(id.Nonce), []byte(nonce)) != 1 {
		return nil, errors.New("ID token nonce does not match the login's")
	}
	var claims map[string]any
	if err := id.Claims(&claims); err != nil {
		return nil, err
	}
	s := &session{Claims: map[string]string{}, Refresh: tok.RefreshToken, Until: until}
	for claim := range o.opt.ClaimsToHeaders {
		if v, ok := renderClaim(claims[claim]); ok {
			s.Claims[claim] = v
		}
	}
	s.Expiry = min(id.Expiry.Unix(), until)
	return s, nil
}

// renew uses the session's refresh token once its ID token has expired;
// false when there is none or the provider refuses it.
func (o *OIDC) renew(w http.ResponseWriter, r *http.Request, p *discovered, s *session) bool {
	if s.Refresh == "" || time.Now().Unix() >= s.Until {
		return false
	}
	ctx := oidc.ClientContext(r.Context(), o.opt.Client)
	tok, err := p.oauth.TokenSource(ctx, &oauth2.Token{RefreshToken: s.Refresh, Expiry: time.Unix(1, 0)}).Token()
	if err != nil {
		o.opt.Log.Info("OIDC refresh refused; logging in again", "error", err, "request_id", reqinfo.From(r.Context()).ID)
		return false
	}
	fresh, err := o.newSession(ctx, p, tok, "", s.Until)
	if err != nil {
		return false
	}
	if fresh.Refresh == "" {
		fresh.Refresh = s.Refresh
	}
	if o.setSession(w, r, fresh) != nil {
		return false
	}
	*s = *fresh
	return true
}

// setSession seals s into the session cookie, living until s.Until.
func (o *OIDC) setSession(w http.ResponseWriter, r *http.Request, s *session) error {
	until := time.Unix(s.Until, 0)
	v, err := o.seal.seal(o.cookie, s, until)
	if err != nil {
		return err
	}
	setChunked(w, r, *o.cookieFor(r, o.cookie, "", time.Until(until)), v)
	return nil
}

// logout clears the session and sends the browser to the provider's
// end-session endpoint when it has one.
func (o *OIDC) logout(w http.ResponseWriter, r *http.Request, p *discovered) {
	setChunked(w, r, *o.cookieFor(r, o.cookie, "", -1), "")
	w.Header().Set("Cache-Control", "no-store")
	if p.endURL != "" {
		u, err := url.Parse(p.endURL)
		if err == nil {
			q := u.Query()
			q.Set("client_id", o.opt.ClientID)
			q.Set("post_logout_redirect_uri", o.origin(r)+"/")
			u.RawQuery = q.Encode()
			http.Redirect(w, r, u.String(), http.StatusFound)
			return
		}
	}
	http.Redirect(w, r, "/", http.StatusFound)
}

// refuse answers a bad callback.
func (o *OIDC) refuse(w http.ResponseWriter, status int, reason string) {
	if o.opt.Failed != nil {
		o.opt.Failed()
	}
	o.opt.Log.Info("OIDC callback refused", "reason", reason)
	errpage.Write(w, status)
}

// cookieFor is a cookie of Gatehouse's: HttpOnly, SameSite=Lax, Secure
// over HTTPS; maxAge < 0 deletes it.
func (o *OIDC) cookieFor(r *http.Request, name, value string, maxAge time.Duration) *http.Cookie {
	c := &http.Cookie{Name: name, Value: value, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: reqinfo.From(r.Context()).Scheme == "https"}
	if maxAge < 0 {
		c.MaxAge = -1
	} else {
		c.MaxAge = int(maxAge.Seconds())
	}
	return c
}

// origin is scheme://host of the request.
func (o *OIDC) origin(r *http.Request) string {
	scheme := reqinfo.From(r.Context()).Scheme
	if scheme == "" {
		scheme = "http"
	}
	return scheme + "://" + r.Host
}

func (o *OIDC) redirectURL(r *http.Request) string { return o.origin(r) + o.opt.RedirectPath }

// dropCookies removes the cookies drop names from the request.
func dropCookies(r *http.Request, drop func(string) bool) {
	cookies := r.Cookies()
	kept := cookies[:0]
	for _, c := range cookies {
		if !drop(c.Name) {
			kept = append(kept, c)
		}
	}
	if len(kept) == len(cookies) {
		return
	}
	r.Header.Del("Cookie")
	for _, c := range kept {
		r.AddCookie(c)
	}
}

func randomToken() string {
	b := make([]byte, 32)
	_, _ = rand.Read(b)
	return base64.RawURLEncoding.EncodeToString(b)
}

func dedupe(ss []string) []string {
	seen := map[string]bool{}
	out := ss[:0:0]
	for _, s := range ss {
		if !seen[s] {
			seen[s] = true
			out = append(out, s)
		}
	}
	return out
}
