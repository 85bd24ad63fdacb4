package ratelimit

import (
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Store keeps each key's theoretical arrival time. Take runs GCRA for a
// key atomically. A store shared by several Gatehouse instances (Redis)
// implements the same.
type Store interface {
	Take(key string, r Rule) Decision
}

// MemoryStore is a Store in process memory: at most MaxKeys keys, the
// least recently used evicted first (counted), and a key dropped once its
// time has passed (it then means no more than a new key).
type MemoryStore struct {
	cache     *otter.Cache[string, int64]
	now       func() int64
	evictions atomic.Uint64
}

// DefaultMaxKeys bounds a memory store's keys.
const DefaultMaxKeys = 100_000

// NewMemoryStore returns a store of at most maxKeys keys, on the clock now
// (nanoseconds; nil for the wall clock).
func NewMemoryStore(maxKeys int, now func() int64) *MemoryStore {
	if now == nil {
		now = func() int64 { return time.Now().UnixNano() }
	}
	s := &MemoryStore{now: now}
	s.cache = otter.Must(&otter.Options[string, int64]{
		MaximumSize: maxKeys,
		ExpiryCalculator: otter.ExpiryWritingFunc(func(e otter.Entry[string, int64]) time.Duration {
			return time.Duration(max(e.Value-s.now(), 0)) + time.Second
		}),
		OnAtomicDeletion: func(e otter.DeletionEvent[string, int64]) {
			if e.Cause == otter.CauseOverflow {
				s.evictions.Add(1)
			}
		},
	})
	return s
}

// Take decides for one request of key.
func (s *MemoryStore) Take(key string, r Rule) Decision {
	var d Decision
	now := s.now()
	s.cache.Compute(key, func(tat int64, _ bool) (int64, otter.ComputeOp) {
		var next int64
		d, next = decide(r, tat, now)
		if !d.Allowed && tat != 0 {
			return tat, otter.CancelOp
		}
		return next, otter.WriteOp
	})
	return d
}

// Keys is how many keys the store holds.
func (s *MemoryStore) Keys() int { return s.cache.EstimatedSize() }

// Evictions is how many keys were dropped to stay within the bound
// before their time had passed.
func (s *MemoryStore) Evictions() uint64 { return s.evictions.Load() }
