package auth

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/lestrrat-go/jwx/v3/jwa"
	"github.com/lestrrat-go/jwx/v3/jws"
	"github.com/lestrrat-go/jwx/v3/jwt"

	"github.com/gatehouse/gatehouse/internal/errpage"
)

// TokenSource is where a request's token is read from.
type TokenSource struct {
	// Kind is "header", "cookie" or "query"; Name the field. A token in
	// the Authorization header comes after "Bearer ".
	Kind, Name string
}

// JWTOptions configure JWT checks.
type JWTOptions struct {
	Keys *KeySet
	// Issuer and Audience, when set, must be the token's iss and among
	// its aud.
	Issuer, Audience string
	// Algorithms are the signature algorithms accepted (asymmetric
	// only: never none, never an HMAC a public key would serve as the
	// secret of).
	Algorithms []string
	// ClaimsToHeaders sets a header upstream from each claim.
	ClaimsToHeaders map[string]string
	// From lists where the token is looked for, in order.
	From []TokenSource
	// Leeway is the clock skew allowed on exp, nbf and iat.
	Leeway time.Duration
	// PassCredentials keeps the token's header on the upstream request.
	PassCredentials bool
	// Failed, when set, counts refused tokens.
	Failed func()
}

// JWT admits requests that carry a valid token signed by one of the key
// set's keys (RFC 7519 with RFC 6750's challenges): signature, algorithm,
// exp, nbf, iat, iss and aud are checked; the claims named in
// ClaimsToHeaders go upstream as headers.
type JWT struct {
	opt     JWTOptions
	allowed map[string]jwa.SignatureAlgorithm
	next    http.Handler
}

// NewJWT wraps next in JWT checks. The algorithms must be asymmetric
// signature algorithms (validation makes sure).
func NewJWT(opt JWTOptions, next http.Handler) (*JWT, error) {
	j := &JWT{opt: opt, allowed: map[string]jwa.SignatureAlgorithm{}, next: next}
	for _, name := range opt.Algorithms {
		alg, ok := jwa.LookupSignatureAlgorithm(name)
		if !ok || !AsymmetricAlgorithm(name) {
			return nil, fmt.Errorf("jwt: algorithm %q is not accepted", name)
		}
		j.allowed[name] = alg
	}
	if len(opt.From) == 0 {
		j.opt.From = []TokenSource{{Kind: "header", Name: "Authorization"}}
	}
	return j, nil
}

// AsymmetricAlgorithm reports whether name is a public-key signature
// algorithm a JWT may be accepted under.
func AsymmetricAlgorithm(name string) bool {
	switch name {
	case "RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA":
		return true
	}
	return false
}

func (j *JWT) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	token, src := j.token(r)
	if token == "" {
		w.Header().Set("WWW-Authenticate", `Bearer`)
		errpage.Write(w, http.StatusUnauthorized)
		return
	}
	tok, status, reason := j.verify(r, token)
	if tok == nil {
		if j.opt.Failed != nil {
			j.opt.Failed()
		}
		if status == http.StatusUnauthorized {
			w.Header().Set("WWW-Authenticate", `Bearer error="invalid_token", error_description="`+reason+`"`)
		}
		errpage.Write(w, status)
		return
	}
	for claim, header := range j.opt.ClaimsToHeaders {
		if v, ok := claimString(tok, claim); ok {
			r.Header.Set(header, v)
		}
	}
	if !j.opt.PassCredentials {
		switch src.Kind {
		case "header":
			r.Header.Del(src.Name)
		case "cookie":
			dropCookies(r, func(name string) bool { return name == src.Name })
		case "query":
			dropQueryParam(r, src.Name)
		}
	}
	j.next.ServeHTTP(w, r)
}

// token finds the request's token and where it was.
func (j *JWT) token(r *http.Request) (string, TokenSource) {
	for _, s := range j.opt.From {
		var v string
		switch s.Kind {
		case "header":
			v = r.Header.Get(s.Name)
			if strings.EqualFold(s.Name, "Authorization") {
				scheme, rest, ok := strings.Cut(v, " ")
				if !ok || !strings.EqualFold(scheme, "Bearer") {
					continue
				}
				v = strings.TrimSpace(rest)
			}
		case "cookie":
			if c, err := r.Cookie(s.Name); err == nil {
				v = c.Value
			}
		case "query":
			v = r.URL.Query().Get(s.Name)
		}
		if v != "" {
			return v, s
		}
	}
	return "", TokenSource{}
}

