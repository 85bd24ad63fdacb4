// Package upstream is Gatehouse's HTTP/1.1 client for talking to upstream
// servers, written for proxying: a keep-alive pool per upstream address
// with no goroutine per connection, pooled buffers, strict parsing of what
// the upstream sends (a response whose framing could be read two ways is
// an error, never a guess), and no reuse of a connection whose response was
// not read to its end. It implements http.RoundTripper.
package upstream

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
	"github.com/gatehouse/gatehouse/internal/sockio"
	"github.com/gatehouse/gatehouse/internal/wire"
)

// Options configure a Client.
type Options struct {
	// ConnectTimeout bounds dialing.
	ConnectTimeout time.Duration
	// ResponseHeaderTimeout bounds the wait for the response head after
	// the request was written.
	ResponseHeaderTimeout time.Duration
	// MaxIdlePerHost bounds idle connections kept per upstream address.
	MaxIdlePerHost int
	// IdleTimeout closes connections idle longer than this.
	IdleTimeout time.Duration
	// BodyIdleTimeout bounds each wait for more of a response body: an
	// upstream silent for longer fails the read with a timeout.
	BodyIdleTimeout time.Duration
	// TLS, when set, makes every connection TLS (https upstreams). An
	// empty ServerName is taken from the address dialed.
	TLS *tls.Config
}

// bodyDeadline sets the read deadline for the body that follows a head:
// the body idle timeout, or none for an upgraded connection.
func (c *Client) bodyDeadline(pc *conn, status int) {
	if c.opt.BodyIdleTimeout > 0 && status != http.StatusSwitchingProtocols {
		pc.setReadDeadline(time.Now(), c.opt.BodyIdleTimeout)
	} else {
		pc.setReadDeadline(time.Time{}, 0)
	}
}

// Client is a pooled HTTP/1.1 client.
type Client struct {
	opt    Options
	dialer net.Dialer
	mu     sync.Mutex
	idle   map[string][]*conn // by host:port, most recently used last
	// readers and writers recycle connection buffers: upstreams that
	// close after every response (Gunicorn's sync workers) would
	// otherwise cost 32 KB of fresh buffers per request.
	readers, writers sync.Pool
}

// New returns a client.
func New(opt Options) *Client {
	if opt.MaxIdlePerHost <= 0 {
		opt.MaxIdlePerHost = 256
	}
	if opt.IdleTimeout <= 0 {
		opt.IdleTimeout = 90 * time.Second
	}
	c := &Client{opt: opt, idle: map[string][]*conn{}}
	c.readers.New = func() any { return bufio.NewReaderSize(nil, connBufferSize) }
	c.writers.New = func() any { return bufio.NewWriterSize(nil, connBufferSize) }
	// No TCP keep-alive probes (four setsockopt calls per dial): idle
	// connections are closed by the pool after IdleTimeout anyway.
	c.dialer = net.Dialer{Timeout: opt.ConnectTimeout, KeepAlive: -1}
	return c
}

// conn is one upstream connection.
type conn struct {
	nc       net.Conn
	br       *bufio.Reader
	bw       *bufio.Writer
	addr     string
	lastUsed time.Time
	reused   bool
	// onCancel is pc.interrupt, made once per connection, as it is
	// registered with every request's context.
	onCancel    func()
	interrupted atomic.Bool
	// readDeadline is the read deadline last set (zero: none).
	readDeadline time.Time
}

// CloseIdleConnections closes the pool's idle connections.
func (c *Client) CloseIdleConnections() {
	c.mu.Lock()
	idle := c.idle
	c.idle = map[string][]*conn{}
	c.mu.Unlock()
	for _, list := range idle {
		for _, pc := range list {
			c.discard(pc)
		}
	}
}

// CloseIdleConnectionsTo closes the idle connections to addr, after its
// host name came to resolve to other addresses.
func (c *Client) CloseIdleConnectionsTo(addr string) {
	c.mu.Lock()
	list := c.idle[addr]
	delete(c.idle, addr)
	c.mu.Unlock()
	for _, pc := range list {
		c.discard(pc)
	}
}

// ConnectError is a failure to connect to an upstream (including its TLS
// handshake): the request was not sent.
type ConnectError struct {
	Addr string
	Err  error
}

func (e *ConnectError) Error() string { return "connect to " + e.Addr + ": " + e.Err.Error() }
func (e *ConnectError) Unwrap() error { return e.Err }

