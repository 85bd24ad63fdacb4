// Package server runs Gatehouse: it opens the listeners a config names,
// serves each with the current handler graph, and reloads by building a new
// graph off to the side and swapping it in. Listeners still wanted stay open
// across a reload, requests in flight finish on the graph they started on,
// and a config that fails to load or build leaves the running one in place.
package server

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"net/http"
	"reflect"
	"sort"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/activation"

	"github.com/gatehouse/gatehouse/internal/bans"
	"github.com/gatehouse/gatehouse/internal/buffer"
	"github.com/gatehouse/gatehouse/internal/cache"
	"github.com/gatehouse/gatehouse/internal/certs"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/conngate"
	"github.com/gatehouse/gatehouse/internal/fleet"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/pool"
	"github.com/gatehouse/gatehouse/internal/quicsteer"
	"github.com/gatehouse/gatehouse/internal/ratelimit"
	"github.com/gatehouse/gatehouse/internal/site"
	"github.com/gatehouse/gatehouse/internal/waf"
)

// Instance is a running set of listeners and the graph serving them.
type Instance struct {
	log *slog.Logger
	// passed are the sockets systemd passed and no listener took yet.
	passed *activation.Sockets
	// quicTag starts the QUIC connection IDs this process issues; its
	// successor after a binary upgrade gets the next (quicsteer).
	quicTag quicsteer.Tag
	// handedOver: a successor serves on this instance's sockets.
	handedOver atomic.Bool
	mu         sync.Mutex // serializes Apply and Shutdown
	listeners  map[string]*listener
	// open is a snapshot of the listeners for relieve, which cannot wait
	// for mu (a reload may hold it).
	open      atomic.Pointer[[]*listener]
	reliefLog atomic.Int64 // unix seconds of the last relief logged
	graph     *site.Graph
	timeout   time.Duration
	retiring  sync.WaitGroup
	spool     *buffer.Budget

	certsOnce sync.Once
	certs     *certs.Manager

	// maintenance is the switch of `gatehouse maintenance on|off`; it
	// outlives reloads.
	maintenance atomic.Bool

	// metrics counts for the life of the process; graphs count into it
	// unless the config turns metrics off.
	metrics *metrics.Registry

	// cache is the HTTP cache's store, made by the first config that
	// caches and kept for the life of the process (reloads keep what is
	// stored); cacheStorage are the settings it was made with.
	cacheMu      sync.Mutex
	cache        *cache.Store
	cacheStorage config.CacheStorage

	// waf is the WAF's state (compiled rule sets, virtual patches), made
	// by the first config and kept for the life of the process.
	wafMu sync.Mutex
	waf   *waf.Service

	// rateLimits keeps the rate limits' counts across reloads.
	rateLimits *ratelimit.Registry
	// bans are the bans in force and the strikes toward new ones; they
	// outlive reloads.
	bans *bans.List

	// fleet is the link to the fleet's shared store, made by the first
	// config that has one (storeCfg) and kept for the life of the
	// process; share says what the running config shares through it.
	fleet    atomic.Pointer[fleet.Fleet]
	storeCfg *config.Store
	share    sharing
}

// Status is what `gatehouse status` shows: the maintenance switch, the
// state of every upstream pool, and the fleet's store.
type Status struct {
	Maintenance bool          `json:"maintenance"`
	Pools       []pool.Status `json:"pools"`
	Store       *fleet.Status `json:"store,omitempty"`
}

// Status reports the running instance's state.
func (in *Instance) Status() Status {
	in.mu.Lock()
	g := in.graph
	in.mu.Unlock()
	st := Status{Maintenance: in.maintenance.Load(), Pools: []pool.Status{}}
	if g != nil {
		st.Pools = g.PoolStatus()
	}
	if f := in.fleet.Load(); f != nil {
		fs := f.Status()
		st.Store = &fs
	}
	return st
}

// UpstreamServers reports every server of the running config's pools.
func (in *Instance) UpstreamServers(f func(metrics.ServerState)) {
	in.mu.Lock()
	g := in.graph
	in.mu.Unlock()
	if g == nil {
		return
	}
	for _, p := range g.PoolStatus() {
		for _, s := range p.Servers {
			f(metrics.ServerState{Pool: p.Name, Server: s.Endpoint, State: s.State, Up: !strings.HasPrefix(s.State, "down"),
				InFlight: s.InFlight, Failures: s.Failures})
		}
	}
}

