// Package proxy forwards requests to upstream HTTP/1.1 servers: it picks a
// server, sets the forwarding headers from the real connection (never from
// what an untrusted client sent), hides headers that reveal the upstream's
// software, and maps upstream failures to 502, 504 or a logged 499.
package proxy

import (
	"errors"
	"fmt"
	"log/slog"
	"net"
	"net/http"
	"net/http/httputil"
	"net/url"
	"strings"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/errpage"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// defaultHidden are the upstream response headers removed unless a route
// passes them explicitly: they reveal the upstream's software.
var defaultHidden = [...]string{"Server", "X-Powered-By", "X-AspNet-Version", "X-AspNetMvc-Version"}

// Handler proxies to one set of upstream servers.
type Handler struct {
	rp        *httputil.ReverseProxy
	transport *http.Transport
	servers   []*url.URL // expanded by weight, picked round robin
	next      atomic.Uint64
	hide      []string
	log       *slog.Logger
}

// New returns a proxy to servers configured by cfg.
func New(cfg config.Proxy, servers []config.ServerEntry, log *slog.Logger) (*Handler, error) {
	h := &Handler{log: log, hide: hiddenHeaders(cfg)}
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
	h.transport = newTransport(cfg)
	h.rp = &httputil.ReverseProxy{
		Rewrite:        h.rewrite,
		Transport:      timedTransport{h.transport},
		ModifyResponse: h.modifyResponse,
		ErrorHandler:   h.fail,
		ErrorLog:       slog.NewLogLogger(log.Handler(), slog.LevelWarn),
		BufferPool:     newBufferPool(),
	}
	return h, nil
}

func newTransport(cfg config.Proxy) *http.Transport {
	dialer := &net.Dialer{Timeout: cfg.ConnectTimeout.Std(), KeepAlive: 30 * time.Second}
	return &http.Transport{
		Proxy:                  nil, // never take a proxy from the environment
		DialContext:            dialer.DialContext,
		MaxIdleConns:           1024,
		MaxIdleConnsPerHost:    256,
		IdleConnTimeout:        90 * time.Second,
		ResponseHeaderTimeout:  cfg.ResponseTimeout.Std(),
		ExpectContinueTimeout:  time.Second,
		DisableCompression:     true,
		MaxResponseHeaderBytes: 1 << 20,
		ReadBufferSize:         32 << 10,
		WriteBufferSize:        32 << 10,
		TLSNextProto:           map[string]func(string, *tlsConn) http.RoundTripper{},
	}
}

// Close drops the idle upstream connections; called when a config retires.
func (h *Handler) Close() error {
	h.transport.CloseIdleConnections()
	return nil
}

// ServeHTTP proxies one request.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	h.rp.ServeHTTP(w, r)
}

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
		out.Body = &clientBody{ReadCloser: out.Body, info: info}
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
	hdr["X-Forwarded-For"] = []string{xff}
	hdr["X-Forwarded-Proto"] = []string{proto}
	hdr["X-Forwarded-Host"] = []string{host}
	hdr["X-Real-Ip"] = []string{info.ClientIP}
	hdr["X-Request-Id"] = []string{info.ID}
}

func (h *Handler) modifyResponse(res *http.Response) error {
	for _, name := range h.hide {
		delete(res.Header, name)
	}
	return nil
}

// fail answers a request whose upstream exchange failed.
func (h *Handler) fail(w http.ResponseWriter, r *http.Request, err error) {
	info := reqinfo.From(r.Context())
	status := http.StatusBadGateway
	switch {
	case r.Context().Err() != nil:
		// The client went away; there is nobody to answer.
		info.Status = 499
		return
	case info.BodyError != nil:
		status = http.StatusBadRequest
	case isTimeout(err):
		status = http.StatusGatewayTimeout
	}
	h.log.Warn("upstream request failed", "upstream", info.Upstream, "status", status, "request_id", info.ID, "error", err)
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
