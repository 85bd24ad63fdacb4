package ratelimit

import (
	"math/rand/v2"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/fleet/fleettest"
)

// sharedOn returns a shared store of limit id on a fleet connection of
// its own to addr, on clock.
func sharedOn(t *testing.T, addr, id string, clock *simClock) *SharedStore {
	f := fleettest.Open(t, "t", false, addr)
	s := NewSharedStore(f, id)
	s.clock, s.now = clock.now, clock.now
	return s
}

// One request at a time (no leases: the delay action), the script
// decides exactly as the local GCRA does, on the same clock.
func TestSharedGCRAMatchesLocal(t *testing.T) {
	r := fleettest.StartRedis(t)
	clock := &simClock{t: 1_700_000_000 * int64(time.Second)}
	s := sharedOn(t, r.Addr, "match", clock)
	rng := rand.New(rand.NewPCG(1, 2))
	for _, rule := range []Rule{
		{Interval: 100 * time.Millisecond, Burst: 3, Delay: true},
		{Interval: 10 * time.Millisecond, Burst: 0},
		{Interval: time.Second, Burst: 20, Delay: true},
	} {
		key := rule.Interval.String()
		var tat int64
		for i := range 2000 {
			clock.t += rng.Int64N(int64(rule.Interval) * 2)
			// The script counts in microseconds.
			clock.t -= clock.t % 1000
			want, next := decide(rule, tat, clock.t)
			if want.Allowed {
				tat = next
			}
			got := s.Take(key, rule)
			if got.Allowed != want.Allowed || got.Remaining != want.Remaining || got.RetryAfter != want.RetryAfter ||
				got.Reset != want.Reset || got.Delay != want.Delay {
				t.Fatalf("%v, request %d: got %+v, want %+v", rule, i, got, want)
			}
		}
	}
}

// Three instances share a limit with leases: the fleet never admits
// more than an exact limiter would, and at least 95% of it, for
// arrivals spread over the instances, from a steady flood to bursts.
func TestSharedLeasesKeepTheFleetWithinTheLimit(t *testing.T) {
	r := fleettest.StartRedis(t)
	for _, tc := range []struct {
		name string
		rule Rule
		gap  time.Duration // mean time between arrivals, fleet-wide
	}{
		{"flood", Rule{Interval: 10 * time.Millisecond, Burst: 50}, time.Millisecond},
		{"just over", Rule{Interval: 10 * time.Millisecond, Burst: 50}, 8 * time.Millisecond},
		{"far under", Rule{Interval: 10 * time.Millisecond, Burst: 200}, 40 * time.Millisecond},
		{"burst 0", Rule{Interval: 5 * time.Millisecond}, time.Millisecond},
	} {
		t.Run(tc.name, func(t *testing.T) {
			clock := &simClock{t: 1_800_000_000 * int64(time.Second)}
			start := clock.t
			var fleet []*SharedStore
			for range 3 {
				fleet = append(fleet, sharedOn(t, r.Addr, "lease-"+tc.name, clock))
			}
			exact := NewMemoryStore(10, clock.now)
			rng := rand.New(rand.NewPCG(3, 4))
			admitted, exactAdmitted := 0, 0
			for i := range 6000 {
				clock.t += rng.Int64N(int64(tc.gap) * 2)
				clock.t -= clock.t % 1000
				if fleet[i%3].Take("client", tc.rule).Allowed {
					admitted++
				}
				if exact.Take("client", tc.rule).Allowed {
					exactAdmitted++
				}
			}
			elapsed := time.Duration(clock.t - start)
			bound := int(elapsed/tc.rule.Interval) + tc.rule.Burst + 1
			t.Logf("admitted %d, exact limiter %d, bound %d over %v", admitted, exactAdmitted, bound, elapsed)
			if admitted > bound {
				t.Fatalf("admitted %d, more than rate × time + burst + 1 = %d", admitted, bound)
			}
			if float64(admitted) < 0.95*float64(exactAdmitted) {
				t.Fatalf("admitted %d, less than 95%% of the exact limiter's %d", admitted, exactAdmitted)
			}
		})
	}
}

// A key far under its limit takes a lease and spends it without the
// store; at the limit a lease is one request.
func TestSharedLeaseSize(t *testing.T) {
	r := fleettest.StartRedis(t)
	clock := &simClock{t: 1_900_000_000 * int64(time.Second)}
	s := sharedOn(t, r.Addr, "size", clock)
	rule := Rule{Interval: 10 * time.Millisecond, Burst: 100}
	if d := s.Take("k", rule); !d.Allowed {
		t.Fatal("first request refused")
	}
	// 101 pass now: an eighth is 12, this one and 11 more.
	if n := s.leaseCount("k"); n != 11 {
		t.Fatalf("lease holds %d, want 11", n)
	}
	r.CLI("flushall")
	for range 11 {
		if !s.Take("k", rule).Allowed {
			t.Fatal("a leased request was refused")
		}
	}
	if n := s.leaseCount("k"); n != 0 {
		t.Fatalf("lease holds %d after spending it", n)
	}
	// A lease expires after a second.
	s.Take("k", rule)
	clock.t += int64(leaseLife)
	if _, ok := s.spendLease("k"); ok {
		t.Fatal("an expired lease was spent")
	}
}

