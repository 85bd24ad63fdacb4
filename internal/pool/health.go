package pool

import (
	"context"
	"fmt"
	"net"
	"slices"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// Checker sends one active health check to a server, in the protocol the
// server speaks, and returns the status of its answer (gRPC servers are
// asked with the gRPC health checking protocol: 200 when serving).
type Checker interface {
	Check(ctx context.Context, s *Server, path, host string) (status int, err error)
	// CloseIdleConnections closes the connections kept between checks;
	// called when the pool stops.
	CloseIdleConnections()
}

// check runs active health checks on s until ctx ends: a GET of the check
// path every interval; passes or fails in a row switch the server's state.
func (p *Pool) check(ctx context.Context, checker Checker, s *Server, a *config.ActiveHealth) {
	t := time.NewTicker(a.Interval.Std())
	defer t.Stop()
	for {
		err := p.probe(ctx, checker, s, a)
		if ctx.Err() != nil {
			return
		}
		p.record(s, a, err)
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}

// probe sends one health check request to s.
func (p *Pool) probe(ctx context.Context, checker Checker, s *Server, a *config.ActiveHealth) error {
	ctx, cancel := context.WithTimeout(ctx, a.Timeout.Std())
	defer cancel()
	status, err := checker.Check(ctx, s, a.Path, a.Host)
	if err != nil {
		return err
	}
	ok := status >= 200 && status < 400
	if len(a.Status) > 0 {
		ok = slices.Contains(a.Status, status)
	}
	if !ok {
		return fmt.Errorf("health check %s answered %d", a.Path, status)
	}
	return nil
}

// record applies one check result to s.
func (p *Pool) record(s *Server, a *config.ActiveHealth, err error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if err != nil {
		s.passes = 0
		s.fails++
		s.lastError = err.Error()
		if !s.activeDown && s.fails >= a.Fails {
			s.activeDown = true
			p.log.Warn("upstream server down: health checks fail", "server", s.URL.String(), "error", err)
		}
		return
	}
	s.fails = 0
	s.passes++
	if s.passes >= a.Passes && (s.activeDown || time.Now().Before(s.downUntil)) {
		// Passing checks are the better judge: they also end a passive
		// mark, so a restarted server is back within an interval.
		s.activeDown = false
		s.downUntil = time.Time{}
		s.upSince = time.Now()
		p.log.Info("upstream server up again: health checks pass", "server", s.URL.String())
	}
}

// resolve looks host up every resolve interval and tells the registered
// clients when its addresses change, so they stop reusing connections to
// the old ones.
func (p *Pool) resolve(ctx context.Context, s *Server, host string) {
	var last []string
	t := time.NewTicker(p.cfg.ResolveInterval.Std())
	defer t.Stop()
	for {
		addrs, err := net.DefaultResolver.LookupHost(ctx, host)
		if ctx.Err() != nil {
			return
		}
		if err == nil {
			slices.Sort(addrs)
			if last != nil && !slices.Equal(addrs, last) {
				p.log.Info("upstream server's address changed", "server", s.URL.String(), "addrs", addrs)
				for _, f := range p.onAddrChange {
					f(s.Addr)
				}
			}
			last = addrs
		}
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
	}
}
