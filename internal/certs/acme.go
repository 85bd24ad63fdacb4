package certs

import (
	"crypto/tls"
	"crypto/x509"
	"net/http"

	"github.com/caddyserver/certmagic"
)

// ACMESettings say how a site's certificates are obtained.
type ACMESettings struct {
	// Names are the site's host names, the subjects of its certificate.
	Names []string
	// Email is the ACME account's contact ("" for none).
	Email string
	// CA is the ACME directory URL ("" for Let's Encrypt).
	CA string
	// Roots, when set, are the CA certificates trusted for the ACME
	// server's own HTTPS (a private or test CA).
	Roots *x509.CertPool
	// Storage is the directory for certificates, keys and accounts.
	Storage string
	// Shared, when set, replaces Storage: the fleet's store, where one
	// instance orders a certificate and every instance finds it.
	Shared certmagic.Storage
	// HTTPPort and TLSPort are the ports (with ListenHost) where this
	// process answers HTTP-01 and TLS-ALPN-01 challenges; 0 turns the
	// challenge off.
	HTTPPort, TLSPort int
	ListenHost        string
}

// ACME is a Source of automatically obtained and renewed certificates.
type ACME struct {
	names  []string
	cfg    *certmagic.Config
	issuer *certmagic.ACMEIssuer
}

// NewACME prepares automatic certificates for s.Names. Nothing is obtained
// until the manager is told to Manage the source.
func (m *Manager) NewACME(s ACMESettings) *ACME {
	ca := s.CA
	if ca == "" {
		ca = certmagic.LetsEncryptProductionCA
	}
	zl := zapLogger(m.log)
	var storage certmagic.Storage = &certmagic.FileStorage{Path: s.Storage}
	if s.Shared != nil {
		storage = s.Shared
	}
	cfg := certmagic.New(m.cache, certmagic.Config{
		Storage: storage,
		// A client naming none of the site's hosts, or none at all,
		// still gets the site's certificate.
		DefaultServerName:  s.Names[0],
		FallbackServerName: s.Names[0],
		Logger:             zl,
	})
	issuer := certmagic.NewACMEIssuer(cfg, certmagic.ACMEIssuer{
		CA:                      ca,
		Email:                   s.Email,
		Agreed:                  true,
		TrustedRoots:            s.Roots,
		ListenHost:              s.ListenHost,
		AltHTTPPort:             s.HTTPPort,
		AltTLSALPNPort:          s.TLSPort,
		DisableHTTPChallenge:    s.HTTPPort == 0,
		DisableTLSALPNChallenge: s.TLSPort == 0,
		Logger:                  zl,
	})
	cfg.Issuers = []certmagic.Issuer{issuer}
	return &ACME{names: s.Names, cfg: cfg, issuer: issuer}
}

// GetCertificate answers a handshake with the site's certificate, or with
// a TLS-ALPN-01 challenge certificate when the CA is validating.
func (a *ACME) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	return a.cfg.GetCertificate(hello)
}

// HandleHTTPChallenge answers an ACME HTTP-01 challenge request; false
// when r is not one this process (or its storage) knows of.
func (a *ACME) HandleHTTPChallenge(w http.ResponseWriter, r *http.Request) bool {
	return a.issuer.HandleHTTPChallenge(w, r)
}
