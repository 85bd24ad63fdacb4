// Package site builds the complete handler graph of one config: for every
// listener address a handler that checks request framing, picks the site by
// Host and the route by path, runs the route's phases and logs the request.
// A Graph is immutable once built; a reload builds a new one and swaps it in.
package site

import (
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/netip"
	"os"
	"strconv"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/access"
	"github.com/gatehouse/gatehouse/internal/accesslog"
	"github.com/gatehouse/gatehouse/internal/auth"
	"github.com/gatehouse/gatehouse/internal/bans"
	"github.com/gatehouse/gatehouse/internal/buffer"
	"github.com/gatehouse/gatehouse/internal/cache"
	"github.com/gatehouse/gatehouse/internal/certs"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/fleet"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/proxy"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/redirect"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
	"github.com/gatehouse/gatehouse/internal/respond"
	"github.com/gatehouse/gatehouse/internal/route"
	"github.com/gatehouse/gatehouse/internal/static"
	"github.com/gatehouse/gatehouse/internal/tracing"
	"github.com/gatehouse/gatehouse/internal/waf"
)

// Graph is the handler graph of one config.
type Graph struct {
	// Handlers maps each listen address to its handler.
	Handlers map[string]http.Handler
	// Listeners maps each listen address to what opening it takes.
	Listeners map[string]Listener
	// TLS maps each https listen address to its TLS settings, which choose
	// the certificate by server name.
	TLS map[string]*tls.Config

	inflight atomic.Int64
	closers  []io.Closer
	access   *accesslog.Logger
	// tracer makes the spans of the graph's requests (nil: tracing off).
	tracer *tracing.Tracer
	spool  *buffer.Spool

	// certs keeps automatic certificates; acme are this graph's sources,
	// managed from Start until the graph is closed.
	certs        *certs.Manager
	acme         []*certs.ACME
	manageCtx    context.Context
	stopManaging context.CancelFunc

	// metrics counts what the graph serves (nil: metrics off); routeStats
	// are the counters its sites and routes use.
	metrics    *metrics.Registry
	routeStats []*metrics.Route

	// pools are every upstream pool of the graph; named are those under
	// upstreams:, by name.
	pools []*graphPool
	named map[string]*graphPool
	log   *slog.Logger
	// maintenance is the process-wide maintenance switch.
	maintenance *atomic.Bool
	// cache is the HTTP cache's store, for the routes that cache.
	cache *cache.Store
	// waf is the WAF's process-wide state, wafAudit its audit log.
	waf      *waf.Service
	wafAudit *waf.AuditLog

	// WAFRuleSets names the compiled WAF rule sets the graph uses (for
	// waf.Library.Keep once it serves).
	WAFRuleSets map[string]bool

	// rateLimits keeps the rate limits' stores; RateLimitStores names
	// those the graph uses (for ratelimit.Registry.Keep).
	rateLimits *ratelimit.Registry
	// fleet shares state with the other instances, nil without a store.
	fleet *fleet.Fleet
	// bans refuses banned clients and counts strikes toward new bans;
	// nil in graphs built without one.
	bans *bans.List
	// outOfFiles makes room when an upstream dial runs out of file
	// descriptors (Deps.OutOfFiles).
	outOfFiles      func() bool
	RateLimitStores map[string]bool
	// accessLists are the graph's allow and deny lists, one per config
	// list (a site's is shared by its routes).
	accessLists map[*config.Access]*access.List
	// passwords are the htpasswd files of basic auth, one per file,
	// watched while the graph lives.
	passwords map[string]*auth.Passwords
	// keySets are the JWT key sets, one per URL or file, kept fresh
	// while the graph lives.
	keySets map[string]*auth.KeySet
	// oidcClients are the OIDC configurations' states, one per config
	// block, shared by the routes it guards.
	oidcClients map[*config.OIDCAuth]*auth.OIDCClient
	// forwardClients likewise for forward auth.
	forwardClients map[*config.ForwardAuth]*auth.ForwardClient
}

