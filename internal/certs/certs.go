// Package certs chooses the certificate for every TLS handshake on an https
// listener and holds the TLS settings Gatehouse serves with: TLS 1.2 and 1.3
// only, forward-secret AEAD cipher suites, HTTP/2 and HTTP/1.1 by ALPN.
//
// Each site on a listener has a Source of certificates (files today, an ACME
// manager when configured); the listener's Selector picks the site by the
// handshake's server name the same way requests pick a site by Host (exact,
// then the longest "*." wildcard), and falls back to the listener's default
// site when the name is missing or unknown, so such a client gets a
// certificate rather than a failed handshake.
package certs

import (
	"crypto/tls"
	"errors"
	"fmt"

	"github.com/gatehouse/gatehouse/internal/route"
)

// Source supplies the certificate for a handshake.
type Source interface {
	GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error)
}

// File is a certificate and key loaded from PEM files.
type File struct {
	cert *tls.Certificate
}

// LoadFile reads a certificate chain and its key. Files are read once:
// a reload reads them again, which is how a renewed file is picked up.
func LoadFile(certFile, keyFile string) (*File, error) {
	c, err := tls.LoadX509KeyPair(certFile, keyFile)
	if err != nil {
		return nil, fmt.Errorf("load certificate %s: %w", certFile, err)
	}
	return &File{cert: &c}, nil
}

// GetCertificate returns the file's certificate whatever the hello says.
func (f *File) GetCertificate(*tls.ClientHelloInfo) (*tls.Certificate, error) {
	return f.cert, nil
}

// Selector picks a site's Source by server name for one listener.
type Selector struct {
	hosts    *route.Hosts[Source]
	fallback Source
}

// NewSelector returns an empty selector.
func NewSelector() *Selector {
	return &Selector{hosts: route.NewHosts[Source]()}
}

// Add registers src for a site's hosts; a site without hosts is the
// listener's default. The first site added is the fallback unless a site
// without hosts is added.
func (s *Selector) Add(hosts []string, src Source) error {
	if s.fallback == nil {
		s.fallback = src
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

// ServerConfig returns the TLS settings of a listener whose certificates
// come from sel. Session tickets are on; Go rotates their keys daily.
func ServerConfig(sel *Selector, nextProtos ...string) *tls.Config {
	return &tls.Config{
		MinVersion:     tls.VersionTLS12,
		CipherSuites:   cipherSuites,
		GetCertificate: sel.GetCertificate,
		NextProtos:     nextProtos,
	}
}
