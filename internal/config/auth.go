package config

import (
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"strings"
	"time"

	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"

	"github.com/gatehouse/gatehouse/internal/auth"
	"github.com/gatehouse/gatehouse/internal/httpsyntax"
)

// Auth is who may reach a site's or a route's handler: exactly one method
// (a route's replaces its site's), or off (a route open to all).
type Auth struct {
	// Off opens a route of a site that has auth.
	Off bool `yaml:"-"`
	// Basic checks users and passwords of an htpasswd file.
	Basic *BasicAuth `yaml:"basic"`
	// Forward asks an external service (nginx's auth_request).
	Forward *ForwardAuth `yaml:"forward"`
	// JWT checks bearer tokens against a key set.
	JWT *JWTAuth `yaml:"jwt"`
	// ClientCert asks for client certificates in the TLS handshake
	// (mutual TLS); on sites only.
	ClientCert *ClientCertAuth `yaml:"client_cert"`
	// OIDC logs browsers in with an OpenID Connect provider.
	OIDC *OIDCAuth `yaml:"oidc"`
	// PassCredentials keeps the client's Authorization on the upstream
	// request (default: removed once checked).
	PassCredentials bool `yaml:"pass_credentials"`
}

// BasicAuth is HTTP basic auth against an htpasswd file.
type BasicAuth struct {
	// UsersFile is an htpasswd file (bcrypt or {SHA} entries); it is read
	// again when it changes.
	UsersFile string `yaml:"users_file"`
	// Realm is named in the challenge (default "restricted").
	Realm string `yaml:"realm"`
}

// ForwardAuth asks a service whether to admit each request.
type ForwardAuth struct {
	// URL is the service's endpoint (http or https).
	URL string `yaml:"url"`
	// CopyHeaders are copied from the service's 2xx answer onto the
	// upstream request (X-User, X-Email...).
	CopyHeaders []string `yaml:"copy_headers"`
	// PassHeaders are sent from the client's request to the service
	// (default Cookie and Authorization).
	PassHeaders []string `yaml:"pass_headers"`
	// Cache remembers an admission for identical credentials that long
	// (default: every request is asked).
	Cache Duration `yaml:"cache"`
	// Timeout bounds the service's answer (default 5s).
	Timeout Duration `yaml:"timeout"`

	// Parsed by validation.
	Target *url.URL `yaml:"-"`
}

// JWTAuth checks JSON Web Tokens signed with the keys of a JWKS.
type JWTAuth struct {
	// JWKSURL or JWKSFile holds the public keys (one of the two).
	JWKSURL  string `yaml:"jwks_url"`
	JWKSFile string `yaml:"jwks_file"`
	// Issuer and Audience, when set, must match iss and be among aud.
	Issuer   string `yaml:"issuer"`
	Audience string `yaml:"audience"`
	// Algorithms accepted (default RS256, ES256, EdDSA); public-key
	// ones only.
	Algorithms []string `yaml:"algorithms"`
	// ClaimsToHeaders sets an upstream header from each claim.
	ClaimsToHeaders map[string]string `yaml:"claims_to_headers"`
	// From lists where to look for the token: "header NAME", "cookie
	// NAME", "query NAME" (default: header Authorization, as Bearer).
	From []string `yaml:"from"`
	// Leeway is the clock skew allowed on exp, nbf and iat (default 0).
	Leeway Duration `yaml:"leeway"`

	// Parsed by validation.
	JWKSTarget *url.URL           `yaml:"-"`
	Sources    []auth.TokenSource `yaml:"-"`
}

// ClientCertAuth is mutual TLS: client certificates signed by CA.
type ClientCertAuth struct {
	// CA is a PEM file of the authorities whose certificates pass.
	CA string `yaml:"ca"`
	// Required (default true) fails handshakes without a valid
	// certificate; false asks for one and lets requests without it
	// through with no identity headers.
	Required *bool `yaml:"required"`
	// SubjectToHeader carries the certificate's subject DN upstream
	// (default X-Client-DN); SANToHeader its alternative names (default
	// X-Client-SAN).
	SubjectToHeader string `yaml:"subject_to_header"`
	SANToHeader     string `yaml:"san_to_header"`

	// Read by validation.
	Pool *x509.CertPool `yaml:"-"`
}

