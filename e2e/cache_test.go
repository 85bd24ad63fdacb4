package e2e

import (
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"
)

// fetchResult is one response of a concurrent fetch.
type fetchResult struct {
	status      int
	body        string
	cacheStatus string
	err         error
}

// fetch GETs url with the given fields, for use off the test goroutine.
func fetch(client *http.Client, url string, hdr map[string]string) fetchResult {
	req, err := http.NewRequest("GET", url, nil)
	if err != nil {
		return fetchResult{err: err}
	}
	for k, v := range hdr {
		req.Header.Set(k, v)
	}
	res, err := client.Do(req)
	if err != nil {
		return fetchResult{err: err}
	}
	defer res.Body.Close()
	body, err := io.ReadAll(res.Body)
	return fetchResult{status: res.StatusCode, body: string(body), cacheStatus: res.Header.Get("Cache-Status"), err: err}
}

// countLines is how many requests the app's /cached counted in file.
func countLines(t *testing.T, file string) int {
	t.Helper()
	b, err := os.ReadFile(file)
	if os.IsNotExist(err) {
		return 0
	}
	if err != nil {
		t.Fatal(err)
	}
	return bytes.Count(b, []byte("\n"))
}

// cacheConfig is a site at addr caching everything it proxies to the app
// at up; extra goes at the top level.
func cacheConfig(admin, addr, up, extra, rule string) string {
	return fmt.Sprintf(`admin: %s
%s
sites:
  - listen: ["%s"]
    cache: %s
    routes:
      - path: /
        proxy: {to: "http://%s"}
`, admin, extra, addr, rule, up)
}

func TestCacheCollapsesConcurrentMisses(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	addr, admin := freeAddr(t), freeAddr(t)
	startGatehouse(t, cacheConfig(admin, addr, up, "", "{}"), addr)
	count := filepath.Join(t.TempDir(), "count")
	url := fmt.Sprintf("http://%s/cached?s=1&count=%s", addr, count)

	// Hundreds of clients ask at once for a response that takes the
	// app a second: one request reaches it, the others wait for its
	// answer.
	const n = 300
	client := &http.Client{Transport: &http.Transport{MaxConnsPerHost: n, MaxIdleConnsPerHost: n}, Timeout: 60 * time.Second}
	results := make([]fetchResult, n)
	var wg sync.WaitGroup
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = fetch(client, url, nil)
		}()
	}
	wg.Wait()
	outcomes := map[string]int{}
	for i, r := range results {
		if r.err != nil || r.status != 200 || r.body != "response 1" {
			t.Fatalf("client %d: %v %d %q", i, r.err, r.status, r.body)
		}
		outcomes[r.cacheStatus]++
	}
	if got := countLines(t, count); got != 1 {
		t.Errorf("the app saw %d requests, want 1 (outcomes %v)", got, outcomes)
	}
	if outcomes["gatehouse; fwd=miss; fwd-status=200; stored"] != 1 || outcomes["gatehouse; fwd=miss; collapsed"] < n/2 {
		t.Errorf("Cache-Status values: %v", outcomes)
	}
	text := scrape(t, "http://"+admin+"/metrics")
	if v := metricValue(t, text, "gatehouse_cache_requests_total", map[string]string{"outcome": "collapsed"}); v < n/2 {
		t.Errorf("collapsed metric %v", v)
	}

	// An answer that cannot be stored releases the waiters at once to
	// go to the app themselves.
	count2 := filepath.Join(t.TempDir(), "count2")
	url2 := fmt.Sprintf("http://%s/cached?cc=no-store&count=%s", addr, count2)
	const m = 20
	results = make([]fetchResult, m)
	for i := range results {
		wg.Add(1)
		go func() {
			defer wg.Done()
			results[i] = fetch(client, url2, nil)
		}()
	}
	wg.Wait()
	for i, r := range results {
		if r.err != nil || r.status != 200 || !strings.HasPrefix(r.body, "response ") {
			t.Fatalf("uncacheable, client %d: %v %d %q", i, r.err, r.status, r.body)
		}
	}
	if got := countLines(t, count2); got != m {
		t.Errorf("uncacheable: the app saw %d requests, want %d", got, m)
	}
}

