package http1

import (
	"bufio"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/url"
	"os"
	"runtime/debug"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/conngate"
	"github.com/gatehouse/gatehouse/internal/httpsyntax"
	"github.com/gatehouse/gatehouse/internal/peer"
	"github.com/gatehouse/gatehouse/internal/sockio"
	"github.com/gatehouse/gatehouse/internal/wire"
)

// Connection states, for Shutdown.
const (
	stateIdle     int32 = iota // waiting for a request
	stateActive                // reading or serving a request
	stateHijacked              // handed to a handler
	stateClosed
	stateParked // idle in the server's idle set, without a goroutine
)

// lingerTimeout bounds how long input is read and discarded before a
// connection closed with unread input is torn down (nginx's lingering
// close), so the client reads the response instead of a reset.
const lingerTimeout = 5 * time.Second

// maxDrain is how much of an unread request body is read and discarded to
// keep a connection alive; beyond it the connection closes.
const maxDrain = 256 << 10

// conn is one client connection.
type conn struct {
	srv    *Server
	nc     net.Conn
	remote string
	ctx    context.Context
	state  atomic.Int32
	// idles counts the connection's idle waits: Shutdown closes a
	// connection it has found in the same wait for shutdownIdleGrace.
	idles atomic.Uint32
	// The connection's buffers; nil while it waits, idle, for a request
	// (see awaitRequest).
	*buffers
	// sock is nc's socket driven directly (see sockio); nil when nc is
	// not a plain socket (TLS, a wrapped connection). sio is its I/O as
	// the buffers see it, which never waits while the connection is
	// served on the idle set's loop (loop.go).
	sock *sockio.Socket
	sio  loopIO
	// io is what the buffers read from and write to: sock, tlsIn, or nc.
	io io.ReadWriter
	// tlsIn is nc when it is a TLS connection, with the byte an idle
	// wait read (see waitIdle).
	tlsIn *tlsInput

	watch watcher

	// tls is the connection's TLS state when it arrived over TLS.
	tls *tls.ConnectionState

	// gate admitted the connection; pass is its place there, given back
	// when the connection ends (or handed on with it); proxied is the
	// client a PROXY header named, nil without one.
	gate    *conngate.Gate
	pass    conngate.Pass
	proxied net.Addr

	// waitUntil is the read deadline last set for the wait between
	// requests; deadlineMoved tells that something else has set the read
	// deadline since, so waitUntil no longer says what it is.
	waitUntil     time.Time
	deadlineMoved atomic.Bool

	// idle is the connection's state as a parking candidate (park.go).
	idle idleState
}

// setReadDeadline sets the connection's read deadline for anything but
// the wait between requests.
func (c *conn) setReadDeadline(t time.Time) error {
	c.deadlineMoved.Store(true)
	return c.nc.SetReadDeadline(t)
}

// awaitDeadline bounds the wait for the next request by timeout from now.
// The deadline is moved only when it would move by more than a second
// later (or an eighth of a short timeout), or earlier at all: on a busy
// keep-alive connection that saves a timer update per request, and the
// wait is still bounded by timeout give or take that slack.
func (c *conn) awaitDeadline(now time.Time, timeout time.Duration) {
	until := now.Add(timeout)
	slack := min(time.Second, timeout/8)
	if d := until.Sub(c.waitUntil); !c.deadlineMoved.Load() && !c.waitUntil.IsZero() && d >= 0 && d < slack {
		return
	}
	c.deadlineMoved.Store(false)
	c.waitUntil = until
	_ = c.nc.SetReadDeadline(until)
}

// serve reads and answers requests until the connection closes, is
// hijacked or is parked.
func (c *conn) serve() {
	if c.gate.Proxy() {
		remote, err := c.gate.ReadProxyHeader(c.nc, &c.pass)
		if err != nil {
			c.finish(false)
			return
		}
		c.setRemote(remote)
	}
	c.io = c.nc
	c.idle.fd = -1
	if tc, ok := c.nc.(*tls.Conn); ok {
		st := tc.ConnectionState()
		c.tls = &st
		c.tlsIn = &tlsInput{Conn: tc}
		c.io = c.tlsIn
		c.idle.fd = sockio.FD(tc.NetConn())
	} else if c.sock = sockio.Open(c.nc); c.sock != nil {
		c.sio.sock = c.sock
		c.io = &c.sio
		c.idle.fd = c.sock.FD()
	}
	c.run(true, nil)
}

