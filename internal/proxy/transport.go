package proxy

import (
	"context"
	"crypto/tls"
	"fmt"
	"log/slog"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/pool"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/upstream"
)

// upstreamClient sends requests to upstream servers in their protocol:
// the HTTP/1.1 client (plain, over TLS or a unix socket), the HTTP/2
// client (h2c, gRPC), or the uwsgi, SCGI and FastCGI clients.
type upstreamClient interface {
	Do(ctx context.Context, addr upstream.Addr, req *upstream.Request) (*http.Response, error)
	CloseIdleConnections()
	CloseIdleConnectionsTo(addr upstream.Addr)
}

// newClient returns the client for a route's upstreams of scheme.
// outOfFiles, when set, makes room when a dial runs out of file
// descriptors (see upstream.Options).
func newClient(route config.Route, cfg config.Proxy, scheme string, log *slog.Logger, outOfFiles func() bool) (upstreamClient, error) {
	opt := upstream.Options{
		ConnectTimeout:        cfg.ConnectTimeout.Std(),
		ResponseHeaderTimeout: cfg.ResponseTimeout.Std(),
		BodyIdleTimeout:       cfg.IdleTimeout.Std(),
		KeepAliveTimeout:      cfg.KeepAliveTimeout.Std(),
		OutOfFiles:            outOfFiles,
	}
	switch scheme {
	case "h2c", "grpc":
		return upstream.NewH2C(opt), nil
	case "grpcs":
		tc, err := upstreamTLS(cfg.TLS)
		if err != nil {
			return nil, err
		}
		return upstream.NewH2(opt, tc), nil
	case "https":
		tc, err := upstreamTLS(cfg.TLS)
		if err != nil {
			return nil, err
		}
		opt.TLS = tc
	case "uwsgi":
		return upstream.NewUWSGI(opt, gatewayOptions(route.UWSGI)), nil
	case "scgi":
		return upstream.NewSCGI(opt, gatewayOptions(route.SCGI)), nil
	case "fastcgi":
		return upstream.NewFastCGI(opt, fastCGIOptions(route.FastCGI, log)), nil
	}
	return upstream.New(opt), nil
}

// gatewayOptions maps a route's uwsgi or scgi block onto the client's
// options.
func gatewayOptions(g *config.Gateway) upstream.GatewayOptions {
	if g == nil {
		return upstream.GatewayOptions{}
	}
	return upstream.GatewayOptions{ScriptName: g.ScriptName}
}

// fastCGIOptions maps a route's fastcgi block onto the client's options
// (without one, scripts are looked for under no root at all); what the
// application writes to its error stream goes to log.
func fastCGIOptions(f *config.FastCGI, log *slog.Logger) upstream.FastCGIOptions {
	o := upstream.FastCGIOptions{Index: "index.php"}
	if f != nil {
		o = upstream.FastCGIOptions{Root: f.Root, Index: f.Index, Split: f.Split, KeepConn: f.KeepConn}
	}
	o.Stderr = func(ctx context.Context, msg string) {
		log.Warn("FastCGI application error output", "request_id", reqinfo.From(ctx).ID, "message", msg)
	}
	return o
}

// NewChecker returns what sends the active health checks of a pool whose
// servers speak scheme: the same protocol clients as the proxy's, so a
// check sees the server as a request does.
func NewChecker(u config.Upstream, scheme string, log *slog.Logger) (pool.Checker, error) {
	route := config.Route{}
	if scheme == "fastcgi" {
		route.FastCGI = &config.FastCGI{Index: "index.php"}
	}
	cfg := config.Proxy{TLS: u.TLS, KeepAliveTimeout: config.Duration(time.Minute)}
	client, err := newClient(route, cfg, scheme, log, nil)
	if err != nil {
		return nil, err
	}
	return &checker{client: client, grpc: scheme == "grpc" || scheme == "grpcs"}, nil
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
