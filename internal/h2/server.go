// Package h2 is Gatehouse's HTTP/2 server (RFC 9113), in place of
// net/http's: one goroutine per connection reads frames (x/net's Framer
// and HPACK decoder) and a goroutine per stream runs the handler; the
// frames of all streams go into one output buffer that whoever finds it
// unflushed writes, so the responses of streams that finish together
// leave in one TLS record write. Flow control, SETTINGS and the stream
// states follow the RFC; floods of control frames, resets and
// CONTINUATION are bounded.
package h2

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpdate"
	"github.com/gatehouse/gatehouse/internal/idlepark"
)

// Options are a server's limits, swapped on reload; a connection keeps
// the options it started with.
type Options struct {
	// HeaderTimeout bounds the wait for the client's preface and first
	// SETTINGS.
	HeaderTimeout time.Duration
	// IdleTimeout closes a connection that has had no stream open for
	// this long.
	IdleTimeout time.Duration
	// MaxHeaderSize is SETTINGS_MAX_HEADER_LIST_SIZE: a request whose
	// header list is larger gets a 431.
	MaxHeaderSize int
	// MaxConcurrentStreams is SETTINGS_MAX_CONCURRENT_STREAMS; 0 means
	// 128, nginx's default.
	MaxConcurrentStreams uint32
	// ExtendedConnect announces SETTINGS_ENABLE_CONNECT_PROTOCOL (RFC
	// 8441: WebSockets over HTTP/2) and accepts :protocol.
	ExtendedConnect bool
	// SendTimeout bounds a write to the client and a stream's wait for
	// the client to open its flow-control window; 0 means 60 s, nginx's
	// send_timeout.
	SendTimeout time.Duration
	// Log takes the server's debug and error messages.
	Log *slog.Logger
}

// Server serves HTTP/2 connections with one handler.
type Server struct {
	handler http.Handler
	opts    atomic.Pointer[Options]
	// baseCtx is every request's context root; it carries an
	// http.Server under http.ServerContextKey, which tells handlers such
	// as httputil.ReverseProxy that a panic(http.ErrAbortHandler) is
	// recovered.
	baseCtx context.Context
	date    httpdate.Cache

	mu        sync.Mutex
	listeners map[net.Listener]struct{}
	conns     map[*conn]struct{}
	closing   atomic.Bool
	// idle holds parked idle connections (park.go); nil where the
	// platform has no idle set.
	idle *idlepark.Set
}

// ErrServerClosed is returned by Serve after Shutdown or Close.
var ErrServerClosed = http.ErrServerClosed

// New returns a server that hands requests to h.
func New(h http.Handler, opts Options) *Server {
	s := &Server{handler: h, listeners: map[net.Listener]struct{}{}, conns: map[*conn]struct{}{}}
	s.baseCtx = context.WithValue(context.Background(), http.ServerContextKey, &http.Server{Handler: h})
	s.SetOptions(opts)
	if set, err := idlepark.New(1); err == nil {
		s.idle = set
	} else {
		s.opts.Load().Log.Warn("idle HTTP/2 connections keep a goroutine each", "error", err)
	}
	return s
}

// SetOptions replaces the options for connections that start from now on.
func (s *Server) SetOptions(o Options) {
	if o.MaxConcurrentStreams == 0 {
		o.MaxConcurrentStreams = defaultMaxStreams
	}
	if o.SendTimeout <= 0 {
		o.SendTimeout = 60 * time.Second
	}
	if o.MaxHeaderSize <= 0 {
		o.MaxHeaderSize = 64 << 10
	}
	if o.Log == nil {
		o.Log = slog.Default()
	}
	s.opts.Store(&o)
}

// Serve accepts connections from ln and serves each until Shutdown or
// Close; it returns ErrServerClosed then.
func (s *Server) Serve(ln net.Listener) error {
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		return ErrServerClosed
	}
	s.listeners[ln] = struct{}{}
	s.mu.Unlock()
	defer func() {
		s.mu.Lock()
		delete(s.listeners, ln)
		s.mu.Unlock()
	}()
	for {
		nc, err := ln.Accept()
		if err != nil {
			if s.closing.Load() {
				return ErrServerClosed
			}
			return err
		}
		go s.ServeConn(nc)
	}
}

// ServeConn serves one connection, which has not sent its preface yet,
// until it ends.
func (s *Server) ServeConn(nc net.Conn) {
	c := newConn(s, nc, s.opts.Load())
	s.mu.Lock()
	if s.closing.Load() {
		s.mu.Unlock()
		_ = nc.Close()
		return
	}
	s.conns[c] = struct{}{}
	s.mu.Unlock()
	c.serve()
}

// forget drops a closed connection from the server's set.
func (s *Server) forget(c *conn) {
	s.mu.Lock()
	delete(s.conns, c)
	s.mu.Unlock()
}

// OpenConns counts the connections being served.
func (s *Server) OpenConns() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.conns)
}

// Shutdown stops accepting, sends every connection a GOAWAY, lets the
// streams in flight finish within ctx and closes what is left then.
func (s *Server) Shutdown(ctx context.Context) error {
	s.closing.Store(true)
	s.mu.Lock()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for c := range s.conns {
		c.goAwayGracefully()
	}
	s.mu.Unlock()
	tick := time.NewTicker(10 * time.Millisecond)
	defer tick.Stop()
	for s.OpenConns() > 0 {
		select {
		case <-ctx.Done():
			_ = s.Close()
			return ctx.Err()
		case <-tick.C:
		}
	}
	if s.idle != nil {
		s.idle.Close() // its loop and epoll set, now that nothing is parked
	}
	return nil
}

// Close closes the listeners and every connection at once.
func (s *Server) Close() error {
	s.closing.Store(true)
	s.mu.Lock()
	defer s.mu.Unlock()
	for ln := range s.listeners {
		_ = ln.Close()
	}
	for c := range s.conns {
		_ = c.nc.Close()
	}
	if s.idle != nil {
		go s.idle.Close() // parked connections expire, closed already
	}
	return nil
}

// CloseIdle closes up to n of the connections parked idle, the longest
// idle first, and reports how many it closed.
func (s *Server) CloseIdle(n int) int {
	if s.idle == nil {
		return 0
	}
	return s.idle.ExpireOldest(n)
}

// errConnClosed is what a stream's reads and writes return once its
// connection is gone.
var errConnClosed = errors.New("h2: connection closed")
