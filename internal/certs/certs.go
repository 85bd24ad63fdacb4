// Package certs chooses the certificate for every TLS handshake on an https
// listener and holds the TLS settings Gatehouse serves with: TLS 1.2 and 1.3
// only, forward-secret AEAD cipher suites, HTTP/2 and HTTP/1.1 by ALPN.
//
// Each site on a listener has a Source of certificates: PEM files (stapled
// with OCSP responses) or an ACME source that obtains and renews them
// through certmagic. A process-wide Manager keeps what outlives reloads:
// the certificate cache, renewals and staples.
//
// The listener's Selector picks the site by the handshake's server name
// the same way requests pick a site by Host (exact, then the longest "*."
// wildcard), and falls back to the listener's default site when the name
// is missing or unknown, so such a client gets a certificate rather than a
// failed handshake.
package certs

import (
	"crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"sync/atomic"

	"github.com/gatehouse/gatehouse/internal/route"
)

// Source supplies the certificate for a handshake.
type Source interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// File is a certificate and key loaded from PEM files, stapled with an
// OCSP response when the certificate names a responder.
type File struct {
	cert atomic.Pointer[tls.Certificate]
	stop chan struct{}
}

// LoadFile reads a certificate chain and its key and starts keeping an
// OCSP staple on it. Files are read once: a reload reads them again, which
// is how a renewed file is picked up.
func (m *Manager) LoadFile(certFile, keyFile string) (*File, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: %w", certFile, err)
	}
	f := &File{stop: make(chan struct{})}
	f.cert.Store(&c)
	m.ocsp.staple(f, f.stop)
	return f, nil
}

// GetCertificate returns the file's certificate whatever the hello says.
func (f *File) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cert.Load(), nil
}

// Close stops refreshing the file's OCSP staple.
func (f *File) Close() error {
	close(f.stop)
	return nil
}

// Selector picks a site's Source by server name for one listener, and
// the client certificates a site asks for.
type Selector struct {
	hosts    *route.Hosts[Source]
	fallback Source
	// acme is set when a site's certificates come from ACME, so the
	// listener must accept TLS-ALPN-01 challenge handshakes.
	acme bool
	// clients holds the client certificate demands of the sites that
	// make one, by server name; nil when none does.
	clients *route.Hosts[*ClientAuth]
}

// ClientAuth is a site's demand for client certificates (mutual TLS).
type ClientAuth struct {
	// CAs are the authorities whose certificates are accepted.
	CAs *x509.CertPool
	// Required fails handshakes without a valid certificate; otherwise
	// one is asked for, checked when given, and may be left out.
	Required bool
	// config is the listener's TLS settings with this demand, made by
	// ServerConfig.
	config *tls.Config
}

// NewSelector returns an empty selector.
func NewSelector() *Selector {
	return &Selector{hosts: route.NewHosts[Source]()}
}

// AddClientAuth makes handshakes for a site's hosts (a site without
// hosts: every name no other site claims) ask for client certificates.
func (s *Selector) AddClientAuth(hosts []string, ca *ClientAuth) error {
	if s.clients == nil {
		s.clients = route.NewHosts[*ClientAuth]()
	}
	if len(hosts) == 0 {
		return s.clients.SetDefault(ca)
	}
	for _, h := range hosts {
		if err := s.clients.Add(h, ca); err != nil {
			return err
		}
	}
	return nil
}

// Add registers src for a site's hosts; a site without hosts is the
// listener's default. The first site added is the fallback unless a site
// without hosts is added.
func (s *Selector) Add(hosts []string, src Source) error {
	if s.fallback == nil {
		s.fallback = src
	}
	if _, ok := src.(*ACME); ok {
		s.acme = true
	}
	if len(hosts) == 0 {
		s.fallback = src
		return s.hosts.SetDefault(src)
	}
	for _, h := range hosts {
		if err := s.hosts.Add(h, src); err != nil {
			return err
		}
	}
	return nil
}

// errNoCertificate is returned when a listener has no site with a source.
var errNoCertificate = errors.New("no certificate configured for this listener")

// GetCertificate implements tls.Config.GetCertificate.
func (s *Selector) GetCertificate(hello *tls.ClientHelloInfo) (*tls.Certificate, error) {
	if src, ok := s.hosts.Match(hello.ServerName); ok && src != nil {
		return src.GetCertificate(hello)
	}
	if s.fallback == nil {
		return nil, errNoCertificate
	}
	return s.fallback.GetCertificate(hello)
}

// cipherSuites are the TLS 1.2 suites offered: ECDHE key exchange and AEAD
// ciphers only (TLS 1.3's suites are fixed by Go and all modern).
var cipherSuites = []uint16{
	tls.TLS_ECDHE_ECDSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_RSA_WITH_AES_128_GCM_SHA256,
	tls.TLS_ECDHE_ECDSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_RSA_WITH_AES_256_GCM_SHA384,
	tls.TLS_ECDHE_ECDSA_WITH_CHACHA20_POLY1305_SHA256,
	tls.TLS_ECDHE_RSA_WITH_CHACHA20_POLY1305_SHA256,
}

// ACMETLSProtocol is the ALPN protocol of TLS-ALPN-01 challenge
// handshakes; such a connection carries no requests and is closed.
const ACMETLSProtocol = "acme-tls/1"

// ServerConfig returns the TLS settings of a listener whose certificates
// come from sel: HTTP/2 and HTTP/1.1 by ALPN, plus ACME's TLS-ALPN-01
// challenge protocol when a site uses ACME. Session tickets are on; their
// keys rotate daily.
func ServerConfig(sel *Selector) *tls.Config {
	protos := []string{"h2", "http/1.1"}
	if sel.acme {
		protos = append(protos, ACMETLSProtocol)
	}
	base := &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   cipherSuites,
		GetCertificate: sel.GetCertificate,
		NextProtos:     protos,
	}
	if sel.clients == nil {
		return base
	}
	// One config per demand, made now: a handshake only picks one.
	made := map[*ClientAuth]bool{}
	sel.clients.Each(func(ca *ClientAuth) {
		if made[ca] {
			return
		}
		made[ca] = true
		c := base.Clone()
		c.ClientCAs = ca.CAs
		c.ClientAuth = tls.VerifyClientCertIfGiven
		if ca.Required {
			c.ClientAuth = tls.RequireAndVerifyClientCert
		}
		ca.config = c
	})
	withClients := base.Clone()
	withClients.GetConfigForClient = func(hello *tls.ClientHelloInfo) (*tls.Config, error) {
		if ca, ok := sel.clients.Match(hello.ServerName); ok && ca != nil {
			return ca.config, nil
		}
		return nil, nil
	}
	return withClients
}

// ForClient is the config a listener's handshake with hello uses: c, or
// the one of the site that asks hello's server name for a client
// certificate.
func ForClient(c *tls.Config, hello *tls.ClientHelloInfo) (*tls.Config, error) {
	if c.GetConfigForClient != nil {
		if cc, err := c.GetConfigForClient(hello); cc != nil || err != nil {
			return cc, err
		}
	}
	return c, nil
}
