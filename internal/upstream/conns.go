package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"sync"
	"sync/atomic"
	"syscall"
	"time"

	"github.com/gatehouse/gatehouse/internal/sockio"
)

// Addr is where an upstream server listens: a TCP host:port, or the path
// of a unix socket.
type Addr struct {
	// Network is "tcp" or "unix".
	Network string
	// Address is host:port for tcp, the socket's path for unix.
	Address string
}

// TCP returns the Addr of a TCP host:port.
func TCP(hostport string) Addr { return Addr{Network: "tcp", Address: hostport} }

// Unix returns the Addr of a unix socket path.
func Unix(path string) Addr { return Addr{Network: "unix", Address: path} }

// String is host:port, or unix:PATH for a unix socket.
func (a Addr) String() string {
	if a.Network == "unix" {
		return "unix:" + a.Address
	}
	return a.Address
}

// DefaultKeepAliveTimeout is how long an idle upstream connection is kept
// by default: below the 2 s after which Gunicorn's gthread and async
// workers close theirs, so that Gatehouse gives a connection up before
// the upstream does.
const DefaultKeepAliveTimeout = 1500 * time.Millisecond

// connOptions configure a connection pool.
type connOptions struct {
	connectTimeout   time.Duration
	keepAliveTimeout time.Duration
	maxIdlePerAddr   int
	tls              *tls.Config
	outOfFiles       func() bool
}

// conns dials upstream connections and keeps the idle ones for reuse: no
// goroutine per connection, buffers recycled. A connection comes back out
// of the pool only when it was idle for less than its keep-alive time and
// its socket is quiet (no input, not closed by the upstream): an upstream
// that closed an idle connection, or sent bytes nobody asked for, has
// that connection discarded rather than handed to a request.
type conns struct {
	opt    connOptions
	dialer net.Dialer
	mu     sync.Mutex
	idle   map[Addr][]*conn // most recently used last
	// reaper closes idle connections once they expire, even when no
	// request comes to take them: an idle connection holds a worker of
	// some upstreams (a php-fpm process, a Gunicorn gthread thread). It
	// is armed while connections are idle.
	reaper      *time.Timer
	reaperArmed bool
	// readers and writers recycle connection buffers: upstreams that
	// close after every response (Gunicorn's sync workers, uwsgi, SCGI)
	// would otherwise cost 32 KB of fresh buffers per request.
	readers, writers sync.Pool
}

// connBufferSize is the size of each connection's read and write buffer.
const connBufferSize = 16 << 10

func newConns(opt connOptions) *conns {
	if opt.maxIdlePerAddr <= 0 {
		opt.maxIdlePerAddr = 256
	}
	if opt.keepAliveTimeout <= 0 {
		opt.keepAliveTimeout = DefaultKeepAliveTimeout
	}
	p := &conns{opt: opt, idle: map[Addr][]*conn{}}
	p.readers.New = func() any { return bufio.NewReaderSize(nil, connBufferSize) }
	p.writers.New = func() any { return bufio.NewWriterSize(nil, connBufferSize) }
	// No TCP keep-alive probes (four setsockopt calls per dial): idle
	// connections are given up after the keep-alive timeout anyway.
	p.dialer = net.Dialer{Timeout: opt.connectTimeout, KeepAlive: -1}
	return p
}

// conn is one upstream connection.
type conn struct {
	nc   net.Conn
	sock *sockio.Socket // nil where the socket cannot be driven directly
	br   *bufio.Reader
	bw   *bufio.Writer
	addr Addr
	// expires is when the connection, idle in the pool, is given up.
	expires time.Time
	// keepFor, when set, is the idle time the upstream announced it
	// allows (Keep-Alive: timeout=N), shortened by a margin.
	keepFor time.Duration
	reused  bool
	// onCancel is pc.interrupt, made once per connection, as it is
	// registered with every request's context.
	onCancel    func()
	interrupted atomic.Bool
	// readDeadline is the read deadline last set (zero: none).
	readDeadline time.Time
}

// ConnectError is a failure to connect to an upstream (including its TLS
// handshake): the request was not sent.
type ConnectError struct {
	Addr string
	Err  error
}

