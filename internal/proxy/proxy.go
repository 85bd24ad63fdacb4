// Package proxy forwards requests to upstream HTTP/1.1 servers: it picks a
// server, sets the forwarding headers from the real connection (never from
// what an untrusted client sent), hides headers that reveal the upstream's
// software, and maps upstream failures to 502, 504 or a logged 499.
package proxy

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strconv"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/buffer"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/limits"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
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
}

// Handler proxies to one set of upstream servers.
type Handler struct {
	rp          *httputil.ReverseProxy
	client      *upstream.Client
	servers     []*url.URL // expanded by weight, picked round robin
	next        atomic.Uint64
	hide        []string
	idleTimeout time.Duration
	opt         Options
}

// New returns a proxy to servers configured by cfg.
func New(cfg config.Proxy, servers []config.ServerEntry, opt Options) (*Handler, error) {
	h := &Handler{opt: opt, hide: hiddenHeaders(cfg), idleTimeout: cfg.IdleTimeout.Std()}
	for _, s := range servers {
		u, err := config.ParseUpstreamURL(s.URL)
		if err != nil {
			return nil, fmt.Errorf("proxy: %w", err)
		}
		for i := 0; i < max(s.Weight, 1); i++ {
			h.servers = append(h.servers, u)
		}
	}
	if len(h.servers) == 0 {
		return nil, errors.New("proxy: no upstream servers")
	}
	h.client = upstream.New(upstream.Options{
		ConnectTimeout:        cfg.ConnectTimeout.Std(),
		ResponseHeaderTimeout: cfg.ResponseTimeout.Std(),
	})
	h.rp = &httputil.ReverseProxy{
		Rewrite:        h.rewrite,
		Transport:      timedTransport{h.client},
		ModifyResponse: h.modifyResponse,
		ErrorHandler:   h.fail,
		ErrorLog:       slog.NewLogLogger(opt.Log.Handler(), slog.LevelWarn),
		BufferPool:     newBufferPool(),
	}
	return h, nil
}

// Close drops the idle upstream connections; called when a config retires.
func (h *Handler) Close() error {
	h.client.CloseIdleConnections()
	return nil
}

// ServeHTTP proxies one request. With request buffering on, the whole body
// is received first, so the upstream is contacted only for a complete
// request and is sent a Content-Length.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	ctx, cancel := context.WithCancelCause(r.Context())
	defer cancel(nil)
	r = r.WithContext(context.WithValue(ctx, cancelKey{}, cancel))
	if h.opt.BufferRequests && r.Body != nil && r.Body != http.NoBody {
		body, err := h.opt.Spool.Fill(r.Body, false)
		if err != nil {
			h.refuseBody(w, r, err)
			return
		}
		defer body.Close()
		r.Body, r.ContentLength, r.TransferEncoding = body, body.Len(), nil
		r.Header.Del("Expect") // the body is here already
	}
	h.rp.ServeHTTP(w, r)
}

// refuseBody answers a request whose body could not be received.
func (h *Handler) refuseBody(w http.ResponseWriter, r *http.Request, err error) {
	info := reqinfo.From(r.Context())
	info.BodyError = err
	status := limits.Status(err)
	if errors.Is(err, buffer.ErrSpoolFull) {
		status = http.StatusServiceUnavailable
		h.opt.Log.Error("request body not buffered", "request_id", info.ID, "error", err)
	}
	// Answered even when the client seems gone: one that only half-closed
	// its side is still reading, and must not see the empty 200 net/http
	// would otherwise send.
	w.Header().Set("Connection", "close")
	errpage.Write(w, status)
}

type cancelKey struct{}

// errUpstreamIdle cancels a request whose upstream fell silent.
var errUpstreamIdle = errors.New("upstream idle longer than idle_timeout")

func (h *Handler) pick() *url.URL {
	n := h.next.Add(1)
	return h.servers[n%uint64(len(h.servers))]
}

