package e2e

import (
	"fmt"
	"io"
	"net/http"
	"os"
	"path/filepath"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"
)

// app is a Gunicorn that a test can kill and start again on its address.
type app struct {
	t    *testing.T
	name string
	addr string
	pid  int
}

// startApp runs a named Gunicorn with one sync worker.
func startApp(t *testing.T, name string) *app {
	t.Helper()
	a := &app{t: t, name: name, addr: freeAddr(t)}
	a.start()
	t.Cleanup(a.kill)
	return a
}

func (a *app) start() {
	a.t.Helper()
	cmd := gunicornCmd(a.t, a.addr, 1, a.name)
	cmd.SysProcAttr = &syscall.SysProcAttr{Setpgid: true}
	if err := cmd.Start(); err != nil {
		a.t.Fatal(err)
	}
	go func() { _ = cmd.Wait() }()
	a.pid = cmd.Process.Pid
	waitPort(a.t, a.addr)
}

// kill ends the Gunicorn master and its workers at once, as a crash would.
func (a *app) kill() {
	if a.pid > 0 {
		_ = syscall.Kill(-a.pid, syscall.SIGKILL)
		a.pid = 0
		time.Sleep(100 * time.Millisecond)
	}
}

// poolSite is a config with an admin address, a pool of the apps with
// extra pool settings, and a site with error pages that proxies to it.
func poolSite(t *testing.T, admin, addr, balance, poolExtra string, apps ...*app) string {
	t.Helper()
	dir := t.TempDir()
	down := filepath.Join(dir, "down.html")
	_ = os.WriteFile(down, []byte("<h1>We will be right back</h1>\n"), 0o644)
	var servers []string
	for _, a := range apps {
		servers = append(servers, fmt.Sprintf("%q", "http://"+a.addr))
	}
	return fmt.Sprintf(`admin: "%s"
upstreams:
  app:
    servers: [%s]
    balance: %s
%s
sites:
  - listen: ["%s"]
    error_pages: {502: %s, 503: %s}
    routes:
      - path: /
        proxy: {to: app}
`, admin, strings.Join(servers, ", "), balance, poolExtra, addr, down, down)
}

