package ratelimit

import (
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/fleet"
	"github.com/gatehouse/gatehouse/internal/metrics"
)

// Registry keeps the limits' stores for the life of the process, so that
// a reload that keeps a limit keeps its counts, and counts the refusals of
// every traffic defence.
type Registry struct {
	mu      sync.Mutex
	stores  map[string]countedStore
	refused map[refusal]*atomic.Uint64
	// evicted counts the evictions of stores since dropped.
	evicted uint64
}

// NewRegistry returns an empty registry.
func NewRegistry() *Registry {
	return &Registry{stores: map[string]countedStore{}, refused: map[refusal]*atomic.Uint64{}}
}

// countedStore is a store whose keys are counted in the metrics.
type countedStore interface {
	Store
	Keys() int
	Evictions() uint64
}

// Store returns the memory store named id, made on first use.
func (g *Registry) Store(id string) Store {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stores[id]
	if s == nil {
		s = NewMemoryStore(DefaultMaxKeys, nil)
		g.stores[id] = s
	}
	return s
}

// Shared returns the store named id shared through f, made on first
// use.
func (g *Registry) Shared(id string, f *fleet.Fleet) Store {
	g.mu.Lock()
	defer g.mu.Unlock()
	s := g.stores[id]
	if s == nil {
		s = NewSharedStore(f, id)
		g.stores[id] = s
	}
	return s
}

// Keep drops the stores whose ids are not in keep.
func (g *Registry) Keep(keep map[string]bool) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for id := range g.stores {
		if s := g.stores[id]; !keep[id] {
			g.evicted += s.Evictions()
			delete(g.stores, id)
		}
	}
}

// Refused returns the function that counts a site's refusals for reason
// (rate, deny, ...): the traffic defences count theirs here.
func (g *Registry) Refused(site, reason string) func() {
	g.mu.Lock()
	defer g.mu.Unlock()
	k := refusal{site, reason}
	c := g.refused[k]
	if c == nil {
		c = new(atomic.Uint64)
		g.refused[k] = c
	}
	return func() { c.Add(1) }
}

// RefusedByReason sums the refusals over sites, by reason.
func (g *Registry) RefusedByReason() map[string]uint64 {
	g.mu.Lock()
	defer g.mu.Unlock()
	out := map[string]uint64{}
	for k, c := range g.refused {
		out[k.reason] += c.Load()
	}
	return out
}

// refusal names a refusals counter.
type refusal struct{ site, reason string }

var (
	descRefused = prometheus.NewDesc(metrics.Prefix+"refused_total",
		"Requests and connections the traffic defences refused, by site and reason: rate (429, a rate limit), deny (403, an access list), conn (a connection over conn_limit), ban (a banned client), proxy (an untrusted peer or a bad PROXY header on a PROXY listener).",
		[]string{"site", "reason"}, nil)
	descKeys = prometheus.NewDesc(metrics.Prefix+"ratelimit_keys",
		"Keys the rate limits hold now.", nil, nil)
	descEvictions = prometheus.NewDesc(metrics.Prefix+"ratelimit_evictions_total",
		"Keys dropped before their time to keep within the bound (a flood of distinct keys).", nil, nil)
)

// Describe sends the descriptions of the rate limits' metrics.
func (g *Registry) Describe(ch chan<- *prometheus.Desc) {
	ch <- descRefused
	ch <- descKeys
	ch <- descEvictions
}

// Collect sends the rate limits' metrics.
func (g *Registry) Collect(ch chan<- prometheus.Metric) {
	g.mu.Lock()
	defer g.mu.Unlock()
	for k, c := range g.refused {
		ch <- prometheus.MustNewConstMetric(descRefused, prometheus.CounterValue, float64(c.Load()), k.site, k.reason)
	}
	keys, evicted := 0, g.evicted
	for _, s := range g.stores {
		keys += s.Keys()
		evicted += s.Evictions()
	}
	ch <- prometheus.MustNewConstMetric(descKeys, prometheus.GaugeValue, float64(keys))
	ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(evicted))
}
