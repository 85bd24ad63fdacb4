package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net/http"
	"net/url"
	"os"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/fleet/fleettest"
)

// fleetInstance is one Gatehouse of a fleet under test.
type fleetInstance struct {
	g           *gatehouse
	addr, admin string
}

// startFleet starts n instances sharing the store that storeYAML names
// (the redis mapping), in front of the app at up.
func startFleet(t *testing.T, n int, storeYAML, up string) []fleetInstance {
	t.Helper()
	var out []fleetInstance
	for i := range n {
		addr, admin := freeAddr(t), freeAddr(t)
		cfg := fmt.Sprintf(`admin: {listen: "%s", shared: true}
access_log: {output: "off"}
trusted_proxies: ["127.0.0.1/32"]
store:
  redis: %s
  name: gh%d
  fleet_size: %d
bans: {threshold: 5, window: 30s, duration: 10m, statuses: [404], shared: true}
# Long enough that a waiter that missed the lock's release would outwait
# the test client.
cache: {shared: {lock_timeout: 30s}}
sites:
  - listen: ["%s"]
    routes:
      - path: /limited
        rate_limit: {rate: 50r/s, burst: 10, shared: true}
        respond: {body: "ok"}
      - path: /roomy
        rate_limit: {rate: 100000r/s, burst: 1000, shared: true}
        respond: {body: "ok"}
      - path: /cached
        cache: {}
        proxy: {to: "http://%s"}
      - path: /waf
        waf: on
        respond: {body: "passed"}
      - path: /
        respond: {status: 404, body: "none"}
`, admin, storeYAML, i+1, n, addr, up)
		g := startGatehouse(t, cfg, addr, admin)
		out = append(out, fleetInstance{g: g, addr: addr, admin: admin})
	}
	// Every instance has found the store and its peers.
	for _, in := range out {
		waitFor(t, func() bool {
			st := fleetStatus(t, in.admin)
			return st.Store != nil && st.Store.Up && len(st.Store.Members) == n
		})
	}
	return out
}

// fleetStatusBody is the part of GET /status the tests read.
type fleetStatusBody struct {
	Maintenance bool `json:"maintenance"`
	Store       *struct {
		Up      bool `json:"up"`
		Members []struct {
			Name string `json:"name"`
		} `json:"members"`
	} `json:"store"`
}

func fleetStatus(t *testing.T, admin string) fleetStatusBody {
	t.Helper()
	var st fleetStatusBody
	res, err := http.Get("http://" + admin + "/status")
	if err != nil {
		return st
	}
	defer res.Body.Close()
	_ = json.NewDecoder(res.Body).Decode(&st)
	return st
}

// askAs sends GET path for fleet.test to addr as client ip (X-Forwarded-For, which the
// fleet trusts from loopback) and returns the status, the body and the
// Cache-Status field.
func askAs(client *http.Client, addr, path, ip string) (int, string, string, error) {
	req, _ := http.NewRequest("GET", "http://"+addr+path, nil)
	// One name for the fleet, as behind a layer-4 load balancer.
	req.Host = "fleet.test"
	req.Header.Set("X-Forwarded-For", ip)
	res, err := client.Do(req)
	if err != nil {
		return 0, "", "", err
	}
	defer res.Body.Close()
	b, _ := io.ReadAll(res.Body)
	return res.StatusCode, string(b), res.Header.Get("Cache-Status"), nil
}