// whoami asks base for /whoami and returns the status and body.
func whoami(t *testing.T, client *http.Client, base string) (int, string) {
	t.Helper()
	res, err := client.Get(base + "/whoami")
	if err != nil {
		return 0, err.Error()
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	return res.StatusCode, string(body)
}

func TestPoolRoundRobinSpreadsEvenly(t *testing.T) {
	a, b, c := startApp(t, "a"), startApp(t, "b"), startApp(t, "c")
	admin, addr := freeAddr(t), freeAddr(t)
	startGatehouse(t, poolSite(t, admin, addr, "round_robin", "", a, b, c), addr)
	got := map[string]int{}
	for i := 0; i < 60; i++ {
		code, name := whoami(t, http.DefaultClient, "http://"+addr)
		if code != 200 {
			t.Fatalf("request %d: %d %s", i, code, name)
		}
		got[name]++
	}
	if got["a"] != 20 || got["b"] != 20 || got["c"] != 20 {
		t.Errorf("60 requests over 3 servers: %v", got)
	}
}

func TestPoolSurvivesServersDyingAndComingBack(t *testing.T) {
	a, b, c := startApp(t, "a"), startApp(t, "b"), startApp(t, "c")
	admin, addr := freeAddr(t), freeAddr(t)
	g := startGatehouse(t, poolSite(t, admin, addr, "round_robin",
		"    health: {active: {path: /whoami, interval: 500ms, timeout: 400ms, passes: 1, fails: 1}}", a, b, c), addr, admin)
	base := "http://" + addr

	// Steady GET traffic from 4 clients; one server is killed in the
	// middle of it. No request may fail.
	var ok, failed atomic.Int64
	var failures sync.Map
	stop := make(chan struct{})
	var wg sync.WaitGroup
	for i := 0; i < 4; i++ {
		wg.Add(1)
		go func() {
			defer wg.Done()
			client := &http.Client{Timeout: 10 * time.Second}
			for {
				select {
				case <-stop:
					return
				default:
				}
				code, body := whoami(t, client, base)
				if code == 200 {
					ok.Add(1)
				} else {
					failed.Add(1)
					failures.Store(fmt.Sprintf("%d %s", code, body), true)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	b.kill()
	time.Sleep(2 * time.Second)
	close(stop)
	wg.Wait()
	if failed.Load() != 0 {
		failures.Range(func(k, _ any) bool { t.Errorf("failed request: %v", k); return true })
		t.Fatalf("%d of %d GET requests failed while a server died", failed.Load(), ok.Load()+failed.Load())
	}
	t.Logf("%d GET requests, none failed, one server killed among them", ok.Load())

	// gatehouse status shows the dead server.
	out, code := runCLI(t, t.TempDir(), "status", "-c", g.cfgPath)
	if code != 0 || !strings.Contains(out, "http://"+b.addr) || !strings.Contains(out, "down") {
		t.Errorf("status: exit %d:\n%s", code, out)
	}

	// Everything down: the site's own page with a 5xx, and at once.
	a.kill()
	c.kill()
	for i := 0; i < 3; i++ {
		start := time.Now()
		res, body := get(t, base+"/whoami", nil)
		if res.StatusCode < 500 || !strings.Contains(string(body), "We will be right back") {
			t.Fatalf("all servers down: %d %q", res.StatusCode, body)
		}
		if d := time.Since(start); d > 2*time.Second {
			t.Errorf("all servers down: answered after %s", d)
		}
	}

	// One comes back and is used again within seconds.
	c.start()
	deadline := time.Now().Add(10 * time.Second)
	for {
		if code, name := whoami(t, http.DefaultClient, base); code == 200 && name == "c" {
			break
		}
		if time.Now().After(deadline) {
			t.Fatal("a restarted server was not used again within 10 s")
		}
		time.Sleep(100 * time.Millisecond)
	}
}

func TestRetriesNeverSendANonIdempotentRequestTwice(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	admin, addr := freeAddr(t), freeAddr(t)
	startGatehouse(t, poolSite(t, admin, addr, "round_robin", "", a, b), addr)
	base := "http://" + addr
	dir := t.TempDir()

	send := func(method, file string, hdr map[string]string) (int, []string) {
		t.Helper()
		req, _ := http.NewRequest(method, base+"/code?c=503&count="+file, strings.NewReader("payload"))
		for k, v := range hdr {
			req.Header.Set(k, v)
		}
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		res.Body.Close()
		data, _ := os.ReadFile(file)
		return res.StatusCode, strings.Fields(strings.TrimSpace(string(data)))
	}
	// A POST that reached a server is not sent again, whatever came back.
	code, hits := send("POST", filepath.Join(dir, "post"), nil)
	if code != 503 || len(hits) != 2 { // "POST a" or "POST b": one line, two fields
		t.Errorf("POST answered 503 by a server: %d, reached %v", code, hits)
	}
	// An idempotent request (by method, or by Idempotency-Key) goes to the
	// other server before the 503 is passed on.
	code, hits = send("PUT", filepath.Join(dir, "put"), nil)
	if code != 503 || len(hits) != 4 || hits[1] == hits[3] {
		t.Errorf("PUT: %d, reached %v", code, hits)
	}
	code, hits = send("POST", filepath.Join(dir, "keyed"), map[string]string{"Idempotency-Key": "k1"})
	if code != 503 || len(hits) != 4 {
		t.Errorf("POST with Idempotency-Key: %d, reached %v", code, hits)
	}

	// A POST whose first server cannot be reached at all never reached
	// it, so it goes to the other one.
	a.kill()
	for i := 0; i < 4; i++ {
		res, err := http.Post(base+"/whoami", "text/plain", strings.NewReader("x"))
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if res.StatusCode != 200 || string(body) != "b" {
			t.Errorf("POST with one server down: %d %q", res.StatusCode, body)
		}
	}
}

// TestRetriesAResponseCutOffBeforeItsEnd: a server that dies halfway
// through a buffered response has sent the client nothing yet, so an
// idempotent request goes to another server; a POST is not sent twice.
func TestRetriesAResponseCutOffBeforeItsEnd(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	for _, method := range []string{"GET", "POST"} {
		admin, addr := freeAddr(t), freeAddr(t)
		g := startGatehouse(t, poolSite(t, admin, addr, "round_robin", "", a, b), addr)
		var got []string
		for i := 0; i < 2; i++ { // round robin: one of the two goes to a first
			req, _ := http.NewRequest(method, "http://"+addr+"/cut?on=a", strings.NewReader("x"))
			res, err := http.DefaultClient.Do(req)
			if err != nil {
				t.Fatalf("%s: %v", method, err)
			}
			body, err := io.ReadAll(res.Body)
			res.Body.Close()
			if err != nil {
				t.Fatalf("%s: a truncated body reached the client: %v", method, err)
			}
			if res.StatusCode == 200 && string(body) != "whole from b" {
				t.Errorf("%s: 200 with %q", method, body)
			}
			got = append(got, strconv.Itoa(res.StatusCode))
		}
		sort.Strings(got)
		want := "200 200"
		if method == "POST" {
			want = "200 502"
		}
		if strings.Join(got, " ") != want {
			t.Errorf("%s to a server that dies mid-response: %v, want %s", method, got, want)
		}
		if method == "GET" && !strings.Contains(g.stderr.String(), "retrying on another upstream server") {
			t.Errorf("GET: no retry logged:\n%s", g.stderr.String())
		}
		g.stop()
	}
}

func TestErrorPagesInterceptAndMaintenance(t *testing.T) {
	a := startApp(t, "a")
	admin, addr := freeAddr(t), freeAddr(t)
	dir := t.TempDir()
	for name, body := range map[string]string{"oops.html": "<p>our 500 page</p>", "nf.html": "<p>our 404 page</p>", "maint.html": "<p>down for maintenance</p>"} {
		_ = os.WriteFile(filepath.Join(dir, name), []byte(body), 0o644)
	}
	cfg := fmt.Sprintf(`admin: "%s"
sites:
  - listen: ["%s"]
    hosts: [app.test]
    error_pages: {500: %[3]s/oops.html, 404: %[3]s/nf.html, 503: %[3]s/maint.html}
    intercept_errors: true
    routes:
      - path: /
        proxy: {to: "http://%[4]s"}
      - path: /static/
        static: {root: %[3]s}
  - listen: ["%[2]s"]
    hosts: [closed.test]
    maintenance: true
    error_pages: {503: %[3]s/maint.html}
    routes:
      - path: /
        proxy: {to: "http://%[4]s"}
`, admin, addr, dir, a.addr)
	g := startGatehouse(t, cfg, addr, admin)
	base := "http://" + addr
	host := map[string]string{"Host": "app.test"}

	res, body := get(t, base+"/code?c=500", host)
	if res.StatusCode != 500 || string(body) != "<p>our 500 page</p>" {
		t.Errorf("upstream 500 intercepted: %d %q", res.StatusCode, body)
	}
	res, body = get(t, base+"/code?c=502", host)
	if res.StatusCode != 502 || string(body) != "status 502 from a" {
		t.Errorf("upstream 502 without a page passes through: %d %q", res.StatusCode, body)
	}
	res, body = get(t, base+"/static/missing.txt", host)
	if res.StatusCode != 404 || string(body) != "<p>our 404 page</p>" {
		t.Errorf("Gatehouse's own 404: %d %q", res.StatusCode, body)
	}
	res, body = get(t, base+"/", map[string]string{"Host": "closed.test"})
	if res.StatusCode != 503 || string(body) != "<p>down for maintenance</p>" || res.Header.Get("Retry-After") == "" {
		t.Errorf("site in maintenance: %d %q", res.StatusCode, body)
	}

	// The maintenance switch for every site, from the command line; it
	// outlives a reload.
	if out, code := runCLI(t, t.TempDir(), "maintenance", "on", "-c", g.cfgPath); code != 0 {
		t.Fatalf("maintenance on: %d %s", code, out)
	}
	if out, code := g.reload(); code != 0 {
		t.Fatalf("reload: %d %s", code, out)
	}
	res, body = get(t, base+"/whoami", host)
	if res.StatusCode != 503 || string(body) != "<p>down for maintenance</p>" {
		t.Errorf("maintenance on: %d %q", res.StatusCode, body)
	}
	if out, code := runCLI(t, t.TempDir(), "maintenance", "off", "-c", g.cfgPath); code != 0 {
		t.Fatalf("maintenance off: %d %s", code, out)
	}
	res, body = get(t, base+"/whoami", host)
	if res.StatusCode != 200 || string(body) != "a" {
		t.Errorf("maintenance off: %d %q", res.StatusCode, body)
	}
}

func TestPoolStickyCookieAndHashOnHeader(t *testing.T) {
	a, b, c := startApp(t, "a"), startApp(t, "b"), startApp(t, "c")
	admin, addr := freeAddr(t), freeAddr(t)
	cfg := poolSite(t, admin, addr, "round_robin", "    sticky: {cookie: srv}", a, b, c)
	cfg = strings.Replace(cfg, "sites:", `  tenants:
    servers: ["http://`+a.addr+`", "http://`+b.addr+`", "http://`+c.addr+`"]
    balance: hash
    hash_key: header:X-Tenant
sites:`, 1)
	cfg = strings.Replace(cfg, "      - path: /\n", "      - path: /t/\n        proxy: {to: tenants}\n      - path: /\n", 1)
	startGatehouse(t, cfg, addr)
	base := "http://" + addr

	// The first answer sets the cookie; with it every request goes to the
	// same server, without it they go round.
	res, err := http.Get(base + "/whoami")
	if err != nil {
		t.Fatal(err)
	}
	first, _ := io.ReadAll(res.Body)
	res.Body.Close()
	var cookie *http.Cookie
	for _, ck := range res.Cookies() {
		if ck.Name == "srv" {
			cookie = ck
		}
	}
	if cookie == nil || !cookie.HttpOnly {
		t.Fatalf("no HttpOnly sticky cookie: %v", res.Header["Set-Cookie"])
	}
	for i := 0; i < 10; i++ {
		req, _ := http.NewRequest("GET", base+"/whoami", nil)
		req.AddCookie(cookie)
		res, err := http.DefaultClient.Do(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(body) != string(first) {
			t.Fatalf("with the cookie for %s, request %d went to %s", first, i, body)
		}
	}

	// The same tenant always lands on the same server; tenants spread.
	seen := map[string]string{}
	servers := map[string]bool{}
	for i := 0; i < 40; i++ {
		tenant := fmt.Sprintf("tenant-%d", i%8)
		res, body := get(t, base+"/t/whoami", map[string]string{"X-Tenant": tenant})
		if res.StatusCode != 200 {
			t.Fatalf("%d %s", res.StatusCode, body)
		}
		if prev, ok := seen[tenant]; ok && prev != string(body) {
			t.Fatalf("%s moved from %s to %s", tenant, prev, body)
		}
		seen[tenant] = string(body)
		servers[string(body)] = true
	}
	if len(servers) < 2 {
		t.Errorf("8 tenants all on %v", servers)
	}
}

// A reload keeps what the pool knew of its servers' health: a server
// found down stays out of rotation instead of being tried again by the
// new configuration's first requests.
func TestPoolHealthSurvivesAReload(t *testing.T) {
	a, b := startApp(t, "a"), startApp(t, "b")
	admin, addr := freeAddr(t), freeAddr(t)
	cfg := poolSite(t, admin, addr, "round_robin",
		"    health: {passive: {fails: 1, window: 1m, down_for: 1m}}", a, b)
	g := startGatehouse(t, cfg, addr, admin)
	base := "http://" + addr
	b.kill()
	// The first request that meets the dead server is retried on a, and
	// the server is marked down.
	for i := 0; i < 4; i++ {
		if code, name := whoami(t, http.DefaultClient, base); code != 200 || name != "a" {
			t.Fatalf("request %d: %d %s", i, code, name)
		}
	}
	g.writeConfig(cfg + "# reloaded\n")
	if out, code := g.reload(); code != 0 {
		t.Fatalf("reload: exit %d: %s", code, out)
	}
	out, code := runCLI(t, t.TempDir(), "status", "-c", g.cfgPath)
	if code != 0 || !strings.Contains(out, "down (failures)") {
		t.Fatalf("after the reload, status does not show b down: exit %d:\n%s", code, out)
	}
	retries := strings.Count(g.stderr.String()+g.stdout.String(), "retrying on another upstream server")
	for i := 0; i < 6; i++ {
		if code, name := whoami(t, http.DefaultClient, base); code != 200 || name != "a" {
			t.Fatalf("after reload, request %d: %d %s", i, code, name)
		}
	}
	if n := strings.Count(g.stderr.String()+g.stdout.String(), "retrying on another upstream server"); n != retries {
		t.Errorf("after the reload the dead server was tried again (%d retries)", n-retries)
	}
}
