package site

import (
	"crypto/tls"
	"fmt"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/auth"
	"github.com/gatehouse/gatehouse/internal/cache"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/limits"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/waf"
)

// phases wraps a route's handler in its middleware, in the one fixed order
// every request follows (outermost first):
//
//	access → limits (rate limits, then sizes and pace) → WAF → auth → rewrite → cache → handler
//
// Access (request ID, client identity, framing checks, bans, logging)
// runs in listenerHandler for every request (bans and connection limits
// are checked earlier still, at accept, by the listener's gate); then the
// route's allow and deny lists; the rest are added here, innermost first. Rewrite (with request_headers) wraps
// the cache so that the cache keys and stores what the rewritten request
// asks for; the WAF sees the request as the client sent it, after the
// limits that bound its size and pace; auth sees it after the WAF has
// (so a blocked attack costs no auth service call).
func (g *Graph) phases(cfg *config.Config, sc *config.Site, rc *config.Route, h http.Handler, kind handlerKind) (http.Handler, error) {
	if rule := config.EffectiveCache(sc, rc); rule != nil && rc.Proxy != nil && !kind.streams && g.cache != nil {
		h = cache.New(rule, g.cache, h, g.log)
	}
	h, err := requestPhase(sc, rc, h)
	if err != nil {
		return nil, err
	}
	if h, err = g.authPhase(sc, rc, h); err != nil {
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
	h = limits.New(limits.Config{
		MaxURILength:  int(cfg.Client.MaxURILength),
		MaxHeaders:    cfg.Client.MaxHeaders,
		MaxBodySize:   int64(rc.MaxBodySize),
		MinUploadRate: minRate,
		RateGrace:     cfg.Client.RateGrace.Std(),
	}, h)
	h = g.rateLimitPhase(sc, rc, h)
	return g.accessPhase(sc, rc, h)
}

// accessPhase wraps h in the route's allow and deny lists, first of all:
// a denied client costs nothing more. A site's list is built once for
// all its routes; deny files are watched while the graph lives.
func (g *Graph) accessPhase(sc *config.Site, rc *config.Route, h http.Handler) (http.Handler, error) {
	a, _ := config.EffectiveAccess(sc, rc)
	if a == nil {
		return h, nil
	}
	list := g.accessLists[a]
	if list == nil {
		var err error
		if list, err = access.NewList(a.AllowPrefixes, a.DenyPrefixes, a.DenyFile, a.DenyFirst, g.log); err != nil {
			return nil, fmt.Errorf("access: %w", err)
		}
		g.accessLists[a] = list
		go list.Watch(g.manageCtx, 2*time.Second)
	}
	var refused func()
	if g.rateLimits != nil {
		refused = g.rateLimits.Refused(SiteName(sc), "deny")
	}
	return access.New(list, h, refused), nil
}

// rateLimitPhase wraps h in the route's rate limits, first of the limits
// phase: a request over them costs nothing more. A site's limits count
// across all its routes; a route's own count for it alone.
func (g *Graph) rateLimitPhase(sc *config.Site, rc *config.Route, h http.Handler) http.Handler {
	rules, own := config.EffectiveRateLimits(sc, rc)
	if len(rules) == 0 || g.rateLimits == nil {
		return h
	}
	name := SiteName(sc)
	scope := ""
	if own {
		scope = rc.Path
	}
	stores := make([]ratelimit.Store, len(rules))
	for i, r := range rules {
		id := fmt.Sprintf("%s|%s|%d|%s|%s|%d|%s", name, scope, i, r.Key, r.Rate, r.Burst, r.Action)
		if r.Shared && g.fleet != nil {
			id = "shared|" + id
			stores[i] = g.rateLimits.Shared(id, g.fleet)
		} else {
			stores[i] = g.rateLimits.Store(id)
		}
		g.RateLimitStores[id] = true
	}
	return ratelimit.New(rules, stores, h, g.rateLimits.Refused(name, "rate"))
}

// authPhase wraps h in the route's auth, and every route of a site whose
// auth sets identity headers in their removal from the client's request.
func (g *Graph) authPhase(sc *config.Site, rc *config.Route, h http.Handler) (http.Handler, error) {
	if a := config.EffectiveAuth(sc, rc); a != nil {
		var failed func()
		if g.rateLimits != nil {
			failed = g.rateLimits.Refused(SiteName(sc), "auth")
		}
		switch {
		case a.Basic != nil:
			pw := g.passwords[a.Basic.UsersFile]
			if pw == nil {
				var err error
				if pw, err = auth.NewPasswords(a.Basic.UsersFile, g.log); err != nil {
					return nil, fmt.Errorf("auth: %w", err)
				}
				g.passwords[a.Basic.UsersFile] = pw
				go pw.Watch(g.manageCtx, 2*time.Second)
			}
			h = auth.NewBasic(pw, a.Basic.Realm, a.PassCredentials, failed, h)
		case a.JWT != nil:
			j := a.JWT
			id := j.JWKSFile
			if j.JWKSTarget != nil {
				id = j.JWKSTarget.String()
			}
			keys := g.keySets[id]
			if keys == nil {
				var err error
				if keys, err = auth.NewKeySet(j.JWKSTarget, j.JWKSFile, g.log); err != nil {
					return nil, fmt.Errorf("auth: %w", err)
				}
				g.keySets[id] = keys
				go keys.Run(g.manageCtx)
			}
			var err error
			if h, err = auth.NewJWT(auth.JWTOptions{Keys: keys, Issuer: j.Issuer, Audience: j.Audience, Algorithms: j.Algorithms,
				ClaimsToHeaders: j.ClaimsToHeaders, From: j.Sources, Leeway: j.Leeway.Std(), PassCredentials: a.PassCredentials,
				Failed: failed}, h); err != nil {
				return nil, err
			}
		case a.OIDC != nil:
			client, err := g.oidcClient(a, failed)
			if err != nil {
				return nil, err
			}
			h = client.Wrap(h)
		case a.ClientCert != nil:
			c := a.ClientCert
			h = auth.NewClientCert(*c.Required, c.SubjectToHeader, c.SANToHeader, failed, h)
		case a.Forward != nil:
			f := a.Forward
			client := g.forwardClients[f]
			if client == nil {
				client = auth.NewForwardClient(auth.ForwardOptions{URL: f.Target, CopyHeaders: f.CopyHeaders, PassHeaders: f.PassHeaders,
					Cache: f.Cache.Std(), Timeout: f.Timeout.Std(), PassCredentials: a.PassCredentials, Failed: failed, Log: g.log})
				g.forwardClients[f] = client
			}
			h = client.Wrap(h)
		}
	}
	if names := config.IdentityHeaders(sc); len(names) > 0 {
		h = auth.NewStrip(names, h)
	}
	return h, nil
}

// oidcClient is the OIDC state of a's configuration, made once for all
// the routes it guards (one discovery, one HTTP client).
func (g *Graph) oidcClient(a *config.Auth, failed func()) (*auth.OIDCClient, error) {
	o := a.OIDC
	if c := g.oidcClients[o]; c != nil {
		return c, nil
	}
	client := &http.Client{Timeout: 10 * time.Second}
	if o.Roots != nil {
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig = &tls.Config{RootCAs: o.Roots, MinVersion: tls.VersionTLS12}
		client.Transport = tr
	}
	c, err := auth.NewOIDCClient(auth.OIDCOptions{Issuer: o.Issuer, ClientID: o.ClientID, ClientSecret: o.ClientSecret,
		RedirectPath: o.RedirectPath, LogoutPath: o.LogoutPath, Scopes: o.Scopes, CookieSecret: o.Secret,
		ClaimsToHeaders: o.ClaimsToHeaders, SessionTTL: o.SessionTTL.Std(), APIPaths: o.APIPaths, Client: client,
		PassCredentials: a.PassCredentials, Failed: failed, Log: g.log})
	if err != nil {
		return nil, fmt.Errorf("auth: %w", err)
	}
	g.oidcClients[o] = c
	return c, nil
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

// servesInline tells whether a route's requests can be served on the
// HTTP/1.1 front end's event loop (http1.Inliner): its handler answers
// from memory and none of its phases waits on anything (auth services,
// the fleet's store) or spends long on the CPU (the WAF's rules).
func (g *Graph) servesInline(sc *config.Site, rc *config.Route, kind handlerKind) bool {
	if !kind.quick || config.EffectiveAuth(sc, rc) != nil {
		return false
	}
	if config.EffectiveWAF(sc, rc) != nil && g.waf != nil {
		return false
	}
	rules, _ := config.EffectiveRateLimits(sc, rc)
	for _, r := range rules {
		if r.Shared && g.fleet != nil {
			return false
		}
	}
	return true
}