// verify checks token; on failure it returns the status (401, or 503
// when no keys could be had) and the reason, fit for a quoted string.
func (j *JWT) verify(r *http.Request, token string) (jwt.Token, int, string) {
	msg, err := jws.ParseString(token)
	if err != nil || len(msg.Signatures()) != 1 {
		return nil, http.StatusUnauthorized, "malformed token"
	}
	hdr := msg.Signatures()[0].ProtectedHeaders()
	algHeader, _ := hdr.Algorithm()
	alg, ok := j.allowed[algHeader.String()]
	if !ok {
		return nil, http.StatusUnauthorized, "algorithm not accepted"
	}
	kid, _ := hdr.KeyID()
	key, found, noKeys := j.opt.Keys.lookup(r.Context(), kid)
	if noKeys {
		return nil, http.StatusServiceUnavailable, ""
	}
	if !found {
		return nil, http.StatusUnauthorized, "unknown key"
	}
	if keyAlg, ok := key.Algorithm(); ok && keyAlg.String() != alg.String() {
		return nil, http.StatusUnauthorized, "algorithm not the key's"
	}
	opts := []jwt.ParseOption{jwt.WithKey(alg, key), jwt.WithValidate(true), jwt.WithAcceptableSkew(j.opt.Leeway)}
	if j.opt.Issuer != "" {
		opts = append(opts, jwt.WithIssuer(j.opt.Issuer))
	}
	if j.opt.Audience != "" {
		opts = append(opts, jwt.WithAudience(j.opt.Audience))
	}
	tok, err := jwt.ParseString(token, opts...)
	if err != nil {
		return nil, http.StatusUnauthorized, tokenProblem(err)
	}
	return tok, 0, ""
}

// tokenProblem names what was wrong with a token, briefly.
func tokenProblem(err error) string {
	for _, c := range []struct {
		kind   error
		reason string
	}{
		{jwt.TokenExpiredError(), "exp not valid"},
		{jwt.TokenNotYetValidError(), "nbf not valid"},
		{jwt.InvalidIssuedAtError(), "iat not valid"},
		{jwt.InvalidIssuerError(), "iss not valid"},
		{jwt.InvalidAudienceError(), "aud not valid"},
		{jwt.ValidateError(), "claims not valid"},
	} {
		if errors.Is(err, c.kind) {
			return c.reason
		}
	}
	return "signature not valid"
}

// claimString renders a token's claim as a header value.
func claimString(tok jwt.Token, name string) (string, bool) {
	var v any
	if err := tok.Get(name, &v); err != nil {
		return "", false
	}
	return renderClaim(v)
}

// renderClaim renders a claim's value as a header value: strings as they
// are, numbers and booleans as written, arrays of strings joined by
// commas, anything else as JSON; false for none, or one a header cannot
// carry.
func renderClaim(v any) (string, bool) {
	var s string
	switch x := v.(type) {
	case nil:
		return "", false
	case string:
		s = x
	case float64:
		s = strconv.FormatFloat(x, 'f', -1, 64)
	case bool:
		s = strconv.FormatBool(x)
	case time.Time:
		s = strconv.FormatInt(x.Unix(), 10)
	case []string:
		s = strings.Join(x, ",")
	case []any:
		parts := make([]string, 0, len(x))
		for _, e := range x {
			if es, ok := e.(string); ok {
				parts = append(parts, es)
			}
		}
		s = strings.Join(parts, ",")
	default:
		b, err := json.Marshal(x)
		if err != nil {
			return "", false
		}
		s = string(b)
	}
	if strings.ContainsAny(s, "\r\n\x00") {
		return "", false
	}
	return s, true
}

// dropQueryParam removes the parameter name from the request's query,
// keeping the others as they were written and in their order.
func dropQueryParam(r *http.Request, name string) {
	parts := strings.Split(r.URL.RawQuery, "&")
	kept := parts[:0]
	for _, p := range parts {
		key, _, _ := strings.Cut(p, "=")
		if k, err := url.QueryUnescape(key); err == nil && k == name {
			continue
		}
		kept = append(kept, p)
	}
	r.URL.RawQuery = strings.Join(kept, "&")
	r.RequestURI = r.URL.RequestURI()
}
