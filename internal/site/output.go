package site

import (
	"fmt"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"net/http"
	"strings"

	"github.com/gatehouse/gatehouse/internal/compress"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/headers"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/rewrite"
)

// routeEntry is what a route table holds: the route's handler chain and
// what the response writer does to its responses.
type routeEntry struct {
	handler http.Handler
	out     *routeOutput
	// tunnels is set for proxy routes, the only ones an HTTP/2 extended
	// CONNECT (a WebSocket) may reach.
	tunnels bool
	// inline: the route's requests never block, so the front end may
	// serve them on its event loop (servesInline).
	inline bool
	// stats counts the route's responses; path is the route's path as
	// configured, for the access log.
	stats *metrics.Route
	path  string
}

// routeOutput is applied by the response writer when a route's response
// starts: header rules, expires and compression.
type routeOutput struct {
	headers  *headers.Rules
	expires  *headers.Expires
	compress *compress.Compressor
}

// buildOutput compiles a route's response settings, merged over its
// site's; nil when there are none.
func buildOutput(sc *config.Site, rc *config.Route) (*routeOutput, error) {
	out := &routeOutput{}
	var err error
	if out.headers, err = headers.Compile(sc.Headers, rc.Headers); err != nil {
		return nil, fmt.Errorf("headers: %w", err)
	}
	if out.expires, err = headers.ParseExpires(rc.Expires); err != nil {
		return nil, err
	}
	encodings := sc.Compress
	if rc.Compress != nil {
		encodings = rc.Compress
	}
	if len(encodings) > 0 {
		if out.compress, err = compress.New(encodings); err != nil {
			return nil, err
		}
	}
	if out.headers.Empty() && out.expires == nil && out.compress == nil {
		return nil, nil
	}
	return out, nil
}

// requestPhase applies a route's rewrites and request header rules before
// its handler.
func requestPhase(sc *config.Site, rc *config.Route, h http.Handler) (http.Handler, error) {
	reqRules, err := headers.Compile(sc.RequestHeaders, rc.RequestHeaders)
	if err != nil {
		return nil, fmt.Errorf("request_headers: %w", err)
	}
	if !reqRules.Empty() {
		next := h
		h = http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			reqRules.Apply(r.Header, r, reqinfo.From(r.Context()))
			if v, ok := r.Header["Host"]; ok {
				// A rule that sets Host sets the request's host, which is
				// what goes upstream (a Host field would be a second one),
				// on a copy: the log keeps the client's, and so does
				// X-Forwarded-Host (ClientHost).
				delete(r.Header, "Host")
				if len(v) > 0 && validHost(v[0]) && v[0] != r.Host {
					if info := reqinfo.From(r.Context()); info != nil && info.ClientHost == "" {
						info.ClientHost = r.Host
					}
					r2 := *r
					r2.Host = v[0]
					r = &r2
				}
			}
			next.ServeHTTP(w, r)
		})
	}
	if len(rc.Rewrite) > 0 {
		rs, err := rewrite.Compile(rc.Rewrite)
		if err != nil {
			return nil, err
		}
		h = rewrite.Handler(rs, h)
	}
	return h, nil
}

// validHost reports whether a Host a rule rendered can be sent: not
// empty, no spaces, controls or characters a host cannot hold.
func validHost(h string) bool {
	if h == "" || len(h) > 255 {
		return false
	}
	for i := 0; i < len(h); i++ {
		c := h[i]
		if c <= ' ' || c >= 0x7f || strings.IndexByte("/?#@\\\"<>", c) >= 0 {
			return false
		}
	}
	return true
}
