package site

import (
	"fmt"
	"net/http"

	"github.com/gatehouse/gatehouse/internal/cache"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/limits"
	"github.com/gatehouse/gatehouse/internal/waf"
)

// phases wraps a route's handler in its middleware, in the one fixed order
// every request follows (outermost first):
//
//	access → limits → WAF → auth → rewrite → cache → handler
//
// Access (request ID, client identity, framing checks, logging) runs in
// listenerHandler for every request, before a site is chosen; the rest
// are added here, innermost first. Rewrite (with request_headers) wraps
// the cache so that the cache keys and stores what the rewritten request
// asks for; the WAF sees the request as the client sent it, after the
// limits that bound its size and pace. Later phases (auth) join this
// list, in this order, as they are built.
func (g *Graph) phases(cfg *config.Config, sc *config.Site, rc *config.Route, h http.Handler, kind handlerKind) (http.Handler, error) {
	if rule := config.EffectiveCache(sc, rc); rule != nil && rc.Proxy != nil && !kind.streams && g.cache != nil {
		h = cache.New(rule, g.cache, h, g.log)
	}
	h, err := requestPhase(sc, rc, h)
	if err != nil {
		return nil, err
	}
	if p := config.EffectiveWAF(sc, rc); p != nil && !kind.streams && g.waf != nil {
		if h, err = g.wafPhase(sc, p, h); err != nil {
			return nil, err
		}
	}
	// The minimum upload rate does not apply to request bodies that are
	// streams that may idle (gRPC).
	minRate := int64(cfg.Client.MinUploadRate)
	if kind.streams {
		minRate = 0
	}
	return limits.New(limits.Config{
		MaxURILength:  int(cfg.Client.MaxURILength),
		MaxHeaders:    cfg.Client.MaxHeaders,
		MaxBodySize:   int64(rc.MaxBodySize),
		MinUploadRate: minRate,
		RateGrace:     cfg.Client.RateGrace.Std(),
	}, h), nil
}

// wafPhase wraps h in the inspection of policy p, compiled once per
// distinct policy.
func (g *Graph) wafPhase(sc *config.Site, p *config.WAFPolicy, h http.Handler) (http.Handler, error) {
	name := SiteName(sc)
	wh, key, err := waf.New(g.waf.Library, p, h, waf.Options{
		Log: g.log, Spool: g.spool, Patches: g.waf.Patches, Audit: g.wafAudit,
		Counters: g.waf.Counters(name), Site: name,
	})
	if err != nil {
		return nil, fmt.Errorf("waf: %w", err)
	}
	g.WAFRuleSets[key] = true
	return wh, nil
}
