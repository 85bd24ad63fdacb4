package upstream

import (
	"context"
	"fmt"
	"net"
	"net/http"
	"net/http/httptrace"
	"net/textproto"
	"net/url"
	"strings"
	"time"
)

// H2C sends requests to upstreams that speak HTTP/2 without TLS (prior
// knowledge, as gRPC servers and many Go services do), over one
// multiplexed connection per address, through net/http's HTTP/2 client.
type H2C struct {
	tr *http.Transport
}

// NewH2C returns an h2c client with opt's timeouts.
func NewH2C(opt Options) *H2C {
	var protos http.Protocols
	protos.SetUnencryptedHTTP2(true)
	dialer := &net.Dialer{Timeout: opt.ConnectTimeout, KeepAlive: 30 * time.Second}
	return &H2C{tr: &http.Transport{
		Protocols:             &protos,
		DialContext:           dialer.DialContext,
		ResponseHeaderTimeout: opt.ResponseHeaderTimeout,
		IdleConnTimeout:       opt.IdleTimeout,
		DisableCompression:    true,
		Proxy:                 nil,
		HTTP2:                 &http.HTTP2Config{SendPingTimeout: 15 * time.Second},
	}}
}

// Do sends req to addr and reads the response head, like Client.Do. The
// response's header fields are put in req.Into when it is set.
func (h *H2C) Do(ctx context.Context, addr string, req *Request) (*http.Response, error) {
	path, query, _ := strings.Cut(req.Target, "?")
	if !strings.HasPrefix(path, "/") || strings.HasPrefix(path, "//") {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, fmt.Errorf("h2c upstream: request target %q cannot be sent", req.Target)
	}
	u := &url.URL{Scheme: "http", Host: addr, Opaque: path, RawQuery: query}
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

// RoundTrip sends an http.Request with an h2c:// or http:// URL.
func (h *H2C) RoundTrip(r *http.Request) (*http.Response, error) {
	r2 := r.Clone(r.Context())
	r2.URL.Scheme = "http"
	return h.tr.RoundTrip(r2)
}

// CloseIdleConnectionsTo closes the idle connections (HTTP/2 connections
// are not kept per address here, so all of them).
func (h *H2C) CloseIdleConnectionsTo(string) { h.tr.CloseIdleConnections() }

// CloseIdleConnections closes the idle connections.
func (h *H2C) CloseIdleConnections() { h.tr.CloseIdleConnections() }