// checkFleetShares checks that the instances behave as one: a rate limit
// counted for the fleet, a ban earned on one holding on all, an object
// cached by one a hit on the others (and a miss collapsed across them),
// a virtual patch and the maintenance switch set on one applying to all.
func checkFleetShares(t *testing.T, fl []fleetInstance, up string) {
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}

	t.Run("rate limit", func(t *testing.T) {
		// Six clients send flat out, spread over the instances, as one
		// address: 50 r/s with a burst of 10 is for the fleet.
		var ok, refused, other atomic.Int64
		stop := time.Now().Add(3 * time.Second)
		start := time.Now()
		var wg sync.WaitGroup
		for c := range 6 {
			wg.Add(1)
			go func() {
				defer wg.Done()
				for i := c; time.Now().Before(stop); i++ {
					status, _, _, err := askAs(client, fl[i%len(fl)].addr, "/limited", "198.51.100.1")
					switch {
					case err == nil && status == 200:
						ok.Add(1)
					case err == nil && status == 429:
						refused.Add(1)
					default:
						other.Add(1)
					}
				}
			}()
		}
		wg.Wait()
		elapsed := time.Since(start).Seconds()
		exact := 50*elapsed + 10 + 1
		t.Logf("admitted %d, refused %d, in %.2fs: an exact limiter admits about %.0f", ok.Load(), refused.Load(), elapsed, exact)
		if other.Load() > 0 {
			t.Fatalf("%d answers were neither 200 nor 429", other.Load())
		}
		if float64(ok.Load()) > 1.05*50*elapsed+10+1 {
			t.Fatalf("the fleet admitted %d, over 1.05 × rate × time + burst", ok.Load())
		}
		if float64(ok.Load()) < 0.95*exact {
			t.Fatalf("the fleet admitted %d, under 95%% of an exact limiter's %.0f", ok.Load(), exact)
		}
	})

	t.Run("ban", func(t *testing.T) {
		for range 5 {
			if status, _, _, err := askAs(client, fl[0].addr, "/nothing-here", "198.51.100.2"); err != nil || status != 404 {
				t.Fatalf("earning a ban: %d %v", status, err)
			}
		}
		banned := time.Now()
		for _, in := range fl[1:] {
			waitFor(t, func() bool {
				status, _, _, _ := askAs(client, in.addr, "/limited", "198.51.100.2")
				return status == 403
			})
		}
		t.Logf("banned on every instance %v after the ban", time.Since(banned).Round(time.Millisecond))
		// Others are served; a lift on one instance lifts it on all.
		if status, _, _, _ := askAs(client, fl[1].addr, "/roomy", "198.51.100.3"); status != 200 {
			t.Fatalf("another client: %d", status)
		}
		req, _ := http.NewRequest("DELETE", "http://"+fl[len(fl)-1].admin+"/bans/198.51.100.2", nil)
		if res, err := client.Do(req); err != nil || res.StatusCode != 200 {
			t.Fatalf("lifting the ban: %v %v", res, err)
		}
		for _, in := range fl {
			waitFor(t, func() bool {
				status, _, _, _ := askAs(client, in.addr, "/roomy", "198.51.100.2")
				return status == 200
			})
		}
	})

	t.Run("cache", func(t *testing.T) {
		count := filepath.Join(t.TempDir(), "count")
		path := "/cached?count=" + url.QueryEscape(count)
		status, body, _, err := askAs(client, fl[0].addr, path, "198.51.100.4")
		if err != nil || status != 200 || body != "response 1" {
			b, _ := os.ReadFile(count)
			t.Fatalf("first fetch: %d %q %v; the app counted %q", status, body, err, b)
		}
		for _, in := range fl[1:] {
			status, body, cs, err := askAs(client, in.addr, path, "198.51.100.4")
			if err != nil || status != 200 || body != "response 1" || !strings.Contains(cs, "hit") {
				t.Fatalf("another instance: %d %q Cache-Status %q %v", status, body, cs, err)
			}
		}
		if n := countLines(t, count); n != 1 {
			t.Fatalf("the app was asked %d times, want once for the fleet", n)
		}
		if v := metricValue(t, scrape(t, "http://"+fl[1].admin+"/metrics"), "gatehouse_cache_shared_total", map[string]string{"event": "hit"}); v < 1 {
			t.Errorf("gatehouse_cache_shared_total{event=hit} is %v after a shared hit", v)
		}

		// A slow response asked of every instance at once: one goes
		// to the app, the others wait for it in the shared tier.
		count2 := filepath.Join(t.TempDir(), "count")
		slow := "/cached?s=1&count=" + url.QueryEscape(count2)
		var wg sync.WaitGroup
		bodies := make([]string, 9)
		for i := range bodies {
			wg.Add(1)
			go func() {
				defer wg.Done()
				_, bodies[i], _, _ = askAs(client, fl[i%len(fl)].addr, slow, "198.51.100.4")
			}()
		}
		wg.Wait()
		for i, b := range bodies {
			if b != "response 1" {
				t.Fatalf("client %d got %q", i, b)
			}
		}
		if n := countLines(t, count2); n != 1 {
			t.Fatalf("nine concurrent misses over the fleet reached the app %d times, want 1", n)
		}
		// A page that is never stored, asked of every instance at once:
		// the instance that took the lock lets it go without a response
		// to share, and the others go to the app at once instead of
		// waiting out the lock.
		count3 := filepath.Join(t.TempDir(), "count")
		uncacheable := "/cached?s=0.5&cc=no-store&count=" + url.QueryEscape(count3)
		errs := make([]error, len(fl))
		for i := range fl {
			wg.Add(1)
			go func() {
				defer wg.Done()
				var status int
				status, _, _, errs[i] = askAs(client, fl[i].addr, uncacheable, "198.51.100.4")
				if errs[i] == nil && status != 200 {
					errs[i] = fmt.Errorf("status %d", status)
				}
			}()
		}
		wg.Wait()
		for i, err := range errs {
			if err != nil {
				t.Fatalf("an uncacheable page on instance %d: %v", i, err)
			}
		}
		if n := countLines(t, count3); n != len(fl) {
			t.Fatalf("the app answered an uncacheable page %d times for %d requests", n, len(fl))
		}
		// A purge on one instance purges the fleet.
		res, err := client.Post("http://"+fl[1].admin+"/cache/purge", "application/json",
			strings.NewReader(fmt.Sprintf(`{"url": "http://fleet.test%s"}`, path)))
		if err != nil || res.StatusCode != 200 {
			t.Fatalf("purge: %v %v", res, err)
		}
		res.Body.Close()
		for _, in := range fl {
			// The old copy is gone; the first to ask fetched a new one,
			// which the others share.
			waitFor(t, func() bool {
				_, body, _, _ := askAs(client, in.addr, path, "198.51.100.4")
				return body != "response 1"
			})
		}
	})

	t.Run("virtual patch", func(t *testing.T) {
		attack := "/waf?q=fleet-attack-7"
		if status, _, _, _ := askAs(client, fl[0].addr, attack, "198.51.100.5"); status != 200 {
			t.Fatalf("before the patch: %d", status)
		}
		patch := `{"id": "fleet-1", "rule": "SecRule ARGS \"@contains fleet-attack\" \"id:9100001,phase:2,deny,status:403\""}`
		res, err := client.Post("http://"+fl[1].admin+"/waf/patches", "application/json", bytes.NewBufferString(patch))
		if err != nil || res.StatusCode != 201 {
			t.Fatalf("adding the patch: %v %v", res, err)
		}
		res.Body.Close()
		for _, in := range fl {
			waitFor(t, func() bool {
				status, _, _, _ := askAs(client, in.addr, attack, "198.51.100.5")
				return status == 403
			})
		}
		req, _ := http.NewRequest("DELETE", "http://"+fl[len(fl)-1].admin+"/waf/patches/fleet-1", nil)
		if res, err := client.Do(req); err != nil || res.StatusCode != 200 {
			t.Fatalf("removing the patch: %v %v", res, err)
		}
		for _, in := range fl {
			waitFor(t, func() bool {
				status, _, _, _ := askAs(client, in.addr, attack, "198.51.100.5")
				return status == 200
			})
		}
	})

	t.Run("maintenance", func(t *testing.T) {
		for _, state := range []string{"on", "off"} {
			res, err := client.Post("http://"+fl[0].admin+"/maintenance/"+state, "", nil)
			if err != nil || res.StatusCode != 200 {
				t.Fatalf("maintenance %s: %v %v", state, res, err)
			}
			res.Body.Close()
			for _, in := range fl {
				waitFor(t, func() bool { return fleetStatus(t, in.admin).Maintenance == (state == "on") })
			}
		}
	})
}

