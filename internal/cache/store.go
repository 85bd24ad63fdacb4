package cache

import (
	"bytes"
	"context"
	"io"
	"net/http"
	"slices"
	"sort"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/maypok86/otter/v2"
)

// Entry is one stored response: its metadata and its body, in memory or
// in a file of the disk tier.
type Entry struct {
	Meta Meta
	body []byte    // the memory tier's copy, nil when on disk only
	file *diskFile // the disk tier's copy, nil when in memory only

	// Worked out once by init from the fields: the Cache-Control
	// directives, the corrected initial age (and whether Age was
	// valid), the freshness lifetime, the Content-Length value.
	cc            Directives
	initialAge    time.Duration
	ageInvalid    bool
	lifetime      time.Duration
	contentLength []string
}

// init works out what the entry's fields say, once.
func (e *Entry) init() {
	e.cc = ParseDirectives(e.Meta.Header["Cache-Control"])
	age, ok := e.Meta.initialAge()
	e.initialAge, e.ageInvalid = age, !ok
	e.lifetime = e.Meta.Lifetime(&e.cc)
	e.contentLength = []string{strconv.FormatInt(e.Meta.Size, 10)}
}

// freshness computes where the entry stands at now.
func (e *Entry) freshness(now time.Time) Freshness {
	return Freshness{Age: e.initialAge + now.Sub(e.Meta.ResponseTime), Lifetime: e.lifetime, AgeInvalid: e.ageInvalid, CC: e.cc}
}

// weight is what an entry costs the memory tier: its body and, roughly,
// its header fields and keys.
func (e *Entry) weight() int64 {
	n := int64(len(e.body)) + int64(len(e.Meta.Primary)+len(e.Meta.Variant)+len(e.Meta.URL)) + 256
	for k, vs := range e.Meta.Header {
		n += int64(len(k))
		for _, v := range vs {
			n += int64(len(v)) + 16
		}
	}
	return n
}

// Body opens the entry's body for reading: its file when it has one and
// the body is large (or not in memory), else the memory copy.
func (e *Entry) Body() (io.ReadSeeker, io.Closer, error) {
	if e.file == nil || e.body != nil && e.Meta.Size < sendfileFrom {
		return bytes.NewReader(e.body), nopCloser{}, nil
	}
	r, c, err := e.file.open()
	if err != nil && e.body != nil {
		// The file went (evicted from the disk tier); memory has it.
		return bytes.NewReader(e.body), nopCloser{}, nil
	}
	return r, c, err
}

type nopCloser struct{}

func (nopCloser) Close() error { return nil }

// maxVariants bounds the variants kept of one key: beyond, the oldest go.
const maxVariants = 16

// variants are the stored responses of one cache key, immutable once
// made (a change makes a new set).
type variants struct {
	entries []*Entry
	weight  int64
}

// Stats count what the cache did, for metrics.
type Stats struct {
	Hits, Misses, Stale, Revalidated, Collapsed, Bypassed atomic.Uint64
	Evictions, Stores                                     atomic.Uint64
	// SharedHits counts the responses the fleet's shared tier had that
	// the local tiers did not; SharedStores the copies sent to it.
	SharedHits, SharedStores atomic.Uint64
	// BytesServed counts the body bytes answered from the store.
	BytesServed atomic.Uint64
}

// Store keeps responses: a memory tier bounded in bytes, and optionally a
// disk tier. It lives as long as the process: reloads keep what is
// stored. Nothing is ever pending: a response is in its tier's file by the
// time it is stored, so a stop loses nothing and needs no closing.
type Store struct {
	mem       *otter.Cache[string, *variants]
	disk      *disk
	maxObject int64
	memory    int64
	shared    SharedOptions
	Stats     Stats

	// urls maps each URL to the cache keys stored for it, for purges.
	mu   sync.Mutex
	urls map[string]map[string]struct{}
}

// Options configure a Store.
type Options struct {
	// Memory bounds the memory tier (bytes); MaxObject the largest body
	// stored.
	Memory, MaxObject int64
	// DiskPath and DiskSize, when DiskPath is set, add the disk tier.
	DiskPath string
	DiskSize int64
	// Shared, when its Tier is set, adds the fleet's shared tier.
	Shared SharedOptions
}