// OIDCAuth is OpenID Connect login (authorization code flow with PKCE).
type OIDCAuth struct {
	// Issuer is the provider's URL: https, or http on a loopback address.
	Issuer string `yaml:"issuer"`
	// ClientID and ClientSecret are the client's registration.
	ClientID     string `yaml:"client_id"`
	ClientSecret string `yaml:"client_secret"`
	// RedirectPath (default /oauth2/callback) is where the provider sends
	// the browser back; LogoutPath (default /oauth2/logout) ends the
	// session.
	RedirectPath string `yaml:"redirect_path"`
	LogoutPath   string `yaml:"logout_path"`
	// Scopes asked for (default openid, email, profile).
	Scopes []string `yaml:"scopes"`
	// CookieSecret keys the session cookie: at least 32 characters, or
	// a file holding them.
	CookieSecret string `yaml:"cookie_secret"`
	// ClaimsToHeaders sets an upstream header from each ID token claim.
	ClaimsToHeaders map[string]string `yaml:"claims_to_headers"`
	// SessionTTL bounds a session (default 12h).
	SessionTTL Duration `yaml:"session_ttl"`
	// CA trusts a private CA for the issuer.
	CA string `yaml:"ca"`
	// APIPaths are path prefixes whose unauthenticated requests get 401
	// instead of a login redirect.
	APIPaths []string `yaml:"api_paths"`

	// Read by validation.
	Secret []byte         `yaml:"-"`
	Roots  *x509.CertPool `yaml:"-"`
}

// UnmarshalYAML accepts a mapping or off.
func (a *Auth) UnmarshalYAML(node ast.Node) error {
	if isScalar(node) {
		if v := strings.ToLower(scalarString(node)); v == "off" || v == "false" {
			*a = Auth{Off: true}
			return nil
		}
		return &nodeError{node, fmt.Sprintf("want a mapping with one method (basic, forward, jwt, client_cert, oidc) or off, got %q", scalarString(node))}
	}
	type plain Auth
	var p plain
	if err := yaml.NodeToValue(node, &p); err != nil {
		return err
	}
	*a = Auth(p)
	return nil
}

// EffectiveAuth is a route's auth: its own, else its site's; nil when
// none applies (or the route's is off).
func EffectiveAuth(s *Site, r *Route) *Auth {
	a := s.Auth
	if r.Auth != nil {
		a = r.Auth
	}
	if a == nil || a.Off {
		return nil
	}
	return a
}

// IdentityHeaders are the headers the auth of a site and its routes set
// on upstream requests: every request to the site has them removed
// first, whatever route it takes.
func IdentityHeaders(s *Site) []string {
	var names []string
	add := func(a *Auth) {
		switch {
		case a == nil || a.Off:
		case a.Basic != nil:
			names = append(names, auth.UserHeader)
		case a.Forward != nil:
			names = append(names, a.Forward.CopyHeaders...)
		case a.JWT != nil:
			for _, h := range a.JWT.ClaimsToHeaders {
				names = append(names, h)
			}
		case a.ClientCert != nil:
			names = append(names, a.ClientCert.SubjectToHeader, a.ClientCert.SANToHeader)
		case a.OIDC != nil:
			for _, h := range a.OIDC.ClaimsToHeaders {
				names = append(names, h)
			}
		}
	}
	add(s.Auth)
	for i := range s.Routes {
		add(s.Routes[i].Auth)
	}
	return names
}