// Three instances on one redis-server share a rate limit, bans, cached
// objects, virtual patches and the maintenance switch; then Redis dies
// under traffic, and no client sees an error; when it returns, the
// instances find it again and share again.
func TestFleetSharesStateThroughRedis(t *testing.T) {
	t.Parallel()
	r := fleettest.StartRedis(t)
	up := startGunicorn(t, 4)
	fl := startFleet(t, 3, fmt.Sprintf(`{addrs: ["%s"]}`, r.Addr), up)
	checkFleetShares(t, fl, up)

	checkStoreOutage(t, fl, r.Stop, r.Start)
	// Shared again: a ban made now reaches the others.
	checkFleetShares(t, fl, up)
}

// checkStoreOutage sends traffic to every instance (a shared limit and
// the shared cache) while stop takes the store away and start brings it
// back: no client sees an error, the instances mark the store down and
// find it again, and say so once each way.
func checkStoreOutage(t *testing.T, fl []fleetInstance, stop, start func()) {
	t.Helper()
	// Traffic on every instance while Redis is killed and restarted.
	client := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	var answered, failed atomic.Int64
	var failures sync.Map
	done := make(chan struct{})
	var wg sync.WaitGroup
	for c := range 6 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := c; ; i++ {
				select {
				case <-done:
					return
				default:
				}
				path := "/roomy"
				if i%2 == 1 {
					path = "/cached?cc=max-age%3D1"
				}
				status, _, _, err := askAs(client, fl[i%len(fl)].addr, path, fmt.Sprintf("203.0.113.%d", c+1))
				answered.Add(1)
				if err != nil || status != 200 {
					failed.Add(1)
					failures.Store(fmt.Sprintf("%s: %d %v", path, status, err), true)
				}
			}
		}()
	}
	time.Sleep(time.Second)
	stop()
	for _, in := range fl {
		waitFor(t, func() bool { st := fleetStatus(t, in.admin); return st.Store != nil && !st.Store.Up })
	}
	time.Sleep(2 * time.Second)
	if v := metricValue(t, scrape(t, "http://"+fl[0].admin+"/metrics"), "gatehouse_store_up", nil); v != 0 {
		t.Errorf("gatehouse_store_up is %v with Redis down", v)
	}
	start()
	for _, in := range fl {
		waitFor(t, func() bool { st := fleetStatus(t, in.admin); return st.Store != nil && st.Store.Up })
	}
	time.Sleep(time.Second)
	close(done)
	wg.Wait()
	t.Logf("%d requests across Redis's death and return, %d failed", answered.Load(), failed.Load())
	failures.Range(func(k, _ any) bool { t.Errorf("failed: %v", k); return true })
	if v := metricValue(t, scrape(t, "http://"+fl[0].admin+"/metrics"), "gatehouse_store_up", nil); v != 1 {
		t.Errorf("gatehouse_store_up is %v with Redis back", v)
	}
	for _, in := range fl {
		logs := in.g.stderr.String()
		down, back := strings.Count(logs, "store unreachable"), strings.Count(logs, "store reachable again")
		t.Logf("%s logged the store down %d times and back %d", in.addr, down, back)
		// One line per change of state: not one per failed call.
		if down < 1 || back < 1 || down > 3 {
			t.Errorf("the state changes were not logged once each way:\n%s", logs)
		}
	}
}

