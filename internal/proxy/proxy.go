// Package proxy forwards requests to upstream servers in the protocol they
// speak (HTTP/1.1 over TCP or unix sockets, HTTPS, h2c, uwsgi, SCGI,
// FastCGI, gRPC): it picks a server, sets the forwarding headers from the
// real connection (never from what an untrusted client sent), hides headers
// that reveal the upstream's software, relays protocol switches
// (WebSockets, from HTTP/1.1 or HTTP/2 clients), and maps upstream failures
// to 502, 504 or a logged 499 (gRPC clients get gRPC statuses).
package proxy

import (
	"context"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net/http"
	"strconv"
	"strings"

	"github.com/gatehouse/gatehouse/internal/buffer"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/httpsyntax"
	"github.com/gatehouse/gatehouse/internal/limits"
	"github.com/gatehouse/gatehouse/internal/pool"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/tracing"
	"github.com/gatehouse/gatehouse/internal/upstream"
)

// defaultHidden are the upstream response headers removed unless a route
// passes them explicitly: they reveal the upstream's software.
var defaultHidden = [...]string{"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version"}

// Options are what a proxy route takes besides its own config.
type Options struct {
	Log *slog.Logger
	// Spool buffers bodies; BufferRequests and BufferResponses switch
	// buffering on for this route.
	Spool           *buffer.Spool
	BufferRequests  bool
	BufferResponses bool
	// Tracer, when set, makes a span per upstream attempt and sends the
	// upstream its traceparent.
	Tracer *tracing.Tracer
	// OutOfFiles, when set, makes room when connecting to an upstream
	// runs out of file descriptors (closing idle client connections).
	OutOfFiles func() bool
}

// Handler proxies to one pool of upstream servers.
type Handler struct {
	client upstreamClient
	pool   *pool.Pool
	hide   []string
	opt    Options
	copies *bufferPool
	// grpc is set for grpc:// and grpcs:// upstreams: bodies stream both
	// ways, grpc-timeout bounds the exchange, and failures are answered
	// with gRPC statuses.
	grpc bool
	// upgrades is set when the upstreams speak HTTP/1.1, which can
	// switch to another protocol (WebSocket).
	upgrades bool
	// cgi is set for upstreams that take CGI-style variables (uwsgi,
	// SCGI, FastCGI); params are the route's extra ones.
	cgi    bool
	params []param
}

// New returns a proxy configured by route's proxy block (and its uwsgi,
// scgi or fastcgi block) to the servers of p. poolTLS is the pool's TLS
// settings, used when the route names none.
func New(route config.Route, p *pool.Pool, poolTLS *config.UpstreamTLS, opt Options) (*Handler, error) {
	cfg := *route.Proxy
	h := &Handler{opt: opt, hide: hiddenHeaders(cfg), copies: newBufferPool(), pool: p}
	if cfg.TLS == nil {
		cfg.TLS = poolTLS
	}
	scheme := p.Servers()[0].URL.Scheme
	client, err := newClient(route, cfg, scheme, opt.Log, opt.OutOfFiles)
	if err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	h.client = client
	switch scheme {
	case "grpc", "grpcs":
		// A gRPC call streams: nothing is buffered either way.
		h.grpc = true
		h.opt.BufferRequests, h.opt.BufferResponses = false, false
	case "http", "https":
		// HTTP/1.1 upstreams; an HTTP/2 one has no Upgrade.
		h.upgrades = true
	case "uwsgi", "scgi", "fastcgi":
		h.cgi = true
	}
	if h.params, err = gatewayParams(route); err != nil {
		return nil, fmt.Errorf("proxy: %w", err)
	}
	p.OnAddressChange(client.CloseIdleConnectionsTo)
	return h, nil
}

// Streams reports whether the proxy's request bodies are streams that may
// idle (gRPC calls), rather than uploads.
func (h *Handler) Streams() bool { return h.grpc }

// Tunnels reports whether the proxy can switch protocols (WebSockets): its
// upstreams speak HTTP/1.1.
func (h *Handler) Tunnels() bool { return h.upgrades }

// Close drops the idle upstream connections; called when a config retires.
func (h *Handler) Close() error {
	h.client.CloseIdleConnections()
	return nil
}

