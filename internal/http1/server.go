// Package http1 serves HTTP/1.1 and HTTP/1.0 to clients. It is Gatehouse's
// front end for plain connections, written for a proxy's hot path in place
// of net/http's server: one goroutine per connection and nothing else (no
// background read per request), pooled buffers, request heads parsed with a
// single copy, and the strict framing rules of RFC 9112 applied while
// parsing, so a request whose framing could be read two ways never reaches
// a handler. Handlers are ordinary http.Handlers; the ResponseWriter
// supports Flush, Hijack, ReadFrom (sendfile) and read/write deadlines
// through http.ResponseController.
package http1

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"runtime"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/internal/conngate"
	"github.com/gatehouse/gatehouse/internal/httpdate"
	"github.com/gatehouse/gatehouse/internal/idlepark"
	"github.com/gatehouse/gatehouse/internal/peer"
)

// Options are a server's client-facing limits. They may be changed while
// the server runs (SetOptions); each request uses the options current when
// it started.
type Options struct {
	// HeaderTimeout bounds the time from a connection's accept, or from
	// the first byte of a later request, to the end of the request head.
	HeaderTimeout time.Duration
	// IdleTimeout bounds the wait for the next request on a keep-alive
	// connection.
	IdleTimeout time.Duration
	// MaxHeaderSize bounds a request head (request line and fields).
	MaxHeaderSize int
	// ServerName is the Server header of responses the server writes
	// itself (refused heads).
	ServerName string
	// Refused, when set, is told about every request head refused before
	// it reached the handler.
	Refused func(Refusal)
	// Log receives handler panics and other server errors.
	Log *slog.Logger
	// PriorKnowledge, when set, is handed every connection that opens
	// with the HTTP/2 connection preface (h2c with prior knowledge, as
	// gRPC clients speak it without TLS), the preface included in what
	// it reads.
	PriorKnowledge func(net.Conn)
	// Gate, when set, admits each connection in the accept loop (bans,
	// connection limits) and, on a PROXY protocol listener, reads the
	// header naming the client before the first request.
	Gate *conngate.Gate
	// OutOfFiles, when set, is called when accept fails for want of file
	// descriptors; it reports whether it made room (by closing idle
	// connections), and accept is then retried at once.
	OutOfFiles func() bool
}

// Server serves HTTP/1.x connections with one handler.
type Server struct {
	handler http.Handler
	opts    atomic.Pointer[Options]
	// baseCtx is every request's context root. It carries an
	// http.Server under http.ServerContextKey, which tells handlers such
	// as httputil.ReverseProxy that a panic(http.ErrAbortHandler) will be
	// recovered (it is, by the connection).
	baseCtx context.Context

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	// awake are the connections with a goroutine (all but the parked
	// ones): what the watch loop looks at.
	awake   map[*conn]struct{}
	closing atomic.Bool
	// drained is set, under mu, when Shutdown found nothing left to wait
	// for.
	drained   bool
	stopWatch chan struct{} // closed to end watchLoop
	stopOnce  sync.Once

	date    httpdate.Cache
	buffers sync.Pool // *buffers

	// idle holds parked idle connections (park.go); nil where the
	// platform has no idle set.
	idle *idlepark.Set
}

// bufferSize is the size of each connection's read and write buffers.
const bufferSize = 4 << 10

// New returns a server that hands requests to h.
func New(h http.Handler, opts Options) *Server {
	s := &Server{handler: h, listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}, awake: map[*conn]struct{}{}}
	s.baseCtx = context.WithValue(context.Background(), http.ServerContextKey, &http.Server{Handler: h})
	s.SetOptions(opts)
	// One loop per two cores: on two, one loop serving inline beside
	// the goroutines left the other core to them and to the clients, and
	// two loops measured slower (bench/README.md).
	if set, err := idlepark.New(max(1, runtime.GOMAXPROCS(0)/2)); err == nil {
		s.idle = set
	} else {
		s.opts.Load().Log.Warn("idle connections keep a goroutine each", "error", err)
	}
	s.stopWatch = make(chan struct{})
	go s.watchLoop(s.stopWatch)
	return s
}

// stop ends the server's loops (once): the watch loop and the idle set,
// whose connections still parked are closed.
func (s *Server) stop() {
	s.stopOnce.Do(func() {
		close(s.stopWatch)
		if s.idle != nil {
			s.idle.Close()
		}
	})
}

// SetOptions replaces the server's options; requests already being read
// keep the ones they started with.
func (s *Server) SetOptions(o Options) {
	if o.Log == nil {
		o.Log = slog.Default()
	}
	if o.MaxHeaderSize <= 0 {
		o.MaxHeaderSize = 32 << 10
	}
	s.opts.Store(&o)
}

