// Package metrics counts what Gatehouse serves, for Prometheus (GET
// /metrics) and the dashboard (GET /stats). The counters of a route, an
// upstream server or a listener are made once, when a config is built,
// and live as long as the process, so that a reload keeps counting where
// the previous config left off; the request path only adds to atomics
// (no label lookups, no maps, no locks). Gauges of the running config
// (servers up, requests in flight, open connections, spool in use) are
// read when they are scraped.
package metrics

import (
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// DurationBuckets are the upper bounds, in seconds, of the request and
// upstream duration histograms: 0.5 ms to 30 s.
var DurationBuckets = [...]float64{0.0005, 0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30}

// Histogram counts durations into DurationBuckets without locks.
type Histogram struct {
	counts   [len(DurationBuckets) + 1]atomic.Uint64 // the last is +Inf
	sumNanos atomic.Int64
}

// Observe adds one duration.
func (h *Histogram) Observe(d time.Duration) {
	s := d.Seconds()
	i := 0
	for i < len(DurationBuckets) && s > DurationBuckets[i] {
		i++
	}
	h.counts[i].Add(1)
	h.sumNanos.Add(int64(d))
}

// Snapshot returns the count, the sum in seconds, and the cumulative count
// of each bucket of DurationBuckets.
func (h *Histogram) Snapshot() (count uint64, sum float64, cumulative [len(DurationBuckets)]uint64) {
	for i := range DurationBuckets {
		count += h.counts[i].Load()
		cumulative[i] = count
	}
	count += h.counts[len(DurationBuckets)].Load()
	return count, time.Duration(h.sumNanos.Load()).Seconds(), cumulative
}

// Codes counts responses by status code (100 to 599).
type Codes struct {
	n [500]atomic.Uint64
}

// Add counts one response with status code; codes out of range are not
// counted.
func (c *Codes) Add(code int) {
	if code >= 100 && code < 600 {
		c.n[code-100].Add(1)
	}
}

// Each calls f for every code counted at least once, in order.
func (c *Codes) Each(f func(code int, n uint64)) {
	for i := range c.n {
		if n := c.n[i].Load(); n > 0 {
			f(i+100, n)
		}
	}
}

// Route is the counters of one route of one site. A nil *Route counts
// nothing (metrics off).
type Route struct {
	Site, Path string
	codes      Codes
	duration   Histogram
	bytes      atomic.Uint64
}

// Observe counts one response of the route.
func (r *Route) Observe(status int, d time.Duration, bytes int64) {
	if r == nil {
		return
	}
	r.codes.Add(status)
	r.duration.Observe(d)
	if bytes > 0 {
		r.bytes.Add(uint64(bytes))
	}
}

// Server is the counters of one upstream server of one pool. A nil
// *Server counts nothing.
type Server struct {
	Pool, Server string
	codes        Codes
	errors       atomic.Uint64 // attempts that got no response
	response     Histogram
}

// Observe counts one attempt sent to the server: the status of its
// response (0 when it got none) and the time to its response head.
func (s *Server) Observe(status int, d time.Duration) {
	if s == nil {
		return
	}
	if status == 0 {
		s.errors.Add(1)
	} else {
		s.codes.Add(status)
	}
	s.response.Observe(d)
}

// Listener is the counters of one listen address. A nil *Listener counts
// nothing.
type Listener struct {
	Addr               string
	handshakesOK       atomic.Uint64
	handshakesRejected atomic.Uint64
}

// Handshake counts one TLS handshake that succeeded (ok) or failed.
func (l *Listener) Handshake(ok bool) {
	if l == nil {
		return
	}
	if ok {
		l.handshakesOK.Add(1)
	} else {
		l.handshakesRejected.Add(1)
	}
}

// ServerState is the state of one upstream server of the running config.
type ServerState struct {
	Pool, Server string
	// State is up, down (health check), down (failures) or full.
	State string
	// Up tells whether health checks let it take requests.
	Up bool
	// InFlight are the requests being sent to it or answered by it;
	// Failures the failures its pool counted since the config began.
	InFlight, Failures int64
}

// ListenerState is the state of one listener.
type ListenerState struct {
	Addr, Scheme string
	// Open are the client connections being served.
	Open int
}

// Gauges reports the state of the running config when metrics are read.
type Gauges interface {
	// UpstreamServers calls f for every server of every pool.
	UpstreamServers(f func(ServerState))
	// Listeners calls f for every listener.
	Listeners(f func(ListenerState))
	// SpoolBytes is what the buffer spool holds now.
	SpoolBytes() int64
	// Routes calls f for every route counter the running config uses.
	Routes(f func(*Route))
	// Cache reports the HTTP cache, nil when none is in use.
	Cache() *CacheStats
	// WAFStats reports the WAF, nil when no route has had it on.
	WAFStats() *WAFStats
	// DefenceStats reports the traffic defences' refusals and bans.
	DefenceStats() *DefenceStats
}

// Registry holds every counter of the process. A nil *Registry hands out
// nil counters (metrics off).
type Registry struct {
	started time.Time

	mu        sync.Mutex
	routes    map[[2]string]*Route
	servers   map[[2]string]*Server
	listeners map[string]*Listener
	gauges    Gauges

	reloadsOK, reloadsFailed atomic.Uint64
	lastReloadOK             atomic.Int64 // unix nanoseconds
	lastReloadError          atomic.Pointer[string]
	accessLogDropped         atomic.Uint64
}

// New returns an empty registry.
func New() *Registry {
	return &Registry{started: time.Now(), routes: map[[2]string]*Route{}, servers: map[[2]string]*Server{},
		listeners: map[string]*Listener{}}
}

// Route returns the counters of a site's route (path as written in the
// config; "" for the responses no route gave), made on first use.
func (r *Registry) Route(site, path string) *Route {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]string{site, path}
	rt := r.routes[k]
	if rt == nil {
		rt = &Route{Site: site, Path: path}
		r.routes[k] = rt
	}
	return rt
}