// While the store is down, a shared limit counts locally at the fleet's
// share of its rate, or refuses with Unavailable when it must (closed).
func TestSharedFallsBackWhileTheStoreIsDown(t *testing.T) {
	r := fleettest.StartRedis(t)
	f := fleettest.Open(t, "t", false, r.Addr)
	s := NewSharedStore(f, "down")
	rule := Rule{Interval: time.Second, Burst: 2}
	r.Stop()
	allowed := 0
	for range 10 {
		d := s.Take("k", rule)
		if d.Unavailable {
			t.Fatal("refused as unavailable with on_failure: open")
		}
		if d.Allowed {
			allowed++
		}
	}
	// Locally: the first request and the burst of 2 (fleet size 1).
	if allowed != 3 {
		t.Fatalf("allowed %d of 10 locally, want 3", allowed)
	}
	if f.Up() {
		t.Fatal("the store still counts as up")
	}
}

// The keys of every limit of one client share a Redis Cluster slot:
// the client key is the hash tag.
func TestSharedKeysShareTheClientsSlot(t *testing.T) {
	r := fleettest.StartRedis(t)
	f := fleettest.Open(t, "gatehouse", false, r.Addr)
	a, b := NewSharedStore(f, "limit a"), NewSharedStore(f, "limit b")
	ka, kb := a.redisKey("203.0.113.9"), b.redisKey("203.0.113.9")
	if ka == kb {
		t.Fatalf("two limits share the key %q", ka)
	}
	if slot(ka) != slot(kb) {
		t.Fatalf("%q and %q hash to slots %d and %d", ka, kb, slot(ka), slot(kb))
	}
	if other := a.redisKey("203.0.113.10"); slot(other) == slot(ka) && other == ka {
		t.Fatal("two clients share a key")
	}
}

// slot is a key's Redis Cluster slot: CRC16 (XMODEM) of its hash tag, or
// of the key, modulo 16384.
func slot(key string) int {
	if i := indexByte(key, '{'); i >= 0 {
		if j := indexByte(key[i+1:], '}'); j > 0 {
			key = key[i+1 : i+1+j]
		}
	}
	var crc uint16
	for i := 0; i < len(key); i++ {
		crc ^= uint16(key[i]) << 8
		for range 8 {
			if crc&0x8000 != 0 {
				crc = crc<<1 ^ 0x1021
			} else {
				crc <<= 1
			}
		}
	}
	return int(crc) % 16384
}

func indexByte(s string, c byte) int {
	for i := 0; i < len(s); i++ {
		if s[i] == c {
			return i
		}
	}
	return -1
}

// With on_failure: closed a shared limit refuses (503) while the store
// is down; with a fleet size the local fallback takes its share.
func TestSharedFailureModes(t *testing.T) {
	r := fleettest.StartRedis(t)
	closed := NewSharedStore(fleettest.OpenWith(t, "t", r.Addr, config.StoreFailClosed, 1), "closed")
	scaled := NewSharedStore(fleettest.OpenWith(t, "t", r.Addr, config.StoreFailOpen, 4), "scaled")
	rule := Rule{Interval: time.Millisecond, Burst: 8}
	if d := closed.Take("k", rule); !d.Allowed {
		t.Fatalf("store up: %+v", d)
	}
	r.Stop()
	for range 3 {
		if d := closed.Take("k", rule); d.Allowed || !d.Unavailable {
			t.Fatalf("closed, store down: %+v, want refused as unavailable", d)
		}
	}
	allowed := 0
	for range 20 {
		if scaled.Take("k", rule).Allowed {
			allowed++
		}
	}
	// A quarter of the burst of 8, and the first: 3.
	if allowed != 3 {
		t.Fatalf("fleet size 4, store down: %d of 20 at once, want 3", allowed)
	}
}

// Many requests at once go to the store in pipelines, each answered, and
// the store counts every one: exactly the burst and the first pass.
func TestSharedConcurrentCallsArePipelinedAndExact(t *testing.T) {
	r := fleettest.StartRedis(t)
	f := fleettest.Open(t, "t", false, r.Addr)
	s := NewSharedStore(f, "concurrent")
	rule := Rule{Interval: time.Hour, Burst: 99, Delay: true}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 200 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 10 {
				if s.Take("k", rule).Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if n := allowed.Load(); n != 100 {
		t.Fatalf("allowed %d of 2000, want exactly 100", n)
	}
	if !f.Up() {
		t.Fatal("the store went down")
	}
}
