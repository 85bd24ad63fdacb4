package http1

import (
	"errors"
	"os"
	"sync"
	"time"
)

// ErrClientGone is the cause of a request context canceled because the
// client closed its connection while the request was being served.
var ErrClientGone = errors.New("client closed the connection")

// watchDelay is how long a request runs before the server starts watching
// its connection for the client going away. Most requests finish sooner,
// and watching costs a goroutine and system calls, so only the slow ones
// (long polls, slow upstreams) pay for it.
const watchDelay = 100 * time.Millisecond

// aLongTimeAgo is a deadline in the past, to interrupt a blocked read.
var aLongTimeAgo = time.Unix(1, 0)

type watchState uint8

const (
	watchIdle watchState = iota
	watchArmed
	watchRunning
)

// watcher notices a client closing its connection while its request is
// served, and cancels the request's context with ErrClientGone. It reads
// one byte ahead on the connection once the request body has been read,
// the way net/http's background read does, but only for requests still
// running after watchDelay: the server's watch loop starts it.
type watcher struct {
	mu      sync.Mutex
	state   watchState
	since   time.Time // when the current request was armed
	ctx     *requestContext
	body    *requestBody
	stopped chan struct{}
}

// arm marks the start of the request now being served.
func (w *watcher) arm(ctx *requestContext, body *requestBody, now time.Time) {
	w.mu.Lock()
	w.state, w.ctx, w.body, w.since = watchArmed, ctx, body, now
	w.mu.Unlock()
}

// due starts the read-ahead when the request has run for watchDelay, its
// body is read and nothing else is buffered.
func (w *watcher) due(c *conn, now time.Time) {
	w.mu.Lock()
	if w.state != watchArmed || now.Sub(w.since) < watchDelay || !w.body.done.Load() || c.br.Buffered() > 0 {
		w.mu.Unlock()
		return
	}
	w.state = watchRunning
	stopped := make(chan struct{})
	w.stopped = stopped
	ctx := w.ctx
	// No deadline for the read-ahead: cleared here, under the lock, so
	// that a stop that follows (and moves the deadline to the past to
	// interrupt the read) cannot be undone by the read-ahead starting
	// late.
	_ = c.setReadDeadline(time.Time{})
	w.mu.Unlock()
	go w.readAhead(c, ctx, stopped)
}

// readAhead waits until the client sends something or goes away, or until
// stop interrupts it.
func (w *watcher) readAhead(c *conn, ctx *requestContext, stopped chan struct{}) {
	_, err := c.br.Peek(1)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		ctx.cancel(ErrClientGone)
	}
	w.mu.Lock()
	w.state = watchIdle
	close(stopped)
	w.mu.Unlock()
}

// stop ends the watch of the current request and waits until the
// connection's reader is free again.
func (w *watcher) stop(c *conn) {
	w.mu.Lock()
	// The request's objects are not kept past its end (an idle
	// connection would hold them until its next request).
	w.ctx, w.body = nil, nil
	if w.state != watchRunning {
		w.state = watchIdle
		w.mu.Unlock()
		return
	}
	stopped := w.stopped
	w.mu.Unlock()
	_ = c.setReadDeadline(aLongTimeAgo)
	<-stopped
	_ = c.setReadDeadline(time.Time{})
}

// watchLoop looks for requests due a read-ahead until done is closed.
// Every parkScan it also asks connections idle since the previous park
// scan to park.
func (s *Server) watchLoop(done <-chan struct{}) {
	tick := time.NewTicker(watchDelay / 2)
	defer tick.Stop()
	var nextPark time.Time
	for {
		select {
		case <-done:
			return
		case now := <-tick.C:
			parkDue := s.idle != nil && !now.Before(nextPark)
			if parkDue {
				nextPark = now.Add(parkScan)
			}
			s.mu.Lock()
			for c := range s.awake {
				switch c.state.Load() {
				case stateActive:
					c.watch.due(c, now)
				case stateIdle:
					if parkDue {
						c.askPark()
					}
				}
			}
			s.mu.Unlock()
		}
	}
}