// rewrite builds the upstream request. httputil has already removed
// hop-by-hop headers and all X-Forwarded-* and Forwarded headers from out.
func (h *Handler) rewrite(pr *httputil.ProxyRequest) {
	in, out := pr.In, pr.Out
	info := reqinfo.From(in.Context())
	target := h.pick()
	out.URL.Scheme, out.URL.Host = target.Scheme, target.Host
	out.Host = in.Host
	info.Upstream = target.Host
	setForwarded(out.Header, in, info)
	if out.Body != nil && out.Body != http.NoBody {
		if _, buffered := out.Body.(*buffer.Body); !buffered {
			out.Body = &clientBody{ReadCloser: out.Body, info: info}
		}
	}
}

// setForwarded sets X-Forwarded-For/-Proto/-Host, X-Real-IP and X-Request-ID.
// Values a client sent survive only when its peer is a trusted proxy.
func setForwarded(hdr http.Header, in *http.Request, info *reqinfo.Info) {
	hdr.Del("X-Real-Ip")
	xff, proto, host := info.Peer, info.Scheme, in.Host
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
			hdr["Forwarded"] = fwd
		}
	}
	// One backing array for the five values; each slice is capped at its
	// own element so an append elsewhere cannot spill into the next.
	v := [...]string{xff, proto, host, info.ClientIP, info.ID}
	hdr["X-Forwarded-For"] = v[0:1:1]
	hdr["X-Forwarded-Proto"] = v[1:2:2]
	hdr["X-Forwarded-Host"] = v[2:3:3]
	hdr["X-Real-Ip"] = v[3:4:4]
	hdr["X-Request-Id"] = v[4:5:5]
}

func (h *Handler) modifyResponse(res *http.Response) error {
	for _, name := range h.hide {
		delete(res.Header, name)
	}
	if res.StatusCode == http.StatusSwitchingProtocols {
		return nil // the body is the upgraded connection itself
	}
	noBuffering := res.Header.Get("X-Accel-Buffering") == "no"
	delete(res.Header, "X-Accel-Buffering")
	if cancel, ok := res.Request.Context().Value(cancelKey{}).(context.CancelCauseFunc); ok && h.idleTimeout > 0 {
		res.Body = newIdleBody(res.Body, h.idleTimeout, func() { cancel(errUpstreamIdle) })
	}
	if !h.opt.BufferResponses || noBuffering || !bufferable(res) {
		return nil
	}
	body, err := h.opt.Spool.Fill(res.Body, true)
	if err != nil {
		return fmt.Errorf("read upstream response: %w", err)
	}
	res.Body = body
	if n := body.Len(); n >= 0 {
		res.ContentLength, res.TransferEncoding = n, nil
		res.Header["Content-Length"] = []string{strconv.FormatInt(n, 10)}
	}
	return nil
}

// bufferable reports whether a response is read whole before it is sent:
// not when it has no body, and not for streams (server-sent events) that
// must reach the client as they are produced.
func bufferable(res *http.Response) bool {
	if res.Request.Method == http.MethodHead || res.StatusCode < 200 ||
		res.StatusCode == http.StatusNoContent || res.StatusCode == http.StatusNotModified {
		return false
	}
	ct := res.Header.Get("Content-Type")
	return !strings.HasPrefix(strings.ToLower(ct), "text/event-stream")
}

// fail answers a request whose upstream exchange failed.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	info := reqinfo.From(r.Context())
	status := http.StatusBadGateway
	switch {
	case errors.Is(context.Cause(r.Context()), errUpstreamIdle):
		status = http.StatusGatewayTimeout
	case info.BodyError != nil && limits.Status(info.BodyError) != http.StatusBadRequest:
		status = limits.Status(info.BodyError)
	case r.Context().Err() != nil:
		// The client went away; there is nobody to answer. Abort rather
		// than return, or net/http would send an empty 200 to a client
		// that only half-closed.
		info.Status = 499
		panic(http.ErrAbortHandler)
	case info.BodyError != nil:
		status = http.StatusBadRequest
	case isTimeout(err):
		status = http.StatusGatewayTimeout
	}
	h.opt.Log.Warn("upstream request failed", "upstream", info.Upstream, "status", status, "request_id", info.ID, "error", err)
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
