package site

import (
	"net/http"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/limits"
)

// phases wraps a route's handler in its middleware, in the one fixed order
// every request follows (outermost first):
//
//	access → limits → WAF → auth → rewrite → cache → handler
//
// Access (request ID, client identity, framing checks, logging) runs in
// listenerHandler for every request, before a site is chosen. Rewrite
// (with request_headers) and cache wrap the handler in buildSite, in that
// order, so that the cache keys and stores what the rewritten request
// asks for. The later phases join this list, in this order, as they are
// built.
//
// streams is set for routes whose request bodies are streams that may
// idle (gRPC), which the minimum upload rate does not apply to.
func phases(cfg *config.Config, rc *config.Route, h http.Handler, streams bool) http.Handler {
	minRate := int64(cfg.Client.MinUploadRate)
	if streams {
		minRate = 0
	}
	h = limits.New(limits.Config{
		MaxURILength:  int(cfg.Client.MaxURILength),
		MaxHeaders:    cfg.Client.MaxHeaders,
		MaxBodySize:   int64(rc.MaxBodySize),
		MinUploadRate: minRate,
		RateGrace:     cfg.Client.RateGrace.Std(),
	}, h)
	return h
}