// Listeners reports every open listener and its client connections.
func (in *Instance) Listeners(f func(metrics.ListenerState)) {
	in.mu.Lock()
	ls := make([]*listener, 0, len(in.listeners))
	for _, l := range in.listeners {
		ls = append(ls, l)
	}
	in.mu.Unlock()
	sort.Slice(ls, func(i, j int) bool { return ls[i].addr < ls[j].addr })
	for _, l := range ls {
		f(metrics.ListenerState{Addr: l.addr, Scheme: l.scheme, Open: l.openConns()})
	}
}

// Routes reports the route counters of the running config.
func (in *Instance) Routes(f func(*metrics.Route)) {
	in.mu.Lock()
	g := in.graph
	in.mu.Unlock()
	if g != nil {
		g.RouteStats(f)
	}
}

// Cache reports the HTTP cache for /stats, nil when no config has cached.
func (in *Instance) Cache() *metrics.CacheStats {
	if st := in.cacheStore(); st != nil {
		return st.Snapshot()
	}
	return nil
}

// WAFStats reports the WAF for /stats, nil when no route has had it on.
func (in *Instance) WAFStats() *metrics.WAFStats {
	if ws := in.WAF(); ws != nil {
		return ws.Snapshot()
	}
	return nil
}

// DefenceStats reports the traffic defences for /stats.
func (in *Instance) DefenceStats() *metrics.DefenceStats {
	return &metrics.DefenceStats{Refused: in.rateLimits.RefusedByReason(), ActiveBans: in.bans.Active()}
}

// SpoolBytes is what the buffer spool holds now.
func (in *Instance) SpoolBytes() int64 { return in.spool.Used() }

// ReopenLogs opens the running config's access log file, and the WAF's
// audit log, again.
func (in *Instance) ReopenLogs() error {
	in.mu.Lock()
	g := in.graph
	in.mu.Unlock()
	if g == nil {
		return nil
	}
	var wafErr error
	if ws := in.WAF(); ws != nil {
		wafErr = ws.ReopenLogs()
	}
	return errors.Join(g.ReopenLogs(), wafErr)
}

// SetMaintenance switches maintenance mode for every site (and every
// instance of the fleet, when the admin API's changes are shared).
func (in *Instance) SetMaintenance(on bool) {
	in.maintenance.Store(on)
	in.shareMaintenance(on)
}

// Inherit gives the instance the sockets systemd or the process this one
// replaces passed (socket activation, a binary upgrade): a listener whose
// address one is bound to takes it instead of binding; and the tag of the
// QUIC connection IDs it issues. Call it before the first Apply.
func (in *Instance) Inherit(s *activation.Sockets, tag quicsteer.Tag) {
	in.passed, in.quicTag = s, tag
}

// NewInstance returns an instance with no listeners.
func NewInstance(log *slog.Logger) *Instance {
	in := &Instance{log: log, listeners: map[string]*listener{}, spool: buffer.NewBudget(0), metrics: metrics.New(),
		rateLimits: ratelimit.NewRegistry(), bans: bans.New(log, nil)}
	in.metrics.SetGauges(in)
	return in
}

// Metrics is the instance's registry.
func (in *Instance) Metrics() *metrics.Registry { return in.metrics }

// MetricsHandler serves the instance's metrics, the cache's included.
func (in *Instance) MetricsHandler() http.Handler {
	return in.metrics.Handler(cache.NewCollector(in.cacheStore), wafCollector{in}, in.rateLimits, in.bans, fleetCollector{in})
}

// cacheStore is the cache's store, nil when no config has cached yet.
func (in *Instance) cacheStore() *cache.Store {
	in.cacheMu.Lock()
	defer in.cacheMu.Unlock()
	return in.cache
}

// openCache makes the cache's store when cfg is the first config that
// needs it. Storage settings apply from then on: a reload that changes
// them is told that they need a restart.
func (in *Instance) openCache(cfg *config.Config, fl *fleet.Fleet) (*cache.Store, error) {
	in.cacheMu.Lock()
	defer in.cacheMu.Unlock()
	if in.cache != nil {
		if !reflect.DeepEqual(in.cacheStorage, cfg.Cache) {
			in.log.Warn("cache storage settings changed; they take effect after a restart")
		}
		return in.cache, nil
	}
	if !cfg.UsesCache() && cfg.Cache.Disk == nil {
		return nil, nil
	}
	opt := cache.Options{Memory: int64(cfg.Cache.Memory), MaxObject: int64(cfg.Cache.MaxObject)}
	if d := cfg.Cache.Disk; d != nil {
		opt.DiskPath, opt.DiskSize = d.Path, int64(d.MaxSize)
	}
	if sh := cfg.Cache.Shared; sh != nil && fl != nil {
		opt.Shared = cache.SharedOptions{Tier: fleet.NewCacheTier(fl), MaxObject: int64(sh.MaxObject), LockTimeout: sh.LockTimeout.Std()}
	}
	st, err := cache.NewStore(opt)
	if err != nil {
		return nil, fmt.Errorf("cache: %w", err)
	}
	in.cache, in.cacheStorage = st, cfg.Cache
	if d := cfg.Cache.Disk; d != nil {
		in.log.Info("cache disk tier loaded", "path", d.Path, "objects", st.Objects())
	}
	return st, nil
}

