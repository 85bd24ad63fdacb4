package site

import (
	"errors"
	"fmt"
	"net"
	"net/http"
	"strconv"

	"github.com/gatehouse/gatehouse/internal/certs"
	"github.com/gatehouse/gatehouse/internal/config"
)

// errNoCertManager is returned when a config names certificates but the
// graph was built without a manager for them.
var errNoCertManager = errors.New("tls: no certificate manager")

// buildCerts gives s its certificate source: PEM files or ACME.
func (g *Graph) buildCerts(sc *config.Site, s *site) error {
	t := sc.TLS
	if t == nil {
		return nil
	}
	if g.certs == nil {
		return errNoCertManager
	}
	if t.ACME == nil {
		f, err := g.certs.LoadFile(t.Cert, t.Key)
		if err != nil {
			return fmt.Errorf("tls: %w", err)
		}
		g.closers = append(g.closers, f)
		s.certs = f
		return nil
	}
	a := t.ACME
	set := certs.ACMESettings{Names: sc.Hosts, Email: a.Email, CA: a.CA, Storage: a.Storage}
	if a.CARoot != "" {
		pool, err := config.LoadCertPool(a.CARoot)
		if err != nil {
			return fmt.Errorf("tls.acme.ca_root: %w", err)
		}
		set.Roots = pool
	}
	// Challenges are answered on the site's own listeners: HTTP-01 on
	// its first http one, TLS-ALPN-01 on its first https one.
	for _, l := range sc.Listen {
		addr, err := config.ParseListen(l)
		if err != nil {
			return err
		}
		host, portStr, _ := net.SplitHostPort(addr.Addr)
		port, _ := strconv.Atoi(portStr)
		switch {
		case addr.Scheme == "http" && set.HTTPPort == 0 && a.AllowsChallenge(config.ChallengeHTTP01):
			set.HTTPPort = port
		case addr.Scheme == "https" && set.TLSPort == 0 && a.AllowsChallenge(config.ChallengeTLSALPN01):
			set.TLSPort = port
		default:
			continue
		}
		set.ListenHost = host
	}
	if a.Shared && g.fleet != nil {
		set.Shared = g.fleet.ACMEStorage()
	}
	src := g.certs.NewACME(set)
	g.acme = append(g.acme, src)
	s.certs = src
	return nil
}

// challengeHandler answers ACME HTTP-01 challenges.
type challengeHandler interface {
	HandleHTTPChallenge(http.ResponseWriter, *http.Request) bool
}
