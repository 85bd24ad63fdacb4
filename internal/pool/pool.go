// Package pool spreads requests over an upstream pool's servers and keeps
// track of their health: balancing policies (smooth weighted round robin,
// least connections, power of two choices, consistent hashing on the client
// address or a request key, first available), sticky sessions by cookie,
// backup servers, per-server connection limits, active health checks,
// passive failure tracking, slow start, a retry budget and periodic DNS
// re-resolution. The proxy asks a Pool for a server per attempt and reports
// how the attempt went.
package pool

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"math/rand/v2"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/upstream"
)

// ErrNoServer is returned by Pick when no server can take the request:
// all are down, full, or already tried.
var ErrNoServer = errors.New("no upstream server available")

// Pool is a set of upstream servers with a balancing policy.
type Pool struct {
	name    string
	cfg     config.Upstream
	servers []*Server
	primary []*Server
	backup  []*Server
	ring    *ring // hash policies
	log     *slog.Logger

	hashKind, hashName string

	mu sync.Mutex // smooth round robin state
	rr atomic.Uint64

	budget retryBudget

	onAddrChange []func(addr upstream.Addr)
	cancel       context.CancelFunc
	checker      Checker // sends the active health checks, after Start
	done         sync.WaitGroup
}

// New builds the pool name from cfg (defaults already applied).
func New(name string, cfg config.Upstream, log *slog.Logger) (*Pool, error) {
	p := &Pool{name: name, cfg: cfg, log: log.With("pool", name)}
	for i, e := range cfg.Servers {
		u := e.Target
		if u.Scheme == "" {
			return nil, fmt.Errorf("upstream pool %s: server %q was not validated", name, e.URL)
		}
		s := &Server{URL: u, Addr: upstream.Addr{Network: u.Network, Address: u.Address},
			Endpoint: upstream.Addr{Network: u.Network, Address: u.Address}.String(), Weight: max(e.Weight, 1), Backup: e.Backup, MaxConns: e.MaxConns,
			index: i, id: strconv.FormatUint(hashString(u.String())&0xffffffffffff, 36)}
		p.servers = append(p.servers, s)
		if s.Backup {
			p.backup = append(p.backup, s)
		} else {
			p.primary = append(p.primary, s)
		}
	}
	if len(p.primary) == 0 {
		return nil, fmt.Errorf("upstream pool %s: no servers", name)
	}
	switch cfg.Balance {
	case "hash":
		kind, hname, err := config.ParseHashKey(cfg.HashKey)
		if err != nil {
			return nil, err
		}
		p.hashKind, p.hashName = kind, hname
		p.ring = newRing(p.primary)
	case "ip_hash":
		p.ring = newRing(p.primary)
	}
	p.budget = retryBudget{ratio: cfg.Retries.Budget, tokens: minRetryTokens, last: time.Now()}
	return p, nil
}

// Name is the pool's name.
func (p *Pool) Name() string { return p.name }

// Servers are the pool's servers in config order.
func (p *Pool) Servers() []*Server { return p.servers }

// Retries are the pool's retry settings.
func (p *Pool) Retries() config.Retries { return p.cfg.Retries }

// Pick chooses the server for one attempt of r, from clientIP, skipping the
// servers in tried. It returns ErrNoServer when none can take it.
func (p *Pool) Pick(r *http.Request, clientIP string, tried []*Server) (*Server, error) {
	now := time.Now()
	var buf [16]*Server
	cands := p.appendCandidates(buf[:0], p.primary, now, tried)
	if len(cands) == 0 {
		cands = p.appendCandidates(cands, p.backup, now, tried)
	}
	switch len(cands) {
	case 0:
		return nil, ErrNoServer
	case 1:
		return cands[0], nil
	}
	if st := p.cfg.Sticky; st != nil {
		if c, err := r.Cookie(st.Cookie); err == nil {
			for _, s := range cands {
				if s.id == c.Value {
					return s, nil
				}
			}
		}
	}
	switch p.cfg.Balance {
	case "least_conn":
		return p.leastConn(cands, now), nil
	case "random_two":
		return p.randomTwo(cands, now), nil
	case "first":
		return cands[0], nil
	case "ip_hash":
		return p.hashed(clientIP, cands, now), nil
	case "hash":
		return p.hashed(p.hashKey(r), cands, now), nil
	}
	return p.roundRobin(cands, now), nil
}

