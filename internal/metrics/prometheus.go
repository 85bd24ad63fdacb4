package metrics

import (
	"net/http"
	"strconv"

	"github.com/prometheus/client_golang/prometheus"
	"github.com/prometheus/client_golang/prometheus/collectors"
	"github.com/prometheus/client_golang/prometheus/promhttp"
)

// Prefix is the namespace of every Gatehouse metric. Features that count
// things of their own (cache, WAF, rate limits) add metrics under it,
// named gatehouse_FEATURE_..., through a collector of their own registered
// with Register.
const Prefix = "gatehouse_"

var (
	descRequests = prometheus.NewDesc(Prefix+"http_requests_total",
		"Responses sent to clients, by site (its first host, or default), route (its path as configured; empty for responses no route gave) and status code.",
		[]string{"site", "route", "code"}, nil)
	descDuration = prometheus.NewDesc(Prefix+"http_request_duration_seconds",
		"Time from a request's head to the end of its response, by site and route.",
		[]string{"site", "route"}, nil)
	descBytes = prometheus.NewDesc(Prefix+"http_response_bytes_total",
		"Response body bytes sent to clients, by site and route.",
		[]string{"site", "route"}, nil)
	descUpstreamRequests = prometheus.NewDesc(Prefix+"upstream_requests_total",
		"Attempts sent to upstream servers (retries included, health checks not), by pool, server and the status of the response (error when there was none).",
		[]string{"pool", "server", "code"}, nil)
	descUpstreamResponse = prometheus.NewDesc(Prefix+"upstream_response_seconds",
		"Time from sending an attempt to an upstream server to its response head (or failure), by pool and server.",
		[]string{"pool", "server"}, nil)
	descUpstreamUp = prometheus.NewDesc(Prefix+"upstream_up",
		"Whether an upstream server takes requests by its health state: 1 up, 0 down.",
		[]string{"pool", "server"}, nil)
	descUpstreamInFlight = prometheus.NewDesc(Prefix+"upstream_in_flight",
		"Requests in flight to an upstream server.",
		[]string{"pool", "server"}, nil)
	descConnections = prometheus.NewDesc(Prefix+"connections_open",
		"Client connections being served, by listener.",
		[]string{"listener"}, nil)
	descHandshakes = prometheus.NewDesc(Prefix+"tls_handshakes_total",
		"TLS handshakes with clients, by listener and result (ok or failed).",
		[]string{"listener", "result"}, nil)
	descSpool = prometheus.NewDesc(Prefix+"spool_bytes",
		"Bytes of request and response bodies held in spool files now.",
		nil, nil)
	descReloads = prometheus.NewDesc(Prefix+"config_reloads_total",
		"Config loads, the one at start included, by result (success or failure).",
		[]string{"result"}, nil)
	descLastReload = prometheus.NewDesc(Prefix+"config_last_reload_success_timestamp_seconds",
		"When the running config took effect, in seconds since the epoch.",
		nil, nil)
	descDropped = prometheus.NewDesc(Prefix+"access_log_dropped_total",
		"Access log records dropped because their destination (a syslog server) could not take them.",
		nil, nil)
)

// Describe sends the descriptions of the registry's metrics.
func (r *Registry) Describe(ch chan<- *prometheus.Desc) {
	for _, d := range []*prometheus.Desc{descRequests, descDuration, descBytes, descUpstreamRequests, descUpstreamResponse,
		descUpstreamUp, descUpstreamInFlight, descConnections, descHandshakes, descSpool, descReloads, descLastReload, descDropped} {
		ch <- d
	}
}

// Collect sends the registry's metrics as they are now.
func (r *Registry) Collect(ch chan<- prometheus.Metric) {
	for _, rt := range r.sortedRoutes() {
		rt.codes.Each(func(code int, n uint64) {
			ch <- prometheus.MustNewConstMetric(descRequests, prometheus.CounterValue, float64(n), rt.Site, rt.Path, strconv.Itoa(code))
		})
		ch <- constHistogram(descDuration, &rt.duration, rt.Site, rt.Path)
		ch <- prometheus.MustNewConstMetric(descBytes, prometheus.CounterValue, float64(rt.bytes.Load()), rt.Site, rt.Path)
	}
	for _, s := range r.sortedServers() {
		s.codes.Each(func(code int, n uint64) {
			ch <- prometheus.MustNewConstMetric(descUpstreamRequests, prometheus.CounterValue, float64(n), s.Pool, s.Server, strconv.Itoa(code))
		})
		if n := s.errors.Load(); n > 0 {
			ch <- prometheus.MustNewConstMetric(descUpstreamRequests, prometheus.CounterValue, float64(n), s.Pool, s.Server, "error")
		}
		ch <- constHistogram(descUpstreamResponse, &s.response, s.Pool, s.Server)
	}
	for _, l := range r.sortedListeners() {
		ch <- prometheus.MustNewConstMetric(descHandshakes, prometheus.CounterValue, float64(l.handshakesOK.Load()), l.Addr, "ok")
		ch <- prometheus.MustNewConstMetric(descHandshakes, prometheus.CounterValue, float64(l.handshakesRejected.Load()), l.Addr, "failed")
	}
	if g := r.currentGauges(); g != nil {
		g.UpstreamServers(func(s ServerState) {
			v := 0.0
			if s.Up {
				v = 1
			}
			ch <- prometheus.MustNewConstMetric(descUpstreamUp, prometheus.GaugeValue, v, s.Pool, s.Server)
			ch <- prometheus.MustNewConstMetric(descUpstreamInFlight, prometheus.GaugeValue, float64(s.InFlight), s.Pool, s.Server)
		})
		g.Listeners(func(l ListenerState) {
			ch <- prometheus.MustNewConstMetric(descConnections, prometheus.GaugeValue, float64(l.Open), l.Addr)
		})
		ch <- prometheus.MustNewConstMetric(descSpool, prometheus.GaugeValue, float64(g.SpoolBytes()))
	}
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(r.reloadsOK.Load()), "success")
	ch <- prometheus.MustNewConstMetric(descReloads, prometheus.CounterValue, float64(r.reloadsFailed.Load()), "failure")
	ch <- prometheus.MustNewConstMetric(descLastReload, prometheus.GaugeValue, float64(r.lastReloadOK.Load())/1e9)
	ch <- prometheus.MustNewConstMetric(descDropped, prometheus.CounterValue, float64(r.accessLogDropped.Load()))
}

// constHistogram renders h as a Prometheus histogram.
func constHistogram(desc *prometheus.Desc, h *Histogram, labels ...string) prometheus.Metric {
	count, sum, cumulative := h.Snapshot()
	buckets := make(map[float64]uint64, len(DurationBuckets))
	for i, le := range DurationBuckets {
		buckets[le] = cumulative[i]
	}
	return prometheus.MustNewConstHistogram(desc, count, sum, buckets, labels...)
}

// Handler serves the registry's metrics, with the Go runtime's and the
// process's, in the Prometheus text format.
func (r *Registry) Handler(more ...prometheus.Collector) http.Handler {
	reg := prometheus.NewRegistry()
	reg.MustRegister(r, collectors.NewGoCollector(), collectors.NewProcessCollector(collectors.ProcessCollectorOpts{}))
	for _, c := range more {
		reg.MustRegister(c)
	}
	return promhttp.HandlerFor(reg, promhttp.HandlerOpts{ErrorHandling: promhttp.ContinueOnError})
}