func TestCacheServesStaleWhenTheOriginIsDown(t *testing.T) {
	t.Parallel()
	up := freeAddr(t)
	app := gunicornCmd(t, up, 1, "app")
	runPeer(t, "gunicorn", app, syscall.SIGTERM, up)
	addr := freeAddr(t)
	startGatehouse(t, fmt.Sprintf(`admin: "off"
sites:
  - listen: ["%s"]
    cache: {}
    routes:
      - path: /sie/
        cache: {stale_if_error: 1m}
        proxy: {to: "http://%s"}
      - path: /
        proxy: {to: "http://%s"}
`, addr, up, up), addr)
	base := "http://" + addr
	urls := map[string]string{
		"rule":      base + "/sie/cached?cc=max-age=1",
		"directive": base + "/own/cached?cc=max-age=1,stale-if-error=60",
		"neither":   base + "/plain/cached?cc=max-age=1",
	}
	for name, u := range urls {
		if res, body := get(t, u, nil); res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Status"), "stored") {
			t.Fatalf("%s: %d %q %q", name, res.StatusCode, res.Header.Get("Cache-Status"), body)
		}
	}
	time.Sleep(1500 * time.Millisecond) // all three are stale now

	// The app goes away for good.
	_ = app.Process.Signal(syscall.SIGINT)
	deadline := time.Now().Add(15 * time.Second)
	for {
		c, err := net.DialTimeout("tcp", up, 200*time.Millisecond)
		if err != nil {
			break
		}
		c.Close()
		if time.Now().After(deadline) {
			t.Fatal("gunicorn did not stop")
		}
		time.Sleep(50 * time.Millisecond)
	}
	for _, name := range []string{"rule", "directive"} {
		res, body := get(t, urls[name], nil)
		cs := res.Header.Get("Cache-Status")
		if res.StatusCode != 200 || string(body) != "response 0" || !strings.Contains(cs, "fwd=stale") || !strings.Contains(cs, "detail=stale-if-error") {
			t.Errorf("%s: %d %q %q, want the stale copy", name, res.StatusCode, cs, body)
		}
		if age, _ := strconv.Atoi(res.Header.Get("Age")); age < 1 {
			t.Errorf("%s: Age %q", name, res.Header.Get("Age"))
		}
	}
	// Without stale-if-error from the rule or the origin, a stale copy
	// is never served.
	if res, _ := get(t, urls["neither"], nil); res.StatusCode < 500 {
		t.Errorf("neither: %d %q, want the error", res.StatusCode, res.Header.Get("Cache-Status"))
	}
}

func TestCachePurgeByURLAndPrefix(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	addr, admin := freeAddr(t), freeAddr(t)
	g := startGatehouse(t, cacheConfig(admin, addr, up, "", "{}"), addr, admin)
	base := "http://" + addr
	paths := []string{"/p/a/cached", "/p/dir/x/cached", "/p/dir/y/cached", "/p/vary/cached?vary=Accept-Language"}
	for _, p := range paths {
		get(t, base+p, nil)
	}
	get(t, base+paths[3], map[string]string{"Accept-Language": "fr"}) // a second variant
	hit := func(p string, hdr map[string]string) bool {
		res, _ := get(t, base+p, hdr)
		return strings.HasPrefix(res.Header.Get("Cache-Status"), "gatehouse; hit")
	}
	for _, p := range paths {
		if !hit(p, nil) {
			t.Fatalf("%s is not stored", p)
		}
	}
	purge := func(arg string) string {
		out, code := runCLI(t, t.TempDir(), "cache", "purge", "-c", g.cfgPath, arg)
		if code != 0 {
			t.Fatalf("gatehouse cache purge %s: exit %d: %s", arg, code, out)
		}
		return strings.TrimSpace(out)
	}
	if out := purge(base + "/p/a/cached"); out != "purged 1" {
		t.Errorf("purge one URL: %q", out)
	}
	if hit("/p/a/cached", nil) || !hit("/p/dir/x/cached", nil) {
		t.Error("the purge took the wrong URLs")
	}
	if out := purge(base + "/p/dir/*"); out != "purged 2" {
		t.Errorf("purge a prefix: %q", out)
	}
	if hit("/p/dir/x/cached", nil) || hit("/p/dir/y/cached", nil) {
		t.Error("the prefix purge left URLs")
	}
	// Both variants of one URL go together, and count once.
	if out := purge(base + paths[3]); out != "purged 1" {
		t.Errorf("purge a URL with two variants: %q", out)
	}
	if hit(paths[3], nil) || hit(paths[3], map[string]string{"Accept-Language": "fr"}) {
		t.Error("a variant survived the purge")
	}
	// The admin API, as scripts call it.
	res, err := http.Post("http://"+admin+"/cache/purge", "application/json", strings.NewReader(`{"url": "`+base+`/nothing"}`))
	if err != nil {
		t.Fatal(err)
	}
	var pr struct{ Purged int }
	_ = json.NewDecoder(res.Body).Decode(&pr)
	res.Body.Close()
	if res.StatusCode != 200 || pr.Purged != 0 {
		t.Errorf("admin purge of an unknown URL: %d %+v", res.StatusCode, pr)
	}
	res, err = http.Post("http://"+admin+"/cache/purge", "application/json", strings.NewReader(`{"url": "not a url"}`))
	if err != nil {
		t.Fatal(err)
	}
	res.Body.Close()
	if res.StatusCode != 400 {
		t.Errorf("admin purge of a bad URL: %d", res.StatusCode)
	}
	// An unsafe method invalidates its target.
	if !hit("/p/dir/x/cached", nil) {
		t.Fatal("not stored again")
	}
	req, _ := http.NewRequest("POST", base+"/p/dir/x/cached", strings.NewReader("x"))
	if res, err := http.DefaultClient.Do(req); err != nil {
		t.Fatal(err)
	} else {
		res.Body.Close()
	}
	if hit("/p/dir/x/cached", nil) {
		t.Error("a POST did not invalidate its target")
	}
}