// ServeHTTP proxies one request. With request buffering on, the whole body
// is received first, so the upstream is contacted only for a complete
// request and is sent a Content-Length. With response buffering on, the
// whole response is taken from the upstream before the client is sent
// anything, so the upstream is free again at once.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := reqinfo.From(r.Context())
	if proto, h2 := upgradeOf(r); proto != "" {
		switch {
		case h.upgrades:
			h.serveUpgrade(w, r, info, proto, h2)
			return
		case h2:
			// A tunnel to an upstream that cannot switch protocols.
			errpage.Write(w, http.StatusNotImplemented)
			return
		}
		// Over HTTP/1.1 the Upgrade is dropped (it is hop-by-hop) and
		// the request goes on as it is.
	}
	if h.grpc {
		var cancel context.CancelFunc
		if r, cancel = withGRPCTimeout(r); cancel != nil {
			defer cancel()
		}
	}
	ex := &exchange{w: w}
	out := &ex.out
	out.Method, out.Target, out.Host, out.Header = r.Method, r.URL.RequestURI(), r.Host, r.Header
	out.Skip, out.Extra, out.Into, out.Informational = skipFor(r.Header), ex.forwarded(r, info), w.Header(), ex
	if h.grpc {
		// gRPC servers want to know trailers are understood; TE is
		// hop-by-hop and never passed on as the client sent it.
		out.Extra = append(out.Extra, upstream.Field{Name: "Te", Value: "trailers"})
	}
	if h.opt.Tracer != nil {
		// Each attempt sends a traceparent of its own.
		skip := out.Skip
		out.Skip = func(name string) bool { return name == "Traceparent" || name == "Tracestate" || skip(name) }
	}
	if h.cgi {
		if strings.IndexByte(r.URL.Path, 0) >= 0 {
			// A NUL would end a variable early in SCGI, and no
			// application wants one in PATH_INFO.
			errpage.Write(w, http.StatusBadRequest)
			return
		}
		h.gateway(r, info, out)
	}
	replayable := true
	if r.Body != nil && r.Body != http.NoBody {
		// CGI-style protocols need the body's length up front: a body
		// of unknown length is buffered even where buffering is off.
		if body, ok := r.Body.(*buffer.Body); ok && body.Len() >= 0 {
			// An earlier phase (the WAF) buffered the body already; it
			// closes it.
			if err := body.Rewind(); err != nil {
				h.fail(w, r, err)
				return
			}
			out.Body, out.ContentLength = keepOpen{body}, body.Len()
		} else if h.opt.BufferRequests || h.cgi && r.ContentLength < 0 {
			body, err := h.opt.Spool.Fill(r.Body, false)
			if err != nil {
				buffer.Refuse(w, r, err, h.opt.Log)
				return
			}
			defer body.Close()
			out.Body, out.ContentLength = keepOpen{body}, body.Len()
		} else {
			out.Body, out.ContentLength = unclosed{r.Body}, r.ContentLength
			replayable = false
		}
	}
	h.forward(w, r, info, out, replayable)
}

// exchange is the per-request state of a proxied request, in one
// allocation.
type exchange struct {
	out upstream.Request
	fwd [7]upstream.Field
	w   http.ResponseWriter
}

// Informational passes a 1xx response (103 Early Hints) on to the client.
func (ex *exchange) Informational(code int, hdr http.Header) error {
	dst := ex.w.Header()
	for k, v := range hdr {
		dst[k] = v
	}
	ex.w.WriteHeader(code)
	for k := range hdr {
		delete(dst, k)
	}
	return nil
}

// respond sends the upstream's response to the client: buffered whole
// when it can be, streamed otherwise.
func (h *Handler) respond(w http.ResponseWriter, r *http.Request, res *http.Response) {
	body, err := h.buffered(w, r, res)
	if err != nil {
		clear(w.Header())
		h.fail(w, r, err)
		return
	}
	h.respondWith(w, r, res, body)
}

// buffered reads res's body whole when the response is to be sent
// buffered (nil when it is to be streamed, or replaced by the site's error
// page). Nothing has reached the client yet, so a failure here still lets
// the request go to another server.
func (h *Handler) buffered(w http.ResponseWriter, r *http.Request, res *http.Response) (*buffer.Body, error) {
	hdr := w.Header()
	if h.intercepted(w, res) || !h.opt.BufferResponses || !bufferable(r.Method, res.StatusCode, hdr) {
		return nil, nil
	}
	if xb := hdr["X-Accel-Buffering"]; len(xb) > 0 && strings.EqualFold(xb[0], "no") {
		return nil, nil
	}
	body, err := h.opt.Spool.Fill(res.Body, true) // closes res.Body
	if err != nil {
		return nil, fmt.Errorf("read upstream response: %w", err)
	}
	return body, nil
}

