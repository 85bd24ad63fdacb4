package ratelimit

import (
	"crypto/sha256"
	"encoding/hex"
	"strconv"
	"sync"
	"time"

	"github.com/redis/go-redis/v9"

	"github.com/gatehouse/gatehouse/internal/fleet"
	"github.com/gatehouse/gatehouse/internal/monoclock"
)

// gcraScript is GCRA in the store, one atomic call per decision. The
// key holds the theoretical arrival time in microseconds; the clock is
// the store's (TIME), so that the instances' clocks need not agree,
// unless ARGV[4] gives one (tests).
//
// ARGV: interval (µs), tolerance = interval × burst (µs), the most
// requests to grant at once (leases), and the clock. It grants up to an
// eighth of what would pass now (at least one, at most ARGV[3]) and
// returns {granted, delay µs, reset µs, remaining} or, refused,
// {0, retry after µs, reset µs, 0}.
const gcraScript = `
local t = tonumber(ARGV[1])
local tau = tonumber(ARGV[2])
local most = tonumber(ARGV[3])
local now
if ARGV[4] ~= nil and ARGV[4] ~= "" then
  now = tonumber(ARGV[4])
else
  local tm = redis.call('TIME')
  now = tonumber(tm[1]) * 1000000 + tonumber(tm[2])
end
local tat = tonumber(redis.call('GET', KEYS[1]) or now)
if tat < now then tat = now end
local avail = math.floor((tau + t - (tat - now)) / t)
if avail < 1 then
  return {0, tat - tau - now, tat - now, 0}
end
local grant = 1
if most > 1 then
  grant = math.max(1, math.min(most, math.floor(avail / 8)))
end
local nxt = tat + grant * t
redis.call('SET', KEYS[1], string.format('%.0f', nxt), 'PX', math.ceil((nxt - now) / 1000) + 1)
return {grant, tat - now, nxt - now, avail - grant}
`

var gcra = redis.NewScript(gcraScript)

// Leases: a key far under its limit takes up to maxLease requests in one
// call and spends them locally for at most leaseLife.
const (
	maxLease  = 64
	leaseLife = time.Second
)

// SharedStore counts a limit across the fleet in the store: N r/s is
// N r/s for all instances together. Each decision is one call of a Lua
// script (GCRA, atomic); calls that arrive while others are in flight go
// together as one pipeline. A key far under its limit takes a lease of up
// to an eighth of what it may still send (at most 64) in that call, and
// its next requests spend the lease here without a call.
//
// Precision: the store counts every request a lease grants when it
// grants it, so the fleet never admits more than an exact limiter would
// (rate × time + burst + 1). A lease left unspent when it expires (1s)
// was counted without being used: a client that jumps from far under its
// limit to over it may be refused up to an eighth of its remaining burst
// per instance early. At the limit leases are one request, exact.
//
// While the store is down the limit counts locally, at 1/fleet_size of
// its rate and burst (on_failure: open), or refuses with 503 (closed).
type SharedStore struct {
	fleet  *fleet.Fleet
	prefix string
	// local counts while the store is down.
	local *MemoryStore
	now   func() int64

	// batch sends the calls that arrive together as one pipeline.
	batch batcher

	mu     sync.Mutex
	leases map[string]*lease
	// clock, when set, is passed to the script instead of the store's
	// own clock (tests: a simulated clock).
	clock func() int64
}

// lease is requests granted by the store and not yet spent.
type lease struct {
	left, remaining int
	reset           time.Duration
	expires         int64
}

// maxLeases bounds the keys holding a lease; beyond, expired ones go,
// then new leases are not kept.
const maxLeases = 10_000

// NewSharedStore returns the shared store of the limit with id (its
// config: the same on every instance of the fleet).
func NewSharedStore(f *fleet.Fleet, id string) *SharedStore {
	sum := sha256.Sum256([]byte(id))
	return &SharedStore{fleet: f, prefix: hex.EncodeToString(sum[:6]), local: NewMemoryStore(DefaultMaxKeys, nil),
		now: monoclock.New().Nanos, leases: map[string]*lease{}, batch: batcher{fleet: f}}
}