func TestCacheDiskTierSurvivesRestart(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	addr := freeAddr(t)
	dir := filepath.Join(t.TempDir(), "cache")
	cfg := cacheConfig(`"off"`, addr, up, fmt.Sprintf("cache: {memory: 1MB, disk: {path: %s, max_size: 100MB}}", dir), "{}")
	count := filepath.Join(t.TempDir(), "count")
	big := fmt.Sprintf("http://%s/big/cached?n=3000000&count=%s", addr, count)
	small := fmt.Sprintf("http://%s/small/cached?count=%s", addr, count)

	g := startGatehouse(t, cfg, addr)
	want := string(bytes.Repeat(pattern251(), 3000000/251+1)[:3000000])
	for _, u := range []string{big, small} {
		if res, body := get(t, u, nil); res.StatusCode != 200 || !strings.Contains(res.Header.Get("Cache-Status"), "stored") {
			t.Fatalf("%s: %d %q (%d bytes)", u, res.StatusCode, res.Header.Get("Cache-Status"), len(body))
		}
	}
	g.stop()

	// A crash's leftovers: an unfinished file and a damaged entry. The
	// tier drops both when it loads.
	_ = os.WriteFile(filepath.Join(dir, ".tmp-123"), []byte("half"), 0o600)
	damaged := filepath.Join(dir, strings.Repeat("0", 64)+"-0123456789abcdef")
	_ = os.WriteFile(damaged, []byte("not an entry at all"), 0o600)

	startGatehouse(t, cfg, addr)
	res, body := get(t, big, nil)
	if res.StatusCode != 200 || string(body) != want || !strings.HasPrefix(res.Header.Get("Cache-Status"), "gatehouse; hit") {
		t.Errorf("big after restart: %d %q, %d bytes, intact %v", res.StatusCode, res.Header.Get("Cache-Status"), len(body), string(body) == want)
	}
	res, body = get(t, small, nil)
	if res.StatusCode != 200 || string(body) != "response 2" || !strings.HasPrefix(res.Header.Get("Cache-Status"), "gatehouse; hit") {
		t.Errorf("small after restart: %d %q %q", res.StatusCode, res.Header.Get("Cache-Status"), body)
	}
	// A range of the stored body.
	res, body = get(t, big, map[string]string{"Range": "bytes=1000-1999"})
	if res.StatusCode != 206 || string(body) != want[1000:2000] {
		t.Errorf("range of a stored body: %d, %d bytes", res.StatusCode, len(body))
	}
	if got := countLines(t, count); got != 2 {
		t.Errorf("the app saw %d requests, want 2", got)
	}
	for _, p := range []string{filepath.Join(dir, ".tmp-123"), damaged} {
		if _, err := os.Stat(p); !os.IsNotExist(err) {
			t.Errorf("%s is still there", filepath.Base(p))
		}
	}
}

// pattern251 is the app's /bytes pattern: byte i is i % 251.
func pattern251() []byte {
	p := make([]byte, 251)
	for i := range p {
		p[i] = byte(i)
	}
	return p
}

func TestCacheMemoryStaysBounded(t *testing.T) {
	t.Parallel()
	up := startGunicorn(t, 2)
	addr, admin := freeAddr(t), freeAddr(t)
	g := startGatehouse(t, cacheConfig(admin, addr, up, "cache: {memory: 4MB}", "{}"), addr, admin)
	// 100 MB of cacheable responses, 25 times the memory tier.
	const n, size = 400, 256 << 10
	client := &http.Client{Timeout: 30 * time.Second}
	get(t, fmt.Sprintf("http://%s/warm/cached?n=%d", addr, size), nil)
	before := procStatusKB(t, g.cmd.Process.Pid, "VmRSS")
	for i := 0; i < n; i++ {
		r := fetch(client, fmt.Sprintf("http://%s/fill/%d/cached?n=%d", addr, i, size), nil)
		if r.err != nil || r.status != 200 || len(r.body) != size {
			t.Fatalf("fill %d: %v %d", i, r.err, r.status)
		}
	}
	after := procStatusKB(t, g.cmd.Process.Pid, "VmRSS")
	text := scrape(t, "http://"+admin+"/metrics")
	held := metricValue(t, text, "gatehouse_cache_bytes", map[string]string{"tier": "memory"})
	objects := metricValue(t, text, "gatehouse_cache_objects", nil)
	if held > 4<<20 || held < 1<<20 {
		t.Errorf("the memory tier holds %v bytes, want at most 4MB (and some)", held)
	}
	if objects > 16 || objects < 4 {
		t.Errorf("%v objects stored", objects)
	}
	if evicted := metricValue(t, text, "gatehouse_cache_evictions_total", nil); evicted < n-16 {
		t.Errorf("%v evictions", evicted)
	}
	if grew := after - before; grew > 48<<10 {
		t.Errorf("resident memory grew by %d KB while 100 MB went through a 4 MB cache", grew)
	}
	t.Logf("RSS %d KB before, %d KB after; memory tier %v bytes, %v objects", before, after, held, objects)
}