// Listener is what opening and serving one listen address takes.
type Listener struct {
	config.Listen
	// UnixMode is the permission bits of a unix socket's file.
	UnixMode os.FileMode
	// WebSockets tells whether a route of a site on the listener can
	// switch protocols: only then do its HTTP/2 connections announce
	// extended CONNECT.
	WebSockets bool
	// ConnLimit bounds the listener's connections (zero: none), as a
	// site on it set; Site names the site that set it (or the first) for
	// the refusal counts.
	ConnLimit config.ConnLimit
	Site      string
	// Trust names the trusted proxies, the only peers a PROXY listener
	// takes connections from.
	Trust *reqinfo.Trust
}

// site is one virtual host's compiled routes.
type site struct {
	routes *route.Table[*routeEntry]
	// certs supplies the site's certificate on https listeners.
	certs certs.Source
	// httpsPort, when set, sends the site's plain-HTTP requests to HTTPS
	// on that port ("" for 443).
	httpsPort *string
	// hsts is the Strict-Transport-Security value of HTTPS responses.
	hsts []string
	// pages are the site's error pages; intercept applies them to
	// upstream responses; maintenance answers everything with 503.
	pages       map[int][]byte
	intercept   bool
	maintenance bool
	// out is the site's own header rules and compression, for responses
	// no route answers (404, maintenance, the redirect to HTTPS); a
	// route's output already merges them.
	out *routeOutput
	// webSockets is set when a route can switch protocols.
	webSockets bool
	// stats counts the responses no route gave (404, maintenance, the
	// redirect to HTTPS).
	stats *metrics.Route
	// refusedBan counts the site's requests refused for a ban.
	refusedBan func()
}

// Deps are the long-lived things a graph uses but does not own.
type Deps struct {
	Log *slog.Logger
	// SpoolBudget bounds spool files across graphs (it outlives reloads).
	SpoolBudget *buffer.Budget
	// Certs loads certificate files and manages automatic certificates.
	Certs *certs.Manager
	// Maintenance, when set and true, puts every site in maintenance.
	Maintenance *atomic.Bool
	// Metrics, when set, counts requests per route and attempts per
	// upstream server (it outlives reloads).
	Metrics *metrics.Registry
	// Cache is the HTTP cache's store (it outlives reloads); nil when no
	// route caches.
	Cache *cache.Store
	// WAF is the WAF's state (it outlives reloads); nil when no route
	// has the WAF on.
	WAF *waf.Service
	// RateLimits keeps the rate limits' counts (it outlives reloads).
	RateLimits *ratelimit.Registry
	// Bans is the instance's ban list (it outlives reloads).
	Bans *bans.List
	// Fleet is the link to the fleet's shared store, nil without one.
	Fleet *fleet.Fleet
	// OutOfFiles, when set, closes idle client connections to make room
	// when connecting to an upstream runs out of file descriptors.
	OutOfFiles func() bool
}

