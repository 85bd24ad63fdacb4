package site

import (
	"fmt"
	"log/slog"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/pool"
	"github.com/gatehouse/gatehouse/internal/proxy"
)

// graphPool is a pool of the graph and its config.
type graphPool struct {
	pool *pool.Pool
	cfg  config.Upstream
}

// buildPools creates the named pools of cfg.
func (g *Graph) buildPools(cfg *config.Config, log *slog.Logger) error {
	names := make([]string, 0, len(cfg.Upstreams))
	for name := range cfg.Upstreams {
		names = append(names, name)
	}
	sort.Strings(names)
	g.named = map[string]*graphPool{}
	for _, name := range names {
		gp, err := g.addPool(name, cfg.Upstreams[name], log)
		if err != nil {
			return fmt.Errorf("upstreams.%s: %w", name, err)
		}
		g.named[name] = gp
	}
	return nil
}

// poolFor returns the pool a proxy route sends to: a named pool, or a pool
// of its own for a list of URLs (with the defaults of a named one).
func (g *Graph) poolFor(cfg *config.Config, p *config.Proxy, log *slog.Logger) (*graphPool, error) {
	if len(p.To) == 1 {
		if gp, ok := g.named[p.To[0]]; ok {
			return gp, nil
		}
	}
	u := config.Upstream{Servers: p.Servers}
	config.UpstreamDefaults(cfg.Dir, &u)
	return g.addPool(strings.Join(p.To, ","), u, log)
}

func (g *Graph) addPool(name string, u config.Upstream, log *slog.Logger) (*graphPool, error) {
	p, err := pool.New(name, u, log)
	if err != nil {
		return nil, err
	}
	for _, s := range p.Servers() {
		s.Stats = g.metrics.Server(name, s.Endpoint)
	}
	gp := &graphPool{pool: p, cfg: u}
	g.pools = append(g.pools, gp)
	g.closers = append(g.closers, p)
	return gp, nil
}

// InheritHealth carries the health of old's pools over to the pools of
// the same name in g (see pool.Pool.InheritHealth). Called on a reload,
// before g serves.
func (g *Graph) InheritHealth(old *Graph) {
	if old == nil {
		return
	}
	byName := make(map[string]*graphPool, len(old.pools))
	for _, gp := range old.pools {
		byName[gp.pool.Name()] = gp
	}
	for _, gp := range g.pools {
		if o, ok := byName[gp.pool.Name()]; ok {
			gp.pool.InheritHealth(o.pool)
		}
	}
}

// startPools begins the pools' health checks and DNS re-resolution.
func (g *Graph) startPools() {
	for _, gp := range g.pools {
		checker, err := proxy.NewChecker(gp.cfg, gp.pool.Servers()[0].URL.Scheme, g.log)
		if err != nil {
			g.log.Error("health checks not started", "pool", gp.pool.Name(), "error", err)
			continue
		}
		gp.pool.Start(checker)
	}
}

// PoolStatus reports the state of every pool of the graph.
func (g *Graph) PoolStatus() []pool.Status {
	out := make([]pool.Status, 0, len(g.pools))
	for _, gp := range g.pools {
		out = append(out, gp.pool.Status())
	}
	return out
}
