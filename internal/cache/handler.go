// Package cache is Gatehouse's shared HTTP cache (RFC 9111): the cache
// phase of a route keeps the upstream's responses in a Store (memory, and
// optionally disk) and answers later requests from it while they are
// fresh; validates stale ones with conditional requests; serves stale
// copies where stale-while-revalidate (refreshing in the background) or
// stale-if-error allow; collapses concurrent misses of one key into one
// origin request; invalidates what unsafe methods change; and says what it
// did in Cache-Status (RFC 9211).
package cache

import (
	"context"
	"errors"
	"log/slog"
	"net"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/placeholder"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// Handler is the cache phase of one route, in front of next.
type Handler struct {
	store *Store
	next  http.Handler
	log   *slog.Logger

	ttl          map[int]time.Duration
	swr, sie     time.Duration
	key          *placeholder.Value // nil: the default key
	lock         bool
	bypass       []config.CacheBypass
	statusHeader bool

	// mu guards flights, the origin requests others wait on, and
	// passes, the keys whose responses could not be stored lately.
	mu      sync.Mutex
	flights map[string]*flight
	passes  map[string]time.Time
}

// collapseWait bounds how long a request waits for another's origin
// request of the same key before going to the origin itself.
const collapseWait = 30 * time.Second

// New returns the cache phase for rule, storing in store, in front of
// next.
func New(rule *config.Cache, store *Store, next http.Handler, log *slog.Logger) *Handler {
	h := &Handler{store: store, next: next, log: log, ttl: map[int]time.Duration{},
		swr: rule.StaleWhileRevalidate.Std(), sie: rule.StaleIfError.Std(), lock: *rule.Lock,
		bypass: rule.BypassRules, statusHeader: *rule.StatusHeader, flights: map[string]*flight{},
		passes: map[string]time.Time{}}
	for code, d := range rule.TTL {
		h.ttl[code] = d.Std()
	}
	if rule.Key != config.DefaultCacheKey {
		k := rule.KeyTemplate
		h.key = &k
	}
	return h
}

func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	info := reqinfo.From(r.Context())
	if r.Header["Upgrade"] != nil || r.Method == http.MethodConnect {
		h.next.ServeHTTP(w, r)
		return
	}
	switch r.Method {
	case http.MethodGet, http.MethodHead:
	case http.MethodOptions, http.MethodTrace:
		h.next.ServeHTTP(w, r)
		return
	default:
		h.serveUnsafe(w, r, info)
		return
	}
	if h.bypassed(r) {
		h.store.Stats.Bypassed.Add(1)
		h.setStatus(w.Header(), info, "bypass", "fwd=bypass")
		h.next.ServeHTTP(w, r)
		return
	}
	req := h.newRequest(r)
	e := h.store.lookup(req.primary, r)
	if e == nil && !h.passing(req.primary) {
		e = h.store.lookupShared(req.primary, r)
	}
	if e != nil {
		if !req.authorized || e.cc.Public || e.cc.MustRevalidate || e.cc.SMaxAge >= 0 {
			h.serveFromStore(w, r, info, req, e)
			return
		}
		// A response stored for anyone does not answer a request
		// with credentials (RFC 9111 section 3.5).
	}
	if req.cc.OnlyIfCache {
		h.gatewayTimeout(w, info)
		return
	}
	h.miss(w, r, info, req)
}

// request is what the cache works out of a client request once.
type request struct {
	primary, url string
	cc           Directives
	authorized   bool
}

func (h *Handler) newRequest(r *http.Request) *request {
	q := &request{cc: ParseDirectives(r.Header["Cache-Control"]), authorized: r.Header["Authorization"] != nil}
	if len(r.Header["Cache-Control"]) == 0 && pragmaNoCache(r.Header) {
		q.cc.NoCache = true
	}
	q.url = requestURL(r)
	if h.key == nil {
		q.primary = "GET " + q.url
	} else {
		kr := r
		if r.Method == http.MethodHead {
			kr = r.Clone(r.Context())
			kr.Method = http.MethodGet
		}
		q.primary = h.key.Render(kr, reqinfo.From(r.Context()))
	}
	return q
}

// requestURL is scheme://host/target of r, the host in lower case without
// its scheme's default port: the URL the cache knows r's response by.
func requestURL(r *http.Request) string {
	scheme := "http"
	if r.TLS != nil || reqinfo.From(r.Context()).Scheme == "https" {
		scheme = "https"
	}
	return NormalizeURL(scheme, r.Host, r.URL.RequestURI())
}

// NormalizeURL joins scheme, host and target the way the cache indexes
// URLs: the host lower-cased, its scheme's default port dropped.
func NormalizeURL(scheme, host, target string) string {
	host = strings.ToLower(host)
	if h, port, err := net.SplitHostPort(host); err == nil &&
		(scheme == "http" && port == "80" || scheme == "https" && port == "443") {
		host = h
		if strings.IndexByte(h, ':') >= 0 {
			host = "[" + h + "]"
		}
	}
	return scheme + "://" + host + target
}