// How run ends.
const (
	endClose    = iota // the connection is done: close it
	endHijacked        // someone else owns it now
	endParked          // it waits in the idle set; a wake runs it again
)

// run is the request loop: from the connection's first request, or from
// its next one after a wake from the idle set; pending, when set, is a
// request already read (on the idle set's loop) to serve first.
func (c *conn) run(first bool, pending *pendingRequest) {
	end := endClose
	defer func() {
		if end != endParked {
			c.finish(end == endHijacked)
		}
	}()
	for ; ; first = false {
		var result outcome
		inline := false
		if pending != nil {
			result = c.runHandler(pending.o, pending.w, pending.req, c.srv.handler)
			pending = nil
		} else {
			o := c.srv.opts.Load()
			timeout := o.IdleTimeout
			if first {
				timeout = o.HeaderTimeout
			}
			if timeout > 0 {
				c.awaitDeadline(time.Now(), timeout)
			}
			c.idles.Add(1)
			if st := c.state.Load(); st == stateClosed || !c.state.CompareAndSwap(st, stateIdle) {
				return // closed by Shutdown
			}
			raw, herr, err := c.readHead(o, first)
			if err != nil {
				if err == errParked {
					end = endParked
				}
				return
			}
			if first && herr == nil && raw == h2Preface[:len(h2Preface)-len(h2PrefaceEnd)] && o.PriorKnowledge != nil {
				if c.handOverH2(o) {
					end = endHijacked
				}
				return
			}
			var h head
			if herr == nil {
				herr = parseHead(raw, &h)
			}
			if herr != nil {
				c.refuse(o, &h, herr)
				return
			}
			result, inline = c.serveRequest(o, &h)
		}
		switch result {
		case outcomeKeep:
			if !inline {
				break
			}
			// Its next requests are served on the idle set's loop
			// (loop.go).
			if parked, err := c.parkNow(); parked {
				end = endParked
				return
			} else if err != nil {
				return
			}
		case outcomeHijacked:
			end = endHijacked
			return
		case outcomeLinger:
			c.linger()
			return
		default:
			return
		}
	}
}

// finish ends the connection's life in the server: closed and its place
// at the gate given back, unless hijacked (then only forgotten).
func (c *conn) finish(hijacked bool) {
	if !hijacked {
		c.releaseBuffers()
		if c.sio.fd >= 0 {
			_ = sockio.CloseFD(c.sio.fd) // detached (loop.go)
			c.sio.fd = -1
		}
		_ = c.nc.Close()
		c.pass.Release()
	}
	c.srv.forget(c)
}

// The HTTP/2 connection preface; ReadHead stops after its first part,
// which looks like a request head.
const (
	h2Preface    = "PRI * HTTP/2.0\r\n\r\nSM\r\n\r\n"
	h2PrefaceEnd = "SM\r\n\r\n"
)

// handOverH2 gives a connection that opened with the HTTP/2 preface to
// o.PriorKnowledge, with the preface and whatever else arrived replayed
// ahead of the socket. It reports false when the rest of the preface was
// not there.
func (c *conn) handOverH2(o *Options) bool {
	end, err := c.br.Peek(len(h2PrefaceEnd))
	if err != nil || string(end) != h2PrefaceEnd {
		return false
	}
	pending := make([]byte, 0, len(h2Preface)+c.br.Buffered())
	pending = append(pending, h2Preface[:len(h2Preface)-len(h2PrefaceEnd)]...)
	rest, _ := c.br.Peek(c.br.Buffered())
	pending = append(pending, rest...)
	c.state.Store(stateHijacked)
	c.srv.forget(c)
	_ = c.nc.SetDeadline(time.Time{})
	c.releaseBuffers()
	o.PriorKnowledge(&replayConn{Conn: c.handOver(), pending: pending})
	return true
}

// handOver returns the connection for another owner (HTTP/2, a hijacking
// handler): wrapped, when it holds a place at the gate or a PROXY
// header's client, so that both go with it.
func (c *conn) handOver() net.Conn {
	nc := conngate.Wrap(c.nc, c.pass, c.proxied)
	c.pass = conngate.Pass{}
	return nc
}