// Server returns the counters of a pool's server, made on first use.
func (r *Registry) Server(pool, server string) *Server {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	k := [2]string{pool, server}
	s := r.servers[k]
	if s == nil {
		s = &Server{Pool: pool, Server: server}
		r.servers[k] = s
	}
	return s
}

// Listener returns the counters of a listen address, made on first use.
func (r *Registry) Listener(addr string) *Listener {
	if r == nil {
		return nil
	}
	r.mu.Lock()
	defer r.mu.Unlock()
	l := r.listeners[addr]
	if l == nil {
		l = &Listener{Addr: addr}
		r.listeners[addr] = l
	}
	return l
}

// SetGauges sets what reports the running config's state.
func (r *Registry) SetGauges(g Gauges) {
	if r == nil {
		return
	}
	r.mu.Lock()
	r.gauges = g
	r.mu.Unlock()
}

// Reloaded counts a config load (at start, or a reload): err is nil when
// it took effect.
func (r *Registry) Reloaded(err error) {
	if r == nil {
		return
	}
	if err != nil {
		r.reloadsFailed.Add(1)
		msg := err.Error()
		r.lastReloadError.Store(&msg)
		return
	}
	r.reloadsOK.Add(1)
	r.lastReloadOK.Store(time.Now().UnixNano())
	r.lastReloadError.Store(nil)
}

// AccessLogDropped counts access log records dropped (a syslog server that
// cannot keep up).
func (r *Registry) AccessLogDropped() {
	if r != nil {
		r.accessLogDropped.Add(1)
	}
}

// sortedRoutes returns the routes in site, path order.
func (r *Registry) sortedRoutes() []*Route {
	return sorted(r, r.routes, func(a, b *Route) bool {
		return a.Site < b.Site || a.Site == b.Site && a.Path < b.Path
	})
}

// sortedServers returns the upstream servers in pool, server order.
func (r *Registry) sortedServers() []*Server {
	return sorted(r, r.servers, func(a, b *Server) bool {
		return a.Pool < b.Pool || a.Pool == b.Pool && a.Server < b.Server
	})
}

// sortedListeners returns the listeners in address order.
func (r *Registry) sortedListeners() []*Listener {
	return sorted(r, r.listeners, func(a, b *Listener) bool { return a.Addr < b.Addr })
}

// sorted returns the values of one of r's maps, read under its lock, in
// the order of less.
func sorted[K comparable, V any](r *Registry, m map[K]*V, less func(a, b *V) bool) []*V {
	r.mu.Lock()
	out := make([]*V, 0, len(m))
	for _, v := range m {
		out = append(out, v)
	}
	r.mu.Unlock()
	sort.Slice(out, func(i, j int) bool { return less(out[i], out[j]) })
	return out
}

func (r *Registry) currentGauges() Gauges {
	r.mu.Lock()
	defer r.mu.Unlock()
	return r.gauges
}