// ParseURL turns a URL given to a purge into the cache's form of it.
func ParseURL(raw string) (string, error) {
	u, err := url.Parse(raw)
	if err != nil || (u.Scheme != "http" && u.Scheme != "https") || u.Host == "" {
		return "", &url.Error{Op: "parse", URL: raw, Err: errBadURL}
	}
	return NormalizeURL(u.Scheme, u.Host, u.RequestURI()), nil
}

var errBadURL = errors.New("want an absolute http:// or https:// URL")

func pragmaNoCache(h http.Header) bool {
	for _, v := range h["Pragma"] {
		if strings.Contains(strings.ToLower(v), "no-cache") {
			return true
		}
	}
	return false
}

// bypassed reports whether a bypass rule matches r.
func (h *Handler) bypassed(r *http.Request) bool {
	for _, b := range h.bypass {
		if b.Cookie {
			if _, err := r.Cookie(b.Name); err == nil {
				return true
			}
		} else if r.Header[b.Name] != nil {
			return true
		}
	}
	return false
}

// setStatus writes the Cache-Status field (when on) and notes the outcome
// for the access log.
func (h *Handler) setStatus(hdr http.Header, info *reqinfo.Info, outcome, params string) {
	info.Cache = outcome
	if h.statusHeader {
		hdr["Cache-Status"] = []string{"gatehouse; " + params}
	}
}

// gatewayTimeout answers only-if-cached when nothing fit is stored.
func (h *Handler) gatewayTimeout(w http.ResponseWriter, info *reqinfo.Info) {
	h.store.Stats.Misses.Add(1)
	h.setStatus(w.Header(), info, "miss", "fwd=miss; detail=only-if-cached")
	w.Header()["Content-Length"] = []string{"0"}
	w.WriteHeader(http.StatusGatewayTimeout)
}

// serveFromStore answers a request that has a stored response: fresh (and
// allowed by the request), stale where allowed, or validated first.
func (h *Handler) serveFromStore(w http.ResponseWriter, r *http.Request, info *reqinfo.Info, req *request, e *Entry) {
	now := time.Now()
	f := e.freshness(now)
	cc := &req.cc
	validate := cc.NoCache || f.CC.NoCache
	fresh := f.Fresh()
	if fresh && cc.MaxAge >= 0 && f.Age > time.Duration(cc.MaxAge)*time.Second {
		fresh = false
	}
	if fresh && cc.MinFresh >= 0 && f.Lifetime-f.Age < time.Duration(cc.MinFresh)*time.Second {
		fresh = false
	}
	if fresh && !validate {
		h.store.Stats.Hits.Add(1)
		h.setStatus(w.Header(), info, "hit", "hit; ttl="+strconv.FormatInt(int64((f.Lifetime-f.Age)/time.Second), 10))
		h.serveStored(w, r, e, f)
		return
	}
	staleOK := !fresh && !validate && f.mayServeStale() && !f.AgeInvalid
	if staleOK && cc.MaxStale >= 0 && f.Staleness() <= time.Duration(cc.MaxStale)*time.Second && cc.MaxAge < 0 {
		h.store.Stats.Stale.Add(1)
		h.setStatus(w.Header(), info, "stale", "hit; stale")
		h.serveStored(w, r, e, f)
		return
	}
	if staleOK && cc.MaxAge < 0 && f.Staleness() <= staleWindow(f.CC.StaleWhileRevalidate, e.Meta.SWR) {
		h.store.Stats.Stale.Add(1)
		h.setStatus(w.Header(), info, "stale", "hit; stale; detail=revalidating")
		h.refreshInBackground(r, req, e)
		h.serveStored(w, r, e, f)
		return
	}
	if cc.OnlyIfCache {
		h.gatewayTimeout(w, info)
		return
	}
	h.revalidate(w, r, info, req, e, f)
}

