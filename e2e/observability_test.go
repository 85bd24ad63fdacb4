package e2e

import (
	"bufio"
	"bytes"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"os/exec"
	"path/filepath"
	"regexp"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	collectortrace "go.opentelemetry.io/proto/otlp/collector/trace/v1"
	tracepb "go.opentelemetry.io/proto/otlp/trace/v1"
	"google.golang.org/protobuf/proto"
)

// scrape returns the admin API's /metrics.
func scrape(t *testing.T, url string) string {
	t.Helper()
	res, err := http.Get(url)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	if res.StatusCode != 200 {
		t.Fatalf("%s: %d %s", url, res.StatusCode, body)
	}
	return string(body)
}

// metricValue finds the value of the sample with exactly these labels.
func metricValue(t *testing.T, text, name string, labels map[string]string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if !strings.HasPrefix(line, name+"{") && line != name && !strings.HasPrefix(line, name+" ") {
			continue
		}
		ok := true
		for k, v := range labels {
			if !strings.Contains(line, k+`="`+v+`"`) {
				ok = false
			}
		}
		if !ok {
			continue
		}
		f, err := strconv.ParseFloat(line[strings.LastIndexByte(line, ' ')+1:], 64)
		if err != nil {
			t.Fatalf("%q: %v", line, err)
		}
		return f
	}
	t.Fatalf("no sample %s%v in:\n%s", name, labels, grepLines(text, name))
	return 0
}

