package harness

import (
	"errors"
	"fmt"
	"net"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
)

// Counter counts outcomes (a status code, or a word for what a client
// saw) from many goroutines.
type Counter struct {
	mu  sync.Mutex
	got map[string]int
}

// Add counts one outcome of kind.
func (c *Counter) Add(kind string) {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.got == nil {
		c.got = map[string]int{}
	}
	c.got[kind]++
}

// Counts is a copy of the counts so far.
func (c *Counter) Counts() map[string]int {
	c.mu.Lock()
	defer c.mu.Unlock()
	out := make(map[string]int, len(c.got))
	for k, v := range c.got {
		out[k] = v
	}
	return out
}

// Summary is counts as "kind×count", most frequent first.
func Summary(counts map[string]int) string {
	kinds := make([]string, 0, len(counts))
	for k := range counts {
		kinds = append(kinds, k)
	}
	sort.Slice(kinds, func(i, j int) bool {
		return counts[kinds[i]] > counts[kinds[j]] || counts[kinds[i]] == counts[kinds[j]] && kinds[i] < kinds[j]
	})
	s := make([]string, 0, len(kinds))
	for _, k := range kinds {
		s = append(s, fmt.Sprintf("%s×%d", k, counts[k]))
	}
	return strings.Join(s, " ")
}

// Failure names the kind of a failed request: "timeout" or "error".
func Failure(err error) string {
	var ne net.Error
	if errors.As(err, &ne) && ne.Timeout() {
		return "timeout"
	}
	return "error"
}

// Parallel runs f(i) for i in [0, n) on at most workers goroutines.
func Parallel(n, workers int, f func(i int)) {
	var next atomic.Int64
	var wg sync.WaitGroup
	for range min(n, workers) {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for i := int(next.Add(1) - 1); i < n; i = int(next.Add(1) - 1) {
				f(i)
			}
		}()
	}
	wg.Wait()
}

// Pattern reads as the bytes 0..250 over and over: a body whose every
// byte can be checked.
type Pattern struct{ off int64 }

func (p *Pattern) Read(b []byte) (int, error) {
	for i := range b {
		b[i] = byte((p.off + int64(i)) % 251)
	}
	p.off += int64(len(b))
	return len(b), nil
}

// Zeros reads as endless zero bytes.
type Zeros struct{}

func (Zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}