// get returns an idle connection to addr or dials a new one.
func (c *Client) get(ctx context.Context, addr string) (*conn, error) {
	now := time.Now()
	c.mu.Lock()
	for list := c.idle[addr]; len(list) > 0; list = c.idle[addr] {
		pc := list[len(list)-1]
		c.idle[addr] = list[:len(list)-1]
		if now.Sub(pc.lastUsed) < c.opt.IdleTimeout {
			c.mu.Unlock()
			pc.reused = true
			return pc, nil
		}
		c.discard(pc)
	}
	c.mu.Unlock()
	nc, err := c.dialer.DialContext(ctx, "tcp", addr)
	if err != nil {
		return nil, &ConnectError{Addr: addr, Err: err}
	}
	nc = sockio.Wrap(nc)
	if c.opt.TLS != nil {
		if nc, err = c.handshake(ctx, nc, addr); err != nil {
			return nil, &ConnectError{Addr: addr, Err: err}
		}
	}
	br, bw := c.readers.Get().(*bufio.Reader), c.writers.Get().(*bufio.Writer)
	br.Reset(nc)
	bw.Reset(nc)
	pc := &conn{nc: nc, addr: addr, br: br, bw: bw}
	pc.onCancel = pc.interrupt
	return pc, nil
}

// connBufferSize is the size of each connection's read and write buffer.
const connBufferSize = 16 << 10

// discard closes a connection that will not be used again and recycles
// its buffers. Never for an upgraded connection, whose reader lives on.
func (c *Client) discard(pc *conn) {
	pc.nc.Close()
	if pc.br != nil {
		pc.br.Reset(nil)
		c.readers.Put(pc.br)
		pc.bw.Reset(nil)
		c.writers.Put(pc.bw)
		pc.br, pc.bw = nil, nil
	}
}

// handshake runs the TLS handshake of a new connection to addr, within the
// connect timeout.
func (c *Client) handshake(ctx context.Context, nc net.Conn, addr string) (net.Conn, error) {
	cfg := c.opt.TLS
	if cfg.ServerName == "" {
		cfg = cfg.Clone()
		cfg.ServerName, _, _ = net.SplitHostPort(addr)
	}
	if c.opt.ConnectTimeout > 0 {
		var cancel context.CancelFunc
		ctx, cancel = context.WithTimeout(ctx, c.opt.ConnectTimeout)
		defer cancel()
	}
	tc := tls.Client(nc, cfg)
	if err := tc.HandshakeContext(ctx); err != nil {
		nc.Close()
		return nil, fmt.Errorf("TLS handshake with %s: %w", addr, err)
	}
	return tc, nil
}

// put returns a connection whose exchange completed cleanly to the pool.
// Its deadlines are clear: the head's read deadline was lifted once the
// head arrived, and a cancelled exchange never comes back here.
func (c *Client) put(pc *conn) {
	pc.lastUsed = time.Now()
	c.mu.Lock()
	list := c.idle[pc.addr]
	if len(list) >= c.opt.MaxIdlePerHost {
		c.mu.Unlock()
		c.discard(pc)
		return
	}
	c.idle[pc.addr] = append(list, pc)
	c.mu.Unlock()
}

// errStale marks a reused connection that the upstream had closed before
// any response: the request can be sent again on a fresh connection.
var errStale = errors.New("idle upstream connection was closed")

// RoundTrip sends req and reads the response head. The response body must
// be read to its end (or closed) to release the connection.
func (c *Client) RoundTrip(req *http.Request) (*http.Response, error) {
	port := "80"
	switch {
	case req.URL.Scheme == "https" && c.opt.TLS != nil:
		port = "443"
	case req.URL.Scheme != "http" || c.opt.TLS != nil:
		return nil, fmt.Errorf("upstream: scheme %q not supported by this client", req.URL.Scheme)
	}
	addr := req.URL.Host
	if !strings.Contains(addr, ":") || strings.HasSuffix(addr, "]") {
		addr = net.JoinHostPort(strings.Trim(addr, "[]"), port)
	}
	host := req.Host
	if host == "" {
		host = req.URL.Host
	}
	out := &Request{
		Method: req.Method, Target: req.URL.RequestURI(), Host: host, Header: req.Header,
		Body: req.Body, ContentLength: req.ContentLength,
		Close: req.Close || req.Header.Get("Connection") == "close",
	}
	if trace := httptrace.ContextClientTrace(req.Context()); trace != nil && trace.Got1xxResponse != nil {
		out.Informational = traceInformer{trace}
	}
	res, err := c.Do(req.Context(), addr, out)
	if err != nil {
		return nil, err
	}
	res.Request = req
	res.Status = fmt.Sprintf("%d %s", res.StatusCode, http.StatusText(res.StatusCode))
	return res, nil
}

