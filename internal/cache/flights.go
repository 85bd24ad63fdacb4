package cache

import (
	"sync"
	"time"
)

// flight is an origin request that others with the same key wait for.
type flight struct {
	done chan struct{}
	once sync.Once
}

func newFlight() *flight { return &flight{done: make(chan struct{})} }

// release wakes the waiters (once).
func (f *flight) release() { f.once.Do(func() { close(f.done) }) }

// passMemory is how long misses of a key whose response could not be
// stored go to the origin at once, without waiting on each other (like
// Varnish's hit-for-miss): collapsing requests for a page that is never
// stored would only queue them. A stored response ends it early.
const passMemory = 2 * time.Minute

// maxPasses bounds the keys remembered; past it, the memory starts over.
const maxPasses = 10000

// markPass remembers that key's response could not be stored.
func (h *Handler) markPass(key string) {
	h.mu.Lock()
	if len(h.passes) >= maxPasses {
		clear(h.passes)
	}
	h.passes[key] = time.Now().Add(passMemory)
	h.mu.Unlock()
}

// passing reports whether key's response could not be stored lately:
// such a miss skips the fleet's shared tier too.
func (h *Handler) passing(key string) bool {
	h.mu.Lock()
	until, ok := h.passes[key]
	h.mu.Unlock()
	return ok && time.Now().Before(until)
}

// clearPass forgets that key's response could not be stored.
func (h *Handler) clearPass(key string) {
	h.mu.Lock()
	delete(h.passes, key)
	h.mu.Unlock()
}
