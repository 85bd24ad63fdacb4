package http1

import (
	"net"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
	"github.com/gatehouse/gatehouse/internal/sockio"
	"github.com/gatehouse/gatehouse/internal/wire"
)

// Serving on the loop: a plain keep-alive connection whose last request
// was one that never blocks (Inliner says which: fixed responses,
// redirects) parks in the idle set at once rather than after a park scan,
// and when its next request arrives the set's loop serves it there and
// then, without a goroutine: the socket is read and written without
// waiting (sockio's TryRead and TryWrite), and re-armed in the epoll set
// after the response. A request the loop cannot serve (a partial head, a
// body, a route that proxies) goes on to a goroutine of its own, read
// head and all, and the connection stays there until it is idle again.
// This is nginx's way of serving, and on the fixed-response row of
// bench/throughput it is what brings Go's per-request cost of waking
// goroutines through the scheduler down to an event loop's.

// Inliner is implemented by a handler that can tell, from a request's
// head, that serving it does not block: no upstream, no file, no lock
// held for long, nothing that waits for a client's body.
type Inliner interface {
	// InlineHandler returns the handler to serve r with on the loop, or
	// nil when r must be served on a goroutine.
	InlineHandler(r *http.Request) http.Handler
}

// maxServedPerWake bounds the requests of one connection (pipelined) that
// the loop serves in a row before others get their turn; the rest goes to
// a goroutine.
const maxServedPerWake = 16

// sendTimeout bounds the write of output the client would not take while
// its connection was served on the loop (nginx's send_timeout).
const sendTimeout = 60 * time.Second

// loopIO is a plain socket's I/O as the connection's buffers see it.
// While the connection is served on the loop, its socket is detached from
// Go's poller (fd, see sockio.Detach): reads return sockio.ErrWouldBlock
// rather than wait, and output the socket cannot take now is kept in
// backlog, to be written off the loop, first, before anything else.
type loopIO struct {
	sock *sockio.Socket
	// fd is the detached socket, -1 while Go's poller has it (sock).
	fd      int
	backlog []byte
}

// Read reads the socket.
func (l *loopIO) Read(p []byte) (int, error) {
	if l.fd >= 0 {
		return sockio.TryRead(l.fd, p)
	}
	return l.sock.Read(p)
}

// Write writes to the socket, after the backlog.
func (l *loopIO) Write(p []byte) (int, error) {
	if l.fd >= 0 {
		rest := p
		if len(l.backlog) == 0 {
			n, err := sockio.TryWrite(l.fd, p)
			if err != sockio.ErrWouldBlock {
				return n, err
			}
			rest = p[n:]
		}
		l.backlog = append(l.backlog, rest...)
		return len(p), nil
	}
	if err := l.flushBacklog(); err != nil {
		return 0, err
	}
	return l.sock.Write(p)
}

// flushBacklog writes the backlog, waiting as needed.
func (l *loopIO) flushBacklog() error {
	if len(l.backlog) == 0 {
		return nil
	}
	_, err := l.sock.Write(l.backlog)
	l.backlog = nil
	return err
}

// detach takes the connection's socket out of Go's poller, for the loop.
func (c *conn) detach() error {
	fd, err := c.sock.Detach(c.nc)
	if err != nil {
		return err
	}
	c.sio.fd = fd
	return nil
}

// attach gives a detached connection's socket back to Go's poller, for a
// goroutine: a new net.Conn (without deadlines) in place of the old.
func (c *conn) attach() error {
	c.srv.idle.Release(c.idle.entry)
	nc, err := sockio.Attach(c.sio.fd)
	c.sio.fd = -1
	if err != nil {
		return err
	}
	sock := sockio.Open(nc)
	if sock == nil {
		_ = nc.Close()
		return net.ErrClosed
	}
	c.srv.mu.Lock()
	c.nc = nc
	c.srv.mu.Unlock()
	c.sock, c.sio.sock = sock, sock
	c.idle.fd, c.idle.entry = sock.FD(), nil
	c.waitUntil = time.Time{}
	c.deadlineMoved.Store(true)
	return nil
}

// inlineHandler returns the handler that serves req on the loop, or nil
// when req must have a goroutine (or the connection cannot be served on
// a loop at all).
func (c *conn) inlineHandler(req *http.Request) (h http.Handler) {
	if c.sock == nil || c.srv.idle == nil || req.Body != http.NoBody {
		return nil
	}
	in, ok := c.srv.handler.(Inliner)
	if !ok {
		return nil
	}
	defer func() {
		if p := recover(); p != nil {
			// Not the loop's to answer: the handler, on a goroutine,
			// meets the same request and recovers its panic there.
			h = nil
		}
	}()
	return in.InlineHandler(req)
}