// HasUntried reports whether a server not in tried could take a request
// now.
func (p *Pool) HasUntried(tried []*Server) bool {
	now := time.Now()
	var buf [16]*Server
	return len(p.appendCandidates(buf[:0], p.primary, now, tried)) > 0 ||
		len(p.appendCandidates(buf[:0], p.backup, now, tried)) > 0
}

// appendCandidates appends to out the servers of set that can take a
// request and were not tried yet. A pool of one server always offers it
// (unless it is full or actively checked down): failures alone cannot take
// the only server out, as in nginx.
func (p *Pool) appendCandidates(out, set []*Server, now time.Time, tried []*Server) []*Server {
	for _, s := range set {
		if isTried(s, tried) {
			continue
		}
		if s.available(now) || (len(p.servers) == 1 && p.singleUsable(s)) {
			out = append(out, s)
		}
	}
	return out
}

// singleUsable reports whether the only server of a pool may be used
// though passive checks marked it down.
func (p *Pool) singleUsable(s *Server) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.activeDown && (s.MaxConns == 0 || s.inflight.Load() < int64(s.MaxConns))
}

func isTried(s *Server, tried []*Server) bool {
	for _, t := range tried {
		if t == s {
			return true
		}
	}
	return false
}

// roundRobin is nginx's smooth weighted round robin: every pick adds each
// candidate's weight to its current value, takes the largest, and
// subtracts the total from it.
func (p *Pool) roundRobin(cands []*Server, now time.Time) *Server {
	slowStart := p.cfg.SlowStart.Std()
	p.mu.Lock()
	defer p.mu.Unlock()
	total, best := 0, 0
	for i, s := range cands {
		w := s.effectiveWeight(now, slowStart)
		s.current += w
		total += w
		if s.current > cands[best].current {
			best = i
		}
	}
	cands[best].current -= total
	return cands[best]
}

// leastConn picks the candidate with the fewest requests in flight for
// its weight; ties go round the candidates.
func (p *Pool) leastConn(cands []*Server, now time.Time) *Server {
	start := int(p.rr.Add(1) % uint64(len(cands)))
	best := cands[start]
	bw := best.effectiveWeight(now, p.cfg.SlowStart.Std())
	for i := 1; i < len(cands); i++ {
		s := cands[(start+i)%len(cands)]
		w := s.effectiveWeight(now, p.cfg.SlowStart.Std())
		if s.InFlight()*int64(bw) < best.InFlight()*int64(w) {
			best, bw = s, w
		}
	}
	return best
}

// randomTwo draws two candidates and keeps the less loaded one.
func (p *Pool) randomTwo(cands []*Server, now time.Time) *Server {
	i := rand.IntN(len(cands))
	j := rand.IntN(len(cands) - 1)
	if j >= i {
		j++
	}
	a, b := cands[i], cands[j]
	wa, wb := a.effectiveWeight(now, p.cfg.SlowStart.Std()), b.effectiveWeight(now, p.cfg.SlowStart.Std())
	if b.InFlight()*int64(wa) < a.InFlight()*int64(wb) {
		return b
	}
	return a
}

// hashed maps key onto the ring, skipping servers that cannot take the
// request; an empty key falls back to round robin.
func (p *Pool) hashed(key string, cands []*Server, now time.Time) *Server {
	if key == "" || p.ring == nil {
		return p.roundRobin(cands, now)
	}
	ok := func(idx int) bool {
		for _, s := range cands {
			if s.index == idx {
				return true
			}
		}
		return false
	}
	if idx := p.ring.lookup(key, ok); idx >= 0 {
		return p.servers[idx]
	}
	return p.roundRobin(cands, now)
}