// NewStore returns a store; with a disk tier, what a previous process
// left there is loaded.
func NewStore(opt Options) (*Store, error) {
	s := &Store{maxObject: opt.MaxObject, memory: opt.Memory, shared: opt.Shared, urls: map[string]map[string]struct{}{}}
	mem, err := otter.New(&otter.Options[string, *variants]{
		MaximumWeight: uint64(max(opt.Memory, 1)),
		Weigher: func(_ string, v *variants) uint32 {
			return uint32(min(v.weight, 1<<32-1))
		},
		OnDeletion: func(e otter.DeletionEvent[string, *variants]) {
			if e.WasEvicted() {
				s.Stats.Evictions.Add(1)
			}
			if e.Cause != otter.CauseReplacement && (s.disk == nil || !s.disk.has(e.Key)) {
				s.forget(e.Value)
			}
		},
	})
	if err != nil {
		return nil, err
	}
	s.mem = mem
	if opt.DiskPath != "" {
		if s.disk, err = openDisk(opt.DiskPath, opt.DiskSize, s); err != nil {
			return nil, err
		}
	}
	return s, nil
}

// lookup returns the variant of key that the request matches in the
// local tiers, or nil (lookupShared asks the fleet's tier).
func (s *Store) lookup(primary string, r *http.Request) *Entry {
	if vs, ok := s.mem.GetIfPresent(primary); ok {
		if e := vs.match(r); e != nil {
			return e
		}
	}
	if s.disk != nil {
		if e := s.disk.lookup(primary, r); e != nil {
			if e.Meta.Size <= s.memoryObjectLimit() {
				// Small enough for the memory tier: bring it up.
				if body, err := e.file.read(); err == nil {
					up := &Entry{Meta: e.Meta, body: body, file: e.file}
					up.init()
					s.putMemory(up)
					return up
				}
			}
			return e
		}
	}
	return nil
}

// memoryObjectLimit is the largest body the memory tier takes: an eighth
// of it, so that one object never sweeps it.
func (s *Store) memoryObjectLimit() int64 { return s.memory / 8 }

// match returns the entry whose Vary values are the request's.
func (vs *variants) match(r *http.Request) *Entry {
	for _, e := range vs.entries {
		if slices.Equal(e.Meta.VaryValues, varyValues(e.Meta.Vary, r.Header)) {
			return e
		}
	}
	return nil
}

// put stores an entry whose body is in memory (e.body) or already on
// disk (e.file): the disk tier keeps it, and the memory tier when small
// enough.
func (s *Store) put(e *Entry) {
	s.Stats.Stores.Add(1)
	s.index(e.Meta.URL, e.Meta.Primary)
	defer s.putShared(context.Background(), e)
	if s.disk != nil {
		if e.file == nil {
			f, err := s.disk.writeEntry(&e.Meta, bytes.NewReader(e.body))
			if err == nil {
				e.file = f
				s.disk.add(e)
			}
		} else {
			s.disk.add(e)
		}
		if e.Meta.Size > s.memoryObjectLimit() {
			e.body = nil
			return
		}
		if e.body == nil {
			return
		}
	}
	if e.body == nil || e.Meta.Size > s.memoryObjectLimit() {
		return
	}
	s.putMemory(e)
}

// putMemory adds e to the memory tier's set of its key, replacing the
// variant with the same Vary values and dropping variants that vary on
// other fields.
func (s *Store) putMemory(e *Entry) {
	if e.body == nil {
		return
	}
	s.mem.Compute(e.Meta.Primary, func(old *variants, found bool) (*variants, otter.ComputeOp) {
		next := &variants{}
		if found {
			for _, o := range old.entries {
				if o.Meta.Variant == e.Meta.Variant || !slices.Equal(o.Meta.Vary, e.Meta.Vary) {
					continue
				}
				next.entries = append(next.entries, o)
			}
		}
		if len(next.entries) >= maxVariants {
			next.entries = next.entries[1:]
		}
		next.entries = append(next.entries, e)
		for _, o := range next.entries {
			next.weight += o.weight()
		}
		return next, otter.WriteOp
	})
}

