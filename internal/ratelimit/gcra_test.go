package ratelimit

import (
	"fmt"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// simClock is a clock the tests move by hand.
type simClock struct{ t int64 }

func (c *simClock) now() int64 { return c.t }

func TestGCRAExactOverManyWindows(t *testing.T) {
	for _, tc := range []struct {
		rate, burst  int
		offered      int // requests per second offered, evenly
		seconds      int
		wantAccepted int
	}{
		{rate: 10, burst: 20, offered: 200, seconds: 10, wantAccepted: 10*10 + 20},
		{rate: 10, burst: 0, offered: 100, seconds: 60, wantAccepted: 10 * 60},
		{rate: 1, burst: 5, offered: 50, seconds: 100, wantAccepted: 100 + 5},
		{rate: 10, burst: 20, offered: 5, seconds: 30, wantAccepted: 5 * 30}, // under the rate: all pass
	} {
		t.Run(fmt.Sprintf("%dr/s burst %d at %dr/s", tc.rate, tc.burst, tc.offered), func(t *testing.T) {
			clk := &simClock{t: 1_000_000_000}
			s := NewMemoryStore(10, clk.now)
			r := Rule{Interval: time.Second / time.Duration(tc.rate), Burst: tc.burst}
			step := int64(time.Second) / int64(tc.offered)
			accepted := 0
			for i := 0; i < tc.offered*tc.seconds; i++ {
				if s.Take("k", r).Allowed {
					accepted++
				}
				clk.t += step
			}
			// rate×duration+burst: the burst and the first request share
			// the run's first instant; one more may land on its last.
			if accepted < tc.wantAccepted || accepted > tc.wantAccepted+1 {
				t.Fatalf("accepted %d, want %d", accepted, tc.wantAccepted)
			}
		})
	}
}

func TestGCRADecisionFields(t *testing.T) {
	clk := &simClock{t: 5_000_000_000}
	s := NewMemoryStore(10, clk.now)
	r := Rule{Interval: 100 * time.Millisecond, Burst: 2}
	for i, wantRemaining := range []int{2, 1, 0} {
		d := s.Take("k", r)
		if !d.Allowed || d.Remaining != wantRemaining || d.Delay != time.Duration(i)*100*time.Millisecond {
			t.Fatalf("request %d: %+v", i, d)
		}
	}
	d := s.Take("k", r)
	if d.Allowed || d.RetryAfter != 100*time.Millisecond {
		t.Fatalf("4th request: %+v", d)
	}
	clk.t += int64(100 * time.Millisecond)
	if d := s.Take("k", r); !d.Allowed {
		t.Fatalf("after RetryAfter: %+v", d)
	}
	// Keys are independent.
	if d := s.Take("other", r); !d.Allowed || d.Remaining != 2 {
		t.Fatalf("another key: %+v", d)
	}
}

func TestMemoryStoreIsBounded(t *testing.T) {
	clk := &simClock{t: 1}
	s := NewMemoryStore(1000, clk.now)
	r := Rule{Interval: time.Second, Burst: 1}
	for i := 0; i < 50_000; i++ {
		s.Take(fmt.Sprint("key", i), r)
		clk.t++ // time moves, but no key's time passes
	}
	if n := s.Keys(); n > 1000 {
		t.Fatalf("%d keys held, bound 1000", n)
	}
	if s.Evictions() < 40_000 {
		t.Fatalf("evictions %d", s.Evictions())
	}
}

func TestConcurrentTakesAreExact(t *testing.T) {
	clk := &simClock{t: 1_000_000}
	s := NewMemoryStore(100, clk.now)
	r := Rule{Interval: time.Second, Burst: 99}
	var allowed atomic.Int64
	var wg sync.WaitGroup
	for range 8 {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for range 1000 {
				if s.Take("k", r).Allowed {
					allowed.Add(1)
				}
			}
		}()
	}
	wg.Wait()
	if allowed.Load() != 100 {
		t.Fatalf("%d allowed at one instant, want burst+1 = 100", allowed.Load())
	}
}

// The memory store's own clock is the monotonic one, counted from the
// store's making: with wall clock nanoseconds, a clock set back an hour
// left every key's arrival time an hour ahead, refusing everyone.
func TestMemoryStoreClockIsMonotonic(t *testing.T) {
	s := NewMemoryStore(10, nil)
	if now := s.now(); now < 0 || now > int64(time.Minute) {
		t.Fatalf("store clock reads %d, want nanoseconds since the store was made", now)
	}
}