// PurgeCache drops what the cache stores for url, or for every URL that
// starts with it when prefix is set, and returns how many URLs that was.
func (in *Instance) PurgeCache(url string, prefix bool) int {
	// This instance's tiers and the shared one first, then the others'
	// (which could otherwise refill from the shared tier meanwhile).
	defer in.sharePurge(url, prefix)
	st := in.cacheStore()
	if st == nil {
		return 0
	}
	if prefix {
		return st.PurgePrefix(url)
	}
	if st.Purge(url) {
		return 1
	}
	return 0
}

// Apply builds cfg's graph and makes it current: new listeners open, kept
// ones switch handler, removed ones drain and close. On any error nothing
// changes.
func (in *Instance) Apply(cfg *config.Config) error {
	in.certsOnce.Do(func() {
		in.certs = certs.NewManager(in.log, certs.ManagerOptions{
			RenewInterval: cfg.Certificates.RenewInterval.Std(),
			OCSPInterval:  cfg.Certificates.OCSPInterval.Std(),
		})
	})
	if o := in.certs.Options(); o.RenewInterval != cfg.Certificates.RenewInterval.Std() || o.OCSPInterval != cfg.Certificates.OCSPInterval.Std() {
		in.log.Warn("certificates settings changed; they take effect after a restart")
	}
	ws, err := in.openWAF(cfg)
	if err != nil {
		return err
	}
	fl, err := in.openFleet(cfg, ws)
	if err != nil {
		return err
	}
	store, err := in.openCache(cfg, fl)
	if err != nil {
		return err
	}
	deps := site.Deps{Log: in.log, SpoolBudget: in.spool, Certs: in.certs, Maintenance: &in.maintenance, Metrics: in.metrics,
		Cache: store, WAF: ws, RateLimits: in.rateLimits, Bans: in.bans, Fleet: fl, OutOfFiles: in.relieve}
	if cfg.Metrics.Off {
		deps.Metrics = nil
	}
	g, err := site.Build(cfg, deps)
	if err != nil {
		return fmt.Errorf("build config: %w", err)
	}
	in.mu.Lock()
	defer in.mu.Unlock()
	g.InheritHealth(in.graph)

	opened := map[string]*listener{}
	for addr := range g.Handlers {
		if l, ok := in.listeners[addr]; ok {
			if spec := g.Listeners[addr]; l.scheme != spec.Scheme || l.gate.Proxy() != spec.Proxy {
				g.Close()
				return fmt.Errorf("%s is served as %s; changing it to %s needs a restart", addr, l.fullScheme(), spec.FullScheme())
			}
			continue
		}
	}
	for addr := range g.Handlers {
		if _, ok := in.listeners[addr]; ok {
			continue
		}
		spec := g.Listeners[addr]
		l, err := openListener(spec, cfg.Client, in.metrics.Listener(addr), conngate.New(spec.Proxy, in.bans, in.log), in.passed, in.quicTag, in.log)
		if err != nil {
			for _, o := range opened {
				o.closeUnserved()
			}
			g.Close()
			return err
		}
		opened[addr] = l
	}
	in.spool.SetMax(int64(cfg.Buffering.SpoolMax))
	for addr, l := range opened {
		l.relieve = in.relieve
		in.listeners[addr] = l
	}
	for addr, l := range in.listeners {
		if h, ok := g.Handlers[addr]; ok {
			l.handler.Store(&h)
			spec := g.Listeners[addr]
			l.configure(cfg.Client, spec, g.TLS[addr], in.refusals(spec.Site), in.log)
		}
	}

	for addr, l := range opened {
		in.log.Info("listening", "addr", l.ln.Addr().String(), "scheme", g.Listeners[addr].Scheme)
		go l.serve(in.log)
	}
	timeout := cfg.ShutdownTimeout.Std()
	for addr, l := range in.listeners {
		if _, ok := g.Handlers[addr]; !ok {
			delete(in.listeners, addr)
			in.log.Info("closing listener no longer configured", "addr", addr)
			in.retiring.Add(1)
			go func() {
				defer in.retiring.Done()
				ctx, cancel := context.WithTimeout(context.Background(), timeout)
				defer cancel()
				l.shutdown(ctx, false)
			}()
		}
	}
	in.snapshotListeners()
	old := in.graph
	in.graph, in.timeout = g, timeout
	ws.Library.Keep(g.WAFRuleSets)
	in.rateLimits.Keep(g.RateLimitStores)
	in.bans.SetPolicy(banPolicy(cfg.Bans))
	g.Start()
	if old != nil {
		in.retiring.Add(1)
		go func() {
			defer in.retiring.Done()
			old.Drain(timeout)
			old.Close()
		}()
	}
	return nil
}