func grepLines(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		if strings.HasPrefix(l, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n")
}

// TestMetricsAndAdminAPI drives traffic through the real binary, reads
// /metrics (checked by promtool), /stats, the separate metrics address,
// and checks the admin API's guard: cross-site browser requests, a
// rebound host name, and the token when the admin API is reachable
// beyond loopback.
func TestMetricsAndAdminAPI(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	addr, admin, metricsAddr := freeAddr(t), freeAddr(t), freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: %s
metrics: {listen: %s}
upstreams:
  app:
    servers: ["http://%s"]
    health: {active: {interval: 1s}}
sites:
  - listen: ["%s"]
    hosts: [shop.test]
    routes:
      - path: /api/
        proxy: {to: app}
      - path: "= /fixed"
        respond: {body: "fixed"}
`, admin, metricsAddr, up, addr), addr, admin, metricsAddr)
	base := "http://" + addr
	host := map[string]string{"Host": "shop.test"}
	for i := 0; i < 5; i++ {
		get(t, base+"/fixed", host)
		get(t, base+"/api/whoami", host)
	}
	get(t, base+"/api/code?c=503", host)
	get(t, base+"/nowhere", host)

	text := scrape(t, "http://"+admin+"/metrics")
	for _, c := range []struct {
		name   string
		labels map[string]string
		want   float64
	}{
		{"gatehouse_http_requests_total", map[string]string{"site": "shop.test", "route": "= /fixed", "code": "200"}, 5},
		{"gatehouse_http_requests_total", map[string]string{"site": "shop.test", "route": "/api/", "code": "200"}, 5},
		{"gatehouse_http_requests_total", map[string]string{"site": "shop.test", "route": "/api/", "code": "503"}, 1},
		{"gatehouse_http_requests_total", map[string]string{"site": "shop.test", "route": "", "code": "404"}, 1},
		{"gatehouse_http_request_duration_seconds_count", map[string]string{"site": "shop.test", "route": "/api/"}, 6},
		{"gatehouse_upstream_requests_total", map[string]string{"pool": "app", "server": up, "code": "200"}, 5},
		{"gatehouse_upstream_requests_total", map[string]string{"pool": "app", "server": up, "code": "503"}, 1},
		{"gatehouse_upstream_response_seconds_count", map[string]string{"pool": "app", "server": up}, 6},
		{"gatehouse_upstream_up", map[string]string{"pool": "app", "server": up}, 1},
		{"gatehouse_upstream_in_flight", map[string]string{"pool": "app", "server": up}, 0},
		{"gatehouse_config_reloads_total", map[string]string{"result": "success"}, 1},
	} {
		if got := metricValue(t, text, c.name, c.labels); got != c.want {
			t.Errorf("%s%v = %v, want %v", c.name, c.labels, got, c.want)
		}
	}
	for _, name := range []string{"gatehouse_connections_open", "gatehouse_spool_bytes", "gatehouse_config_last_reload_success_timestamp_seconds",
		"go_goroutines", "process_resident_memory_bytes"} {
		if !strings.Contains(text, "\n"+name) {
			t.Errorf("%s missing", name)
		}
	}
	promtool, err := exec.LookPath("promtool")
	if err != nil {
		t.Fatal("promtool is not installed: run scripts/test.sh, which installs the test peers")
	}
	cmd := exec.Command(promtool, "check", "metrics")
	cmd.Stdin = strings.NewReader(grepMetricFamilies(text, "gatehouse_"))
	if out, err := cmd.CombinedOutput(); err != nil || len(bytes.TrimSpace(out)) > 0 {
		t.Errorf("promtool check metrics: %v\n%s", err, out)
	}
	if other := scrape(t, "http://"+metricsAddr+"/metrics"); !strings.Contains(other, "gatehouse_http_requests_total") {
		t.Error("metrics.listen does not serve the metrics")
	}

	// The dashboard's JSON.
	var st struct {
		Sites []struct {
			Name   string
			Routes []struct {
				Path     string
				Requests uint64
				Classes  [5]uint64
			}
		}
		Pools []struct {
			Name    string
			Servers []struct {
				Server string
				Up     bool
			}
		}
	}
	if err := json.Unmarshal([]byte(scrape(t, "http://"+admin+"/stats")), &st); err != nil {
		t.Fatal(err)
	}
	if len(st.Sites) != 1 || st.Sites[0].Name != "shop.test" || len(st.Pools) != 1 || !st.Pools[0].Servers[0].Up {
		t.Errorf("stats: %+v", st)
	}

	// The guard: other sites' pages and rebound names are refused; a
	// typed address and the dashboard's own requests are served.
	for _, c := range []struct {
		hdr  map[string]string
		want int
	}{
		{map[string]string{"Sec-Fetch-Site": "cross-site"}, 403},
		{map[string]string{"Sec-Fetch-Site": "same-site"}, 403},
		{map[string]string{"Origin": "http://evil.example"}, 403},
		{map[string]string{"Host": "rebound.example:80"}, 421},
		{map[string]string{"Sec-Fetch-Site": "none"}, 200},
		{map[string]string{"Sec-Fetch-Site": "same-origin", "Origin": "http://" + admin}, 200},
	} {
		if res, _ := get(t, "http://"+admin+"/stats", c.hdr); res.StatusCode != c.want {
			t.Errorf("%v: %d, want %d", c.hdr, res.StatusCode, c.want)
		}
	}
	if res, body := get(t, "http://"+admin+"/dashboard/", map[string]string{"Sec-Fetch-Site": "none"}); res.StatusCode != 200 || !strings.Contains(string(body), "Gatehouse") {
		t.Errorf("dashboard: %d", res.StatusCode)
	}
}

// grepMetricFamilies keeps the HELP, TYPE and samples of the metrics
// whose names start with prefix.
func grepMetricFamilies(text, prefix string) string {
	var out []string
	for _, l := range strings.Split(text, "\n") {
		name := strings.TrimPrefix(strings.TrimPrefix(l, "# HELP "), "# TYPE ")
		if strings.HasPrefix(name, prefix) {
			out = append(out, l)
		}
	}
	return strings.Join(out, "\n") + "\n"
}

// TestAdminTokenBeyondLoopback: an admin API reachable from other
// machines asks for its token on everything but /health and the
// dashboard's page; the CLI sends it.
func TestAdminTokenBeyondLoopback(t *testing.T) {
	t.Parallel()
	addr := freeAddr(t)
	_, port, _ := net.SplitHostPort(freeAddr(t))
	admin := "0.0.0.0:" + port
	local := "127.0.0.1:" + port
	token := "s3cret-token-0123456789"
	dir := t.TempDir()
	cfgPath := filepath.Join(dir, "gatehouse.yaml")
	cfg := fmt.Sprintf("admin: {listen: \"%s\", token: %s}\nsites:\n  - listen: [\"%s\"]\n    routes:\n      - path: /\n        respond: {body: ok}\n", admin, token, addr)
	if err := os.WriteFile(cfgPath, []byte(cfg), 0o600); err != nil {
		t.Fatal(err)
	}
	startProcess(t, cfgPath, []string{"run", "-c", cfgPath}, addr, local)
	for _, c := range []struct {
		path, auth string
		want       int
	}{
		{"/stats", "", 401},
		{"/stats", "Bearer wrong-token-0123456789", 401},
		{"/stats", "Bearer " + token, 200},
		{"/metrics", "", 401},
		{"/metrics", "Bearer " + token, 200},
		{"/health", "", 200},
		{"/dashboard/", "", 200},
	} {
		req, _ := http.NewRequest("GET", "http://"+local+c.path, nil)
		if c.auth != "" {
			req.Header.Set("Authorization", c.auth)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		if res.StatusCode != c.want {
			t.Errorf("%s with %q: %d, want %d", c.path, c.auth, res.StatusCode, c.want)
		}
	}
	if out, code := runCLI(t, dir, "status", "-c", cfgPath); code != 0 {
		t.Errorf("gatehouse status with a token: %d %s", code, out)
	}
	// Without a token, such a config does not even load.
	bad := filepath.Join(dir, "bad.yaml")
	_ = os.WriteFile(bad, []byte(strings.Replace(cfg, ", token: "+token, "", 1)), 0o600)
	if out, code := runCLI(t, dir, "validate", "-c", bad); code == 0 || !strings.Contains(out, "admin_token") {
		t.Errorf("an admin API beyond loopback without a token validated: %s", out)
	}
}

// otlpReceiver collects the spans sent to it over OTLP/HTTP.
type otlpReceiver struct {
	mu    sync.Mutex
	spans []*tracepb.Span
	addr  string
}

func startOTLPReceiver(t *testing.T) *otlpReceiver {
	t.Helper()
	rcv := &otlpReceiver{}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	rcv.addr = ln.Addr().String()
	srv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		body, _ := io.ReadAll(r.Body)
		var req collectortrace.ExportTraceServiceRequest
		if r.URL.Path != "/v1/traces" || proto.Unmarshal(body, &req) != nil {
			http.Error(w, "bad export", 400)
			return
		}
		rcv.mu.Lock()
		for _, rs := range req.ResourceSpans {
			for _, ss := range rs.ScopeSpans {
				rcv.spans = append(rcv.spans, ss.Spans...)
			}
		}
		rcv.mu.Unlock()
		out, _ := proto.Marshal(&collectortrace.ExportTraceServiceResponse{})
		w.Header().Set("Content-Type", "application/x-protobuf")
		_, _ = w.Write(out)
	})}
	go func() { _ = srv.Serve(ln) }()
	t.Cleanup(func() { srv.Close() })
	return rcv
}

func (r *otlpReceiver) byTrace(traceID string) []*tracepb.Span {
	r.mu.Lock()
	defer r.mu.Unlock()
	var out []*tracepb.Span
	for _, s := range r.spans {
		if hex.EncodeToString(s.TraceId) == traceID {
			out = append(out, s)
		}
	}
	return out
}

// TestTracingPropagatesAndExports sends requests with and without a W3C
// traceparent: the incoming trace is continued, the upstream gets a
// traceparent of the same trace whose parent is the attempt's span, the
// spans reach a local OTLP receiver, and the access log names the trace.
func TestTracingPropagatesAndExports(t *testing.T) {
	t.Parallel()
	rcv := startOTLPReceiver(t)
	seen := make(chan string, 10)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	upSrv := &http.Server{Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		seen <- r.Header.Get("Traceparent")
		_, _ = io.WriteString(w, "traced")
	})}
	go func() { _ = upSrv.Serve(ln) }()
	defer upSrv.Close()
	addr := freeAddr(t)
	logPath := filepath.Join(t.TempDir(), "access.log")
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
access_log: {output: %s}
tracing: {otlp: "http://%s", service_name: edge}
sites:
  - listen: ["%s"]
    routes:
      - path: /api/
        proxy: {to: "http://%s"}
`, logPath, rcv.addr, addr, ln.Addr().String()), addr)

	const traceID, parentID = "4bf92f3577b34da6a3ce929d0e0e4736", "00f067aa0ba902b7"
	res, _ := get(t, "http://"+addr+"/api/x", map[string]string{"Traceparent": "00-" + traceID + "-" + parentID + "-01"})
	if res.StatusCode != 200 {
		t.Fatal(res.Status)
	}
	continued := <-seen
	parts := strings.Split(continued, "-")
	if len(parts) != 4 || parts[1] != traceID || parts[2] == parentID || parts[3] != "01" {
		t.Fatalf("upstream got traceparent %q, want trace %s with a new parent", continued, traceID)
	}
	get(t, "http://"+addr+"/api/y", nil)
	fresh := strings.Split(<-seen, "-")
	if len(fresh) != 4 || fresh[1] == traceID || len(fresh[1]) != 32 {
		t.Fatalf("without a traceparent, upstream got %q", fresh)
	}
	g.stop() // flushes the exporter

	spans := rcv.byTrace(traceID)
	var server, client *tracepb.Span
	for _, s := range spans {
		switch s.Kind {
		case tracepb.Span_SPAN_KIND_SERVER:
			server = s
		case tracepb.Span_SPAN_KIND_CLIENT:
			client = s
		}
	}
	if server == nil || client == nil {
		t.Fatalf("spans of the trace: %v", spans)
	}
	if hex.EncodeToString(server.ParentSpanId) != parentID || !bytes.Equal(client.ParentSpanId, server.SpanId) ||
		hex.EncodeToString(client.SpanId) != parts[2] || server.Name != "GET /api/" {
		t.Errorf("server span %q parent %x, client span %x parent %x; upstream's parent %s",
			server.Name, server.ParentSpanId, client.SpanId, client.ParentSpanId, parts[2])
	}
	if len(rcv.byTrace(fresh[1])) < 2 {
		t.Error("the new trace's spans were not exported")
	}
	data, _ := os.ReadFile(logPath)
	if !strings.Contains(string(data), `"trace_id":"`+traceID+`"`) || !strings.Contains(string(data), `"route":"/api/"`) {
		t.Errorf("access log lacks the trace id or the route:\n%s", data)
	}
}

