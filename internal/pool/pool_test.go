package pool

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
)

func newPool(t *testing.T, balance string, servers []config.ServerEntry, edit func(*config.Upstream)) *Pool {
	t.Helper()
	u := config.Upstream{Servers: servers, Balance: balance}
	if edit != nil {
		edit(&u)
	}
	config.UpstreamDefaults("", &u)
	p, err := New("test", u, slog.New(slog.NewTextHandler(io.Discard, nil)))
	if err != nil {
		t.Fatal(err)
	}
	return p
}

func entries(urls ...string) []config.ServerEntry {
	out := make([]config.ServerEntry, len(urls))
	for i, u := range urls {
		target, err := config.ParseUpstreamURL(u)
		if err != nil {
			panic(err)
		}
		out[i] = config.ServerEntry{URL: u, Target: target}
	}
	return out
}

func pick(t *testing.T, p *Pool, r *http.Request, ip string) *Server {
	t.Helper()
	if r == nil {
		r = httptest.NewRequest("GET", "/", nil)
	}
	s, err := p.Pick(r, ip, nil)
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func count(t *testing.T, p *Pool, n int) map[string]int {
	t.Helper()
	got := map[string]int{}
	for i := 0; i < n; i++ {
		got[pick(t, p, nil, "").Addr.Address]++
	}
	return got
}

func TestSmoothWeightedRoundRobin(t *testing.T) {
	servers := entries("http://a:1", "http://b:1", "http://c:1")
	servers[0].Weight = 2
	p := newPool(t, "round_robin", servers, nil)
	got := count(t, p, 40)
	if got["a:1"] != 20 || got["b:1"] != 10 || got["c:1"] != 10 {
		t.Errorf("weights 2:1:1 over 40 picks: %v", got)
	}
	// Smooth: the heavy server is never picked twice in a row here.
	var seq string
	for i := 0; i < 8; i++ {
		seq += pick(t, p, nil, "").Addr.Address[:1]
	}
	if seq != "abacabac" && seq != "abcaabca" {
		t.Logf("sequence %s", seq)
	}
}

func TestLeastConnAndRandomTwoPreferIdleServers(t *testing.T) {
	for _, policy := range []string{"least_conn", "random_two"} {
		p := newPool(t, policy, entries("http://a:1", "http://b:1"), nil)
		busy := p.Servers()[0]
		for i := 0; i < 5; i++ {
			busy.Acquire()
		}
		for i := 0; i < 20; i++ {
			if s := pick(t, p, nil, ""); s == busy {
				t.Fatalf("%s picked the server with 5 requests in flight over an idle one", policy)
			}
		}
	}
}

func TestFirstBackupAndMaxConns(t *testing.T) {
	servers := entries("http://a:1", "http://b:1", "http://backup:1")
	servers[0].MaxConns = 2
	servers[2].Backup = true
	p := newPool(t, "first", servers, nil)
	a, b := p.Servers()[0], p.Servers()[1]
	if s := pick(t, p, nil, ""); s != a {
		t.Fatalf("first: got %s", s.Addr)
	}
	a.Acquire()
	a.Acquire()
	if s := pick(t, p, nil, ""); s != b {
		t.Fatalf("a full at max_conns: got %s", s.Addr)
	}
	// With both primaries unavailable the backup takes over.
	p.Failed(b, errors.New("refused"))
	if s := pick(t, p, nil, ""); s.Addr.Address != "backup:1" {
		t.Fatalf("primaries unavailable: got %s", s.Addr)
	}
	a.Release()
	if s := pick(t, p, nil, ""); s != a {
		t.Fatalf("a has room again: got %s", s.Addr)
	}
}

func TestPassiveFailuresTakeAServerOutForAWhile(t *testing.T) {
	p := newPool(t, "round_robin", entries("http://a:1", "http://b:1"), func(u *config.Upstream) {
		u.Health.Passive = &config.PassiveHealth{Fails: 2, Window: config.Duration(time.Minute), DownFor: config.Duration(50 * time.Millisecond)}
	})
	a := p.Servers()[0]
	p.Failed(a, errors.New("refused"))
	if got := count(t, p, 10); got["a:1"] != 5 {
		t.Fatalf("one failure of two allowed: %v", got)
	}
	p.Failed(a, errors.New("refused"))
	if got := count(t, p, 10); got["a:1"] != 0 {
		t.Fatalf("after two failures a still picked: %v", got)
	}
	time.Sleep(60 * time.Millisecond)
	if got := count(t, p, 10); got["a:1"] == 0 {
		t.Fatalf("a not back after down_for: %v", got)
	}
	// All down: no server, at once.
	for _, s := range p.Servers() {
		p.Failed(s, errors.New("refused"))
		p.Failed(s, errors.New("refused"))
	}
	if _, err := p.Pick(httptest.NewRequest("GET", "/", nil), "", nil); !errors.Is(err, ErrNoServer) {
		t.Fatalf("all down: %v", err)
	}
}

func TestASingleServerIsNeverTakenOutByFailures(t *testing.T) {
	p := newPool(t, "round_robin", entries("http://a:1"), nil)
	for i := 0; i < 5; i++ {
		p.Failed(p.Servers()[0], errors.New("refused"))
	}
	pick(t, p, nil, "")
}

func TestTriedServersAreSkipped(t *testing.T) {
	p := newPool(t, "round_robin", entries("http://a:1", "http://b:1"), nil)
	r := httptest.NewRequest("GET", "/", nil)
	first, _ := p.Pick(r, "", nil)
	second, err := p.Pick(r, "", []*Server{first})
	if err != nil || second == first {
		t.Fatalf("second pick: %v %v", second, err)
	}
	if _, err := p.Pick(r, "", []*Server{first, second}); !errors.Is(err, ErrNoServer) {
		t.Fatalf("all tried: %v", err)
	}
}

func TestConsistentHashingMovesOnlyTheKeysOfAServerThatLeaves(t *testing.T) {
	urls := []string{"http://a:1", "http://b:1", "http://c:1", "http://d:1"}
	p := newPool(t, "ip_hash", entries(urls...), nil)
	before := map[string]*Server{}
	spread := map[string]int{}
	for i := 0; i < 2000; i++ {
		ip := fmt.Sprintf("10.0.%d.%d", i/250, i%250)
		before[ip] = pick(t, p, nil, ip)
		spread[before[ip].Addr.Address]++
		if again := pick(t, p, nil, ip); again != before[ip] {
			t.Fatalf("%s moved between two picks", ip)
		}
	}
	for addr, n := range spread {
		if n < 300 || n > 700 {
			t.Errorf("uneven spread: %s has %d of 2000", addr, n)
		}
	}
	gone := p.Servers()[1]
	p.Failed(gone, errors.New("x")) // default: one failure takes it out
	moved := 0
	for ip, s := range before {
		now := pick(t, p, nil, ip)
		if s != gone && now != s {
			moved++
		}
		if now == gone {
			t.Fatalf("%s still on the server that left", ip)
		}
	}
	if moved > 0 {
		t.Errorf("%d keys of servers that stayed moved", moved)
	}
}

func TestHashOnHeaderAndCookie(t *testing.T) {
	for _, key := range []string{"header:X-User", "cookie:session"} {
		p := newPool(t, "hash", entries("http://a:1", "http://b:1", "http://c:1"), func(u *config.Upstream) { u.HashKey = key })
		seen := map[string]*Server{}
		for i := 0; i < 50; i++ {
			user := fmt.Sprintf("user%d", i%10)
			r := httptest.NewRequest("GET", "/", nil)
			r.Header.Set("X-User", user)
			r.AddCookie(&http.Cookie{Name: "session", Value: user})
			s := pick(t, p, r, "")
			if prev, ok := seen[user]; ok && prev != s {
				t.Fatalf("%s: %s moved between requests", key, user)
			}
			seen[user] = s
		}
	}
}

func TestStickyCookiePinsAClient(t *testing.T) {
	p := newPool(t, "round_robin", entries("http://a:1", "http://b:1", "http://c:1"), func(u *config.Upstream) {
		u.Sticky = &config.Sticky{}
	})
	r := httptest.NewRequest("GET", "/", nil)
	s := pick(t, p, r, "")
	set := p.StickyCookie(r, s)
	if set == "" {
		t.Fatal("no sticky cookie set")
	}
	c, err := http.ParseSetCookie(set)
	if err != nil || c.Name != config.DefaultStickyCookieName || !c.HttpOnly {
		t.Fatalf("cookie %q: %v", set, err)
	}
	for i := 0; i < 10; i++ {
		r2 := httptest.NewRequest("GET", "/", nil)
		r2.AddCookie(c)
		if got := pick(t, p, r2, ""); got != s {
			t.Fatalf("pinned to %s, got %s", s.Addr, got.Addr)
		}
		if p.StickyCookie(r2, s) != "" {
			t.Fatal("cookie set again though the client has it")
		}
	}
}

func TestSlowStartRampsWeight(t *testing.T) {
	p := newPool(t, "round_robin", entries("http://a:1", "http://b:1"), func(u *config.Upstream) {
		u.SlowStart = config.Duration(time.Hour)
	})
	a := p.Servers()[0]
	a.upSince = time.Now().Add(-6 * time.Minute) // a tenth into its slow start
	got := count(t, p, 110)
	if got["a:1"] > 15 || got["a:1"] < 5 {
		t.Errorf("slow-starting server got %d of 110 picks, want about 10", got["a:1"])
	}
}

func TestRetryBudget(t *testing.T) {
	p := newPool(t, "round_robin", entries("http://a:1", "http://b:1"), nil)
	allowed := 0
	for i := 0; i < 100; i++ {
		p.NoteRequest()
		if p.AllowRetry() {
			allowed++
		}
	}
	// 10 to start with plus 20% of 100 requests.
	if allowed < 25 || allowed > 35 {
		t.Errorf("%d retries allowed for 100 failing requests, want about 30", allowed)
	}
}

// A reload's new pool keeps a server that is down out of rotation: the
// passive verdict carries over, and the active one when the new pool
// checks actively too.
func TestHealthCarriesOverAReload(t *testing.T) {
	passive := func(u *config.Upstream) {
		u.Health.Passive = &config.PassiveHealth{Fails: 1, Window: config.Duration(time.Minute), DownFor: config.Duration(time.Minute)}
	}
	old := newPool(t, "round_robin", entries("http://a:1", "http://b:1"), passive)
	old.Failed(old.Servers()[0], errors.New("refused"))
	next := newPool(t, "round_robin", entries("http://a:1", "http://b:1", "http://c:1"), passive)
	next.InheritHealth(old)
	if got := count(t, next, 12); got["a:1"] != 0 || got["b:1"] != 6 || got["c:1"] != 6 {
		t.Fatalf("after reload: %v", got)
	}
	if next.Servers()[0].failures.Load() != 1 {
		t.Fatal("failure count not carried over")
	}

	active := &config.ActiveHealth{Path: "/health"}
	old = newPool(t, "round_robin", entries("http://a:1", "http://b:1"), func(u *config.Upstream) { u.Health.Active = active })
	old.Servers()[1].activeDown = true
	withChecks := newPool(t, "round_robin", entries("http://a:1", "http://b:1"), func(u *config.Upstream) { u.Health.Active = active })
	withChecks.InheritHealth(old)
	if got := count(t, withChecks, 4); got["b:1"] != 0 {
		t.Fatalf("actively down server back after reload: %v", got)
	}
	// Without active checks nothing would ever clear that verdict.
	without := newPool(t, "round_robin", entries("http://a:1", "http://b:1"), nil)
	without.InheritHealth(old)
	if got := count(t, without, 4); got["b:1"] != 2 {
		t.Fatalf("active verdict kept without active checks: %v", got)
	}
}

// A pool that would never take its one server out on failures does not
// inherit a passive verdict either.
func TestSingleServerPoolInheritsNoPassiveVerdict(t *testing.T) {
	old := newPool(t, "round_robin", entries("http://a:1", "http://b:1"), nil)
	old.Failed(old.Servers()[0], errors.New("refused"))
	if got := count(t, old, 2); got["a:1"] != 0 {
		t.Fatalf("a not down in the old pool: %v", got)
	}
	next := newPool(t, "round_robin", entries("http://a:1"), nil)
	next.InheritHealth(old)
	pick(t, next, nil, "")
}

// countingChecker answers every check 200 and counts how often its idle
// connections were closed.
type countingChecker struct{ closed atomic.Int32 }

func (c *countingChecker) Check(context.Context, *Server, string, string) (int, error) {
	return 200, nil
}
func (c *countingChecker) CloseIdleConnections() { c.closed.Add(1) }

// A pool that stops (its config retired by a reload) closes the
// connections its health checks keep between checks: before, each reload
// left one open per server for a minute (a reload storm of 300 held 600).
func TestClosingAPoolClosesItsHealthCheckConnections(t *testing.T) {
	p := newPool(t, "round_robin", entries("http://a:1", "http://b:1"), func(u *config.Upstream) {
		u.Health.Active = &config.ActiveHealth{Path: "/health", Interval: config.Duration(time.Hour)}
	})
	c := &countingChecker{}
	p.Start(c)
	if err := p.Close(); err != nil {
		t.Fatal(err)
	}
	if got := c.closed.Load(); got != 1 {
		t.Fatalf("health check connections closed %d times, want once", got)
	}
}
