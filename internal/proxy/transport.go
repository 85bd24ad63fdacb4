package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/upstream"
)

// upstreamClient sends requests to upstream servers: the HTTP/1.1 client
// (plain or over TLS) or the h2c client.
type upstreamClient interface {
	http.RoundTripper
	Do(ctx context.Context, addr string, req *upstream.Request) (*http.Response, error)
	CloseIdleConnections()
	CloseIdleConnectionsTo(addr string)
}

// HealthClient returns the HTTP client that health-checks a pool's
// servers: TLS as the pool configures it for https servers, HTTP/2
// without TLS for h2c ones; redirects are not followed.
func HealthClient(u config.Upstream, scheme string) (*http.Client, error) {
	tr := &http.Transport{DisableKeepAlives: false, MaxIdleConnsPerHost: 1, IdleConnTimeout: time.Minute, Proxy: nil}
	switch scheme {
	case "https":
		tc, err := upstreamTLS(u.TLS)
		if err != nil {
			return nil, err
		}
		tr.TLSClientConfig = tc
	case "h2c":
		var protos http.Protocols
		protos.SetUnencryptedHTTP2(true)
		tr.Protocols = &protos
	}
	return &http.Client{Transport: tr, CheckRedirect: func(*http.Request, []*http.Request) error {
		return http.ErrUseLastResponse
	}}, nil
}

// newClient returns the client for upstreams of scheme.
func newClient(cfg config.Proxy, scheme string) (upstreamClient, error) {
	opt := upstream.Options{
		ConnectTimeout:        cfg.ConnectTimeout.Std(),
		ResponseHeaderTimeout: cfg.ResponseTimeout.Std(),
		BodyIdleTimeout:       cfg.IdleTimeout.Std(),
	}
	switch scheme {
	case "h2c":
		return upstream.NewH2C(opt), nil
	case "https":
		tc, err := upstreamTLS(cfg.TLS)
		if err != nil {
			return nil, err
		}
		opt.TLS = tc
	}
	return upstream.New(opt), nil
}

// upstreamTLS builds the TLS settings for https upstreams: TLS 1.2 or
// later, the CA bundle (else the system roots) and a client certificate
// when configured.
func upstreamTLS(t *config.UpstreamTLS) (*tls.Config, error) {
	tc := &tls.Config{MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}
	if t == nil {
		return tc, nil
	}
	tc.ServerName, tc.InsecureSkipVerify = t.ServerName, t.InsecureSkipVerify
	if t.CA != "" {
		pool, err := config.LoadCertPool(t.CA)
		if err != nil {
			return nil, fmt.Errorf("tls.ca: %w", err)
		}
		tc.RootCAs = pool
	}
	if t.Cert != "" {
		cert, err := tls.LoadX509KeyPair(t.Cert, t.Key)
		if err != nil {
			return nil, fmt.Errorf("tls.cert: %w", err)
		}
		tc.Certificates = []tls.Certificate{cert}
	}
	return tc, nil
}

// timedTransport records how long the upstream took to send its response
// headers.
type timedTransport struct {
	rt http.RoundTripper
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.rt.RoundTrip(r)
	reqinfo.From(r.Context()).UpstreamTime = time.Since(start)
	return res, err
}

// bufferPool recycles the 32 KiB buffers used to copy response bodies.
type bufferPool struct {
	pool sync.Pool // *[copySize]byte
}

// copySize is the size of the buffers copying response bodies.
const copySize = 32 << 10

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { return new([copySize]byte) }}}
}

// Get returns a buffer of copySize bytes.
func (p *bufferPool) Get() []byte { return p.pool.Get().(*[copySize]byte)[:] }

// Put recycles a buffer that Get returned.
func (p *bufferPool) Put(b []byte) {
	if cap(b) >= copySize {
		p.pool.Put((*[copySize]byte)(b[:copySize]))
	}
}