// TestAccessLogRotationAndSyslog: SIGUSR1 reopens the access log file
// while requests come, losing and splitting no line; access logs go to
// syslog servers over UDP and TCP as RFC 5424 messages.
func TestAccessLogRotationAndSyslog(t *testing.T) {
	t.Parallel()
	dir := t.TempDir()
	logPath := filepath.Join(dir, "access.log")
	addr := freeAddr(t)
	g := startGatehouse(t, fmt.Sprintf(`admin: "off"
access_log: {output: %s}
sites:
  - listen: ["%s"]
    routes:
      - path: /
        respond: {body: ok}
`, logPath, addr), addr)
	client := &http.Client{Timeout: 10 * time.Second}
	const n = 600
	var wg sync.WaitGroup
	for w := 0; w < 4; w++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := 0; i < n/4; i++ {
				res, err := client.Get(fmt.Sprintf("http://%s/r/%d/%d", addr, w, i))
				if err == nil {
					res.Body.Close()
				}
			}
		}()
	}
	time.Sleep(30 * time.Millisecond)
	if err := os.Rename(logPath, logPath+".1"); err != nil {
		t.Fatal(err)
	}
	_ = g.cmd.Process.Signal(syscall.SIGUSR1)
	g.waitLog("access log reopened")
	wg.Wait()
	g.stop()
	lines := 0
	for _, f := range []string{logPath + ".1", logPath} {
		data, err := os.ReadFile(f)
		if err != nil {
			t.Fatalf("%s: %v", f, err)
		}
		for _, l := range strings.Split(strings.TrimSpace(string(data)), "\n") {
			if l == "" {
				continue
			}
			if !strings.HasPrefix(l, `{"time":`) || !strings.HasSuffix(l, "}") {
				t.Fatalf("split line in %s: %q", f, l)
			}
			lines++
		}
	}
	if lines != n {
		t.Errorf("%d lines across the rotation, want %d", lines, n)
	}

	// Syslog over UDP and TCP.
	pc, err := net.ListenPacket("udp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer pc.Close()
	tl, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer tl.Close()
	frames := make(chan string, 10)
	go func() {
		c, err := tl.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			size, err := br.ReadString(' ')
			if err != nil {
				return
			}
			k, _ := strconv.Atoi(strings.TrimSpace(size))
			msg := make([]byte, k)
			if _, err := io.ReadFull(br, msg); err != nil {
				return
			}
			frames <- string(msg)
		}
	}()
	rfc5424 := regexp.MustCompile(`^<190>1 \d{4}-\d\d-\d\dT\d\d:\d\d:\d\d\.\d{6}Z \S+ gatehouse \d+ access - (.+)$`)
	for _, output := range []string{"syslog://" + pc.LocalAddr().String(), "syslog+tcp://" + tl.Addr().String()} {
		addr := freeAddr(t)
		g := startGatehouse(t, fmt.Sprintf(`admin: "off"
access_log: {output: "%s", format: combined}
sites:
  - listen: ["%s"]
    routes:
      - path: /
        respond: {body: ok}
`, output, addr), addr)
		get(t, "http://"+addr+"/syslog/check", nil)
		var msg string
		if strings.HasPrefix(output, "syslog://") {
			buf := make([]byte, 64<<10)
			_ = pc.SetReadDeadline(time.Now().Add(10 * time.Second))
			k, _, err := pc.ReadFrom(buf)
			if err != nil {
				t.Fatal(err)
			}
			msg = string(buf[:k])
		} else {
			select {
			case msg = <-frames:
			case <-time.After(10 * time.Second):
				t.Fatal("no syslog frame over TCP")
			}
		}
		m := rfc5424.FindStringSubmatch(msg)
		if m == nil || !strings.Contains(m[1], `"GET /syslog/check HTTP/1.1" 200`) {
			t.Errorf("%s: %q", output, msg)
		}
		g.stop()
	}
}