// validateAuth checks that one method is set and parses it.
func validateAuth(dir string, a *Auth, at keyPath, report func(keyPath, string)) {
	if a == nil || a.Off {
		return
	}
	methods := 0
	if a.Basic != nil {
		methods++
		b := a.Basic
		if b.UsersFile == "" {
			report(at.key("basic").key("users_file"), "want an htpasswd file (htpasswd -B -c FILE USER makes one)")
		} else {
			b.UsersFile = resolvePath(dir, b.UsersFile)
			if _, err := auth.ReadHtpasswd(b.UsersFile); err != nil {
				report(at.key("basic").key("users_file"), err.Error())
			}
		}
		if strings.ContainsAny(b.Realm, "\r\n") {
			report(at.key("basic").key("realm"), "must be one line")
		}
	}
	if f := a.Forward; f != nil {
		methods++
		fat := at.key("forward")
		u, err := url.Parse(f.URL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report(fat.key("url"), fmt.Sprintf("want the auth service's URL, e.g. http://127.0.0.1:4180/oauth2/auth, got %q", f.URL))
		} else {
			f.Target = u
		}
		if f.PassHeaders == nil {
			f.PassHeaders = []string{"Cookie", "Authorization"}
		}
		for key, list := range map[string][]string{"copy_headers": f.CopyHeaders, "pass_headers": f.PassHeaders} {
			for i, n := range list {
				if !httpsyntax.IsToken(n) {
					report(fat.key(key).idx(i), fmt.Sprintf("%q is not a header name", n))
				}
			}
		}
	}
	if j := a.JWT; j != nil {
		methods++
		validateJWT(dir, j, at.key("jwt"), report)
	}
	if c := a.ClientCert; c != nil {
		methods++
		validateClientCert(dir, c, at.key("client_cert"), report)
	}
	if o := a.OIDC; o != nil {
		methods++
		validateOIDC(dir, o, at.key("oidc"), report)
	}
	if methods != 1 {
		report(at, "want exactly one method: basic, forward, jwt, client_cert or oidc (or off)")
	}
}

// validateJWT checks the key source, algorithms, claims and sources.
func validateJWT(dir string, j *JWTAuth, at keyPath, report func(keyPath, string)) {
	switch {
	case (j.JWKSURL == "") == (j.JWKSFile == ""):
		report(at, "want one of jwks_url and jwks_file")
	case j.JWKSURL != "":
		u, err := url.Parse(j.JWKSURL)
		if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
			report(at.key("jwks_url"), fmt.Sprintf("want the key set's URL, e.g. https://issuer.example/.well-known/jwks.json, got %q", j.JWKSURL))
		} else {
			j.JWKSTarget = u
		}
	default:
		j.JWKSFile = resolvePath(dir, j.JWKSFile)
		if _, err := auth.NewKeySet(nil, j.JWKSFile, nil); err != nil {
			report(at.key("jwks_file"), err.Error())
		}
	}
	if j.Algorithms == nil {
		j.Algorithms = []string{"RS256", "ES256", "EdDSA"}
	}
	for i, a := range j.Algorithms {
		if !auth.AsymmetricAlgorithm(a) {
			report(at.key("algorithms").idx(i), fmt.Sprintf("%q is not accepted: want public-key algorithms (RS256, RS384, RS512, PS256, PS384, PS512, ES256, ES384, ES512, EdDSA); none and HMAC (HS256...) never", a))
		}
	}
	for claim, h := range j.ClaimsToHeaders {
		if !httpsyntax.IsToken(h) {
			report(at.key("claims_to_headers").key(claim), fmt.Sprintf("%q is not a header name", h))
		}
	}
	for i, f := range j.From {
		kind, name, _ := strings.Cut(strings.TrimSpace(f), " ")
		name = strings.TrimSpace(name)
		if (kind != "header" && kind != "cookie" && kind != "query") || name == "" {
			report(at.key("from").idx(i), fmt.Sprintf("want \"header NAME\", \"cookie NAME\" or \"query NAME\", got %q", f))
			continue
		}
		j.Sources = append(j.Sources, auth.TokenSource{Kind: kind, Name: name})
	}
	if j.Leeway < 0 {
		report(at.key("leeway"), "must not be negative")
	}
}

