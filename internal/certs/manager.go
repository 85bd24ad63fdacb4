package certs

import (
	"context"
	"errors"
	"log/slog"
	"sync"
	"time"

	"github.com/caddyserver/certmagic"
)

// ManagerOptions are the process-wide certificate maintenance settings.
type ManagerOptions struct {
	// RenewInterval is how often managed certificates are checked for
	// renewal (certmagic's default, 10 minutes, when zero).
	RenewInterval time.Duration
	// OCSPInterval is how often OCSP staples are refreshed (1 hour when
	// zero).
	OCSPInterval time.Duration
}

// Manager owns what outlives config reloads: the in-memory cache of
// automatic certificates, their renewal loop and the OCSP staples of file
// certificates. One Manager serves a whole process.
type Manager struct {
	log   *slog.Logger
	opts  ManagerOptions
	cache *certmagic.Cache
	ocsp  *stapler

	mu sync.Mutex
	// current maps each managed name to the ACME source of the config
	// now in force; renewals use it.
	current map[string]*ACME
}

// NewManager starts certificate maintenance with opts.
func NewManager(log *slog.Logger, opts ManagerOptions) *Manager {
	m := &Manager{log: log, opts: opts, current: map[string]*ACME{}}
	m.cache = certmagic.NewCache(certmagic.CacheOptions{
		GetConfigForCert:   m.configForCert,
		RenewCheckInterval: opts.RenewInterval,
		OCSPCheckInterval:  opts.OCSPInterval,
		Logger:             zapLogger(log),
	})
	m.ocsp = newStapler(log, opts.OCSPInterval)
	return m
}

// Options returns the settings the manager was started with.
func (m *Manager) Options() ManagerOptions { return m.opts }

var errNotManaged = errors.New("certificate no longer configured")

// configForCert tells the renewal loop which ACME settings manage cert.
func (m *Manager) configForCert(cert certmagic.Certificate) (*certmagic.Config, error) {
	m.mu.Lock()
	defer m.mu.Unlock()
	for _, name := range cert.Names {
		if a, ok := m.current[name]; ok {
			return a.cfg, nil
		}
	}
	return nil, errNotManaged
}

// Manage makes sources the automatic certificates in force: each starts
// obtaining (or loading from storage) its certificates in the background
// under ctx, which should end when the config they belong to is retired.
// Names no config manages any more leave the cache.
func (m *Manager) Manage(ctx context.Context, sources []*ACME) {
	next := map[string]*ACME{}
	for _, a := range sources {
		for _, n := range a.names {
			next[n] = a
		}
	}
	m.mu.Lock()
	var gone []certmagic.SubjectIssuer
	for n, a := range m.current {
		if _, ok := next[n]; !ok {
			gone = append(gone, certmagic.SubjectIssuer{Subject: n, IssuerKey: a.issuer.IssuerKey()})
		}
	}
	m.current = next
	m.mu.Unlock()
	if len(gone) > 0 {
		m.cache.RemoveManaged(gone)
	}
	for _, a := range sources {
		if err := a.cfg.ManageAsync(ctx, a.names); err != nil {
			m.log.Error("cannot manage certificates", "names", a.names, "error", err)
		}
	}
}

// Close stops certificate maintenance.
func (m *Manager) Close() {
	m.cache.Stop()
	m.ocsp.close()
}