// Serve accepts connections on ln until it is closed, and returns
// http.ErrServerClosed after Shutdown or Close.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return http.ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	var backoff time.Duration
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return http.ErrServerClosed
			}
			outOfFiles := errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)
			if f := s.opts.Load().OutOfFiles; outOfFiles && f != nil && f() {
				backoff = 0
				continue
			}
			var ne net.Error
			if errors.As(err, &ne) && ne.Timeout() || outOfFiles {
				// Out of file descriptors or similar: wait and retry,
				// as net/http does.
				backoff = min(max(2*backoff, 5*time.Millisecond), time.Second)
				s.opts.Load().Log.Error("accept failed; retrying", "error", err, "delay", backoff)
				time.Sleep(backoff)
				continue
			}
			return err
		}
		backoff = 0
		gate := s.opts.Load().Gate
		pass, ok := gate.Accept(nc)
		if !ok {
			continue
		}
		c := s.newConn(nc)
		if c == nil {
			pass.Release()
			continue
		}
		c.gate, c.pass = gate, pass
		go c.serve()
	}
}

// newConn registers a connection (one accepted while the server closes is
// still served: its request gets Connection: close), or closes it when
// Shutdown has finished.
func (s *Server) newConn(nc net.Conn) *conn {
	c := &conn{srv: s, nc: nc, remote: nc.RemoteAddr().String(), sio: loopIO{fd: -1}}
	c.ctx = peer.With(context.WithValue(s.baseCtx, http.LocalAddrContextKey, nc.LocalAddr()), nc.RemoteAddr())
	s.mu.Lock()
	defer s.mu.Unlock()
	if s.drained {
		// Accepted as the listener closed, after Shutdown's last look:
		// nobody would wait for it.
		_ = nc.Close()
		return nil
	}
	s.conns[c] = struct{}{}
	s.awake[c] = struct{}{}
	return c
}

// OpenConns counts the connections being served (hijacked ones no more).
func (s *Server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	delete(s.awake, c)
	s.mu.Unlock()
}

// asleep and awoken move a connection out of, and back into, the set the
// watch loop looks at, when it parks and when it wakes.
func (s *Server) asleep(c *conn) {
	s.mu.Lock()
	delete(s.awake, c)
	s.mu.Unlock()
}

func (s *Server) awoken(c *conn) {
	s.mu.Lock()
	s.awake[c] = struct{}{}
	s.mu.Unlock()
}

// Shutdown stops accepting, closes idle connections, and waits until the
// requests in flight have been answered or ctx ends; then it closes what is
// left. Hijacked connections are not waited for.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closeListeners()
	tick := time.NewTicker(20 * time.Millisecond)
	defer tick.Stop()
	seen := map[*conn]idleMark{}
	for {
		if s.closeIdle(seen, time.Now()) == 0 {
			s.stop()
			return nil
		}
		select {
		case <-ctx.Done():
			_ = s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.closeListeners()
	s.stop()
	s.mu.Lock()
	defer s.mu.Unlock()
	for c := range s.conns {
		c.state.Store(stateClosed)
		_ = c.nc.Close()
	}
	return nil
}

func (s *Server) closeListeners() {
	s.mu.Lock()
	defer s.mu.Unlock()
	s.closing.Store(true)
	for ln := range s.listeners {
		_ = ln.Close()
	}
}

// shutdownIdleGrace is how long Shutdown leaves a connection waiting for
// a request before it closes it: a busy client's next request, already on
// its way, would be lost if the connection were closed under it; within
// the grace it is answered, with Connection: close.
const shutdownIdleGrace = 500 * time.Millisecond

// idleMark is an idle wait Shutdown has seen: the connection's wait count
// and when it was first seen in it.
type idleMark struct {
	wait  uint32
	since time.Time
}

// closeIdle closes the connections that have waited for a request for
// shutdownIdleGrace (seen holds the waits found on earlier passes) and
// returns how many are still busy or within the grace. Once none is, the
// server is drained: a connection accepted after that is closed.
func (s *Server) closeIdle(seen map[*conn]idleMark, now time.Time) int {
	var parked []*conn
	s.mu.Lock()
	busy := 0
	for c := range s.conns {
		// Parked connections get the grace too: a busy connection
		// served on the idle set's loop is parked between requests.
		if st := c.state.Load(); st == stateIdle || st == stateParked {
			wait := c.idles.Load()
			m, ok := seen[c]
			if !ok || m.wait != wait {
				m = idleMark{wait: wait, since: now}
				seen[c] = m
			}
			if now.Sub(m.since) < shutdownIdleGrace {
				busy++
				continue
			}
		}
		if c.state.CompareAndSwap(stateIdle, stateClosed) {
			_ = c.nc.Close()
			continue
		}
		if c.state.CompareAndSwap(stateParked, stateClosed) {
			// Taken out of the idle set, it is ours to close; if its
			// wake or expiry got there first, that finishes it.
			if s.idle.Unpark(c.idle.entry) {
				parked = append(parked, c)
			}
			continue
		}
		if c.state.Load() == stateActive {
			busy++
		}
	}
	if busy == 0 {
		s.drained = true
	}
	s.mu.Unlock()
	for _, c := range parked {
		c.finish(false)
	}
	return busy
}

// CloseIdle closes up to n of the connections parked idle, the longest
// idle first, and reports how many it closed.
func (s *Server) CloseIdle(n int) int {
	if s.idle == nil {
		return 0
	}
	return s.idle.ExpireOldest(n)
}