// hashKey extracts the hash policy's key from r.
func (p *Pool) hashKey(r *http.Request) string {
	switch p.hashKind {
	case "uri":
		return r.URL.RequestURI()
	case "header":
		return r.Header.Get(p.hashName)
	case "cookie":
		if c, err := r.Cookie(p.hashName); err == nil {
			return c.Value
		}
	}
	return ""
}

// StickyCookie returns the Set-Cookie value that pins a client to s, or
// "" when the pool is not sticky or the request already carries it.
func (p *Pool) StickyCookie(r *http.Request, s *Server) string {
	st := p.cfg.Sticky
	if st == nil {
		return ""
	}
	if c, err := r.Cookie(st.Cookie); err == nil && c.Value == s.id {
		return ""
	}
	c := &http.Cookie{Name: st.Cookie, Value: s.id, Path: "/", HttpOnly: true, SameSite: http.SameSiteLaxMode,
		Secure: r.TLS != nil}
	if st.MaxAge > 0 {
		c.MaxAge = int(st.MaxAge.Std() / time.Second)
	}
	return c.String()
}

// Failed records a failed attempt on s (connection failure, timeout, or a
// status counted as failure). Enough failures within the passive window
// take s out of rotation for a while.
func (p *Pool) Failed(s *Server, err error) {
	s.failures.Add(1)
	pc := p.cfg.Health.Passive
	now := time.Now()
	s.mu.Lock()
	defer s.mu.Unlock()
	s.lastError = err.Error()
	if pc == nil || pc.Off || len(p.servers) == 1 || now.Before(s.downUntil) {
		return
	}
	window := now.Add(-pc.Window.Std())
	kept := s.failTimes[:0]
	for _, t := range s.failTimes {
		if t.After(window) {
			kept = append(kept, t)
		}
	}
	s.failTimes = append(kept, now)
	if len(s.failTimes) >= pc.Fails {
		s.failTimes = s.failTimes[:0]
		s.downUntil = now.Add(pc.DownFor.Std())
		s.upSince = s.downUntil
		p.log.Warn("upstream server marked down after failures", "server", s.URL.String(),
			"for", pc.DownFor.Std().String(), "error", err)
	}
}

// CountsAsFailure reports whether an upstream status counts as a passive
// health failure.
func (p *Pool) CountsAsFailure(status int) bool {
	if pc := p.cfg.Health.Passive; pc != nil && !pc.Off {
		for _, st := range pc.Statuses {
			if st == status {
				return true
			}
		}
	}
	return false
}

// OnAddressChange registers f to be called with a server's address when
// its host name resolves to different addresses than before.
func (p *Pool) OnAddressChange(f func(addr upstream.Addr)) {
	p.onAddrChange = append(p.onAddrChange, f)
}

// Start runs the pool's active health checks (sent by checker) and DNS
// re-resolution until Close.
func (p *Pool) Start(checker Checker) {
	ctx, cancel := context.WithCancel(context.Background())
	p.cancel, p.checker = cancel, checker
	if a := p.cfg.Health.Active; a != nil {
		for _, s := range p.servers {
			p.done.Add(1)
			go func() {
				defer p.done.Done()
				p.check(ctx, checker, s, a)
			}()
		}
	}
	for _, s := range p.servers {
		if host := s.URL.Host(); host != "" && net.ParseIP(host) == nil {
			p.done.Add(1)
			go func() {
				defer p.done.Done()
				p.resolve(ctx, s, host)
			}()
		}
	}
}

// Close stops health checks and re-resolution, and closes the health
// checks' idle connections (a retired pool's would otherwise stay open
// for their keep-alive time, one per server for every reload).
func (p *Pool) Close() error {
	if p.cancel != nil {
		p.cancel()
		p.done.Wait()
	}
	if p.checker != nil {
		p.checker.CloseIdleConnections()
	}
	return nil
}
