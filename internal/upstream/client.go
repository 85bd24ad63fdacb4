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
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
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
	// KeepAliveTimeout is how long an idle connection is kept for reuse
	// (default DefaultKeepAliveTimeout); an upstream that announces a
	// shorter Keep-Alive timeout has its connections given up sooner.
	KeepAliveTimeout time.Duration
	// BodyIdleTimeout bounds each wait for more of a response body, and
	// each wait for the upstream to take more of a request body (nginx's
	// proxy_send_timeout): an upstream silent, or deaf, for longer fails
	// the read or write with a timeout.
	BodyIdleTimeout time.Duration
	// TLS, when set, makes every connection TLS (https upstreams). An
	// empty ServerName is taken from the address dialed.
	TLS *tls.Config
	// OutOfFiles, when set, is called when a dial fails for want of file
	// descriptors; when it reports that it made room (closing idle client
	// connections), the dial is tried once more.
	OutOfFiles func() bool
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
	opt   Options
	conns *conns
}

// New returns a client.
func New(opt Options) *Client {
	return &Client{opt: opt, conns: newConns(connOptions{
		connectTimeout: opt.ConnectTimeout, keepAliveTimeout: opt.KeepAliveTimeout,
		maxIdlePerAddr: opt.MaxIdlePerHost, tls: opt.TLS, outOfFiles: opt.OutOfFiles,
	})}
}

// CloseIdleConnections closes the pool's idle connections.
func (c *Client) CloseIdleConnections() { c.conns.closeIdle() }

// CloseIdleConnectionsTo closes the idle connections to addr, after its
// host name came to resolve to other addresses.
func (c *Client) CloseIdleConnectionsTo(addr Addr) { c.conns.closeIdleTo(addr) }

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
	hostport := req.URL.Host
	if !strings.Contains(hostport, ":") || strings.HasSuffix(hostport, "]") {
		hostport = net.JoinHostPort(strings.Trim(hostport, "[]"), port)
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
	res, err := c.Do(req.Context(), TCP(hostport), out)
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

// Do sends req to addr and reads the response head. The response body
// must be read to its end (or closed) to release the connection.
// Cancelling ctx aborts the exchange.
func (c *Client) Do(ctx context.Context, addr Addr, req *Request) (*http.Response, error) {
	return c.conns.send(ctx, addr, req, true, c)
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

// wireFormat is how requests are written and response heads read on a
// connection: HTTP/1.1, or a CGI-style protocol that sends one request
// per connection (uwsgi, SCGI).
type wireFormat struct {
	write    func(bw *bufio.Writer, req *Request) error
	readHead func(br *bufio.Reader, dst http.Header) (*head, error)
	// oneShot: the connection carries one exchange and is closed after.
	oneShot bool
}

// httpFormat is HTTP/1.1.
var httpFormat = wireFormat{write: writeRequest, readHead: readHead}

// exchange writes req on pc in HTTP/1.1 and reads the response head.
func (c *Client) exchange(ctx context.Context, pc *conn, req *Request) (*http.Response, error) {
	return c.exchangeAs(ctx, pc, req, &httpFormat)
}

// exchangeAs writes req on pc in format wf and reads the response head.
func (c *Client) exchangeAs(ctx context.Context, pc *conn, req *Request, wf *wireFormat) (*http.Response, error) {
	// Cancelling the request unblocks any read or write on the connection.
	stop := afterCancel(ctx, pc.onCancel)
	if err := c.sendRequest(pc, req, wf); err != nil {
		if isPeerClosed(err) {
			if res := c.earlyResponse(ctx, pc, req, stop, wf); res != nil {
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
		h, err := wf.readHead(pc.br, req.Into)
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
		return c.response(pc, req, h, stop, wf.oneShot)
	}
}

// sendPaceFrom is the request body size from which each write to the
// upstream gets a deadline: smaller ones fit in the socket's buffers, so
// their writes cannot wait on the upstream.
const sendPaceFrom = 32 << 10

// sendRequest writes req on pc in format wf (see paceSend).
func (c *Client) sendRequest(pc *conn, req *Request, wf *wireFormat) error {
	paced := paceSend(pc, req, c.opt.BodyIdleTimeout)
	err := wf.write(pc.bw, req)
	if paced {
		endPace(pc)
	}
	return err
}

// paceSend bounds each write of req to pc by timeout when its body may
// not fit in the socket's buffers, so that an upstream that stops reading
// fails the request instead of holding it forever; it reports whether it
// did (endPace undoes it once the request is written).
func paceSend(pc *conn, req *Request, timeout time.Duration) bool {
	if timeout <= 0 || !req.hasBody() || req.ContentLength >= 0 && req.ContentLength < sendPaceFrom {
		return false
	}
	pc.bw.Reset(deadlineWriter{nc: pc.nc, timeout: timeout})
	return true
}

// endPace writes to pc without deadlines again.
func endPace(pc *conn) {
	pc.bw.Reset(pc.nc)
	_ = pc.nc.SetWriteDeadline(time.Time{})
}

// deadlineWriter gives each write to an upstream connection timeout to
// complete.
type deadlineWriter struct {
	nc      net.Conn
	timeout time.Duration
}

func (w deadlineWriter) Write(p []byte) (int, error) {
	_ = w.nc.SetWriteDeadline(time.Now().Add(w.timeout))
	return w.nc.Write(p)
}

// earlyAnswerWait bounds the look for an answer after a failed write.
const earlyAnswerWait = time.Second

// earlyResponse looks for a final response the upstream sent before it
// stopped reading the request (a 413 to an upload, say), so that the
// client gets the upstream's answer rather than a 502. The connection is
// not reused afterwards.
func (c *Client) earlyResponse(ctx context.Context, pc *conn, req *Request, stop func() bool, wf *wireFormat) *http.Response {
	if ctx.Err() != nil {
		return nil
	}
	pc.setReadDeadline(time.Now(), earlyAnswerWait)
	h, err := wf.readHead(pc.br, req.Into)
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
	if keep {
		pc.keepFor = announcedKeepAlive(h.header["Keep-Alive"])
	}
	body := &body{conns: c.conns, pc: pc, stop: stop, keep: keep, idle: c.opt.BodyIdleTimeout}
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
		body.finish(keep)
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

// announcedKeepAlive returns how long an idle connection may be kept by
// the Keep-Alive header's timeout=N (seconds) when the upstream sends one,
// less a margin for the time the response took to arrive; zero when it
// does not say.
func announcedKeepAlive(values []string) time.Duration {
	var keep time.Duration
	httpsyntax.ForEachToken(values, func(t string) {
		name, val, ok := strings.Cut(t, "=")
		if !ok || !strings.EqualFold(strings.TrimSpace(name), "timeout") {
			return
		}
		n, err := strconv.Atoi(strings.Trim(strings.TrimSpace(val), `"`))
		if err != nil || n < 0 || n > 86400 {
			return
		}
		d := time.Duration(n) * time.Second
		keep = max(d-min(d/4, 500*time.Millisecond), 1)
	})
	return keep
}

// body is a response body; at its clean end the connection goes back to
// the pool, anything else closes it.
type body struct {
	conns *conns
	pc    *conn
	r     io.Reader
	stop  func() bool
	keep  bool
	done  bool
	idle  time.Duration // each read after the first gets this long
	reads int
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
		b.conns.put(b.pc)
		return
	}
	// A cancellation that already ran only touched the connection's
	// deadlines, never its buffers.
	b.conns.discard(b.pc)
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

// CloseWrite half-closes the connection, when it can be.
func (u *upgraded) CloseWrite() error {
	if cw, ok := u.conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

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