// The same fleet on a Redis Cluster of three masters, one of which dies
// under traffic and comes back.
func TestFleetSharesStateThroughRedisCluster(t *testing.T) {
	t.Parallel()
	c := fleettest.StartCluster(t)
	up := startGunicorn(t, 4)
	fl := startFleet(t, 3, fmt.Sprintf(`{addrs: ["%s"], cluster: true}`, strings.Join(c.Addrs(), `", "`)), up)
	checkFleetShares(t, fl, up)
	checkStoreOutage(t, fl, c.Nodes[0].Stop, func() {
		c.Nodes[0].Start()
		c.WaitOK(t)
	})
	checkFleetShares(t, fl, up)
}

// Two instances with shared ACME storage order one certificate from
// Pebble between them, and both serve it. Pebble validates HTTP-01 on
// the first instance's port only, so when the second orders, the first
// answers its challenge from the shared storage.
func TestFleetOrdersOneCertificate(t *testing.T) {
	r := fleettest.StartRedis(t)
	httpA, httpsA, httpB, httpsB := freeAddr(t), freeAddr(t), freeAddr(t), freeAddr(t)
	p := startPebble(t, port(t, httpA), port(t, httpsA), 0)
	config := func(name, httpAddr, httpsAddr string) string {
		return fmt.Sprintf(`admin: "off"
store:
  redis: {addrs: ["%s"]}
  name: %s
sites:
  - listen: ["http://%s", "https://%s"]
    hosts: [fleet.test]
    tls: {acme: {email: ops@fleet.test, ca: "%s", ca_root: %s, challenges: [http-01], shared: true}}
    routes:
      - path: /
        respond: {body: "%s\n"}
`, r.Addr, name, httpAddr, httpsAddr, p.Directory, p.ServerRoot, name)
	}
	// Started together: either may take the lock and order; when b
	// does, a answers the challenge from the shared storage.
	a := startGatehouse(t, config("a", httpA, httpsA), httpA)
	b := startGatehouse(t, config("b", httpB, httpsB), httpB, httpsB)
	certA := waitIssued(t, a, httpsA, "fleet.test", p.Roots, 90*time.Second)
	certB := waitIssued(t, b, httpsB, "fleet.test", p.Roots, 90*time.Second)
	if certA.SerialNumber.Cmp(certB.SerialNumber) != 0 {
		t.Fatalf("the instances serve two certificates (serials %x and %x): each ordered its own", certA.SerialNumber, certB.SerialNumber)
	}
	keys := r.CLI("--scan", "--pattern", "gatehouse:acme:certificates/*")
	if !strings.Contains(keys, "/fleet.test/fleet.test.crt") || !strings.Contains(keys, "/fleet.test/fleet.test.key") {
		t.Fatalf("the certificate is not in Redis under readable keys:\n%s", keys)
	}
	ordered := 0
	for name, g := range map[string]*gatehouse{"a": a, "b": b} {
		logs := g.stderr.String()
		if strings.Contains(logs, "level=ERROR") {
			t.Errorf("errors logged:\n%s", tail(logs, 4000))
		}
		if strings.Contains(logs, "certificate obtained successfully") {
			ordered++
			t.Logf("%s ordered the certificate", name)
		}
	}
	if ordered != 1 {
		t.Errorf("%d instances ordered a certificate, want 1", ordered)
	}
	t.Logf("one certificate, serial %x, served by both; keys:\n%s", certA.SerialNumber, keys)
}

