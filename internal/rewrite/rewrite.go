// Package rewrite changes request paths by regex rules (rewrite:), each
// rule in turn, before the route's handler sees the request.
package rewrite

import (
	"fmt"
	"net/http"
	"regexp"
	"strings"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/tmpl"
)

// rule is one compiled rewrite.
type rule struct {
	from *regexp.Regexp
	to   tmpl.Template
}

// Rules rewrite request paths, each rule in turn on the result of the one
// before.
type Rules struct {
	rules []rule
}

// Compile compiles rewrite rules.
func Compile(cfg []config.RewriteRule) (*Rules, error) {
	rs := &Rules{}
	for i, c := range cfg {
		re, err := regexp.Compile(c.From)
		if err != nil {
			return nil, fmt.Errorf("rewrite[%d].from: %w", i, err)
		}
		t, err := tmpl.Parse(c.To)
		if err != nil {
			return nil, fmt.Errorf("rewrite[%d].to: %w", i, err)
		}
		if t.MaxGroup() > re.NumSubexp() {
			return nil, fmt.Errorf("rewrite[%d].to: refers to group %d but from has %d", i, t.MaxGroup(), re.NumSubexp())
		}
		rs.rules = append(rs.rules, rule{from: re, to: t})
	}
	return rs, nil
}

// Apply rewrites path. A result holding "?" sets the query: its own
// arguments followed by the request's (query), as nginx does; a result
// ending in "?" drops the request's arguments. changed is false when no
// rule matched.
func (rs *Rules) Apply(path, query string) (newPath, newQuery string, changed bool) {
	newPath, newQuery = path, query
	for _, r := range rs.rules {
		m := r.from.FindStringSubmatch(newPath)
		if m == nil {
			continue
		}
		changed = true
		out := r.to.Expand(m)
		if p, q, ok := strings.Cut(out, "?"); ok {
			switch {
			case q == "":
				newQuery = ""
			case query != "":
				newQuery = q + "&" + query
			default:
				newQuery = q
			}
			out = p
		}
		if !strings.HasPrefix(out, "/") {
			out = "/" + out
		}
		newPath = out
	}
	return newPath, newQuery, changed
}

// Handler applies rules before next: next sees the rewritten path and
// query, and a proxy sends them upstream.
func Handler(rs *Rules, next http.Handler) http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p, q, changed := rs.Apply(r.URL.Path, r.URL.RawQuery)
		if changed {
			u := *r.URL
			u.Path, u.RawPath, u.RawQuery = p, "", q
			r2 := *r
			r2.URL = &u
			r = &r2
		}
		next.ServeHTTP(w, r)
	})
}