// intercepted reports whether the site shows its own page for res's
// status instead of the upstream's.
func (h *Handler) intercepted(w http.ResponseWriter, res *http.Response) bool {
	ic, ok := w.(errpage.Interceptor)
	return ok && !h.grpc && res.StatusCode >= 400 && ic.InterceptsError(res.StatusCode)
}

// respondWith sends res to the client, with its body already read into
// body when that is not nil (see buffered), streamed otherwise.
func (h *Handler) respondWith(w http.ResponseWriter, r *http.Request, res *http.Response, body *buffer.Body) {
	hdr := w.Header()
	if body == nil && h.intercepted(w, res) {
		_ = res.Body.Close()
		clear(hdr)
		errpage.Write(w, res.StatusCode)
		return
	}
	for _, name := range h.hide {
		delete(hdr, name)
	}
	removeHopByHop(hdr)
	delete(hdr, "X-Accel-Buffering")
	if body != nil {
		defer body.Close()
		delete(hdr, "Trailer")
		if n := body.Len(); n >= 0 {
			hdr["Content-Length"] = []string{strconv.FormatInt(n, 10)}
		}
		w.WriteHeader(res.StatusCode)
		h.copyBody(w, body, false)
		return
	}
	defer res.Body.Close()
	w.WriteHeader(res.StatusCode)
	flushEach := res.ContentLength < 0 || isEventStream(hdr)
	h.copyBody(w, res.Body, flushEach)
	for k, vs := range res.Trailer {
		hdr[http.TrailerPrefix+k] = vs
	}
}

// copyBody copies a response body to the client. A failure on either side
// cuts the response off (the client sees it truncated, the log a 499).
func (h *Handler) copyBody(w http.ResponseWriter, src io.Reader, flushEach bool) {
	buf := h.copies.Get()
	defer h.copies.Put(buf)
	for {
		n, rerr := src.Read(buf)
		if n > 0 {
			if _, err := w.Write(buf[:n]); err != nil {
				panic(http.ErrAbortHandler)
			}
			if flushEach {
				if err := http.NewResponseController(w).Flush(); err != nil {
					panic(http.ErrAbortHandler)
				}
			}
		}
		if rerr == io.EOF {
			return
		}
		if rerr != nil {
			h.opt.Log.Warn("upstream response cut short", "error", rerr)
			panic(http.ErrAbortHandler)
		}
	}
}

// skipStatic names the request fields never passed on as they are:
// hop-by-hop fields, forwarding fields Gatehouse sets itself, Proxy (which
// CGI-style servers turn into an HTTP_PROXY setting: the httpoxy hole),
// and names with an underscore, which WSGI and CGI servers fold into the
// same variable as the dashed name (an X_Real_IP would pass for X-Real-IP),
// so nginx drops them too.
func skipStatic(name string) bool {
	switch name {
	case "Connection", "Proxy-Connection", "Keep-Alive", "Proxy-Authenticate", "Proxy-Authorization",
		"Te", "Trailer", "Transfer-Encoding", "Upgrade", "Proxy",
		"X-Forwarded-For", "X-Forwarded-Proto", "X-Forwarded-Host", "X-Real-Ip", "X-Request-Id", "Forwarded",
		":protocol": // net/http's place for an extended CONNECT's protocol
		return true
	}
	return strings.IndexByte(name, '_') >= 0
}

// skipFor adds the fields the request's Connection header lists.
func skipFor(hdr http.Header) func(string) bool {
	conn := hdr["Connection"]
	if len(conn) == 0 {
		return skipStatic
	}
	return func(name string) bool {
		if skipStatic(name) {
			return true
		}
		listed := false
		httpsyntax.ForEachToken(conn, func(t string) { listed = listed || strings.EqualFold(t, name) })
		return listed
	}
}