// The same fleet (two instances) finding its Redis through Sentinel.
func TestFleetSharesStateThroughSentinel(t *testing.T) {
	t.Parallel()
	master := fleettest.StartRedis(t)
	sentinel := fleettest.StartSentinel(t, master, "gatehouse-master")
	up := startGunicorn(t, 4)
	fl := startFleet(t, 2, fmt.Sprintf(`{addrs: ["%s"], sentinel_master: gatehouse-master}`, sentinel.Addr), up)
	checkFleetShares(t, fl, up)
}

// The store over TLS, with a client certificate and a password; with
// the wrong password the instance serves on without it (on_failure:
// open) and says why.
func TestFleetStoreOverTLSWithAPassword(t *testing.T) {
	t.Parallel()
	ca := newTestCA(t)
	srvCert, srvKey := ca.issue("localhost")
	cliCert, cliKey := ca.issue("gatehouse-fleet")
	r := fleettest.StartRedisTLS(t, srvCert, srvKey, ca.File, "fleet-password-1")
	start := func(password string) (*gatehouse, string, string) {
		addr, admin := freeAddr(t), freeAddr(t)
		g := startGatehouse(t, fmt.Sprintf(`admin: "%s"
store:
  redis:
    addrs: ["%s"]
    password: "%s"
    tls: {ca: %s, cert: %s, key: %s, server_name: localhost}
sites:
  - listen: ["%s"]
    rate_limit: {rate: 1r/m, shared: true}
    routes:
      - path: /
        respond: {body: ok}
`, admin, r.Addr, password, ca.File, cliCert, cliKey, addr), addr, admin)
		return g, addr, admin
	}
	good, addr, admin := start("fleet-password-1")
	waitFor(t, func() bool { st := fleetStatus(t, admin); return st.Store != nil && st.Store.Up })
	client := &http.Client{Timeout: 5 * time.Second}
	for i, want := range []int{200, 429} {
		if status, _, _, err := askAs(client, addr, "/", "198.51.100.9"); err != nil || status != want {
			t.Fatalf("request %d: %d %v, want %d", i, status, err, want)
		}
	}
	if keys := r.CLI("--scan", "--pattern", "gatehouse:rl:*"); !strings.Contains(keys, "gatehouse:rl:{127.0.0.1}:") {
		t.Fatalf("the limit is not counted in the store: %q", keys)
	}
	if strings.Contains(good.stderr.String(), "fleet-password-1") {
		t.Fatal("the store password is in the log")
	}

	bad, addr, admin := start("wrong-password")
	waitFor(t, func() bool { return strings.Contains(bad.stderr.String(), "store unreachable") })
	if st := fleetStatus(t, admin); st.Store == nil || st.Store.Up {
		t.Fatalf("the store counts as up with a wrong password: %+v", st.Store)
	}
	// Served on, counted locally.
	if status, _, _, err := askAs(client, addr, "/", "198.51.100.9"); err != nil || status != 200 {
		t.Fatalf("with the store unreachable: %d %v", status, err)
	}
	if strings.Contains(bad.stderr.String(), "wrong-password") {
		t.Fatal("the store password is in the log")
	}
}
