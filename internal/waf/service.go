package waf

import (
	"log/slog"
	"sync"
	"sync/atomic"

	"github.com/prometheus/client_golang/prometheus"

	"github.com/gatehouse/gatehouse/internal/metrics"
)

// Service is the WAF's process-wide state, which outlives reloads: the
// compiled rule sets, the virtual patches, the audit log and the
// counters.
type Service struct {
	// Library keeps the compiled rule sets.
	Library *Library
	// Patches are the virtual patches.
	Patches *Patches

	log   *slog.Logger
	mu    sync.Mutex
	audit *AuditLog
	sites map[string]*Counters
}

// NewService returns the WAF's state, its patches loaded from
// patchesFile ("" to keep them in memory only).
func NewService(patchesFile string, log *slog.Logger) (*Service, error) {
	ps, err := NewPatches(patchesFile, log)
	if err != nil {
		return nil, err
	}
	return &Service{Library: NewLibrary(log), Patches: ps, log: log, sites: map[string]*Counters{}}, nil
}

// AuditLog returns the audit log at path, opening it when the path is
// new (and closing the one before); nil for "".
func (s *Service) AuditLog(path string) (*AuditLog, error) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.audit != nil && s.audit.Path() == path {
		return s.audit, nil
	}
	var a *AuditLog
	if path != "" {
		var err error
		if a, err = OpenAuditLog(path); err != nil {
			return nil, err
		}
	}
	// Requests in flight may still write to the old file: it is left to
	// the garbage collector rather than closed under them.
	s.audit = a
	return a, nil
}

// ReopenLogs reopens the audit log after rotation.
func (s *Service) ReopenLogs() error {
	s.mu.Lock()
	a := s.audit
	s.mu.Unlock()
	if a == nil {
		return nil
	}
	return a.Reopen()
}

// Counters counts one site's WAF verdicts.
type Counters struct {
	pass, block, detect, failed atomic.Uint64
}

func (c *Counters) count(action string) {
	if c == nil {
		return
	}
	switch action {
	case "block":
		c.block.Add(1)
	case "detect":
		c.detect.Add(1)
	case "error":
		c.failed.Add(1)
	default:
		c.pass.Add(1)
	}
}

// Counters returns the counters of site, made on first use.
func (s *Service) Counters(site string) *Counters {
	s.mu.Lock()
	defer s.mu.Unlock()
	c := s.sites[site]
	if c == nil {
		c = &Counters{}
		s.sites[site] = c
	}
	return c
}

// Snapshot reports the counters, summed over sites, for the dashboard's
// /stats; nil when no route has had the WAF on.
func (s *Service) Snapshot() *metrics.WAFStats {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.sites) == 0 {
		return nil
	}
	st := &metrics.WAFStats{Requests: map[string]uint64{}, Patches: len(s.Patches.List())}
	for _, c := range s.sites {
		st.Requests["pass"] += c.pass.Load()
		st.Requests["block"] += c.block.Load()
		st.Requests["detect"] += c.detect.Load()
		st.Requests["error"] += c.failed.Load()
	}
	return st
}

var (
	descRequests = prometheus.NewDesc(metrics.Prefix+"waf_requests_total",
		"Requests the WAF inspected, by site and action: pass, block, detect (would have been blocked, let through in detect mode), error (the WAF failed; the request was refused).",
		[]string{"site", "action"}, nil)
	descPatchHits = prometheus.NewDesc(metrics.Prefix+"waf_patch_hits_total",
		"Requests a virtual patch's rules matched, by patch id.", []string{"patch"}, nil)
)

// Describe sends the descriptions of the WAF's metrics.
func (s *Service) Describe(ch chan<- *prometheus.Desc) { DescribeMetrics(ch) }

// DescribeMetrics sends the descriptions of the WAF's metrics.
func DescribeMetrics(ch chan<- *prometheus.Desc) {
	ch <- descRequests
	ch <- descPatchHits
}

// Collect sends the WAF's metrics as they are now.
func (s *Service) Collect(ch chan<- prometheus.Metric) {
	s.mu.Lock()
	for site, c := range s.sites {
		for _, a := range []struct {
			name string
			n    *atomic.Uint64
		}{{"pass", &c.pass}, {"block", &c.block}, {"detect", &c.detect}, {"error", &c.failed}} {
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(a.n.Load()), site, a.name)
		}
	}
	s.mu.Unlock()
	for _, p := range s.Patches.List() {
		ch <- prometheus.MustNewConstMetric(descPatchHits, prometheus.CounterValue, float64(p.Hits), p.ID)
	}
}
