package certs

import (
	"bytes"
	"context"
	"crypto/sha256"
	"crypto/x509"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"golang.org/x/crypto/ocsp"
)

// defaultOCSPInterval is how often a staple is refreshed at the latest.
const defaultOCSPInterval = time.Hour

// maxOCSPResponse bounds the size of a responder's answer.
const maxOCSPResponse = 64 << 10

// stapler fetches OCSP responses for file certificates and keeps them
// across reloads, so a reload does not ask the responder again.
type stapler struct {
	log      *slog.Logger
	interval time.Duration
	client   *http.Client
	ctx      context.Context
	cancel   context.CancelFunc

	mu     sync.Mutex
	byLeaf map[[32]byte]*ocspStaple
}

// ocspStaple is a good OCSP response and when to fetch a new one.
type ocspStaple struct {
	raw     []byte
	refresh time.Time
}

func newStapler(log *slog.Logger, interval time.Duration) *stapler {
	if interval <= 0 {
		interval = defaultOCSPInterval
	}
	ctx, cancel := context.WithCancel(context.Background())
	return &stapler{log: log, interval: interval, client: &http.Client{Timeout: 10 * time.Second},
		ctx: ctx, cancel: cancel, byLeaf: map[[32]byte]*ocspStaple{}}
}

func (s *stapler) close() { s.cancel() }

// staple keeps f's certificate stapled with a fresh OCSP response until
// stop is closed. Certificates without a responder URL or without their
// issuer in the chain are left as they are.
func (s *stapler) staple(f *File, stop <-chan struct{}) {
	c := f.cert.Load()
	leaf := c.Leaf
	if leaf == nil || len(leaf.OCSPServer) == 0 {
		return
	}
	if len(c.Certificate) < 2 {
		s.log.Warn("no OCSP stapling: the certificate file lacks its issuer", "subject", leaf.Subject.CommonName)
		return
	}
	issuer, err := x509.ParseCertificate(c.Certificate[1])
	if err != nil {
		s.log.Warn("no OCSP stapling: cannot parse the issuer certificate", "subject", leaf.Subject.CommonName, "error", err)
		return
	}
	key := sha256.Sum256(leaf.Raw)
	go func() {
		for {
			wait := s.refresh(f, key, leaf, issuer)
			select {
			case <-time.After(wait):
			case <-stop:
				return
			case <-s.ctx.Done():
				return
			}
		}
	}()
}

// refresh staples f with the cached response for key, fetching a new one
// when due, and returns how long until the next look.
func (s *stapler) refresh(f *File, key [32]byte, leaf, issuer *x509.Certificate) time.Duration {
	s.mu.Lock()
	st := s.byLeaf[key]
	s.mu.Unlock()
	if st == nil || !time.Now().Before(st.refresh) {
		fresh, err := s.fetch(leaf, issuer)
		if err != nil {
			s.log.Warn("OCSP staple not refreshed", "subject", leaf.Subject.CommonName, "error", err)
			if st == nil {
				return min(s.interval, time.Minute)
			}
		} else {
			st = fresh
			s.mu.Lock()
			s.byLeaf[key] = st
			s.mu.Unlock()
		}
	}
	f.setStaple(st.raw)
	return max(time.Until(st.refresh), time.Second)
}

// fetch asks the certificate's responder for its status.
func (s *stapler) fetch(leaf, issuer *x509.Certificate) (*ocspStaple, error) {
	req, err := ocsp.CreateRequest(leaf, issuer, nil)
	if err != nil {
		return nil, fmt.Errorf("build OCSP request: %w", err)
	}
	hr, err := http.NewRequestWithContext(s.ctx, http.MethodPost, leaf.OCSPServer[0], bytes.NewReader(req))
	if err != nil {
		return nil, fmt.Errorf("OCSP responder %s: %w", leaf.OCSPServer[0], err)
	}
	hr.Header.Set("Content-Type", "application/ocsp-request")
	res, err := s.client.Do(hr)
	if err != nil {
		return nil, fmt.Errorf("OCSP responder: %w", err)
	}
	defer res.Body.Close()
	if res.StatusCode != http.StatusOK {
		return nil, fmt.Errorf("OCSP responder %s answered %s", leaf.OCSPServer[0], res.Status)
	}
	raw, err := io.ReadAll(io.LimitReader(res.Body, maxOCSPResponse))
	if err != nil {
		return nil, fmt.Errorf("read OCSP response: %w", err)
	}
	resp, err := ocsp.ParseResponseForCert(raw, leaf, issuer)
	if err != nil {
		return nil, fmt.Errorf("parse OCSP response: %w", err)
	}
	if resp.Status != ocsp.Good {
		return nil, fmt.Errorf("OCSP status is %s, not good", statusName(resp.Status))
	}
	// Refresh halfway to the response's expiry, and at least every
	// interval.
	next := time.Now().Add(s.interval)
	if !resp.NextUpdate.IsZero() {
		if half := resp.ThisUpdate.Add(resp.NextUpdate.Sub(resp.ThisUpdate) / 2); half.Before(next) {
			next = half
		}
	}
	return &ocspStaple{raw: raw, refresh: next}, nil
}

func statusName(s int) string {
	switch s {
	case ocsp.Revoked:
		return "revoked"
	case ocsp.Unknown:
		return "unknown"
	}
	return fmt.Sprint(s)
}

// setStaple swaps in a copy of f's certificate carrying raw.
func (f *File) setStaple(raw []byte) {
	old := f.cert.Load()
	if bytes.Equal(old.OCSPStaple, raw) {
		return
	}
	c := *old
	c.OCSPStaple = raw
	f.cert.Store(&c)
}
