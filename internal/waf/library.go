package waf

import (
	"fmt"
	"log/slog"
	"sync"
	"time"

	coreruleset "github.com/corazawaf/coraza-coreruleset/v4"
	"github.com/corazawaf/coraza/v3"
	"github.com/corazawaf/coraza/v3/experimental"

	"github.com/gatehouse/gatehouse/internal/config"
)

// Library compiles rule sets and keeps them for the life of the process,
// so that a reload that keeps a policy keeps its compiled rules (compiling
// the CRS takes about a second) and requests in flight keep the rule set
// they started with.
type Library struct {
	log *slog.Logger

	mu   sync.Mutex
	sets map[string]coraza.WAF
}

// NewLibrary returns an empty library.
func NewLibrary(log *slog.Logger) *Library {
	return &Library{log: log, sets: map[string]coraza.WAF{}}
}

// ruleSet returns the compiled rule set of p, compiling it the first time
// it is asked for; key is what names it for Keep.
func (l *Library) ruleSet(p *config.WAFPolicy) (coraza.WAF, string, error) {
	text := directives(p)
	l.mu.Lock()
	defer l.mu.Unlock()
	if w, ok := l.sets[text]; ok {
		return w, text, nil
	}
	start := time.Now()
	w, err := coraza.NewWAF(coraza.NewWAFConfig().WithRootFS(coreruleset.FS).WithDirectives(text))
	if err != nil {
		return nil, "", fmt.Errorf("waf: %w", err)
	}
	l.log.Info("waf rule set compiled", "paranoia", p.Paranoia, "rules", rulesCount(w), "took", time.Since(start).Round(time.Millisecond))
	l.sets[text] = w
	return w, text, nil
}

// Keep drops the rule sets whose keys are not in keep (those no graph in
// service uses any more). Requests in flight on a dropped set finish on
// it: closing only releases Coraza's shared compiled-pattern cache.
func (l *Library) Keep(keep map[string]bool) {
	l.mu.Lock()
	defer l.mu.Unlock()
	for k, w := range l.sets {
		if !keep[k] {
			if c, ok := w.(experimental.WAFCloser); ok {
				_ = c.Close()
			}
			delete(l.sets, k)
		}
	}
}

func rulesCount(w coraza.WAF) int {
	if c, ok := w.(experimental.WAFWithRules); ok {
		return c.RulesCount()
	}
	return -1
}