// miss fetches a response nothing is stored for; with the lock on, one
// request per key goes to the origin and the others wait for its answer.
func (h *Handler) miss(w http.ResponseWriter, r *http.Request, info *reqinfo.Info, req *request) {
	up := widen(r)
	if !h.lock || r.Method != http.MethodGet {
		h.fetch(w, r, up, info, req, nil, nil)
		return
	}
	h.mu.Lock()
	if until, ok := h.passes[req.primary]; ok && time.Now().Before(until) {
		// Lately uncacheable: no point waiting on each other.
		h.mu.Unlock()
		h.fetch(w, r, up, info, req, nil, nil)
		return
	}
	fl := h.flights[req.primary]
	if fl == nil {
		fl = newFlight()
		h.flights[req.primary] = fl
		h.mu.Unlock()
		defer func() {
			h.mu.Lock()
			delete(h.flights, req.primary)
			h.mu.Unlock()
			fl.release()
		}()
		// The fleet's turn: one instance goes to the origin, the others
		// wait for its response in the shared tier.
		unlock, found := h.store.sharedClaim(req.primary, r)
		defer unlock()
		if found != nil && h.serveCollapsed(w, r, info, req, found) {
			return
		}
		h.fetch(w, r, up, info, req, nil, fl)
		return
	}
	h.mu.Unlock()
	t := time.NewTimer(collapseWait)
	defer t.Stop()
	select {
	case <-fl.done:
	case <-t.C:
	case <-r.Context().Done():
		return
	}
	e := h.store.lookup(req.primary, r)
	if e == nil {
		e = h.store.lookupShared(req.primary, r)
	}
	if e != nil && h.serveCollapsed(w, r, info, req, e) {
		return
	}
	// What the first request got could not be shared: go to the origin.
	h.fetch(w, r, up, info, req, nil, nil)
}

// serveCollapsed answers with e, the response another request (here or
// on another instance of the fleet) fetched meanwhile, when it is fresh
// and the request takes it; false: it did not answer.
func (h *Handler) serveCollapsed(w http.ResponseWriter, r *http.Request, info *reqinfo.Info, req *request, e *Entry) bool {
	f := e.freshness(time.Now())
	if !f.Fresh() || req.cc.NoCache || f.CC.NoCache {
		return false
	}
	h.store.Stats.Collapsed.Add(1)
	h.setStatus(w.Header(), info, "collapsed", "fwd=miss; collapsed")
	h.serveStored(w, r, e, f)
	return true
}

// revalidate sends a conditional request for a stored response and
// answers with the stored response (updated by a 304), the new one, or the
// stale one when the origin fails and stale-if-error allows.
func (h *Handler) revalidate(w http.ResponseWriter, r *http.Request, info *reqinfo.Info, req *request, e *Entry, f Freshness) {
	r2 := r.Clone(r.Context())
	for _, name := range []string{"If-None-Match", "If-Modified-Since", "If-Match", "If-Unmodified-Since", "If-Range", "Range"} {
		delete(r2.Header, name)
	}
	conditional := false
	if etag := e.Meta.Header["Etag"]; len(etag) > 0 {
		r2.Header["If-None-Match"] = []string{etag[0]}
		conditional = true
	}
	if lm := e.Meta.Header["Last-Modified"]; len(lm) > 0 {
		r2.Header["If-Modified-Since"] = []string{lm[0]}
		conditional = true
	}
	if r.Method == http.MethodHead {
		r2.Method = http.MethodGet
	}
	st := &stale{entry: e, freshness: f}
	if !f.AgeInvalid && f.mayServeStale() {
		st.ifError = staleWindow(f.CC.StaleIfError, e.Meta.SIE)
	}
	if !conditional {
		st.entry = nil // nothing to validate: a plain request
		if st.ifError > 0 {
			st.entry = e
			st.unconditional = true
		}
	}
	h.fetch(w, r, r2, info, req, st, nil)
}

// stale is a stored response a fetch validates, or falls back on.
type stale struct {
	entry     *Entry
	freshness Freshness
	// ifError is how long past its freshness the entry may stand in for
	// an error (stale-if-error).
	ifError time.Duration
	// unconditional: the request carries no validators (the entry has
	// none); only stale-if-error uses the entry.
	unconditional bool
}

// refreshInBackground revalidates a stale entry once, outside the
// request, for stale-while-revalidate.
func (h *Handler) refreshInBackground(r *http.Request, req *request, e *Entry) {
	key := "refresh " + req.primary
	h.mu.Lock()
	if h.flights[key] != nil {
		h.mu.Unlock()
		return
	}
	fl := newFlight()
	h.flights[key] = fl
	h.mu.Unlock()
	info := *reqinfo.From(r.Context())
	info.ID = reqinfo.NewID()
	ctx, cancel := context.WithTimeout(reqinfo.With(context.Background(), &info), 2*time.Minute)
	r2 := r.Clone(ctx)
	go func() {
		defer func() {
			cancel()
			h.mu.Lock()
			delete(h.flights, key)
			h.mu.Unlock()
			fl.release()
			if p := recover(); p != nil && p != http.ErrAbortHandler {
				h.log.Error("background cache refresh failed", "url", req.url, "panic", p)
			}
		}()
		bg := &discard{header: http.Header{}}
		h.revalidate(bg, r2, &info, req, e, e.freshness(time.Now()))
	}()
}

// discard is the client of a background refresh.
type discard struct {
	header http.Header
}

func (d *discard) Header() http.Header         { return d.header }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}
func (d *discard) Flush()                      {}
