package config

import (
	"fmt"
	"regexp"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/placeholder"
	"github.com/goccy/go-yaml"
	"github.com/goccy/go-yaml/ast"
)

// RateLimit is one request rate limit of a site or route.
type RateLimit struct {
	// Name names the limit in the RateLimit headers (default "default",
	// or rN for the N-th of a list).
	Name string `yaml:"name"`
	// Key is what is counted, a placeholder template (default
	// "{client_ip}"); a key whose placeholders are all empty (no such
	// header, no such cookie) is not limited.
	Key string `yaml:"key"`
	// Rate is N r/s, r/m or r/h.
	Rate string `yaml:"rate"`
	// Burst is how many requests may come at once above the rate.
	Burst int `yaml:"burst"`
	// Action is reject (429 beyond the rate and burst, default) or delay
	// (requests within the burst wait their turn, like nginx's limit_req
	// without nodelay; beyond it, 429).
	Action string `yaml:"action"`
	// Status is the refusal's status (default 429; nginx's limit_req
	// answers 503 unless told otherwise).
	Status int `yaml:"status"`
	// Shared counts the limit across the fleet in the store (store:
	// must be set): N r/s means N r/s for all instances together.
	Shared bool `yaml:"shared"`

	// Parsed by validation.
	KeyTemplate placeholder.Value `yaml:"-"`
	// Count requests per Window (the rate as written); Interval is the
	// time between requests, Window/Count.
	Count    int           `yaml:"-"`
	Window   time.Duration `yaml:"-"`
	Interval time.Duration `yaml:"-"`
	Delay    bool          `yaml:"-"`
}

// RateLimits is a site's or route's rate limits: one mapping, a list (all
// must pass), or off (empty: a route without its site's limits).
type RateLimits []RateLimit

// UnmarshalYAML accepts a mapping, a sequence of them, or off.
func (rl *RateLimits) UnmarshalYAML(node ast.Node) error {
	if isScalar(node) {
		if v := strings.ToLower(scalarString(node)); v == "off" || v == "false" {
			*rl = RateLimits{}
			return nil
		}
		return &nodeError{node, fmt.Sprintf("want a mapping {key, rate, burst}, a list of them, or off, got %q", scalarString(node))}
	}
	if _, ok := node.(*ast.SequenceNode); ok {
		var list []RateLimit
		if err := yaml.NodeToValue(node, &list); err != nil {
			return err
		}
		*rl = list
		return nil
	}
	var one RateLimit
	if err := yaml.NodeToValue(node, &one); err != nil {
		return err
	}
	*rl = RateLimits{one}
	return nil
}

// EffectiveRateLimits is a route's rate limits and whether they are its
// own (else its site's, counted across the site's routes).
func EffectiveRateLimits(s *Site, r *Route) (rules []RateLimit, own bool) {
	if r.RateLimit != nil {
		return *r.RateLimit, true
	}
	if s.RateLimit != nil {
		return *s.RateLimit, false
	}
	return nil, false
}

var ratePattern = regexp.MustCompile(`^\s*(\d+)\s*r/(s|m|h)\s*$`)

// validateRateLimits checks and parses rate limits.
func validateRateLimits(rl *RateLimits, at keyPath, report func(keyPath, string)) {
	if rl == nil {
		return
	}
	rules := *rl
	names := map[string]bool{}
	for i := range rules {
		r := &rules[i]
		rat := at
		if len(rules) > 1 {
			rat = at.idx(i)
		}
		if r.Name == "" {
			r.Name = "default"
			if len(rules) > 1 {
				r.Name = "r" + strconv.Itoa(i+1)
			}
		}
		if names[r.Name] {
			report(rat.key("name"), fmt.Sprintf("two limits named %q", r.Name))
		}
		names[r.Name] = true
		if !validToken(r.Name) {
			report(rat.key("name"), fmt.Sprintf("%q: want letters, digits, '-' or '_'", r.Name))
		}
		if r.Key == "" {
			r.Key = "{client_ip}"
		}
		kt, err := placeholder.Parse(r.Key)
		if err != nil {
			report(rat.key("key"), err.Error())
		}
		r.KeyTemplate = kt
		m := ratePattern.FindStringSubmatch(r.Rate)
		n := 0
		if m != nil {
			n, _ = strconv.Atoi(m[1])
		}
		if m == nil || n < 1 {
			report(rat.key("rate"), fmt.Sprintf("want N r/s, r/m or r/h with N at least 1, got %q", r.Rate))
		} else {
			r.Count, r.Window = n, map[string]time.Duration{"s": time.Second, "m": time.Minute, "h": time.Hour}[m[2]]
			r.Interval = r.Window / time.Duration(n)
		}
		if r.Burst < 0 {
			report(rat.key("burst"), "must not be negative")
		}
		switch {
		case r.Status == 0:
			r.Status = 429
		case r.Status < 400 || r.Status > 599:
			report(rat.key("status"), fmt.Sprintf("want a 4xx or 5xx status, got %d", r.Status))
		}
		switch r.Action {
		case "", "reject":
		case "delay":
			r.Delay = true
		default:
			report(rat.key("action"), fmt.Sprintf("want reject or delay, got %q", r.Action))
		}
	}
}

func validToken(s string) bool {
	for _, c := range s {
		if !(c >= 'a' && c <= 'z' || c >= 'A' && c <= 'Z' || c >= '0' && c <= '9' || c == '-' || c == '_') {
			return false
		}
	}
	return s != ""
}
