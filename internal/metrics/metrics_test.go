package metrics

import (
	"strings"
	"testing"
	"time"

	"github.com/prometheus/client_golang/prometheus/testutil"
)

type fakeGauges struct{ routes []*Route }

func (f fakeGauges) UpstreamServers(fn func(ServerState)) {
	fn(ServerState{Pool: "app", Server: "10.0.0.5:8000", State: "up", Up: true, InFlight: 3, Failures: 1})
	fn(ServerState{Pool: "app", Server: "10.0.0.6:8000", State: "down (health check)", Up: false})
}
func (f fakeGauges) Listeners(fn func(ListenerState)) {
	fn(ListenerState{Addr: ":8080", Scheme: "http", Open: 7})
}
func (f fakeGauges) SpoolBytes() int64 { return 4096 }

func (f fakeGauges) Cache() *CacheStats  { return nil }
func (f fakeGauges) WAFStats() *WAFStats { return nil }

func (f fakeGauges) DefenceStats() *DefenceStats { return nil }
func (f fakeGauges) Routes(fn func(*Route)) {
	for _, r := range f.routes {
		fn(r)
	}
}

func TestMetricsLabelsAndValues(t *testing.T) {
	reg := New()
	api := reg.Route("example.com", "/api/")
	if reg.Route("example.com", "/api/") != api {
		t.Fatal("a route's counters are not found again by name (a reload would reset them)")
	}
	api.Observe(200, 250*time.Millisecond, 100)
	api.Observe(200, 500*time.Millisecond, 50)
	api.Observe(503, 2*time.Second, 10)
	srv := reg.Server("app", "10.0.0.5:8000")
	srv.Observe(200, time.Millisecond)
	srv.Observe(0, 5*time.Second)
	reg.Listener(":8443").Handshake(true)
	reg.Listener(":8443").Handshake(false)
	reg.Reloaded(nil)
	reg.SetGauges(fakeGauges{routes: []*Route{api}})

	want := `
# HELP gatehouse_http_requests_total Responses sent to clients, by site (its first host, or default), route (its path as configured; empty for responses no route gave) and status code.
# TYPE gatehouse_http_requests_total counter
gatehouse_http_requests_total{code="200",route="/api/",site="example.com"} 2
gatehouse_http_requests_total{code="503",route="/api/",site="example.com"} 1
# HELP gatehouse_http_response_bytes_total Response body bytes sent to clients, by site and route.
# TYPE gatehouse_http_response_bytes_total counter
gatehouse_http_response_bytes_total{route="/api/",site="example.com"} 160
# HELP gatehouse_upstream_requests_total Attempts sent to upstream servers (retries included, health checks not), by pool, server and the status of the response (error when there was none).
# TYPE gatehouse_upstream_requests_total counter
gatehouse_upstream_requests_total{code="200",pool="app",server="10.0.0.5:8000"} 1
gatehouse_upstream_requests_total{code="error",pool="app",server="10.0.0.5:8000"} 1
# HELP gatehouse_upstream_up Whether an upstream server takes requests by its health state: 1 up, 0 down.
# TYPE gatehouse_upstream_up gauge
gatehouse_upstream_up{pool="app",server="10.0.0.5:8000"} 1
gatehouse_upstream_up{pool="app",server="10.0.0.6:8000"} 0
# HELP gatehouse_upstream_in_flight Requests in flight to an upstream server.
# TYPE gatehouse_upstream_in_flight gauge
gatehouse_upstream_in_flight{pool="app",server="10.0.0.5:8000"} 3
gatehouse_upstream_in_flight{pool="app",server="10.0.0.6:8000"} 0
# HELP gatehouse_connections_open Client connections being served, by listener.
# TYPE gatehouse_connections_open gauge
gatehouse_connections_open{listener=":8080"} 7
# HELP gatehouse_tls_handshakes_total TLS handshakes with clients, by listener and result (ok or failed).
# TYPE gatehouse_tls_handshakes_total counter
gatehouse_tls_handshakes_total{listener=":8443",result="failed"} 1
gatehouse_tls_handshakes_total{listener=":8443",result="ok"} 1
# HELP gatehouse_spool_bytes Bytes of request and response bodies held in spool files now.
# TYPE gatehouse_spool_bytes gauge
gatehouse_spool_bytes 4096
# HELP gatehouse_config_reloads_total Config loads, the one at start included, by result (success or failure).
# TYPE gatehouse_config_reloads_total counter
gatehouse_config_reloads_total{result="failure"} 0
gatehouse_config_reloads_total{result="success"} 1
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(want),
		"gatehouse_http_requests_total", "gatehouse_http_response_bytes_total", "gatehouse_upstream_requests_total",
		"gatehouse_upstream_up", "gatehouse_upstream_in_flight", "gatehouse_connections_open",
		"gatehouse_tls_handshakes_total", "gatehouse_spool_bytes", "gatehouse_config_reloads_total"); err != nil {
		t.Error(err)
	}
	hist := `
# HELP gatehouse_http_request_duration_seconds Time from a request's head to the end of its response, by site and route.
# TYPE gatehouse_http_request_duration_seconds histogram
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="0.0005"} 0
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="0.001"} 0
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="0.0025"} 0
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="0.005"} 0
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="0.01"} 0
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="0.025"} 0
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="0.05"} 0
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="0.1"} 0
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="0.25"} 1
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="0.5"} 2
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="1"} 2
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="2.5"} 3
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="5"} 3
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="10"} 3
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="30"} 3
gatehouse_http_request_duration_seconds_bucket{route="/api/",site="example.com",le="+Inf"} 3
gatehouse_http_request_duration_seconds_sum{route="/api/",site="example.com"} 2.75
gatehouse_http_request_duration_seconds_count{route="/api/",site="example.com"} 3
`
	if err := testutil.CollectAndCompare(reg, strings.NewReader(hist), "gatehouse_http_request_duration_seconds"); err != nil {
		t.Error(err)
	}
	problems, err := testutil.CollectAndLint(reg)
	if err != nil || len(problems) > 0 {
		t.Errorf("lint: %v %v", problems, err)
	}

	// The dashboard's view: the running config's routes only.
	gone := reg.Route("example.com", "/removed/")
	gone.Observe(200, time.Millisecond, 1)
	st := reg.Stats()
	if len(st.Sites) != 1 || len(st.Sites[0].Routes) != 1 {
		t.Fatalf("stats sites %+v", st.Sites)
	}
	r := st.Sites[0].Routes[0]
	if r.Path != "/api/" || r.Requests != 3 || r.Classes != [5]uint64{0, 2, 0, 0, 1} || r.Bytes != 160 || r.Latency[8] != 1 || r.Latency[9] != 2 {
		t.Errorf("route stats %+v", r)
	}
	if len(st.Pools) != 1 || len(st.Pools[0].Servers) != 2 || st.Pools[0].Servers[0].Requests != 2 || st.Pools[0].Servers[0].Errors != 1 {
		t.Errorf("pool stats %+v", st.Pools)
	}
	if len(st.Listeners) != 1 || st.Listeners[0].Open != 7 || st.SpoolBytes != 4096 || st.Config.Reloads != 1 {
		t.Errorf("listeners %+v spool %d config %+v", st.Listeners, st.SpoolBytes, st.Config)
	}
}

// TestNilRegistryCountsNothing: with metrics off the hot path calls go to
// nil counters.
func TestNilRegistryCountsNothing(t *testing.T) {
	var reg *Registry
	reg.Route("a", "/").Observe(200, time.Millisecond, 1)
	reg.Server("p", "s").Observe(0, time.Millisecond)
	reg.Listener("l").Handshake(true)
	reg.Reloaded(nil)
	reg.AccessLogDropped()
}

func BenchmarkRouteObserve(b *testing.B) {
	rt := New().Route("example.com", "/")
	b.RunParallel(func(pb *testing.PB) {
		for pb.Next() {
			rt.Observe(200, 3*time.Millisecond, 512)
		}
	})
}
