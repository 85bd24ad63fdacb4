package upstream

import (
	"context"
	"crypto/tls"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// h2IdleTimeout is how long an idle HTTP/2 upstream connection is kept:
// HTTP/2 servers keep theirs open much longer than HTTP/1.1 ones, and
// net/http's client notices one that goes away.
const h2IdleTimeout = 90 * time.Second

// H2 sends requests to upstreams that speak HTTP/2, over one multiplexed
// connection per address, through net/http's HTTP/2 client: without TLS
// by prior knowledge (h2c, as gRPC servers and many Go services speak
// it), or over TLS with ALPN h2 (grpcs). Bodies stream both ways and
// trailers come through, as gRPC needs.
type H2 struct {
	tr  *http.Transport
	tls bool
}

// NewH2C returns an HTTP/2 client without TLS with opt's timeouts.
func NewH2C(opt Options) *H2 { return newH2(opt, nil) }

// NewH2 returns an HTTP/2 client over TLS (tc) with opt's timeouts.
func NewH2(opt Options, tc *tls.Config) *H2 { return newH2(opt, tc) }

func newH2(opt Options, tc *tls.Config) *H2 {
	var protos http.Protocols
	if tc == nil {
		protos.SetUnencryptedHTTP2(true)
	} else {
		protos.SetHTTP2(true)
		tc = tc.Clone()
		tc.NextProtos = []string{"h2"}
	}
	dialer := &net.Dialer{Timeout: opt.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &H2{tls: tc != nil, tr: &http.Transport{
		Protocols:             &protos,
		DialContext:           dialer.DialContext,
		TLSClientConfig:       tc,
		TLSHandshakeTimeout:   opt.ConnectTimeout,
		ResponseHeaderTimeout: opt.ResponseHeaderTimeout,
		IdleConnTimeout:       h2IdleTimeout,
		DisableCompression:    true,
		Proxy:                 nil,
		HTTP2:                 &http.HTTP2Config{SendPingTimeout: 15 * time.Second},
	}}
}

// Do sends req to addr and reads the response head, like Client.Do. The
// response's header fields are put in req.Into when it is set.
func (h *H2) Do(ctx context.Context, addr Addr, req *Request) (*http.Response, error) {
	path, query, _ := strings.Cut(req.Target, "?")
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("HTTP/2 upstream: request target %q cannot be sent", req.Target)
	}
	scheme := "http"
	if h.tls {
		scheme = "https"
	}
	u := &url.URL{Scheme: scheme, Host: addr.Address, Opaque: path, RawQuery: query}
	hdr := make(http.Header, len(req.Header)+len(req.Extra))
	for k, v := range req.Header {
		if req.Skip == nil || !req.Skip(k) {
			hdr[k] = v
		}
	}
	for _, f := range req.Extra {
		hdr[f.Name] = append(hdr[f.Name], f.Value)
	}
	if req.Informational != nil {
		ctx = httptrace.WithClientTrace(ctx, &httptrace.ClientTrace{
			Got1xxResponse: func(code int, h textproto.MIMEHeader) error {
				if code == http.StatusContinue {
					return nil
				}
				return req.Informational.Informational(code, http.Header(h))
			},
		})
	}
	out := &http.Request{
		Method: req.Method, URL: u, Host: req.Host, Header: hdr,
		Proto: "HTTP/2.0", ProtoMajor: 2, ProtoMinor: 0,
	}
	if req.hasBody() {
		out.Body, out.ContentLength = req.Body, req.ContentLength
		if out.ContentLength == 0 {
			out.ContentLength = -1
		}
	}
	res, err := h.tr.RoundTrip(out.WithContext(ctx))
	if err != nil {
		return nil, err
	}
	if req.Into != nil {
		for k, v := range res.Header {
			req.Into[k] = v
		}
		res.Header = req.Into
	}
	return res, nil
}

// CloseIdleConnectionsTo closes the idle connections (HTTP/2 connections
// are not kept per address here, so all of them).
func (h *H2) CloseIdleConnectionsTo(Addr) { h.tr.CloseIdleConnections() }

// CloseIdleConnections closes the idle connections.
func (h *H2) CloseIdleConnections() { h.tr.CloseIdleConnections() }
