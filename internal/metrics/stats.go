package metrics

import (
	"time"
)

// Stats is what GET /stats answers, for the dashboard: counters since the
// process started, which the dashboard turns into rates and latency
// quantiles between two of its polls, and the state of the running
// config.
type Stats struct {
	Now     time.Time `json:"now"`
	Started time.Time `json:"started"`
	// Buckets are the latency histograms' upper bounds, in seconds.
	Buckets    []float64       `json:"buckets"`
	Config     ConfigStats     `json:"config"`
	Sites      []SiteStats     `json:"sites"`
	Pools      []PoolStats     `json:"pools"`
	Listeners  []ListenerStats `json:"listeners"`
	SpoolBytes int64           `json:"spool_bytes"`
	// Cache is the HTTP cache's state, absent when no route caches.
	Cache *CacheStats `json:"cache,omitempty"`
	// WAF is the WAF's counters, absent when no route has had it on.
	WAF *WAFStats `json:"waf,omitempty"`
	// Defence is the traffic defences' refusals and bans.
	Defence *DefenceStats `json:"defence,omitempty"`
}

// DefenceStats is what the traffic defences refused since the start,
// summed over sites, and the bans in force.
type DefenceStats struct {
	// Refused counts refusals by reason: rate, conn, deny, ban, proxy,
	// auth.
	Refused map[string]uint64 `json:"refused"`
	// ActiveBans counts the addresses banned now.
	ActiveBans int `json:"active_bans"`
}

// WAFStats is the WAF's counters since the start, summed over sites.
type WAFStats struct {
	// Requests counts the inspected requests by action (pass, block,
	// detect, error).
	Requests map[string]uint64 `json:"requests"`
	// Patches is how many virtual patches are in force.
	Patches int `json:"patches"`
}

// CacheStats is the HTTP cache's counters since the start and what it
// holds now.
type CacheStats struct {
	// Requests counts the requests the cache handled by outcome (hit,
	// stale, revalidated, collapsed, miss, bypass).
	Requests    map[string]uint64 `json:"requests"`
	ServedBytes uint64            `json:"served_bytes"`
	Objects     int               `json:"objects"`
	MemoryBytes uint64            `json:"memory_bytes"`
	DiskBytes   int64             `json:"disk_bytes"`
}

// ConfigStats tells how config loads went.
type ConfigStats struct {
	LoadedAt  time.Time `json:"loaded_at"`
	Reloads   uint64    `json:"reloads"`
	Failed    uint64    `json:"failed"`
	LastError string    `json:"last_error,omitempty"`
}

// Counts are a route's or a server's responses since the start: in all,
// by status class (1xx to 5xx) and in latency buckets.
type Counts struct {
	Requests uint64 `json:"requests"`
	// Classes counts 1xx, 2xx, 3xx, 4xx, 5xx.
	Classes [5]uint64 `json:"classes"`
	// Latency is the cumulative count per bucket of Stats.Buckets.
	Latency    [len(DurationBuckets)]uint64 `json:"latency"`
	LatencySum float64                      `json:"latency_sum"`
}

// SiteStats is one site's routes.
type SiteStats struct {
	Name   string       `json:"name"`
	Routes []RouteStats `json:"routes"`
}

// RouteStats is one route's counts.
type RouteStats struct {
	Path string `json:"path"`
	Counts
	Bytes uint64 `json:"bytes"`
}

// PoolStats is one upstream pool's servers.
type PoolStats struct {
	Name    string        `json:"name"`
	Servers []ServerStats `json:"servers"`
}

// ServerStats is one upstream server's state and counts.
type ServerStats struct {
	Server   string `json:"server"`
	State    string `json:"state"`
	Up       bool   `json:"up"`
	InFlight int64  `json:"in_flight"`
	Failures int64  `json:"failures"`
	// Errors are attempts that got no response.
	Errors uint64 `json:"errors"`
	Counts
}

// ListenerStats is one listener's state.
type ListenerStats struct {
	Addr             string `json:"addr"`
	Scheme           string `json:"scheme"`
	Open             int    `json:"open"`
	HandshakesOK     uint64 `json:"handshakes_ok"`
	HandshakesFailed uint64 `json:"handshakes_failed"`
}

// countsOf reads a Codes and a Histogram into Counts.
func countsOf(c *Codes, h *Histogram) Counts {
	var out Counts
	c.Each(func(code int, n uint64) {
		out.Requests += n
		out.Classes[code/100-1] += n
	})
	_, out.LatencySum, out.Latency = h.Snapshot()
	return out
}

// Stats reports the registry's counters and the running config's state.
func (r *Registry) Stats() Stats {
	st := Stats{Now: time.Now(), Started: r.started, Buckets: DurationBuckets[:],
		Sites: []SiteStats{}, Pools: []PoolStats{}, Listeners: []ListenerStats{}}
	st.Config = ConfigStats{Reloads: r.reloadsOK.Load(), Failed: r.reloadsFailed.Load()}
	if ns := r.lastReloadOK.Load(); ns > 0 {
		st.Config.LoadedAt = time.Unix(0, ns)
	}
	if e := r.lastReloadError.Load(); e != nil {
		st.Config.LastError = *e
	}
	g := r.currentGauges()
	var current map[*Route]bool
	if g != nil {
		// The dashboard shows the running config's routes; Prometheus
		// keeps counting the others a reload removed.
		current = map[*Route]bool{}
		g.Routes(func(rt *Route) { current[rt] = true })
	}
	for _, rt := range r.sortedRoutes() {
		if current != nil && !current[rt] {
			continue
		}
		if n := len(st.Sites); n == 0 || st.Sites[n-1].Name != rt.Site {
			st.Sites = append(st.Sites, SiteStats{Name: rt.Site})
		}
		s := &st.Sites[len(st.Sites)-1]
		s.Routes = append(s.Routes, RouteStats{Path: rt.Path, Counts: countsOf(&rt.codes, &rt.duration), Bytes: rt.bytes.Load()})
	}
	counted := map[[2]string]*Server{}
	for _, s := range r.sortedServers() {
		counted[[2]string{s.Pool, s.Server}] = s
	}
	handshakes := map[string]*Listener{}
	for _, l := range r.sortedListeners() {
		handshakes[l.Addr] = l
	}
	if g != nil {
		g.UpstreamServers(func(ss ServerState) {
			if n := len(st.Pools); n == 0 || st.Pools[n-1].Name != ss.Pool {
				st.Pools = append(st.Pools, PoolStats{Name: ss.Pool})
			}
			p := &st.Pools[len(st.Pools)-1]
			out := ServerStats{Server: ss.Server, State: ss.State, Up: ss.Up, InFlight: ss.InFlight, Failures: ss.Failures}
			if c := counted[[2]string{ss.Pool, ss.Server}]; c != nil {
				out.Counts = countsOf(&c.codes, &c.response)
				out.Errors = c.errors.Load()
				out.Requests += out.Errors
			}
			p.Servers = append(p.Servers, out)
		})
		g.Listeners(func(ls ListenerState) {
			out := ListenerStats{Addr: ls.Addr, Scheme: ls.Scheme, Open: ls.Open}
			if l := handshakes[ls.Addr]; l != nil {
				out.HandshakesOK, out.HandshakesFailed = l.handshakesOK.Load(), l.handshakesRejected.Load()
			}
			st.Listeners = append(st.Listeners, out)
		})
		st.SpoolBytes = g.SpoolBytes()
		st.Cache = g.Cache()
		st.WAF = g.WAFStats()
		st.Defence = g.DefenceStats()
	}
	return st
}
