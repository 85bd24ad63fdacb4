package config

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net/url"
	"os"
	"path/filepath"
	"slices"
	"strings"
	"time"
)

// DefaultHSTSMaxAge is the max-age of an hsts block that names none.
const DefaultHSTSMaxAge = 365 * 24 * time.Hour

// tlsDefaults resolves a site's TLS file paths against the config's
// directory and fills in the HTTPS defaults.
func tlsDefaults(dir string, s *Site) {
	if s.HTTPSRedirect == nil {
		s.HTTPSRedirect = ptr(true)
	}
	if s.HSTS != nil {
		setDefault(&s.HSTS.MaxAge, Duration(DefaultHSTSMaxAge))
	}
	t := s.TLS
	if t == nil {
		return
	}
	t.Cert, t.Key = resolvePath(dir, t.Cert), resolvePath(dir, t.Key)
	if a := t.ACME; a != nil {
		if a.Storage == "" {
			a.Storage = DefaultACMEStorage()
		}
		a.CARoot, a.Storage = resolvePath(dir, a.CARoot), resolvePath(dir, a.Storage)
	}
}

// DefaultACMEStorage is where automatic certificates are kept when a site
// names no storage: /var/lib/gatehouse/acme for root, else
// $XDG_DATA_HOME/gatehouse/acme (~/.local/share/gatehouse/acme).
func DefaultACMEStorage() string {
	if os.Geteuid() == 0 {
		return "/var/lib/gatehouse/acme"
	}
	if d := os.Getenv("XDG_DATA_HOME"); d != "" {
		return filepath.Join(d, "gatehouse", "acme")
	}
	if home, err := os.UserHomeDir(); err == nil {
		return filepath.Join(home, ".local", "share", "gatehouse", "acme")
	}
	return "gatehouse-acme"
}

// ACME challenge types.
const (
	ChallengeHTTP01    = "http-01"
	ChallengeTLSALPN01 = "tls-alpn-01"
)

// AllowsChallenge reports whether the site may use challenge type c.
func (a *ACME) AllowsChallenge(c string) bool {
	return len(a.Challenges) == 0 || slices.Contains(a.Challenges, c)
}

// resolvePath makes a relative path relative to dir; "" stays "".
func resolvePath(dir, p string) string {
	if p == "" || filepath.IsAbs(p) {
		return p
	}
	return filepath.Join(dir, p)
}

// HasScheme reports whether any of the site's listen addresses uses scheme.
func (s *Site) HasScheme(scheme string) bool {
	for _, l := range s.Listen {
		if a, err := ParseListen(l); err == nil && a.Scheme == scheme {
			return true
		}
	}
	return false
}

// validateTLS checks that a site with an https listener says where its
// certificate comes from, and that what it names is usable.
func validateTLS(s *Site, at keyPath, report func(keyPath, string)) {
	https := s.HasScheme("https")
	t := s.TLS
	switch {
	case t == nil && https:
		for i, l := range s.Listen {
			if a, err := ParseListen(l); err == nil && a.Scheme == "https" {
				report(at.key("listen").idx(i), "an https listener needs the site to say where its certificate comes from: tls: {cert: FILE, key: FILE} or tls: {acme: {email: ADDRESS}}")
				break
			}
		}
		return
	case t == nil:
		return
	case !https:
		report(at.key("tls"), "tls is set but none of the site's listen addresses is https://")
	}
	tat := at.key("tls")
	switch {
	case t.ACME != nil && (t.Cert != "" || t.Key != ""):
		report(tat, "use either cert and key, or acme, not both")
	case t.ACME != nil:
		validateACME(s, t.ACME, at, report)
	case t.Cert == "" || t.Key == "":
		report(tat, "tls needs both cert and key (PEM files), or acme")
	default:
		if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
			report(tat.key("cert"), fmt.Sprintf("cannot use %s with %s: %v", t.Cert, t.Key, err))
		}
	}
	if s.HSTS != nil && s.HSTS.MaxAge < 0 {
		report(at.key("hsts").key("max_age"), "must not be negative")
	}
}

func validateACME(s *Site, a *ACME, at keyPath, report func(keyPath, string)) {
	aat := at.key("tls").key("acme")
	if len(s.Hosts) == 0 {
		report(aat, "acme needs the site's hosts: the names to get a certificate for")
	}
	for i, h := range s.Hosts {
		if strings.HasPrefix(h, "*.") {
			report(at.key("hosts").idx(i), fmt.Sprintf("acme cannot obtain a certificate for the wildcard %q through the HTTP-01 or TLS-ALPN-01 challenge; give this site tls: {cert, key}", h))
		}
	}
	if a.CA != "" {
		if u, err := url.Parse(a.CA); err != nil || u.Scheme != "https" || u.Host == "" {
			report(aat.key("ca"), fmt.Sprintf("want the CA's ACME directory URL (https://...), got %q", a.CA))
		}
	}
	if a.CARoot != "" {
		if _, err := LoadCertPool(a.CARoot); err != nil {
			report(aat.key("ca_root"), err.Error())
		}
	}
	for i, c := range a.Challenges {
		oneOf(report, aat.key("challenges").idx(i), c, ChallengeHTTP01, ChallengeTLSALPN01)
	}
	if !s.HasScheme("http") && len(a.Challenges) > 0 && !a.AllowsChallenge(ChallengeTLSALPN01) {
		report(aat.key("challenges"), "http-01 needs the site to listen on plain http:// too (port 80 for a public CA)")
	}
	if a.Email != "" && !strings.Contains(a.Email, "@") {
		report(aat.key("email"), fmt.Sprintf("%q is not an email address", a.Email))
	}
}

// LoadCertPool reads a PEM file of CA certificates into a pool.
func LoadCertPool(file string) (*x509.CertPool, error) {
	data, err := os.ReadFile(file)
	if err != nil {
		return nil, fmt.Errorf("read CA certificates: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(data) {
		return nil, fmt.Errorf("%s holds no PEM certificate", file)
	}
	return pool, nil
}

// validateUpstreamTLS checks that a proxy's TLS settings go with servers
// that speak TLS (scheme, "" when unknown) and that its files are usable.
func validateUpstreamTLS(p *Proxy, scheme string, at keyPath, report func(keyPath, string)) {
	t := p.TLS
	if t == nil {
		return
	}
	tat := at.key("tls")
	if scheme != "" && scheme != "https" && scheme != "grpcs" {
		report(tat, "tls is set but the proxy's servers are not https:// or grpcs://")
	}
	if t.CA != "" {
		if _, err := LoadCertPool(t.CA); err != nil {
			report(tat.key("ca"), err.Error())
		}
	}
	switch {
	case (t.Cert == "") != (t.Key == ""):
		report(tat, "a client certificate needs both cert and key")
	case t.Cert != "":
		if _, err := tls.LoadX509KeyPair(t.Cert, t.Key); err != nil {
			report(tat.key("cert"), fmt.Sprintf("cannot use %s with %s: %v", t.Cert, t.Key, err))
		}
	}
}

// upstreamTLSDefaults resolves a proxy's TLS file paths.
func upstreamTLSDefaults(dir string, p *Proxy) {
	if t := p.TLS; t != nil {
		t.CA, t.Cert, t.Key = resolvePath(dir, t.CA), resolvePath(dir, t.Cert), resolvePath(dir, t.Key)
	}
}
