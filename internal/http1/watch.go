package http1

import (
	"context"
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
// running after watchDelay.
type watcher struct {
	mu      sync.Mutex
	state   watchState
	timer   *time.Timer
	cancel  context.CancelCauseFunc
	body    *requestBody
	stopped chan struct{}
}

// arm starts the delay for the request now being served.
func (w *watcher) arm(c *conn, cancel context.CancelCauseFunc, body *requestBody) {
	w.mu.Lock()
	w.state, w.cancel, w.body = watchArmed, cancel, body
	w.mu.Unlock()
	if w.timer == nil {
		w.timer = time.AfterFunc(watchDelay, func() { w.fire(c) })
	} else {
		w.timer.Reset(watchDelay)
	}
}

// fire runs when the delay ends: it reads ahead until the client sends
// something or goes away, or until stop interrupts it.
func (w *watcher) fire(c *conn) {
	w.mu.Lock()
	if w.state != watchArmed {
		w.mu.Unlock()
		return
	}
	if !w.body.done.Load() {
		// The handler is still reading the body; look again later.
		w.timer.Reset(watchDelay)
		w.mu.Unlock()
		return
	}
	if c.br.Buffered() > 0 {
		// The client already sent more (a pipelined request): reading
		// ahead would tell nothing.
		w.state = watchIdle
		w.mu.Unlock()
		return
	}
	w.state = watchRunning
	stopped := make(chan struct{})
	w.stopped = stopped
	cancel := w.cancel
	w.mu.Unlock()

	_ = c.nc.SetReadDeadline(time.Time{})
	_, err := c.br.Peek(1)
	if err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
		cancel(ErrClientGone)
	}
	w.mu.Lock()
	w.state = watchIdle
	close(stopped)
	w.mu.Unlock()
}

// stop ends the watch of the current request and waits until the
// connection's reader is free again.
func (w *watcher) stop(c *conn) {
	if w.timer != nil {
		w.timer.Stop()
	}
	w.mu.Lock()
	if w.state != watchRunning {
		w.state = watchIdle
		w.mu.Unlock()
		return
	}
	stopped := w.stopped
	w.mu.Unlock()
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
	<-stopped
	_ = c.nc.SetReadDeadline(time.Time{})
}