func (e *ConnectError) Error() string { return "connect to " + e.Addr + ": " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// exchanger writes a request on a connection and reads the response head:
// one of the protocol clients.
type exchanger interface {
	exchange(ctx context.Context, pc *conn, req *Request) (*http.Response, error)
}

// errStale marks a reused connection that the upstream had closed before
// any response: the request can be sent again on a new connection.
var errStale = errors.New("idle upstream connection was closed")

// send has x exchange req on a connection to addr: a pooled one when
// reuse is set, else a new one. When a pooled connection turns out closed
// by the upstream before any answer and req can be replayed, the request
// goes once more on a new connection, never on another pooled one, which
// may be as stale. A connection whose exchange failed is closed; req's
// body is closed when send returns.
func (p *conns) send(ctx context.Context, addr Addr, req *Request, reuse bool, x exchanger) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	get := p.dial
	if reuse {
		get = p.get
	}
	pc, err := get(ctx, addr)
	if err != nil {
		return nil, err
	}
	res, err := x.exchange(ctx, pc, req)
	if err == nil {
		return res, nil
	}
	p.discard(pc)
	if errors.Is(err, errStale) && ctx.Err() == nil && rewind(req) {
		if pc, err = p.dial(ctx, addr); err != nil {
			return nil, err
		}
		if res, err = x.exchange(ctx, pc, req); err == nil {
			return res, nil
		}
		p.discard(pc)
	}
	if ctxErr := ctx.Err(); ctxErr != nil {
		return nil, ctxErr
	}
	return nil, err
}

// get returns an idle connection to addr that is fit for a request, or
// dials a new one.
func (p *conns) get(ctx context.Context, addr Addr) (*conn, error) {
	for {
		pc := p.takeIdle(addr)
		if pc == nil {
			return p.dial(ctx, addr)
		}
		if (pc.sock == nil || pc.sock.Quiet()) && tlsQuiet(pc) {
			pc.reused = true
			return pc, nil
		}
		// The upstream closed it, or sent something unasked: either
		// way its next bytes would not be our answer.
		p.discard(pc)
	}
}

// tlsQuiet reports whether a TLS connection holds no input already read
// off its socket (a record, or part of one, beyond the last response),
// which the socket's own look cannot see. It reads with a deadline that
// has passed: data is there, or the read times out at once (and the TLS
// state survives a timeout). Other connections are quiet.
func tlsQuiet(pc *conn) bool {
	tc, ok := pc.nc.(*tls.Conn)
	if !ok {
		return true
	}
	_ = tc.SetReadDeadline(time.Unix(1, 0))
	var b [1]byte
	n, err := tc.Read(b[:])
	_ = tc.SetReadDeadline(time.Time{})
	pc.readDeadline = time.Time{}
	var ne net.Error
	return n == 0 && errors.As(err, &ne) && ne.Timeout()
}

// takeIdle removes and returns the most recently used unexpired idle
// connection to addr, discarding expired ones on the way; nil if none.
func (p *conns) takeIdle(addr Addr) *conn {
	now := time.Now()
	p.mu.Lock()
	defer p.mu.Unlock()
	for list := p.idle[addr]; len(list) > 0; list = p.idle[addr] {
		pc := list[len(list)-1]
		list[len(list)-1] = nil
		p.idle[addr] = list[:len(list)-1]
		if now.Before(pc.expires) {
			return pc
		}
		p.discard(pc)
	}
	return nil
}