// parkNow parks a connection after a request the loop could have served,
// when nothing more of the client's is buffered: its next request is
// served on the loop. When it did not park, the connection is still the
// caller's, to serve on (nil) or to close (an error).
func (c *conn) parkNow() (bool, error) {
	if c.br.Buffered() > 0 || c.bw.Buffered() > 0 || c.idle.fd < 0 {
		return false, nil
	}
	c.releaseBuffers()
	c.untilIdle(time.Now())
	c.idles.Add(1)
	if !c.state.CompareAndSwap(stateActive, stateIdle) {
		return false, net.ErrClosed // closed by Shutdown
	}
	return c.park()
}

// untilIdle sets the idle deadline of a connection about to park, without
// moving the socket's own deadline (which the loop does not use).
func (c *conn) untilIdle(now time.Time) {
	c.waitUntil = time.Time{}
	if t := c.srv.opts.Load().IdleTimeout; t > 0 {
		c.waitUntil = now.Add(t)
	}
	c.deadlineMoved.Store(true)
}

// wakeOnLoop runs on the idle set's loop when a parked plain connection
// has input (or has ended): it serves the requests there as long as each
// can be served without blocking, then parks the connection again, or
// hands it to a goroutine.
func (c *conn) wakeOnLoop() {
	if !c.state.CompareAndSwap(stateParked, stateIdle) {
		c.finish(false) // closed by Shutdown meanwhile
		return
	}
	if c.buffers == nil {
		c.takeBuffers()
	}
	for served := 0; ; served++ {
		o := c.srv.opts.Load()
		if c.br.Buffered() == 0 {
			_, err := c.br.Peek(1)
			switch {
			case err == sockio.ErrWouldBlock:
				c.parkOnLoop()
				return
			case err != nil:
				c.finish(false) // the client has gone
				return
			}
		}
		buf, _ := c.br.Peek(c.br.Buffered())
		if end := wire.HeadEnd(buf); end < 0 || end > o.MaxHeaderSize || served == maxServedPerWake {
			// The rest of the head is still to come (with the
			// header timeout), or it is too large to serve here.
			c.leaveLoop(func() { c.run(false, nil) })
			return
		}
		c.idles.Add(1)
		raw, herr, err := c.readHead(o, false)
		if err != nil {
			c.finish(false)
			return
		}
		var h head
		if herr == nil {
			herr = parseHead(raw, &h)
		}
		u, uerr := httpsyntax.RequestURL(h.target)
		if herr == nil && uerr != nil {
			herr = refuse(http.StatusBadRequest, "malformed request target")
		}
		if herr != nil {
			c.leaveLoop(func() {
				c.refuse(o, &h, herr)
				c.finish(false)
			})
			return
		}
		w, req := c.newRequest(&h, u)
		handler := c.inlineHandler(req)
		if handler == nil {
			c.leaveLoop(func() { c.run(false, &pendingRequest{o: o, w: w, req: req}) })
			return
		}
		result := c.runHandler(o, w, req, handler)
		switch {
		case result == outcomeHijacked:
			return
		case result == outcomeLinger:
			c.leaveLoop(func() {
				c.linger()
				c.finish(false)
			})
			return
		case result != outcomeKeep:
			if len(c.sio.backlog) > 0 {
				c.leaveLoop(func() { c.finish(false) })
				return
			}
			c.finish(false)
			return
		case len(c.sio.backlog) > 0:
			c.leaveLoop(func() { c.run(false, nil) })
			return
		}
		if st := c.state.Load(); st == stateClosed || !c.state.CompareAndSwap(st, stateIdle) {
			c.finish(false) // closed by Shutdown
			return
		}
	}
}

// pendingRequest is a request read on the loop, to be served on a
// goroutine.
type pendingRequest struct {
	o   *Options
	w   *response
	req *http.Request
}

// parkOnLoop parks a connection again from the loop, once its socket
// would block. The connection is not in the watch loop's sight (it left
// at its first park), and the set refuses it only when it closes or
// Shutdown wants the connection closed.
func (c *conn) parkOnLoop() {
	c.releaseBuffers()
	c.untilIdle(time.Now())
	c.idles.Add(1)
	if !c.state.CompareAndSwap(stateIdle, stateParked) || !c.srv.idle.Park(c.idle.entry, c.waitUntil) {
		c.finish(false)
	}
}

// leaveLoop goes on with the connection on a goroutine of its own: its
// socket back in Go's poller, its backlog written first (within
// sendTimeout), then next.
func (c *conn) leaveLoop(next func()) {
	go func() {
		if err := c.attach(); err != nil {
			c.finish(false)
			return
		}
		c.srv.awoken(c)
		if len(c.sio.backlog) > 0 {
			_ = c.nc.SetWriteDeadline(time.Now().Add(sendTimeout))
			err := c.sio.flushBacklog()
			_ = c.nc.SetWriteDeadline(time.Time{})
			if err != nil {
				c.finish(false)
				return
			}
		}
		next()
	}()
}