// traceInformer passes 1xx responses to an httptrace.ClientTrace.
type traceInformer struct{ trace *httptrace.ClientTrace }

func (t traceInformer) Informational(code int, h http.Header) error {
	return t.trace.Got1xxResponse(code, textproto.MIMEHeader(h))
}

// Do sends req to addr (host:port) and reads the response head. The
// response body must be read to its end (or closed) to release the
// connection. Cancelling ctx aborts the exchange.
func (c *Client) Do(ctx context.Context, addr string, req *Request) (*http.Response, error) {
	if req.Body != nil {
		defer req.Body.Close()
	}
	for attempt := 0; ; attempt++ {
		pc, err := c.get(ctx, addr)
		if err != nil {
			return nil, err
		}
		res, err := c.exchange(ctx, pc, req)
		if err == nil {
			return res, nil
		}
		c.discard(pc)
		if errors.Is(err, errStale) && attempt == 0 && rewind(req) {
			continue
		}
		if ctxErr := ctx.Err(); ctxErr != nil {
			return nil, ctxErr
		}
		return nil, err
	}
}

// rewind prepares req's body for a second sending, when it can be replayed.
func rewind(req *Request) bool {
	if !req.hasBody() {
		return true
	}
	if r, ok := req.Body.(interface{ Rewind() error }); ok {
		return r.Rewind() == nil
	}
	return false
}

// exchange writes req on pc and reads the response head.
func (c *Client) exchange(ctx context.Context, pc *conn, req *Request) (*http.Response, error) {
	// Cancelling the request unblocks any read or write on the connection.
	stop := afterCancel(ctx, pc.onCancel)
	if err := writeRequest(pc.bw, req); err != nil {
		if isPeerClosed(err) {
			if res := c.earlyResponse(ctx, pc, req, stop); res != nil {
				return res, nil
			}
		}
		stop()
		if pc.reused && isPeerClosed(err) {
			return nil, fmt.Errorf("%w: %v", errStale, err)
		}
		return nil, fmt.Errorf("write request: %w", err)
	}
	if c.opt.ResponseHeaderTimeout > 0 {
		pc.setReadDeadline(time.Now(), c.opt.ResponseHeaderTimeout)
	} else if pc.reused {
		pc.setReadDeadline(time.Time{}, 0) // left by the previous body
	}
	for {
		h, err := readHead(pc.br, req.Into)
		if err != nil {
			stop()
			if pc.reused && isPeerClosed(err) && pc.br.Buffered() == 0 {
				return nil, fmt.Errorf("%w: %v", errStale, err)
			}
			if ne, ok := err.(net.Error); ok && ne.Timeout() && ctx.Err() == nil {
				return nil, timeoutError{"timeout awaiting upstream response headers"}
			}
			return nil, fmt.Errorf("read response: %w", err)
		}
		if h.status/100 == 1 && h.status != http.StatusSwitchingProtocols {
			// Informational: pass 103 and the like on, keep reading.
			if req.Informational != nil && h.status != http.StatusContinue {
				if err := req.Informational.Informational(h.status, h.header); err != nil {
					stop()
					return nil, err
				}
			}
			continue
		}
		c.bodyDeadline(pc, h.status)
		return c.response(pc, req, h, stop, false)
	}
}

// earlyAnswerWait bounds the look for an answer after a failed write.
const earlyAnswerWait = time.Second

// earlyResponse looks for a final response the upstream sent before it
// stopped reading the request (a 413 to an upload, say), so that the
// client gets the upstream's answer rather than a 502. The connection is
// not reused afterwards.
func (c *Client) earlyResponse(ctx context.Context, pc *conn, req *Request, stop func() bool) *http.Response {
	if ctx.Err() != nil {
		return nil
	}
	pc.setReadDeadline(time.Now(), earlyAnswerWait)
	h, err := readHead(pc.br, req.Into)
	if err != nil || h.status < 200 {
		return nil
	}
	c.bodyDeadline(pc, h.status)
	res, err := c.response(pc, req, h, stop, true)
	if err != nil {
		return nil
	}
	return res
}

