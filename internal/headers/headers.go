// Package headers applies the header rules of a site and its routes
// (set, add, remove, on responses and on requests towards the upstream)
// and expires. Site and route rules merge predictably: for a header name
// the route names in any rule, only the route's rules apply; the site's
// rules apply to every other name. (nginx's add_header instead drops all of
// a parent's headers as soon as a child adds one.)
package headers

import (
	"fmt"
	"net/http"
	"sort"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/placeholder"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// field is a header rule: a canonical name and a value template.
type field struct {
	name  string
	value placeholder.Value
}

// Rules are the compiled, merged rules for one direction.
type Rules struct {
	set, add []field
	remove   []string
}

// Compile merges a site's and a route's rules (either may be nil).
func Compile(site, route *config.HeaderRules) (*Rules, error) {
	routeNames := map[string]bool{}
	if route != nil {
		for n := range route.Set {
			routeNames[http.CanonicalHeaderKey(n)] = true
		}
		for n := range route.Add {
			routeNames[http.CanonicalHeaderKey(n)] = true
		}
		for _, n := range route.Remove {
			routeNames[http.CanonicalHeaderKey(n)] = true
		}
	}
	r := &Rules{}
	for _, src := range []struct {
		rules *config.HeaderRules
		skip  map[string]bool
	}{{site, routeNames}, {route, nil}} {
		if src.rules == nil {
			continue
		}
		var err error
		if r.set, err = appendFields(r.set, src.rules.Set, src.skip); err != nil {
			return nil, fmt.Errorf("set: %w", err)
		}
		if r.add, err = appendFields(r.add, src.rules.Add, src.skip); err != nil {
			return nil, fmt.Errorf("add: %w", err)
		}
		for _, n := range src.rules.Remove {
			if c := http.CanonicalHeaderKey(n); !src.skip[c] {
				r.remove = append(r.remove, c)
			}
		}
	}
	return r, nil
}

func appendFields(dst []field, m map[string]string, skip map[string]bool) ([]field, error) {
	names := make([]string, 0, len(m))
	for n := range m {
		names = append(names, n)
	}
	sort.Strings(names)
	for _, n := range names {
		c := http.CanonicalHeaderKey(n)
		if skip[c] {
			continue
		}
		v, err := placeholder.Parse(m[n])
		if err != nil {
			return nil, fmt.Errorf("%s: %w", n, err)
		}
		dst = append(dst, field{name: c, value: v})
	}
	return dst, nil
}

// Empty reports whether the rules change nothing.
func (r *Rules) Empty() bool { return r == nil || len(r.set)+len(r.add)+len(r.remove) == 0 }

// Apply changes h: removals first, then sets, then additions.
func (r *Rules) Apply(h http.Header, req *http.Request, info *reqinfo.Info) {
	if r.Empty() {
		return
	}
	for _, n := range r.remove {
		delete(h, n)
	}
	for _, f := range r.set {
		h[f.name] = []string{f.value.Render(req, info)}
	}
	for _, f := range r.add {
		h[f.name] = append(h[f.name], f.value.Render(req, info))
	}
}

// Expires is a route's expires setting.
type Expires struct {
	maxAge time.Duration
	off    bool
}

// ParseExpires parses "30d", "1h" ... or "off" ("" for none: nil).
func ParseExpires(s string) (*Expires, error) {
	switch s {
	case "":
		return nil, nil
	case "off":
		return &Expires{off: true}, nil
	}
	d, err := config.ParseDuration(s)
	if err != nil || d < 0 {
		return nil, fmt.Errorf("expires: want a duration such as 30d or 1h, or off; got %q", s)
	}
	return &Expires{maxAge: d}, nil
}

// expiresStatuses are the statuses nginx's expires applies to.
func expiresStatus(s int) bool {
	switch s {
	case 200, 201, 204, 206, 301, 302, 303, 304, 307, 308:
		return true
	}
	return false
}

// Apply sets Cache-Control and Expires on a response with status: for
// "off", it leaves the response alone.
func (e *Expires) Apply(h http.Header, status int, now time.Time) {
	if e == nil || e.off || !expiresStatus(status) {
		return
	}
	secs := int64(e.maxAge / time.Second)
	h["Cache-Control"] = []string{"max-age=" + strconv.FormatInt(secs, 10)}
	h["Expires"] = []string{now.Add(e.maxAge).UTC().Format(http.TimeFormat)}
}