// redisKey names a client key's counter. The client key is the hash tag,
// so that in a Redis Cluster all the limits of one client share a slot.
func (s *SharedStore) redisKey(key string) string {
	return s.fleet.Key("rl", "{"+key+"}", s.prefix)
}

// Take decides for one request of key.
func (s *SharedStore) Take(key string, r Rule) Decision {
	if !s.fleet.Up() {
		return s.fallback(key, r)
	}
	if d, ok := s.spendLease(key); ok {
		return d
	}
	most := maxLease
	if r.Delay || r.Burst == 0 {
		most = 1
	}
	args := []any{int64(r.Interval / time.Microsecond), int64(r.Interval/time.Microsecond) * int64(r.Burst), most, ""}
	if s.clock != nil {
		args[3] = s.clock() / 1000
	}
	call := &gcraCall{key: s.redisKey(key), args: args}
	s.batch.run(call)
	res, err := call.res, call.err
	if err != nil || len(res) != 4 {
		s.fleet.Failed(err)
		return s.fallback(key, r)
	}
	granted, reset := int(res[0]), time.Duration(res[2])*time.Microsecond
	if granted == 0 {
		return Decision{RetryAfter: time.Duration(res[1]) * time.Microsecond, Reset: reset}
	}
	d := Decision{Allowed: true, Delay: time.Duration(res[1]) * time.Microsecond, Reset: reset, Remaining: int(res[3])}
	if granted > 1 {
		s.keepLease(key, &lease{left: granted - 1, remaining: d.Remaining, reset: reset, expires: s.now() + int64(leaseLife)})
	}
	return d
}

// spendLease takes one request from key's lease, if it has one.
func (s *SharedStore) spendLease(key string) (Decision, bool) {
	s.mu.Lock()
	defer s.mu.Unlock()
	l := s.leases[key]
	if l == nil {
		return Decision{}, false
	}
	if s.now() >= l.expires {
		delete(s.leases, key)
		return Decision{}, false
	}
	l.left--
	if l.left == 0 {
		delete(s.leases, key)
	}
	return Decision{Allowed: true, Remaining: l.remaining, Reset: l.reset}, true
}

// keepLease keeps what the store granted beyond this request.
func (s *SharedStore) keepLease(key string, l *lease) {
	s.mu.Lock()
	defer s.mu.Unlock()
	if len(s.leases) >= maxLeases {
		now := s.now()
		for k, o := range s.leases {
			if now >= o.expires {
				delete(s.leases, k)
			}
		}
		if len(s.leases) >= maxLeases {
			return
		}
	}
	if o := s.leases[key]; o != nil && s.now() < o.expires {
		// Concurrent calls each brought a lease: keep them all.
		l.left += o.left
	}
	s.leases[key] = l
}

// fallback decides while the store is down: locally at the fleet's
// share of the rate, or refused when the store is required.
func (s *SharedStore) fallback(key string, r Rule) Decision {
	if s.fleet.FailClosed() {
		return Decision{Unavailable: true, RetryAfter: time.Second}
	}
	n := s.fleet.FleetSize()
	return s.local.Take(key, Rule{Interval: r.Interval * time.Duration(n), Burst: r.Burst / n, Delay: r.Delay})
}

// leaseCount is how many requests key's lease still holds (tests).
func (s *SharedStore) leaseCount(key string) int {
	s.mu.Lock()
	defer s.mu.Unlock()
	if l := s.leases[key]; l != nil {
		return l.left
	}
	return 0
}

// Keys is how many keys hold a lease or are counted locally.
func (s *SharedStore) Keys() int {
	s.mu.Lock()
	n := len(s.leases)
	s.mu.Unlock()
	return n + s.local.Keys()
}

// Evictions is how many keys the local fallback dropped early.
func (s *SharedStore) Evictions() uint64 { return s.local.Evictions() }

// String names the store in logs.
func (s *SharedStore) String() string {
	return "shared:" + s.prefix + ":" + strconv.Itoa(s.fleet.FleetSize())
}