// setRemote makes remote, a PROXY header's client, the connection's
// remote address for every request on it.
func (c *conn) setRemote(remote net.Addr) {
	if remote == c.nc.RemoteAddr() {
		return
	}
	c.proxied, c.remote = remote, remote.String()
	c.ctx = peer.With(context.WithValue(c.srv.baseCtx, http.LocalAddrContextKey, c.nc.LocalAddr()), remote)
}

// replayConn is a connection whose first reads return bytes already read
// from it.
type replayConn struct {
	net.Conn
	pending []byte
}

// NetConn returns the connection beneath, whose socket an idle HTTP/2
// connection parks on (sockio.FD) once nothing is left to replay.
func (r *replayConn) NetConn() net.Conn { return r.Conn }

// Buffered counts the bytes still to replay.
func (r *replayConn) Buffered() int { return len(r.pending) }

func (r *replayConn) Read(p []byte) (int, error) {
	if len(r.pending) > 0 {
		n := copy(p, r.pending)
		r.pending = r.pending[n:]
		return n, nil
	}
	return r.Conn.Read(p)
}

// readHead reads one request head. It returns the head as a string, or a
// refusal (414, 431, 408), or a read error that ends the connection quietly.
func (c *conn) readHead(o *Options, first bool) (string, *headError, error) {
	if err := c.awaitRequest(first); err != nil {
		return "", nil, err
	}
	if !c.state.CompareAndSwap(stateIdle, stateActive) {
		return "", nil, net.ErrClosed
	}
	raw, err := wire.ReadHead(c.br, o.MaxHeaderSize, func() {
		// The head is arriving: it has HeaderTimeout from here.
		if o.HeaderTimeout > 0 {
			_ = c.setReadDeadline(time.Now().Add(o.HeaderTimeout))
		}
	})
	if err == nil {
		return raw, nil, nil
	}
	tl, tooLarge := err.(*wire.HeadTooLargeError)
	switch {
	case tooLarge && tl.LineDone:
		return "", refuse(http.StatusRequestHeaderFieldsTooLarge, "request head too large"), nil
	case tooLarge:
		return "", refuse(http.StatusRequestURITooLong, "request line too long"), nil
	case errors.Is(err, os.ErrDeadlineExceeded):
		return "", refuse(http.StatusRequestTimeout, "request head not received in time"), nil
	}
	return "", nil, err
}

// outcome is what happens to a connection after a request.
type outcome uint8

const (
	outcomeKeep     outcome = iota // read the next request
	outcomeClose                   // close now
	outcomeLinger                  // close after draining unread input
	outcomeHijacked                // the handler owns the connection
)

// serveRequest runs the handler for one parsed head. inline tells that
// the request was one the idle set's loop could have served (see
// inlineHandler).
func (c *conn) serveRequest(o *Options, h *head) (result outcome, inline bool) {
	u, err := httpsyntax.RequestURL(h.target)
	if err != nil {
		c.refuse(o, h, refuse(http.StatusBadRequest, "malformed request target"))
		return outcomeClose, false
	}
	w, req := c.newRequest(h, u)
	inline = c.inlineHandler(req) != nil
	return c.runHandler(o, w, req, c.srv.handler), inline
}

// newRequest makes the request of a parsed head and its response.
func (c *conn) newRequest(h *head, u *url.URL) (*response, *http.Request) {
	w := &response{c: c, header: make(http.Header, 8), declared: -1,
		isHead: h.method == http.MethodHead, expectContinue: h.expectContinue}
	w.ctx.parent = c.ctx
	req := (&http.Request{}).WithContext(&w.ctx)
	w.req = req
	req.Method, req.URL, req.RequestURI = h.method, u, h.target
	req.Proto, req.ProtoMajor, req.ProtoMinor = h.proto, 1, h.minor
	req.Header, req.Host, req.RemoteAddr = h.header, h.host, c.remote
	req.TLS = c.tls
	req.Close, req.ContentLength = h.close, h.contentLength
	if u.Host != "" {
		req.Host = u.Host // absolute-form target (RFC 9112 §3.2.2)
	}
	w.body.w = w
	switch {
	case h.chunked:
		req.TransferEncoding = []string{"chunked"}
		req.ContentLength = -1
		w.body.setChunked(c.br)
		req.Body = &w.body
	case h.contentLength > 0:
		w.body.setLength(c.br, h.contentLength)
		req.Body = &w.body
	default:
		req.Body = http.NoBody
		w.body.eof = true
		w.body.done.Store(true)
	}
	return w, req
}

