package http1

import (
	"context"
	"sync"
	"time"
)

// requestContext is the context of one request: canceled when the
// request ends or the client goes away (with ErrClientGone as its cause),
// and carrying one value a handler may attach (SetValue). It does the work
// of context.WithCancelCause and context.WithValue in the response's own
// allocation, creates its Done channel only when asked for it, and runs
// AfterFunc callbacks without the goroutine and allocations of
// context.AfterFunc. Its parent, the connection's context, is never
// canceled.
type requestContext struct {
	parent context.Context

	// key and val are the attached value; set once, before the handler
	// starts anything that could read them concurrently.
	key, val any

	mu    sync.Mutex
	done  chan struct{} // nil until Done is called or the context ends
	err   error
	cause error
	// after holds the functions registered with AfterFunc, in afterBuf
	// while there are few; an entry whose f is nil was stopped.
	after    []func()
	afterBuf [2]func()
}

// closedChan is the Done channel of a context canceled before anyone
// asked for it.
var closedChan = func() chan struct{} { c := make(chan struct{}); close(c); return c }()

func (c *requestContext) Deadline() (time.Time, bool) { return c.parent.Deadline() }

// Done returns a channel closed when the request ends.
func (c *requestContext) Done() <-chan struct{} {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.done == nil {
		c.done = make(chan struct{})
	}
	return c.done
}

// Err returns context.Canceled once the request has ended, else nil.
func (c *requestContext) Err() error {
	c.mu.Lock()
	defer c.mu.Unlock()
	return c.err
}

// Value returns the attached value for its key, else the parent's.
func (c *requestContext) Value(key any) any {
	if c.key != nil && key == c.key {
		return c.val
	}
	return c.parent.Value(key)
}

// SetValue attaches val under key, once: it reports false (and attaches
// nothing) when a value is already attached.
func (c *requestContext) SetValue(key, val any) bool {
	if c.key != nil || key == nil {
		return false
	}
	c.key, c.val = key, val
	return true
}

// AfterFunc arranges for f to run in its own goroutine once the context
// is canceled (at once if it already is); stop unregisters it and reports
// whether it did so before f was started. This is the method
// context.AfterFunc and the context package's cancellation propagation
// look for.
func (c *requestContext) AfterFunc(f func()) (stop func() bool) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		go f()
		return func() bool { return false }
	}
	if c.after == nil {
		c.after = c.afterBuf[:0]
	}
	i := len(c.after)
	c.after = append(c.after, f)
	c.mu.Unlock()
	return func() bool {
		c.mu.Lock()
		defer c.mu.Unlock()
		if c.err != nil || c.after[i] == nil {
			return false
		}
		c.after[i] = nil
		return true
	}
}

// cancel ends the context with cause (context.Canceled when the request
// simply finished); only the first call counts.
func (c *requestContext) cancel(cause error) {
	c.mu.Lock()
	if c.err != nil {
		c.mu.Unlock()
		return
	}
	c.err, c.cause = context.Canceled, cause
	if c.done == nil {
		c.done = closedChan
	} else {
		close(c.done)
	}
	after := c.after
	c.after = nil
	c.mu.Unlock()
	// Entries are only ever cleared under the mutex before err is set, and
	// stop refuses once err is set, so after is ours now.
	for _, f := range after {
		if f != nil {
			go f()
		}
	}
}

// Cause returns why the request's context ended: ErrClientGone when the
// client went away while the request was served, context.Canceled when the
// request simply finished, nil while it runs. For other contexts it is
// context.Cause.
func Cause(ctx context.Context) error {
	if c, ok := ctx.(*requestContext); ok {
		c.mu.Lock()
		defer c.mu.Unlock()
		return c.cause
	}
	return context.Cause(ctx)
}
