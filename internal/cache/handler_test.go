package cache

import (
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

// origin is a test upstream: it counts requests and answers with respond.
type origin struct {
	n       atomic.Int64
	mu      sync.Mutex
	last    *http.Request
	respond func(w http.ResponseWriter, r *http.Request, n int64)
}

func (o *origin) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	n := o.n.Add(1)
	o.mu.Lock()
	o.last = r
	o.mu.Unlock()
	o.respond(w, r, n)
}

func rule() *config.Cache {
	t := true
	return &config.Cache{Lock: &t, StatusHeader: &t, Key: config.DefaultCacheKey}
}

func newCache(t *testing.T, r *config.Cache, o *origin) *Handler {
	t.Helper()
	s, err := NewStore(Options{Memory: 1 << 20, MaxObject: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	return New(r, s, o, slog.New(slog.DiscardHandler))
}

// do sends a request through h; fields are name, value pairs.
func do(h http.Handler, method, url string, fields ...string) *httptest.ResponseRecorder {
	req := httptest.NewRequest(method, url, nil)
	for i := 0; i+1 < len(fields); i += 2 {
		req.Header.Add(fields[i], fields[i+1])
	}
	w := httptest.NewRecorder()
	h.ServeHTTP(w, req)
	return w
}

func fixed(cc, body string) func(http.ResponseWriter, *http.Request, int64) {
	return func(w http.ResponseWriter, _ *http.Request, n int64) {
		if cc != "" {
			w.Header().Set("Cache-Control", cc)
		}
		b := fmt.Sprintf(body, n)
		w.Header().Set("Content-Length", fmt.Sprint(len(b)))
		_, _ = io.WriteString(w, b)
	}
}

func TestHitAfterMissAndHEAD(t *testing.T) {
	o := &origin{respond: fixed("max-age=60", "v%d")}
	h := newCache(t, rule(), o)
	w := do(h, "GET", "http://a.test/x")
	if w.Code != 200 || w.Body.String() != "v1" || w.Header().Get("Cache-Status") != "gatehouse; fwd=miss; fwd-status=200; stored" {
		t.Fatalf("miss: %d %q %q", w.Code, w.Body, w.Header().Get("Cache-Status"))
	}
	w = do(h, "GET", "http://A.test:80/x")
	if w.Body.String() != "v1" || !strings.HasPrefix(w.Header().Get("Cache-Status"), "gatehouse; hit; ttl=") || w.Header().Get("Age") == "" {
		t.Errorf("hit: %q %q age %q", w.Body, w.Header().Get("Cache-Status"), w.Header().Get("Age"))
	}
	w = do(h, "HEAD", "http://a.test/x")
	if w.Code != 200 || w.Body.Len() != 0 || w.Header().Get("Content-Length") != "2" {
		t.Errorf("HEAD: %d %q %q", w.Code, w.Body, w.Header().Get("Content-Length"))
	}
	if n := o.n.Load(); n != 1 {
		t.Errorf("origin saw %d requests", n)
	}
	if w := do(h, "GET", "https://a.test/x"); w.Body.String() != "v2" {
		t.Errorf("another scheme is another URL: %q", w.Body)
	}
}

func TestRevalidationMerges304(t *testing.T) {
	o := &origin{}
	o.respond = func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Etag", `"a"`)
		if n == 1 {
			w.Header().Set("Cache-Control", "max-age=0")
			w.Header().Set("X-V", "1")
			_, _ = io.WriteString(w, "body")
			return
		}
		if r.Header.Get("If-None-Match") != `"a"` {
			t.Errorf("revalidation without If-None-Match: %v", r.Header)
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("X-V", "2")
		w.WriteHeader(http.StatusNotModified)
	}
	h := newCache(t, rule(), o)
	do(h, "GET", "http://a.test/x")
	w := do(h, "GET", "http://a.test/x")
	if w.Code != 200 || w.Body.String() != "body" || w.Header().Get("X-V") != "2" ||
		w.Header().Get("Cache-Status") != "gatehouse; fwd=stale; fwd-status=304; stored" {
		t.Fatalf("validated: %d %q X-V %q %q", w.Code, w.Body, w.Header().Get("X-V"), w.Header().Get("Cache-Status"))
	}
	w = do(h, "GET", "http://a.test/x")
	if !strings.HasPrefix(w.Header().Get("Cache-Status"), "gatehouse; hit") || w.Body.String() != "body" {
		t.Errorf("after the 304: %q %q", w.Body, w.Header().Get("Cache-Status"))
	}
	// The client's own condition, against the stored response.
	if w := do(h, "GET", "http://a.test/x", "If-None-Match", `"a"`); w.Code != 304 {
		t.Errorf("client's If-None-Match: %d", w.Code)
	}
	if n := o.n.Load(); n != 2 {
		t.Errorf("origin saw %d requests", n)
	}
}

func TestStaleWhileRevalidateRefreshesOnce(t *testing.T) {
	o := &origin{}
	o.respond = func(w http.ResponseWriter, _ *http.Request, n int64) {
		// Ten seconds old on arrival: stale at once.
		w.Header().Set("Date", time.Now().Add(-10*time.Second).UTC().Format(http.TimeFormat))
		w.Header().Set("Cache-Control", "max-age=5, stale-while-revalidate=60")
		fmt.Fprintf(w, "v%d", n)
	}
	h := newCache(t, rule(), o)
	do(h, "GET", "http://a.test/x")
	w := do(h, "GET", "http://a.test/x")
	if w.Body.String() != "v1" || w.Header().Get("Cache-Status") != "gatehouse; hit; stale; detail=revalidating" {
		t.Fatalf("stale: %q %q", w.Body, w.Header().Get("Cache-Status"))
	}
	deadline := time.Now().Add(5 * time.Second)
	for o.n.Load() < 2 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	time.Sleep(20 * time.Millisecond)
	if w := do(h, "GET", "http://a.test/x"); w.Body.String() != "v2" {
		t.Errorf("after the refresh: %q", w.Body)
	}
}

func TestResponsesNotStored(t *testing.T) {
	cases := map[string]func(http.ResponseWriter){
		"no-store": func(w http.ResponseWriter) { w.Header().Set("Cache-Control", "max-age=60, no-store") },
		"private":  func(w http.ResponseWriter) { w.Header().Set("Cache-Control", "max-age=60, private") },
		"set-cookie": func(w http.ResponseWriter) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Set-Cookie", "a=b")
		},
		"vary star": func(w http.ResponseWriter) {
			w.Header().Set("Cache-Control", "max-age=60")
			w.Header().Set("Vary", "*")
		},
		"nothing": func(w http.ResponseWriter) {},
		"302 w/o freshness": func(w http.ResponseWriter) {
			w.Header().Set("Location", "/y")
			w.Header().Set("Last-Modified", "Mon, 01 Jan 2024 00:00:00 GMT")
			w.WriteHeader(302)
		},
		"must-understand 299": func(w http.ResponseWriter) {
			w.Header().Set("Cache-Control", "max-age=60, must-understand, no-store")
			w.WriteHeader(299)
		},
	}
	for name, set := range cases {
		o := &origin{respond: func(w http.ResponseWriter, _ *http.Request, _ int64) { set(w); _, _ = io.WriteString(w, "x") }}
		h := newCache(t, rule(), o)
		do(h, "GET", "http://a.test/x")
		do(h, "GET", "http://a.test/x")
		if n := o.n.Load(); n != 2 {
			t.Errorf("%s: stored (origin saw %d requests)", name, n)
		}
	}
	// Credentials: only with public (or s-maxage, must-revalidate).
	for cc, want := range map[string]int64{"max-age=60": 2, "max-age=60, public": 1} {
		o := &origin{respond: fixed(cc, "x")}
		h := newCache(t, rule(), o)
		do(h, "GET", "http://a.test/x", "Authorization", "Bearer t")
		do(h, "GET", "http://a.test/x", "Authorization", "Bearer t")
		if n := o.n.Load(); n != want {
			t.Errorf("Authorization with %q: origin saw %d requests, want %d", cc, n, want)
		}
	}
}

func TestRangeMissFetchesTheWholeResponse(t *testing.T) {
	body := strings.Repeat("0123456789", 10)
	o := &origin{}
	o.respond = func(w http.ResponseWriter, r *http.Request, _ int64) {
		if r.Header.Get("Range") != "" || r.Header.Get("If-None-Match") != "" {
			t.Errorf("the origin got the client's fields: %v", r.Header)
		}
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Etag", `"e"`)
		w.Header().Set("Content-Length", "100")
		_, _ = io.WriteString(w, body)
	}
	h := newCache(t, rule(), o)
	w := do(h, "GET", "http://a.test/r", "Range", "bytes=10-19")
	if w.Code != 206 || w.Body.String() != body[10:20] || w.Header().Get("Content-Range") != "bytes 10-19/100" {
		t.Fatalf("range on a miss: %d %q %q", w.Code, w.Body, w.Header().Get("Content-Range"))
	}
	if w := do(h, "GET", "http://a.test/r"); w.Code != 200 || w.Body.String() != body {
		t.Errorf("whole after a range miss: %d %q", w.Code, w.Body)
	}
	if w := do(h, "GET", "http://a.test/r", "Range", "bytes=-5"); w.Code != 206 || w.Body.String() != body[95:] {
		t.Errorf("range on a hit: %d %q", w.Code, w.Body)
	}
	w = do(h, "GET", "http://a.test/c", "If-None-Match", `"e"`)
	if w.Code != 304 || w.Body.Len() != 0 {
		t.Errorf("conditional miss: %d %q", w.Code, w.Body)
	}
	if w := do(h, "GET", "http://a.test/c"); w.Code != 200 || w.Body.String() != body || !strings.Contains(w.Header().Get("Cache-Status"), "hit") {
		t.Errorf("after a conditional miss: %d %q", w.Code, w.Header().Get("Cache-Status"))
	}
	if n := o.n.Load(); n != 2 {
		t.Errorf("origin saw %d requests", n)
	}
}

func TestUnsafeMethodsInvalidate(t *testing.T) {
	o := &origin{}
	o.respond = func(w http.ResponseWriter, r *http.Request, n int64) {
		if r.Method == "POST" {
			w.Header().Set("Location", r.Header.Get("X-Loc"))
			w.WriteHeader(201)
			return
		}
		fixed("max-age=60", "v%d")(w, r, n)
	}
	h := newCache(t, rule(), o)
	stored := func(u string) bool {
		return strings.HasPrefix(do(h, "GET", u).Header().Get("Cache-Status"), "gatehouse; hit")
	}
	for _, u := range []string{"http://a.test/a", "http://a.test/b", "http://a.test/c"} {
		do(h, "GET", u)
	}
	do(h, "POST", "http://a.test/a", "X-Loc", "/b")
	do(h, "POST", "http://a.test/z", "X-Loc", "http://other.test/c")
	if stored("http://a.test/a") || stored("http://a.test/b") {
		t.Error("the target or its Location is still stored")
	}
	if !stored("http://a.test/c") {
		t.Error("another origin's URL was invalidated")
	}
}

func TestVariantsAndOnlyIfCached(t *testing.T) {
	o := &origin{}
	o.respond = func(w http.ResponseWriter, r *http.Request, n int64) {
		w.Header().Set("Cache-Control", "max-age=60")
		w.Header().Set("Vary", "Accept-Language")
		fmt.Fprintf(w, "%s %d", r.Header.Get("Accept-Language"), n)
	}
	h := newCache(t, rule(), o)
	for range 2 {
		if w := do(h, "GET", "http://a.test/v", "Accept-Language", "en"); w.Body.String() != "en 1" {
			t.Errorf("en: %q", w.Body)
		}
		if w := do(h, "GET", "http://a.test/v", "Accept-Language", "fr"); w.Body.String() != "fr 2" {
			t.Errorf("fr: %q", w.Body)
		}
	}
	if w := do(h, "GET", "http://a.test/none", "Cache-Control", "only-if-cached"); w.Code != 504 {
		t.Errorf("only-if-cached on a miss: %d", w.Code)
	}
	if w := do(h, "GET", "http://a.test/v", "Accept-Language", "en", "Cache-Control", "only-if-cached"); w.Code != 200 {
		t.Errorf("only-if-cached on a hit: %d", w.Code)
	}
	if n := o.n.Load(); n != 2 {
		t.Errorf("origin saw %d requests", n)
	}
}

func TestRuleTTLAndBypass(t *testing.T) {
	r := rule()
	r.TTL = map[int]config.Duration{200: config.Duration(time.Minute)}
	r.BypassRules = []config.CacheBypass{{Cookie: true, Name: "session"}, {Name: "X-Debug"}}
	o := &origin{respond: fixed("", "v%d")}
	h := newCache(t, r, o)
	do(h, "GET", "http://a.test/t")
	if w := do(h, "GET", "http://a.test/t"); w.Body.String() != "v1" {
		t.Errorf("ttl: %q", w.Body)
	}
	w := do(h, "GET", "http://a.test/t", "Cookie", "a=1; session=x")
	if w.Body.String() != "v2" || w.Header().Get("Cache-Status") != "gatehouse; fwd=bypass" {
		t.Errorf("bypass cookie: %q %q", w.Body, w.Header().Get("Cache-Status"))
	}
	if w := do(h, "GET", "http://a.test/t", "X-Debug", "1"); w.Body.String() != "v3" {
		t.Errorf("bypass header: %q", w.Body)
	}
	if w := do(h, "GET", "http://a.test/t"); w.Body.String() != "v1" {
		t.Errorf("a bypassed response replaced the stored one: %q", w.Body)
	}
}

func TestCollapsedWaitersShareOneAnswer(t *testing.T) {
	release := make(chan struct{})
	o := &origin{}
	o.respond = func(w http.ResponseWriter, r *http.Request, n int64) {
		<-release
		fixed("max-age=60", "v%d")(w, r, n)
	}
	h := newCache(t, rule(), o)
	const n = 50
	var wg sync.WaitGroup
	bodies := make([]string, n)
	for i := range n {
		wg.Add(1)
		go func() {
			defer wg.Done()
			bodies[i] = do(h, "GET", "http://a.test/slow").Body.String()
		}()
	}
	time.Sleep(100 * time.Millisecond)
	close(release)
	wg.Wait()
	for i, b := range bodies {
		if b != "v1" {
			t.Fatalf("client %d got %q", i, b)
		}
	}
	if got := o.n.Load(); got != 1 {
		t.Errorf("origin saw %d requests", got)
	}
	if h.store.Stats.Collapsed.Load() != n-1 {
		t.Errorf("collapsed %d", h.store.Stats.Collapsed.Load())
	}
}

func TestMemoryTierBounds(t *testing.T) {
	s, err := NewStore(Options{Memory: 64 << 10, MaxObject: 1 << 30})
	if err != nil {
		t.Fatal(err)
	}
	o := &origin{respond: fixed("max-age=60", strings.Repeat("x", 4000)+"%d")}
	h := New(rule(), s, o, slog.New(slog.DiscardHandler))
	for i := range 100 {
		do(h, "GET", fmt.Sprintf("http://a.test/%d", i))
	}
	if got := s.MemoryBytes(); got > 64<<10 {
		t.Errorf("memory tier holds %d bytes", got)
	}
	// Bigger than an eighth of the tier: not kept at all (no disk tier).
	big := &origin{respond: fixed("max-age=60", strings.Repeat("y", 9000))}
	h = New(rule(), s, big, slog.New(slog.DiscardHandler))
	do(h, "GET", "http://a.test/big")
	do(h, "GET", "http://a.test/big")
	if big.n.Load() != 2 {
		t.Error("an object over the memory tier's limit was stored")
	}
}