// update puts n, the entry old became after a validation, in its place.
func (s *Store) update(old, n *Entry) {
	defer s.putShared(context.Background(), n)
	if s.disk != nil && old.file != nil {
		if err := s.disk.updateMeta(n); err == nil {
			s.disk.add(n)
		}
	}
	s.putMemory(n)
}

// removeEntry drops one variant, in both tiers.
func (s *Store) removeEntry(e *Entry) {
	s.mem.Compute(e.Meta.Primary, func(old *variants, found bool) (*variants, otter.ComputeOp) {
		if !found {
			return nil, otter.CancelOp
		}
		next := &variants{}
		for _, o := range old.entries {
			if o.Meta.Variant != e.Meta.Variant {
				next.entries = append(next.entries, o)
				next.weight += o.weight()
			}
		}
		if len(next.entries) == 0 {
			return nil, otter.InvalidateOp
		}
		return next, otter.WriteOp
	})
	if s.disk != nil {
		s.disk.removeVariant(e.Meta.Variant)
	}
}

// remove drops every variant of a key, in both tiers.
func (s *Store) remove(primary string) {
	s.mem.Invalidate(primary)
	if s.disk != nil {
		s.disk.remove(primary)
	}
}

// index notes that url has responses stored under primary.
func (s *Store) index(url, primary string) {
	s.mu.Lock()
	keys := s.urls[url]
	if keys == nil {
		keys = map[string]struct{}{}
		s.urls[url] = keys
	}
	keys[primary] = struct{}{}
	s.mu.Unlock()
}

// forget drops the URL index entries of a set that left the cache.
func (s *Store) forget(vs *variants) {
	if vs == nil {
		return
	}
	for _, e := range vs.entries {
		s.unindex(e.Meta.URL, e.Meta.Primary)
	}
}

func (s *Store) unindex(url, primary string) {
	s.mu.Lock()
	if keys := s.urls[url]; keys != nil {
		delete(keys, primary)
		if len(keys) == 0 {
			delete(s.urls, url)
		}
	}
	s.mu.Unlock()
}

// Purge drops every response stored for url (all keys and variants, in
// every tier, the fleet's shared one included) and reports whether this
// instance had any.
func (s *Store) Purge(url string) bool {
	keys := s.purge(url)
	s.purgeShared(url, keys)
	return len(keys) > 0
}

// PurgeLocal drops what this instance's tiers store for url (another
// instance purged the shared tier).
func (s *Store) PurgeLocal(url string) bool { return len(s.purge(url)) > 0 }

// purge drops url's responses from the local tiers and returns their keys.
func (s *Store) purge(url string) []string {
	s.mu.Lock()
	keys := make([]string, 0, len(s.urls[url]))
	for k := range s.urls[url] {
		keys = append(keys, k)
	}
	delete(s.urls, url)
	s.mu.Unlock()
	for _, k := range keys {
		s.remove(k)
	}
	return keys
}

// PurgePrefix drops every response stored for a URL that starts with
// prefix, in every tier, and returns how many URLs this instance had.
func (s *Store) PurgePrefix(prefix string) int {
	n := s.PurgePrefixLocal(prefix)
	s.purgeSharedPrefix(prefix)
	return n
}

// PurgePrefixLocal drops what this instance's tiers store for every URL
// that starts with prefix, and returns how many URLs there were.
func (s *Store) PurgePrefixLocal(prefix string) int {
	s.mu.Lock()
	var urls []string
	for u := range s.urls {
		if strings.HasPrefix(u, prefix) {
			urls = append(urls, u)
		}
	}
	s.mu.Unlock()
	sort.Strings(urls)
	n := 0
	for _, u := range urls {
		if len(s.purge(u)) > 0 {
			n++
		}
	}
	return n
}

// Objects is how many responses are stored (variants counted one by one,
// on disk or in memory).
func (s *Store) Objects() int {
	if s.disk != nil {
		return s.disk.count()
	}
	n := 0
	for _, vs := range s.mem.All() {
		n += len(vs.entries)
	}
	return n
}

// MemoryBytes is what the memory tier holds.
func (s *Store) MemoryBytes() uint64 { return s.mem.WeightedSize() }
