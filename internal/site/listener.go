package site

import (
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"runtime/debug"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/accesslog"
	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/http1"
	"github.com/gatehouse/gatehouse/internal/peer"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/route"
	"github.com/gatehouse/gatehouse/internal/tracing"
)

// listenerHandler serves every request arriving on one listen address.
type listenerHandler struct {
	graph  *Graph
	hosts  *route.Hosts[*site]
	trust  *reqinfo.Trust
	access *accesslog.Logger
	log    *slog.Logger
	scheme string
	// port is the listener's port (SERVER_PORT for CGI-style upstreams).
	port   string
	server []string // the Server header value
	// altSvc advertises HTTP/3 on an https listener's UDP port.
	altSvc []string
	// minRate (bytes per second) and rateGrace pace slow readers.
	minRate   int64
	rateGrace time.Duration
}

// requestState is what the site layer keeps for one request, in one
// allocation.
type requestState struct {
	info  reqinfo.Info
	rw    responseWriter
	trace tracing.Request
}

func (l *listenerHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	l.graph.inflight.Add(1)
	defer l.graph.inflight.Add(-1)
	st := &requestState{
		info: reqinfo.Info{Start: time.Now(), Scheme: l.scheme, ServerPort: l.port},
		rw: responseWriter{ResponseWriter: w, server: l.server, upgrade: r.Header.Get("Upgrade") != "",
			minRate: l.minRate, rateGrace: l.rateGrace},
	}
	info, rw := &st.info, &st.rw
	rw.start = info.Start
	l.identify(r, info)
	if ctx := reqinfo.With(r.Context(), info); ctx != r.Context() {
		r = r.WithContext(ctx)
	}
	r, st.trace, info.TraceID = l.graph.tracer.StartRequest(r)
	rw.req, rw.info = r, info
	defer l.finish(st, r)

	if r.Method == http.MethodConnect && len(r.Header[":protocol"]) == 0 {
		// Gatehouse is no forward proxy; only an HTTP/2 extended
		// CONNECT (a WebSocket, RFC 8441) goes on to a route.
		errpage.Write(rw, http.StatusMethodNotAllowed)
		return
	}
	s, ok := l.hosts.Match(r.Host)
	if !ok {
		errpage.Write(rw, http.StatusNotFound)
		return
	}
	rw.pages, rw.intercept = s.pages, s.intercept
	rw.out, rw.stats = s.out, s.stats
	if b := l.graph.bans; b != nil && b.Banned(info.ClientAddr) {
		// A client banned while its connection is open: refused here,
		// and the connection closed.
		s.refusedBan()
		if r.ProtoMajor < 3 {
			// HTTP/2's server turns it into a GOAWAY; HTTP/3 has no
			// such field.
			rw.Header().Set("Connection", "close")
		}
		errpage.Write(rw, http.StatusForbidden)
		return
	}
	challenge := strings.HasPrefix(r.URL.Path, acmeChallengePath)
	if ch, ok := s.certs.(challengeHandler); ok && challenge && ch.HandleHTTPChallenge(rw, r) {
		return
	}
	if s.maintenance || l.graph.maintenance.Load() {
		rw.Header().Set("Retry-After", "120")
		errpage.Write(rw, http.StatusServiceUnavailable)
		return
	}
	switch {
	case l.scheme == "https":
		rw.hsts, rw.altSvc = s.hsts, l.altSvc
	case s.httpsPort != nil && r.Host != "" && !challenge:
		redirectToHTTPS(rw, r, *s.httpsPort)
		return
	}
	e, captures, ok := s.routes.Match(route.CleanPath(r.URL.Path))
	if !ok {
		errpage.Write(rw, http.StatusNotFound)
		return
	}
	info.Captures = captures
	rw.out, rw.stats, info.Route = e.out, e.stats, e.path
	if r.Method == http.MethodConnect && !e.tunnels {
		errpage.Write(rw, http.StatusNotImplemented)
		return
	}
	e.handler.ServeHTTP(rw, r)
}

// InlineHandler returns l when r's answer never blocks (see
// servesInline), for the HTTP/1.1 front end to serve it on its event
// loop: it follows ServeHTTP's choices without their effects.
func (l *listenerHandler) InlineHandler(r *http.Request) http.Handler {
	if r.Method == http.MethodConnect {
		return nil
	}
	s, ok := l.hosts.Match(r.Host)
	switch {
	case !ok, s.maintenance, l.graph.maintenance.Load():
		return l // an error page
	case strings.HasPrefix(r.URL.Path, acmeChallengePath):
		return nil // the challenge's answer may be in storage
	case l.scheme != "https" && s.httpsPort != nil && r.Host != "":
		return l // the redirect to HTTPS
	}
	e, _, ok := s.routes.Match(route.CleanPath(r.URL.Path))
	if !ok || e.inline {
		return l
	}
	return nil
}

