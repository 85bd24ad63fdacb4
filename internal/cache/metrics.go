package cache

import (
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/prometheus/client_golang/prometheus"
)

var (
	descRequests = prometheus.NewDesc(metrics.Prefix+"cache_requests_total",
		"Requests the cache handled, by outcome: hit (fresh from the store), stale (served stale), revalidated (a 304 confirmed the stored copy), collapsed (waited for another request's answer), miss (went to the origin), bypass.",
		[]string{"outcome"}, nil)
	descServed = prometheus.NewDesc(metrics.Prefix+"cache_served_bytes_total",
		"Body bytes answered from the store.", nil, nil)
	descStores = prometheus.NewDesc(metrics.Prefix+"cache_stores_total",
		"Responses stored.", nil, nil)
	descEvictions = prometheus.NewDesc(metrics.Prefix+"cache_evictions_total",
		"Stored responses evicted to stay within a tier's size.", nil, nil)
	descObjects = prometheus.NewDesc(metrics.Prefix+"cache_objects",
		"Responses stored now (each variant counts).", nil, nil)
	descBytes = prometheus.NewDesc(metrics.Prefix+"cache_bytes",
		"Bytes the cache holds now, by tier (memory, disk).", []string{"tier"}, nil)
	descShared = prometheus.NewDesc(metrics.Prefix+"cache_shared_total",
		"The fleet's shared tier: responses found there that the local tiers did not have (hit), and copies sent there (store).",
		[]string{"event"}, nil)
)

// Snapshot reports the store's counters and contents for the
// dashboard's /stats.
func (s *Store) Snapshot() *metrics.CacheStats {
	st := &s.Stats
	out := &metrics.CacheStats{
		Requests: map[string]uint64{"hit": st.Hits.Load(), "stale": st.Stale.Load(), "revalidated": st.Revalidated.Load(),
			"collapsed": st.Collapsed.Load(), "miss": st.Misses.Load(), "bypass": st.Bypassed.Load()},
		ServedBytes: st.BytesServed.Load(), Objects: s.Objects(), MemoryBytes: s.MemoryBytes(),
	}
	if s.disk != nil {
		out.DiskBytes = s.disk.bytes()
	}
	return out
}

// outcomes are the values of the outcome label, in the order reported.
var outcomes = [...]string{"hit", "stale", "revalidated", "collapsed", "miss", "bypass"}

// Collector reports a Store's metrics to Prometheus. Its store may come
// later than the collector (the first config that caches makes it).
type Collector struct {
	store func() *Store
}

// NewCollector returns a collector of the store store returns (nil: none
// yet, nothing reported).
func NewCollector(store func() *Store) *Collector { return &Collector{store: store} }

// Describe sends the descriptions of the cache's metrics.
func (c *Collector) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descServed, descStores, descEvictions, descObjects, descBytes, descShared} {
		ch <- d
	}
}

// Collect sends the cache's metrics as they are now.
func (c *Collector) Collect(ch chan<- prometheus.Metric) {
	s := c.store()
	if s == nil {
		return
	}
	snap := s.Snapshot()
	for _, outcome := range outcomes {
		ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(snap.Requests[outcome]), outcome)
	}
	ch <- prometheus.MustNewConstMetric(descServed, prometheus.CounterValue, float64(snap.ServedBytes))
	ch <- prometheus.MustNewConstMetric(descStores, prometheus.CounterValue, float64(s.Stats.Stores.Load()))
	ch <- prometheus.MustNewConstMetric(descEvictions, prometheus.CounterValue, float64(s.Stats.Evictions.Load()))
	ch <- prometheus.MustNewConstMetric(descObjects, prometheus.GaugeValue, float64(snap.Objects))
	ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(snap.MemoryBytes), "memory")
	if s.disk != nil {
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.GaugeValue, float64(snap.DiskBytes), "disk")
	}
	if s.shared.Tier != nil {
		ch <- prometheus.MustNewConstMetric(descShared, prometheus.CounterValue, float64(s.Stats.SharedHits.Load()), "hit")
		ch <- prometheus.MustNewConstMetric(descShared, prometheus.CounterValue, float64(s.Stats.SharedStores.Load()), "store")
	}
}