// Build compiles cfg into a Graph. Nothing is listened on here.
func Build(cfg *config.Config, deps Deps) (*Graph, error) {
	log := deps.Log
	g := &Graph{
		Handlers: map[string]http.Handler{}, Listeners: map[string]Listener{}, TLS: map[string]*tls.Config{},
		spool: &buffer.Spool{Dir: cfg.Buffering.SpoolDir, Memory: int(cfg.Buffering.Memory), Budget: deps.SpoolBudget, Log: log},
		certs: deps.Certs, log: log, maintenance: deps.Maintenance, metrics: deps.Metrics, cache: deps.Cache,
		waf: deps.WAF, WAFRuleSets: map[string]bool{},
		rateLimits: deps.RateLimits, RateLimitStores: map[string]bool{}, bans: deps.Bans, fleet: deps.Fleet, outOfFiles: deps.OutOfFiles,
		accessLists: map[*config.Access]*access.List{}, passwords: map[string]*auth.Passwords{}, keySets: map[string]*auth.KeySet{},
		oidcClients: map[*config.OIDCAuth]*auth.OIDCClient{}, forwardClients: map[*config.ForwardAuth]*auth.ForwardClient{},
	}
	if g.maintenance == nil {
		g.maintenance = new(atomic.Bool)
	}
	g.manageCtx, g.stopManaging = context.WithCancel(context.Background())
	var prefixes []netip.Prefix
	trustUnix := false
	for _, s := range cfg.TrustedProxies {
		if s == config.TrustUnix {
			trustUnix = true
			continue
		}
		p, err := config.ParsePrefix(s)
		if err != nil {
			return nil, fmt.Errorf("trusted_proxies: %w", err)
		}
		prefixes = append(prefixes, p)
	}
	access, err := accesslog.New(cfg.AccessLog, accesslog.Options{Log: log, Dropped: deps.Metrics.AccessLogDropped})
	if err != nil {
		return nil, err
	}
	g.closers = append(g.closers, access)
	g.access = access
	if g.waf != nil {
		if g.wafAudit, err = g.waf.AuditLog(cfg.WAFLog); err != nil {
			g.Close()
			return nil, err
		}
	}
	if g.tracer, err = tracing.New(cfg.Tracing); err != nil {
		g.Close()
		return nil, err
	}
	if g.tracer != nil {
		g.closers = append(g.closers, g.tracer)
	}
	if err := g.buildPools(cfg, log); err != nil {
		g.Close()
		return nil, err
	}
	trust := reqinfo.NewTrust(prefixes, trustUnix)
	listeners := map[string]*listenerHandler{}
	selectors := map[string]*certs.Selector{}
	for i := range cfg.Sites {
		sc := &cfg.Sites[i]
		s, err := g.buildSite(cfg, sc, log)
		if err != nil {
			g.Close()
			return nil, fmt.Errorf("sites[%d]: %w", i, err)
		}
		for _, l := range sc.Listen {
			addr, err := config.ParseListen(l)
			if err != nil {
				g.Close()
				return nil, err
			}
			lh := listeners[addr.Addr]
			if lh == nil {
				lh = &listenerHandler{graph: g, hosts: route.NewHosts[*site](), trust: trust,
					access: access, log: log, scheme: addr.Scheme, port: addr.Port(), server: []string{"gatehouse"},
					minRate: int64(cfg.Client.MinDownloadRate), rateGrace: cfg.Client.RateGrace.Std()}
				if addr.Scheme == "https" && !addr.Proxy {
					// HTTP/3 on the UDP port; a PROXY listener has
					// none (a TCP balancer passes no QUIC).
					lh.altSvc = []string{altSvcValue(addr.Addr)}
				}
				listeners[addr.Addr] = lh
				g.Handlers[addr.Addr] = lh
				g.Listeners[addr.Addr] = Listener{Listen: addr, UnixMode: os.FileMode(sc.UnixMode), Site: SiteName(sc), Trust: trust}
			}
			if sc.ConnLimit != nil {
				l := g.Listeners[addr.Addr]
				l.ConnLimit, l.Site = *sc.ConnLimit, SiteName(sc)
				g.Listeners[addr.Addr] = l
			}
			if s.webSockets {
				l := g.Listeners[addr.Addr]
				l.WebSockets = true
				g.Listeners[addr.Addr] = l
			}
			if err := lh.addSite(sc.Hosts, s); err != nil {
				g.Close()
				return nil, fmt.Errorf("sites[%d]: %w", i, err)
			}
			if addr.Scheme == "https" {
				sel := selectors[addr.Addr]
				if sel == nil {
					sel = certs.NewSelector()
					selectors[addr.Addr] = sel
				}
				if err := sel.Add(sc.Hosts, s.certs); err != nil {
					g.Close()
					return nil, fmt.Errorf("sites[%d]: %w", i, err)
				}
				if a := sc.Auth; a != nil && a.ClientCert != nil {
					ca := &certs.ClientAuth{CAs: a.ClientCert.Pool, Required: *a.ClientCert.Required}
					if err := sel.AddClientAuth(sc.Hosts, ca); err != nil {
						g.Close()
						return nil, fmt.Errorf("sites[%d]: %w", i, err)
					}
				}
				if s.httpsPort == nil && *sc.HTTPSRedirect && sc.HasScheme("http") {
					s.httpsPort = httpsPort(addr.Addr)
				}
			}
		}
	}
	for addr, sel := range selectors {
		g.TLS[addr] = certs.ServerConfig(sel)
	}
	return g, nil
}