// acmeChallengePath is where ACME HTTP-01 challenges are answered; plain
// HTTP requests there are never redirected to HTTPS.
const acmeChallengePath = "/.well-known/acme-challenge/"

// redirectToHTTPS answers a plain-HTTP request with a 308 to the same host,
// path and query over HTTPS on port ("" for 443).
func redirectToHTTPS(w http.ResponseWriter, r *http.Request, port string) {
	host := r.Host
	if h, _, err := net.SplitHostPort(host); err == nil {
		host = h
	}
	if strings.IndexByte(host, ':') >= 0 {
		host = "[" + host + "]"
	}
	if port != "" {
		host += ":" + port
	}
	w.Header().Set("Location", "https://"+host+r.URL.RequestURI())
	errpage.Write(w, http.StatusPermanentRedirect)
}

// identify fills in the request ID and the real client address.
func (l *listenerHandler) identify(r *http.Request, info *reqinfo.Info) {
	var peerIP netip.Addr
	if p := peer.From(r.Context()); p != nil {
		peerIP, info.Peer = p.Addr, p.IP
	} else if pa, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		peerIP = pa.Addr().Unmap()
		info.Peer = peerIP.String()
	} else {
		info.Peer, info.ClientIP, info.ID = r.RemoteAddr, r.RemoteAddr, reqinfo.NewID()
		return
	}
	client, trusted := l.trust.ClientIP(peerIP, r.Header["X-Forwarded-For"])
	info.Trusted, info.ClientAddr = trusted, client
	info.ClientIP = info.Peer
	if client != peerIP {
		info.ClientIP = client.String()
	}
	if id := r.Header.Get("X-Request-Id"); trusted && reqinfo.ValidID(id) {
		info.ID = id
	} else {
		info.ID = reqinfo.NewID()
	}
}

// finish logs the request and turns a handler panic into a 500 (or an
// aborted connection when the response had started).
func (l *listenerHandler) finish(st *requestState, r *http.Request) {
	rw, info := &st.rw, &st.info
	p := recover()
	if p == nil {
		rw.finishEncoding()
	}
	rw.clearDeadline()
	if p != nil && p != http.ErrAbortHandler {
		l.log.Error("handler panic", "panic", fmt.Sprint(p), "request_id", info.ID, "stack", string(debug.Stack()))
		if rw.status == 0 {
			errpage.Write(rw, http.StatusInternalServerError)
			p = nil
		} else {
			p = http.ErrAbortHandler
		}
	}
	status := rw.status
	switch {
	case info.Status != 0:
		status = info.Status
	case p != nil:
		status = 499 // the response was cut off mid-body
	case status == 0:
		status = http.StatusOK
	}
	duration := time.Since(info.Start)
	rw.stats.Observe(status, duration, rw.bytes)
	if b := l.graph.bans; b != nil {
		b.Observe(info.ClientAddr, status, info.WAF == "block")
	}
	st.trace.End(info.Route, info.ClientIP, status)
	l.access.Log(&accesslog.Record{
		Time: info.Start, Remote: info.ClientIP, Method: r.Method, Host: r.Host, URI: r.RequestURI,
		Proto: r.Proto, Status: status, Bytes: rw.bytes, Duration: duration,
		Upstream: info.Upstream, UpstreamTime: info.UpstreamTime, RequestID: info.ID,
		UserAgent: r.UserAgent(), Referer: r.Referer(), Route: info.Route, TraceID: info.TraceID,
		Cache: info.Cache, WAF: info.WAF, WAFRules: info.WAFRules, WAFScore: info.WAFScore,
	})
	if p != nil {
		panic(p)
	}
}

// Refused logs a request head the front end refused before it reached the
// handler (malformed or ambiguous framing, too large, too slow).
func (l *listenerHandler) Refused(r http1.Refusal) {
	now := time.Now()
	client := r.RemoteAddr
	if peer, err := netip.ParseAddrPort(r.RemoteAddr); err == nil {
		client = peer.Addr().Unmap().String()
		if b := l.graph.bans; b != nil {
			// Malformed requests count toward a ban like any answer.
			b.Observe(peer.Addr(), r.Status, false)
		}
	}
	l.log.Info("refused request", "status", r.Status, "reason", r.Reason, "client", client)
	l.access.Log(&accesslog.Record{
		Time: now, Remote: client, Method: r.Method, URI: r.Target, Proto: r.Proto,
		Status: r.Status, RequestID: reqinfo.NewID(),
	})
}