// refusals are the counters of the refusals a listener's gate makes,
// counted for site.
func (in *Instance) refusals(site string) map[string]func() {
	m := map[string]func(){}
	for _, reason := range []string{"conn", "ban", "proxy"} {
		m[reason] = in.rateLimits.Refused(site, reason)
	}
	return m
}

// banPolicy is the bans section as the ban list takes it; nil: no
// automatic bans.
func banPolicy(b *config.Bans) *bans.Policy {
	if b == nil {
		return nil
	}
	return &bans.Policy{Threshold: b.Threshold, Window: b.Window.Std(), Duration: b.Duration.Std(), Statuses: b.Statuses}
}

// Bans is the instance's ban list.
func (in *Instance) Bans() *bans.List { return in.bans }

// openWAF makes the WAF's state on the first config; later configs keep
// it (a changed waf_patches file takes a restart).
func (in *Instance) openWAF(cfg *config.Config) (*waf.Service, error) {
	in.wafMu.Lock()
	defer in.wafMu.Unlock()
	if in.waf != nil {
		if in.waf.Patches.File() != cfg.WAFPatches {
			in.log.Warn("waf_patches changed; it takes effect after a restart")
		}
		return in.waf, nil
	}
	ws, err := waf.NewService(cfg.WAFPatches, in.log)
	if err != nil {
		return nil, err
	}
	in.waf = ws
	return ws, nil
}

// WAF is the WAF's state, nil before the first config.
func (in *Instance) WAF() *waf.Service {
	in.wafMu.Lock()
	defer in.wafMu.Unlock()
	return in.waf
}

// Shutdown stops accepting, waits for requests in flight, WebSockets
// included (bounded by the config's shutdown_timeout), then closes
// everything.
func (in *Instance) Shutdown() {
	in.mu.Lock()
	defer in.mu.Unlock()
	ctx, cancel := context.WithTimeout(context.Background(), in.timeout)
	defer cancel()
	var wg sync.WaitGroup
	for _, l := range in.listeners {
		wg.Add(1)
		go func() {
			defer wg.Done()
			l.shutdown(ctx, in.handedOver.Load())
		}()
	}
	wg.Wait()
	in.listeners = map[string]*listener{}
	in.snapshotListeners()
	in.retiring.Wait()
	if in.graph != nil {
		// Handlers still running are requests in flight too: WebSockets
		// and other switched protocols, whose connections the front ends
		// handed over. They get what is left of the timeout.
		if deadline, ok := ctx.Deadline(); ok {
			in.graph.Drain(time.Until(deadline))
		}
		in.graph.Close()
		in.graph = nil
	}
	if in.certs != nil {
		in.certs.Close()
	}
	if f := in.fleet.Load(); f != nil {
		f.Close()
	}
}

// reliefBatch is how many idle connections one relief closes (nginx
// drains 32 reusable connections at a time).
const reliefBatch = 32

// snapshotListeners publishes the listeners for relieve; the caller
// holds mu.
func (in *Instance) snapshotListeners() {
	ls := make([]*listener, 0, len(in.listeners))
	for _, l := range in.listeners {
		ls = append(ls, l)
	}
	in.open.Store(&ls)
}

// relieve makes room when accepting fails for want of file descriptors:
// it closes up to reliefBatch idle keep-alive connections (HTTP/1.1 and
// HTTP/2, of any listener, the longest idle first), as nginx does, so that
// new clients are answered, and their requests' upstream connections
// find a descriptor. It reports whether it closed any.
func (in *Instance) relieve() bool {
	ls := in.open.Load()
	if ls == nil {
		return false
	}
	closed := 0
	for _, l := range *ls {
		if closed < reliefBatch {
			closed += l.srv.CloseIdle(reliefBatch - closed)
		}
		if closed < reliefBatch {
			closed += l.h2.CloseIdle(reliefBatch - closed)
		}
	}
	if now := time.Now().Unix(); closed > 0 && in.reliefLog.Swap(now) != now {
		in.log.Warn("out of file descriptors: closed idle connections to accept new ones (raise the open files limit)", "closed", closed)
	}
	return closed > 0
}