// Start begins the pools' health checks and obtaining and renewing the
// graph's automatic certificates; call it once the graph serves.
func (g *Graph) Start() {
	g.startPools()
	if g.certs != nil {
		g.certs.Manage(g.manageCtx, g.acme)
	}
}

func (l *listenerHandler) addSite(hosts []string, s *site) error {
	if len(hosts) == 0 {
		return l.hosts.SetDefault(s)
	}
	for _, h := range hosts {
		if err := l.hosts.Add(h, s); err != nil {
			return err
		}
	}
	return nil
}

func (g *Graph) buildSite(cfg *config.Config, sc *config.Site, log *slog.Logger) (*site, error) {
	name := SiteName(sc)
	s := &site{routes: route.NewTable[*routeEntry](), stats: g.routeCounter(name, ""), refusedBan: func() {}}
	if g.rateLimits != nil {
		s.refusedBan = g.rateLimits.Refused(name, "ban")
	}
	if err := g.buildCerts(sc, s); err != nil {
		return nil, err
	}
	s.intercept, s.maintenance = sc.InterceptErrors, sc.Maintenance
	for st, file := range sc.ErrorPages {
		page, err := os.ReadFile(file)
		if err != nil {
			return nil, fmt.Errorf("error_pages: %w", err)
		}
		if s.pages == nil {
			s.pages = map[int][]byte{}
		}
		s.pages[st] = page
	}
	if h := sc.HSTS; h != nil {
		s.hsts = []string{hstsValue(h)}
	}
	out, err := buildOutput(sc, &config.Route{})
	if err != nil {
		return nil, err
	}
	s.out = out
	// Named routes first: the static routes whose try lists end in one
	// hand requests to them. They are not matched by path.
	named := map[string]http.Handler{}
	for i := range sc.Routes {
		rc := &sc.Routes[i]
		if rc.Name == "" {
			continue
		}
		h, kind, err := g.buildHandler(cfg, rc, nil, log)
		if err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		if named[rc.Name], err = g.phases(cfg, sc, rc, h, kind); err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		s.webSockets = s.webSockets || kind.tunnels
	}
	for i := range sc.Routes {
		rc := &sc.Routes[i]
		if rc.Name != "" {
			continue
		}
		p, err := route.ParsePattern(rc.Path)
		if err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		h, kind, err := g.buildHandler(cfg, rc, named, log)
		if err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		h, err = g.phases(cfg, sc, rc, h, kind)
		if err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		out, err := buildOutput(sc, rc)
		if err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
		s.webSockets = s.webSockets || kind.tunnels
		entry := &routeEntry{handler: h, out: out, tunnels: kind.tunnels, inline: g.servesInline(sc, rc, kind),
			stats: g.routeCounter(name, rc.Path), path: rc.Path}
		if err := s.routes.Add(p, entry); err != nil {
			return nil, fmt.Errorf("routes[%d]: %w", i, err)
		}
	}
	return s, nil
}

// handlerKind is what the site needs to know of a route's handler.
type handlerKind struct {
	// streams: its request bodies are streams (gRPC calls), not uploads.
	streams bool
	// tunnels: it can switch protocols (WebSockets).
	tunnels bool
	// quick: it answers from memory at once (a fixed response, a
	// redirect), never waiting on anything.
	quick bool
}

