package bans

import (
	"net/netip"
	"testing"
	"time"
)

// clock is a simulated clock.
type clock struct{ t time.Time }

func (c *clock) now() time.Time          { return c.t }
func (c *clock) advance(d time.Duration) { c.t = c.t.Add(d) }

func newTestList(p *Policy) (*List, *clock) {
	c := &clock{t: time.Unix(1_700_000_000, 0)}
	l := New(nil, c.now)
	l.SetPolicy(p)
	return l, c
}

var policy = &Policy{Threshold: 5, Window: 10 * time.Second, Duration: time.Minute, Statuses: []int{403, 404, 429}}

func TestThresholdWithinWindowBans(t *testing.T) {
	l, c := newTestList(policy)
	ip := netip.MustParseAddr("192.0.2.7")
	for i := 1; i < 5; i++ {
		if l.Observe(ip, 404, false) {
			t.Fatalf("banned after %d strikes", i)
		}
		c.advance(time.Second)
	}
	if l.Banned(ip) {
		t.Fatal("banned before the threshold")
	}
	if !l.Observe(ip, 404, false) || !l.Banned(ip) {
		t.Fatal("the fifth strike within the window did not ban")
	}
	if l.Banned(netip.MustParseAddr("192.0.2.8")) {
		t.Fatal("another address is banned")
	}
	c.advance(time.Minute - time.Millisecond)
	if !l.Banned(ip) {
		t.Fatal("the ban ended early")
	}
	c.advance(time.Millisecond)
	if l.Banned(ip) {
		t.Fatal("the ban outlived its duration")
	}
	if got := l.Entries(); len(got) != 0 {
		t.Fatalf("entries after expiry: %v", got)
	}
}

func TestStrikesOutsideWindowDoNotBan(t *testing.T) {
	l, c := newTestList(policy)
	ip := netip.MustParseAddr("2001:db8::1")
	// One strike every 2.5 s: never five within 10 s.
	for i := 0; i < 100; i++ {
		if l.Observe(ip, 403, false) {
			t.Fatalf("banned at strike %d", i+1)
		}
		c.advance(2500 * time.Millisecond)
	}
	c.advance(time.Minute)
	// Every 2 s: the fifth lands 8 s after the first.
	for i := 1; i <= 5; i++ {
		banned := l.Observe(ip, 403, false)
		if banned != (i == 5) {
			t.Fatalf("strike %d: banned %v", i, banned)
		}
		c.advance(2 * time.Second)
	}
}

func TestOnlyCountedAnswersCount(t *testing.T) {
	l, _ := newTestList(policy)
	ip := netip.MustParseAddr("192.0.2.9")
	for i := 0; i < 50; i++ {
		l.Observe(ip, 200, false)
		l.Observe(ip, 500, false)
	}
	if l.Banned(ip) {
		t.Fatal("uncounted answers banned")
	}
	for i := 0; i < 5; i++ {
		l.Observe(ip, 200, true) // WAF blocks count whatever the status
	}
	if !l.Banned(ip) {
		t.Fatal("WAF blocks did not count")
	}
}

func TestAdminBanAndUnban(t *testing.T) {
	l, c := newTestList(nil)
	ip := netip.MustParseAddr("::ffff:192.0.2.10")
	until := l.Ban(ip, time.Hour)
	if !l.Banned(netip.MustParseAddr("192.0.2.10")) {
		t.Fatal("a mapped address's ban does not hold for the plain one")
	}
	e := l.Entries()
	if len(e) != 1 || e[0].IP != "192.0.2.10" || !e[0].Expires.Equal(until.UTC().Truncate(time.Second)) {
		t.Fatalf("entries: %+v", e)
	}
	if l.Active() != 1 {
		t.Fatalf("active %d", l.Active())
	}
	if !l.Unban(ip) || l.Banned(ip) || l.Unban(ip) {
		t.Fatal("unban")
	}
	// Without a policy nothing is counted.
	for i := 0; i < 100; i++ {
		l.Observe(ip, 404, false)
	}
	c.advance(time.Second)
	if l.Banned(ip) {
		t.Fatal("banned without a policy")
	}
}

func TestStrikesAreBounded(t *testing.T) {
	l, c := newTestList(&Policy{Threshold: 3, Window: time.Minute, Duration: time.Minute, Statuses: []int{404}})
	for i := 0; i < maxTracked+1000; i++ {
		a := netip.AddrFrom4([4]byte{10, byte(i >> 16), byte(i >> 8), byte(i)})
		l.Observe(a, 404, false)
		if i%1000 == 0 {
			c.advance(time.Millisecond)
		}
	}
	if n := len(l.strikes); n > maxTracked {
		t.Fatalf("%d addresses tracked", n)
	}
}

func BenchmarkBannedNone(b *testing.B) {
	l, _ := newTestList(policy)
	ip := netip.MustParseAddr("192.0.2.7")
	for b.Loop() {
		l.Banned(ip)
	}
}

// Strikes are kept on the monotonic clock, counted from the list's making,
// not as wall clock nanoseconds: with those, a clock set back an hour made
// every earlier strike look an hour younger than it was, and banned.
func TestStrikesAreOnTheMonotonicClock(t *testing.T) {
	l := New(nil, nil)
	l.SetPolicy(policy)
	ip := netip.MustParseAddr("192.0.2.7")
	l.Observe(ip, 404, false)
	l.strikesMu.Lock()
	defer l.strikesMu.Unlock()
	s := l.strikes[ip]
	if s == nil || len(s.times) != 1 {
		t.Fatalf("strikes = %+v, want one", s)
	}
	if s.times[0] < 0 || s.times[0] > int64(time.Minute) {
		t.Fatalf("strike at %d, want nanoseconds since the list was made", s.times[0])
	}
}