// removeHopByHop deletes a response's hop-by-hop fields, the ones its
// Connection header lists included.
func removeHopByHop(hdr http.Header) {
	httpsyntax.ForEachToken(hdr["Connection"], func(t string) {
		if !strings.EqualFold(t, "close") && !strings.EqualFold(t, "keep-alive") {
			delete(hdr, http.CanonicalHeaderKey(t))
		}
	})
	for _, name := range [...]string{"Connection", "Proxy-Connection", "Keep-Alive", "Transfer-Encoding", "Upgrade", "Te"} {
		delete(hdr, name)
	}
}

// forwarded builds X-Forwarded-For/-Proto/-Host, X-Real-IP and
// X-Request-ID from the connection. Values a client sent survive only when
// its peer is a trusted proxy.
func (ex *exchange) forwarded(in *http.Request, info *reqinfo.Info) []upstream.Field {
	xff, proto, host := info.Peer, info.Scheme, in.Host
	if info.ClientHost != "" {
		host = info.ClientHost
	}
	f := ex.fwd[:0]
	if info.Trusted {
		if prior := in.Header["X-Forwarded-For"]; len(prior) > 0 {
			xff = strings.Join(prior, ", ") + ", " + info.Peer
		}
		if p := in.Header.Get("X-Forwarded-Proto"); p != "" {
			proto = p
		}
		if fh := in.Header.Get("X-Forwarded-Host"); fh != "" {
			host = fh
		}
		if fwd := in.Header["Forwarded"]; len(fwd) > 0 {
			f = append(f, upstream.Field{Name: "Forwarded", Value: strings.Join(fwd, ", ")})
		}
	}
	return append(f,
		upstream.Field{Name: "X-Forwarded-For", Value: xff},
		upstream.Field{Name: "X-Forwarded-Proto", Value: proto},
		upstream.Field{Name: "X-Forwarded-Host", Value: host},
		upstream.Field{Name: "X-Real-IP", Value: info.ClientIP},
		upstream.Field{Name: "X-Request-ID", Value: info.ID})
}

// bufferable reports whether a response is read whole before it is sent:
// not when it has no body, and not for streams (server-sent events) that
// must reach the client as they are produced.
func bufferable(method string, status int, hdr http.Header) bool {
	if method == http.MethodHead || status < 200 || status == http.StatusNoContent || status == http.StatusNotModified {
		return false
	}
	return !isEventStream(hdr)
}

func isEventStream(hdr http.Header) bool {
	ct := hdr["Content-Type"]
	return len(ct) > 0 && strings.HasPrefix(strings.ToLower(ct[0]), "text/event-stream")
}

// fail answers a request whose upstream exchange failed.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	info := reqinfo.From(r.Context())
	status := http.StatusBadGateway
	switch {
	case info.BodyError != nil && limits.Status(info.BodyError) != http.StatusBadRequest:
		status = limits.Status(info.BodyError)
	case h.grpc && grpcDeadlinePassed(r):
		status = http.StatusGatewayTimeout
	case r.Context().Err() != nil:
		// The client went away; there is nobody to answer. Abort rather
		// than return, or an empty 200 would go to a client that only
		// half-closed.
		info.Status = 499
		panic(http.ErrAbortHandler)
	case info.BodyError != nil:
		status = http.StatusBadRequest
	case isTimeout(err):
		status = http.StatusGatewayTimeout
	}
	h.opt.Log.Warn("upstream request failed", "upstream", info.Upstream, "status", status, "request_id", info.ID, "error", err)
	h.writeError(w, status)
}

// writeError answers with a generated error: the site's error page, or a
// gRPC status for a gRPC route.
func (h *Handler) writeError(w http.ResponseWriter, status int) {
	if h.grpc {
		writeGRPCStatus(w, grpcCodeFor(status), errpage.StatusText(status))
		return
	}
	errpage.Write(w, status)
}

func isTimeout(err error) bool {
	var ne interface{ Timeout() bool }
	return errors.As(err, &ne) && ne.Timeout()
}

func hiddenHeaders(cfg config.Proxy) []string {
	pass := map[string]bool{}
	for _, p := range cfg.PassHeaders {
		pass[http.CanonicalHeaderKey(p)] = true
	}
	var out []string
	for _, name := range append(defaultHidden[:], cfg.HideHeaders...) {
		c := http.CanonicalHeaderKey(name)
		if !pass[c] {
			out = append(out, c)
		}
	}
	return out
}