// validateClientCert reads the CA file and fills in the defaults.
func validateClientCert(dir string, c *ClientCertAuth, at keyPath, report func(keyPath, string)) {
	if c.Required == nil {
		yes := true
		c.Required = &yes
	}
	if c.SubjectToHeader == "" {
		c.SubjectToHeader = "X-Client-DN"
	}
	if c.SANToHeader == "" {
		c.SANToHeader = "X-Client-SAN"
	}
	for key, h := range map[string]string{"subject_to_header": c.SubjectToHeader, "san_to_header": c.SANToHeader} {
		if !httpsyntax.IsToken(h) {
			report(at.key(key), fmt.Sprintf("%q is not a header name", h))
		}
	}
	if c.CA == "" {
		report(at.key("ca"), "want a PEM file of the CA certificates client certificates must chain to")
		return
	}
	c.CA = resolvePath(dir, c.CA)
	pool, err := LoadCertPool(c.CA)
	if err != nil {
		report(at.key("ca"), err.Error())
		return
	}
	c.Pool = pool
}

// minCookieSecret is the shortest cookie secret accepted.
const minCookieSecret = 32

// validateOIDC checks the provider and client settings, reads the cookie
// secret and the CA, and fills in the defaults.
func validateOIDC(dir string, o *OIDCAuth, at keyPath, report func(keyPath, string)) {
	u, err := url.Parse(o.Issuer)
	switch {
	case err != nil || u.Host == "" || (u.Scheme != "https" && u.Scheme != "http"):
		report(at.key("issuer"), fmt.Sprintf("want the provider's URL, e.g. https://accounts.google.com, got %q", o.Issuer))
	case u.Scheme == "http" && !IsLoopback(u.Hostname()):
		report(at.key("issuer"), "a plain-http issuer is accepted only on a loopback address (a local provider); use https")
	}
	if o.ClientID == "" {
		report(at.key("client_id"), "want the client ID the provider registered")
	}
	if o.RedirectPath == "" {
		o.RedirectPath = "/oauth2/callback"
	}
	if o.LogoutPath == "" {
		o.LogoutPath = "/oauth2/logout"
	}
	for key, p := range map[string]string{"redirect_path": o.RedirectPath, "logout_path": o.LogoutPath} {
		if !strings.HasPrefix(p, "/") {
			report(at.key(key), fmt.Sprintf("want a path, got %q", p))
		}
	}
	if o.Scopes == nil {
		o.Scopes = []string{"openid", "email", "profile"}
	}
	if o.SessionTTL == 0 {
		o.SessionTTL = Duration(12 * time.Hour)
	}
	secret := o.CookieSecret
	looksLikePath := strings.HasPrefix(secret, "/") || strings.HasPrefix(secret, "./") || strings.HasPrefix(secret, "../")
	if path := resolvePath(dir, secret); secret != "" && (looksLikePath || fileExists(path)) {
		b, err := os.ReadFile(path)
		if err != nil {
			report(at.key("cookie_secret"), err.Error())
			return
		}
		secret = strings.TrimSpace(string(b))
	}
	if len(secret) < minCookieSecret {
		report(at.key("cookie_secret"), fmt.Sprintf("want at least %d characters (e.g. the output of `openssl rand -hex 32`), or a file holding them", minCookieSecret))
	}
	o.Secret = []byte(secret)
	for claim, h := range o.ClaimsToHeaders {
		if !httpsyntax.IsToken(h) {
			report(at.key("claims_to_headers").key(claim), fmt.Sprintf("%q is not a header name", h))
		}
	}
	for i, p := range o.APIPaths {
		if !strings.HasPrefix(p, "/") {
			report(at.key("api_paths").idx(i), fmt.Sprintf("want a path prefix, got %q", p))
		}
	}
	if o.CA != "" {
		o.CA = resolvePath(dir, o.CA)
		pool, err := LoadCertPool(o.CA)
		if err != nil {
			report(at.key("ca"), err.Error())
		}
		o.Roots = pool
	}
}

// fileExists reports whether path names a regular file.
func fileExists(path string) bool {
	fi, err := os.Stat(path)
	return err == nil && fi.Mode().IsRegular()
}