// runHandler serves req with handler and finishes its response.
func (c *conn) runHandler(o *Options, w *response, req *http.Request, handler http.Handler) (result outcome) {
	if req.Body != http.NoBody {
		// Whatever deadline the head was read under does not bound the
		// body; the handler sets its own.
		_ = c.setReadDeadline(time.Time{})
	}
	c.watch.arm(&w.ctx, &w.body, time.Now())

	defer func() {
		c.watch.stop(c)
		w.ctx.cancel(context.Canceled)
		if p := recover(); p != nil {
			result = c.recovered(o, w, p)
		}
	}()
	handler.ServeHTTP(w, req)
	if w.hijacked {
		return outcomeHijacked
	}
	c.watch.stop(c)
	return w.finish()
}

// recovered handles a handler panic: 500 if nothing was sent, otherwise
// the connection is cut. http.ErrAbortHandler is the quiet way to cut it.
func (c *conn) recovered(o *Options, w *response, p any) outcome {
	if w.hijacked {
		return outcomeHijacked
	}
	if p != http.ErrAbortHandler {
		o.Log.Error("handler panic", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
		if !w.committed && w.status == 0 {
			w.header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
			w.WriteHeader(http.StatusInternalServerError)
			_, _ = io.WriteString(w, "Internal Server Error\n")
			w.closeAfter = true
			_ = w.finish()
			return outcomeLinger
		}
	}
	return outcomeClose
}

// linger flushes, half-closes and drains what the client still sends, for
// a bounded time, so that it reads the response rather than a reset.
func (c *conn) linger() {
	_ = c.bw.Flush()
	if cw, ok := c.nc.(interface{ CloseWrite() error }); ok {
		_ = cw.CloseWrite()
	}
	_ = c.setReadDeadline(time.Now().Add(lingerTimeout))
	_, _ = io.Copy(io.Discard, c.nc)
}

// buffers are what a connection needs while it reads a request and
// writes a response: pooled, and handed back while the connection waits
// for its next request, so an idle keep-alive connection holds none.
type buffers struct {
	br *bufio.Reader
	bw *bufio.Writer
	// hb holds the response head being built; pending holds the start of
	// a response body until its length is known.
	hb      []byte
	pending []byte
}

// takeBuffers gives the connection buffers from the pool.
func (c *conn) takeBuffers() {
	if b, ok := c.srv.buffers.Get().(*buffers); ok {
		b.br.Reset(c.io)
		b.bw.Reset(c.io)
		c.buffers = b
		return
	}
	c.buffers = &buffers{br: bufio.NewReaderSize(c.io, bufferSize), bw: bufio.NewWriterSize(c.io, bufferSize)}
}

// releaseBuffers returns the connection's buffers to the pool.
func (c *conn) releaseBuffers() {
	b := c.buffers
	if b == nil {
		return
	}
	c.buffers = nil
	b.br.Reset(nil)
	b.bw.Reset(nil)
	if cap(b.pending) > pendingLimit {
		b.pending = nil
	}
	b.hb, b.pending = b.hb[:0], b.pending[:0]
	c.srv.buffers.Put(b)
}

// awaitRequest returns once the next request has started to arrive (or
// the connection has ended). A connection with nothing buffered waits for
// a later request without buffers: they go back to the pool and
// are taken again when input is there (see waitIdle). The first request,
// usually sent right after the connection was made, is read at once; so
// is one that woke the connection from the idle set.
func (c *conn) awaitRequest(first bool) error {
	if c.buffers != nil && !first && (c.sock != nil || c.tlsIn != nil) && c.br.Buffered() == 0 && c.bw.Buffered() == 0 {
		c.releaseBuffers()
		if err := c.waitIdle(); err != nil {
			return err
		}
	}
	if c.buffers == nil {
		c.takeBuffers()
	}
	return c.peek()
}

// peek waits until the read buffer holds at least one byte.
func (c *conn) peek() error {
	if c.br.Buffered() > 0 {
		return nil
	}
	_, err := c.br.Peek(1)
	return err
}