// response builds the http.Response for a head read from pc; with
// forceClose the connection is not reused after it.
func (c *Client) response(pc *conn, req *Request, h *head, stop func() bool, forceClose bool) (*http.Response, error) {
	res := &http.Response{
		StatusCode: h.status, Proto: h.proto, ProtoMajor: h.major, ProtoMinor: h.minor,
		Header: h.header, ContentLength: -1,
	}
	if h.status == http.StatusSwitchingProtocols {
		stop()
		res.Body = &upgraded{conn: pc.nc, br: pc.br}
		return res, nil
	}
	fr, err := bodyFraming(req.Method, h)
	if err != nil {
		stop()
		return nil, err
	}
	keep := !forceClose && !fr.toClose && !req.Close && !connectionClose(h)
	body := &body{client: c, pc: pc, stop: stop, keep: keep, idle: c.opt.BodyIdleTimeout}
	switch {
	case fr.chunked:
		res.TransferEncoding = []string{"chunked"}
		res.Trailer = http.Header{}
		body.r = wire.NewChunkedReader(pc.br, res.Trailer)
		delete(res.Header, "Transfer-Encoding")
	case fr.length >= 0:
		res.ContentLength = fr.length
		body.r = wire.NewLengthReader(pc.br, fr.length)
	default:
		res.Close = true
		body.r = pc.br
	}
	res.Close = res.Close || !keep
	if fr.length == 0 {
		body.finish(true)
		res.Body = http.NoBody
		return res, nil
	}
	res.Body = body
	return res, nil
}

// connectionClose reports whether the response asks to close: an explicit
// "close", or HTTP/1.0 without "keep-alive".
func connectionClose(h *head) bool {
	closeSeen, keepAlive := false, false
	httpsyntax.ForEachToken(h.header["Connection"], func(t string) {
		closeSeen = closeSeen || strings.EqualFold(t, "close")
		keepAlive = keepAlive || strings.EqualFold(t, "keep-alive")
	})
	return closeSeen || h.minor == 0 && !keepAlive
}

// body is a response body; at its clean end the connection goes back to
// the pool, anything else closes it.
type body struct {
	client *Client
	pc     *conn
	r      io.Reader
	stop   func() bool
	keep   bool
	done   bool
	idle   time.Duration // each read after the first gets this long
	reads  int
}

func (b *body) Read(p []byte) (int, error) {
	if b.done {
		return 0, io.EOF
	}
	if b.reads++; b.idle > 0 && b.reads > 1 {
		b.pc.setReadDeadline(time.Now(), b.idle)
	}
	n, err := b.r.Read(p)
	if err == io.EOF {
		b.finish(b.keep)
	} else if err != nil {
		b.finish(false)
	}
	return n, err
}

// Close releases the connection: to the pool only if the body was read to
// its end, since unread bytes would be taken for the next response.
func (b *body) Close() error {
	b.finish(false)
	return nil
}

func (b *body) finish(reuse bool) {
	if b.done {
		return
	}
	b.done = true
	stopped := b.stop()
	if reuse && stopped {
		b.client.put(b.pc)
		return
	}
	// A cancellation that already ran only touched the connection's
	// deadlines, never its buffers.
	b.client.discard(b.pc)
}

// upgraded is the body of a 101 response: the connection itself, with
// whatever the upstream already sent after the head.
type upgraded struct {
	conn net.Conn
	br   *bufio.Reader
}

func (u *upgraded) Read(p []byte) (int, error)  { return u.br.Read(p) }
func (u *upgraded) Write(p []byte) (int, error) { return u.conn.Write(p) }
func (u *upgraded) Close() error                { return u.conn.Close() }

// timeoutError is a net.Error-style timeout.
type timeoutError struct{ msg string }

func (e timeoutError) Error() string { return e.msg }

// Timeout reports true.
func (e timeoutError) Timeout() bool { return true }

// Temporary reports false.
func (e timeoutError) Temporary() bool { return false }

func isPeerClosed(err error) bool {
	var se *SourceError
	if errors.As(err, &se) {
		return false
	}
	return errors.Is(err, io.EOF) || errors.Is(err, io.ErrUnexpectedEOF) ||
		errors.Is(err, net.ErrClosed) || strings.Contains(err.Error(), "connection reset") ||
		strings.Contains(err.Error(), "broken pipe")
}

// afterFuncer is a context that runs functions when it is canceled by
// itself, as the HTTP/1.1 front end's request contexts do, without the
// goroutine and allocations of context.AfterFunc.
type afterFuncer interface {
	AfterFunc(f func()) (stop func() bool)
}

// afterCancel runs f once ctx is canceled, until stop is called.
func afterCancel(ctx context.Context, f func()) (stop func() bool) {
	if a, ok := ctx.(afterFuncer); ok {
		return a.AfterFunc(f)
	}
	return context.AfterFunc(ctx, f)
}