// buildHandler returns the handler that ends a route's chain, and its
// kind; named are the site's named routes, for a static try list.
func (g *Graph) buildHandler(cfg *config.Config, rc *config.Route, named map[string]http.Handler, log *slog.Logger) (http.Handler, handlerKind, error) {
	switch {
	case rc.Proxy != nil:
		gp, err := g.poolFor(cfg, rc.Proxy, log)
		if err != nil {
			return nil, handlerKind{}, err
		}
		p, err := proxy.New(*rc, gp.pool, gp.cfg.TLS, proxy.Options{
			Log: log, Spool: g.spool, Tracer: g.tracer, OutOfFiles: g.outOfFiles,
			BufferRequests: *rc.Buffer.Request, BufferResponses: *rc.Buffer.Response,
		})
		if err != nil {
			return nil, handlerKind{}, err
		}
		g.closers = append(g.closers, p)
		kind := handlerKind{streams: p.Streams(), tunnels: p.Tunnels()}
		if f := rc.FastCGI; f != nil && len(f.Try) > 0 {
			// A front controller: files from the root, scripts to p.
			front, err := static.NewFront(*f, named, p)
			if err != nil {
				return nil, handlerKind{}, err
			}
			g.closers = append(g.closers, front)
			return front, kind, nil
		}
		return p, kind, nil
	case rc.Respond != nil:
		return respond.New(*rc.Respond), handlerKind{quick: true}, nil
	case rc.Redirect != nil:
		return redirect.New(*rc.Redirect), handlerKind{quick: true}, nil
	case rc.Static != nil:
		st, err := static.New(*rc.Static, named)
		if err != nil {
			return nil, handlerKind{}, err
		}
		g.closers = append(g.closers, st)
		return st, handlerKind{}, nil
	}
	return nil, handlerKind{}, errors.New("route has no handler")
}

// routeCounter returns the counters of a site's route and remembers them
// as the graph's.
func (g *Graph) routeCounter(site, path string) *metrics.Route {
	rt := g.metrics.Route(site, path)
	if rt != nil {
		g.routeStats = append(g.routeStats, rt)
	}
	return rt
}

// RouteStats calls f for every route counter of the graph.
func (g *Graph) RouteStats(f func(*metrics.Route)) {
	for _, rt := range g.routeStats {
		f(rt)
	}
}

// SiteName is how metrics and the dashboard name a site: its first host,
// or default for a site without hosts.
func SiteName(sc *config.Site) string {
	if len(sc.Hosts) == 0 {
		return "default"
	}
	return sc.Hosts[0]
}

// httpsPort returns the port part of an https listen address for redirects:
// "" for the default port 443.
func httpsPort(addr string) *string {
	_, port, _ := net.SplitHostPort(addr)
	if port == "443" {
		port = ""
	}
	return &port
}

// altSvcValue advertises HTTP/3 on the UDP side of an https listener for a
// day, as Caddy and nginx do.
func altSvcValue(addr string) string {
	_, port, _ := net.SplitHostPort(addr)
	return `h3=":` + port + `"; ma=86400`
}

// hstsValue renders a Strict-Transport-Security header value.
func hstsValue(h *config.HSTS) string {
	v := "max-age=" + strconv.FormatInt(int64(h.MaxAge.Std()/time.Second), 10)
	if h.IncludeSubdomains {
		v += "; includeSubDomains"
	}
	if h.Preload {
		v += "; preload"
	}
	return v
}

// ReopenLogs opens the access log file again (after log rotation).
func (g *Graph) ReopenLogs() error { return g.access.Reopen() }

// Drain waits until the graph serves no request or timeout passes.
func (g *Graph) Drain(timeout time.Duration) {
	deadline := time.Now().Add(timeout)
	for g.inflight.Load() > 0 && time.Now().Before(deadline) {
		time.Sleep(50 * time.Millisecond)
	}
}

// Close releases what the graph holds: idle upstream connections, static
// roots, access log files. Call it after Drain.
func (g *Graph) Close() {
	g.stopManaging()
	for _, c := range g.closers {
		_ = c.Close()
	}
}
