package ratelimit

import (
	"hash/maphash"
	"slices"
	"sync"
	"sync/atomic"

	"github.com/gatehouse/gatehouse/internal/monoclock"
)

// Store keeps each key's theoretical arrival time. Take runs GCRA for a
// key atomically. A store shared by several Gatehouse instances (Redis)
// implements the same.
type Store interface {
	Take(key string, r Rule) Decision
}

// MemoryStore is a Store in process memory, bounded: at most MaxKeys keys.
// A key's time is one atomic integer, updated without locks; the keys are
// spread over shards whose maps are only locked to add a key. A full
// shard first forgets the keys whose time has passed (they mean no more
// than a new key), then the least recently active (the earliest times;
// counted as evictions).
type MemoryStore struct {
	shards      [storeShards]shard
	maxPerShard int
	seed        maphash.Seed
	now         func() int64
	evictions   atomic.Uint64
}

const storeShards = 64

type shard struct {
	mu sync.RWMutex
	m  map[string]*atomic.Int64
}

// DefaultMaxKeys bounds a memory store's keys.
const DefaultMaxKeys = 100_000

// NewMemoryStore returns a store of at most maxKeys keys, on the clock now
// (nanoseconds; nil for the process's monotonic clock, so that the wall
// clock set back does not leave every key's arrival time in the future).
func NewMemoryStore(maxKeys int, now func() int64) *MemoryStore {
	if now == nil {
		now = monoclock.New().Nanos
	}
	s := &MemoryStore{maxPerShard: max(maxKeys/storeShards, 1), seed: maphash.MakeSeed(), now: now}
	for i := range s.shards {
		s.shards[i].m = map[string]*atomic.Int64{}
	}
	return s
}

// Take decides for one request of key.
func (s *MemoryStore) Take(key string, r Rule) Decision {
	sh := &s.shards[maphash.String(s.seed, key)%storeShards]
	sh.mu.RLock()
	tat := sh.m[key]
	sh.mu.RUnlock()
	if tat == nil {
		tat = s.add(sh, key)
	}
	now := s.now()
	for {
		old := tat.Load()
		d, next := decide(r, old, now)
		if !d.Allowed || tat.CompareAndSwap(old, next) {
			return d
		}
	}
}

// add makes key's entry, making room first when the shard is full.
func (s *MemoryStore) add(sh *shard, key string) *atomic.Int64 {
	sh.mu.Lock()
	defer sh.mu.Unlock()
	if tat := sh.m[key]; tat != nil {
		return tat
	}
	if len(sh.m) >= s.maxPerShard {
		s.makeRoom(sh)
	}
	tat := new(atomic.Int64)
	sh.m[key] = tat
	return tat
}

// makeRoom drops the keys whose time has passed, and if that is not
// enough, the eighth of the shard with the earliest times.
func (s *MemoryStore) makeRoom(sh *shard) {
	now := s.now()
	for k, tat := range sh.m {
		if tat.Load() <= now {
			delete(sh.m, k)
		}
	}
	if len(sh.m) < s.maxPerShard {
		return
	}
	type kv struct {
		key string
		tat int64
	}
	all := make([]kv, 0, len(sh.m))
	for k, tat := range sh.m {
		all = append(all, kv{k, tat.Load()})
	}
	slices.SortFunc(all, func(a, b kv) int { return int(min(max(a.tat-b.tat, -1), 1)) })
	drop := max(len(all)/8, 1)
	for _, e := range all[:drop] {
		delete(sh.m, e.key)
	}
	s.evictions.Add(uint64(drop))
}

// Keys is how many keys the store holds.
func (s *MemoryStore) Keys() int {
	n := 0
	for i := range s.shards {
		sh := &s.shards[i]
		sh.mu.RLock()
		n += len(sh.m)
		sh.mu.RUnlock()
	}
	return n
}

// Evictions is how many keys were dropped to stay within the bound
// before their time had passed.
func (s *MemoryStore) Evictions() uint64 { return s.evictions.Load() }