// dial opens a new connection to addr, with its TLS handshake when the
// pool speaks TLS.
func (p *conns) dial(ctx context.Context, addr Addr) (*conn, error) {
	nc, err := p.dialer.DialContext(ctx, addr.Network, addr.Address)
	if err != nil && (errors.Is(err, syscall.EMFILE) || errors.Is(err, syscall.ENFILE)) && p.opt.outOfFiles != nil && p.opt.outOfFiles() {
		nc, err = p.dialer.DialContext(ctx, addr.Network, addr.Address)
	}
	if err != nil {
		return nil, &ConnectError{Addr: addr.String(), Err: err}
	}
	nc = sockio.Wrap(nc)
	pc := &conn{addr: addr}
	if sc, ok := nc.(*sockio.Conn); ok {
		pc.sock = sc.Socket()
	}
	if p.opt.tls != nil {
		if nc, err = p.handshake(ctx, nc, addr); err != nil {
			return nil, &ConnectError{Addr: addr.String(), Err: err}
		}
	}
	br, bw := p.readers.Get().(*bufio.Reader), p.writers.Get().(*bufio.Writer)
	br.Reset(nc)
	bw.Reset(nc)
	pc.nc, pc.br, pc.bw = nc, br, bw
	pc.onCancel = pc.interrupt
	return pc, nil
}

// handshake runs the TLS handshake of a new connection to addr, within the
// connect timeout.
func (p *conns) handshake(ctx context.Context, nc net.Conn, addr Addr) (net.Conn, error) {
	cfg := p.opt.tls
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(addr.Address)
	}
	if p.opt.connectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, p.opt.connectTimeout)
		defer cancel()
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// put returns a connection whose exchange completed cleanly to the pool,
// unless bytes beyond the response already wait in its buffer: then the
// upstream said more than it was asked, and the connection is closed.
// Its deadlines are clear: the head's read deadline was lifted once the
// head arrived, and a cancelled exchange never comes back here.
func (p *conns) put(pc *conn) {
	if pc.br.Buffered() > 0 {
		p.discard(pc)
		return
	}
	now := time.Now()
	keep := p.opt.keepAliveTimeout
	if pc.keepFor > 0 && pc.keepFor < keep {
		keep = pc.keepFor
	}
	pc.expires = now.Add(keep)
	p.mu.Lock()
	list := p.idle[pc.addr]
	if len(list) >= p.opt.maxIdlePerAddr {
		p.mu.Unlock()
		p.discard(pc)
		return
	}
	p.idle[pc.addr] = append(list, pc)
	if !p.reaperArmed {
		p.reaperArmed = true
		if p.reaper == nil {
			p.reaper = time.AfterFunc(keep, p.reap)
		} else {
			p.reaper.Reset(keep)
		}
	}
	p.mu.Unlock()
}

// reap closes the idle connections that expired, and arms the reaper
// again for the next expiry, if any connection is left.
func (p *conns) reap() {
	now := time.Now()
	var expired []*conn
	var next time.Time
	p.mu.Lock()
	for addr, list := range p.idle {
		kept := list[:0]
		for _, pc := range list {
			if now.Before(pc.expires) {
				kept = append(kept, pc)
				if next.IsZero() || pc.expires.Before(next) {
					next = pc.expires
				}
			} else {
				expired = append(expired, pc)
			}
		}
		clear(list[len(kept):])
		if len(kept) == 0 {
			delete(p.idle, addr)
		} else {
			p.idle[addr] = kept
		}
	}
	p.reaperArmed = !next.IsZero()
	if p.reaperArmed {
		p.reaper.Reset(next.Sub(now))
	}
	p.mu.Unlock()
	for _, pc := range expired {
		p.discard(pc)
	}
}

// discard closes a connection that will not be used again and recycles
// its buffers. Never for an upgraded connection, whose reader lives on.
func (p *conns) discard(pc *conn) {
	pc.nc.Close()
	if pc.br != nil {
		pc.br.Reset(nil)
		p.readers.Put(pc.br)
		pc.bw.Reset(nil)
		p.writers.Put(pc.bw)
		pc.br, pc.bw = nil, nil
	}
}

// closeIdle closes the pool's idle connections.
func (p *conns) closeIdle() {
	p.mu.Lock()
	idle := p.idle
	p.idle = map[Addr][]*conn{}
	if p.reaper != nil {
		p.reaper.Stop()
	}
	p.reaperArmed = false
	p.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			p.discard(pc)
		}
	}
}

// closeIdleTo closes the idle connections to addr.
func (p *conns) closeIdleTo(addr Addr) {
	p.mu.Lock()
	list := p.idle[addr]
	delete(p.idle, addr)
	p.mu.Unlock()
	for _, pc := range list {
		p.discard(pc)
	}
}
