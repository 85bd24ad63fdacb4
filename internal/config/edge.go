package config

import (
	"fmt"
	"regexp"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
	"github.com/gatehouse/gatehouse/internal/placeholder"
	"github.com/gatehouse/gatehouse/internal/tmpl"
)

// validateRouteOutput checks a route's rewrites, redirect template,
// expires, header rules and compression.
func validateRouteOutput(r *Route, at keyPath, report func(keyPath, string)) {
	for i, rw := range r.Rewrite {
		rat := at.key("rewrite").idx(i)
		re, err := regexp.Compile(rw.From)
		if err != nil {
			report(rat.key("from"), fmt.Sprintf("invalid regex: %v", err))
			continue
		}
		t, err := tmpl.Parse(rw.To)
		switch {
		case err != nil:
			report(rat.key("to"), err.Error())
		case rw.To == "":
			report(rat.key("to"), "missing replacement path")
		case t.MaxGroup() > re.NumSubexp():
			report(rat.key("to"), fmt.Sprintf("refers to group %d, but from has %d", t.MaxGroup(), re.NumSubexp()))
		}
	}
	if rd := r.Redirect; rd != nil && rd.To != "" {
		t, err := placeholder.ParseTemplate(rd.To)
		rd.Target = t
		groups := 0
		if strings.HasPrefix(r.Path, "~") {
			if re, reErr := regexp.Compile(strings.TrimSpace(strings.TrimLeft(r.Path, "~*"))); reErr == nil {
				groups = re.NumSubexp()
			}
		}
		switch {
		case err != nil:
			report(at.key("redirect").key("to"), err.Error())
		case t.MaxGroup() > groups && groups == 0:
			report(at.key("redirect").key("to"), fmt.Sprintf("refers to $%d, but the route's path is not a regex with groups (write $$ for a dollar sign)", t.MaxGroup()))
		case t.MaxGroup() > groups:
			report(at.key("redirect").key("to"), fmt.Sprintf("refers to group %d, but the route's regex has %d", t.MaxGroup(), groups))
		}
	}
	if r.Expires != "" && r.Expires != "off" {
		if d, err := ParseDuration(r.Expires); err != nil || d < 0 {
			report(at.key("expires"), fmt.Sprintf("want a duration such as 30d or 1h, or off; got %q", r.Expires))
		}
	}
	validateHeaderRules(r.Headers, at.key("headers"), report)
	validateHeaderRules(r.RequestHeaders, at.key("request_headers"), report)
	validateCompress(r.Compress, at.key("compress"), report)
}

// validateHeaderRules checks header names and the placeholders of values.
func validateHeaderRules(h *HeaderRules, at keyPath, report func(keyPath, string)) {
	if h == nil {
		return
	}
	for _, kind := range []struct {
		name string
		m    map[string]string
	}{{"set", h.Set}, {"add", h.Add}} {
		names := make([]string, 0, len(kind.m))
		for n := range kind.m {
			names = append(names, n)
		}
		sort.Strings(names)
		for _, n := range names {
			if !httpsyntax.IsToken(n) {
				report(at.key(kind.name).key(n), fmt.Sprintf("%q is not a valid header name", n))
				continue
			}
			if _, err := placeholder.Parse(kind.m[n]); err != nil {
				report(at.key(kind.name).key(n), err.Error())
			}
		}
	}
	for i, n := range h.Remove {
		if !httpsyntax.IsToken(n) {
			report(at.key("remove").idx(i), fmt.Sprintf("%q is not a valid header name", n))
		}
	}
}

// compressEncodings are the encodings compress: may list.
var compressEncodings = []string{"zstd", "br", "gzip"}

func validateCompress(list []string, at keyPath, report func(keyPath, string)) {
	seen := map[string]bool{}
	for i, e := range list {
		oneOf(report, at.idx(i), e, compressEncodings...)
		if seen[e] {
			report(at.idx(i), fmt.Sprintf("%s is listed twice", e))
		}
		seen[e] = true
	}
}
