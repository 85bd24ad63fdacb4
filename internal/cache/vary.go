package cache

import (
	"net/http"
	"sort"
	"strings"

	"github.com/gatehouse/gatehouse/internal/compress"
)

// parseVary returns the request fields a response varies on (canonical
// names, sorted, without duplicates), and star when it varies on
// everything ("*" anywhere in the list), which no stored copy can serve.
func parseVary(h http.Header) (names []string, star bool) {
	for _, v := range h["Vary"] {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			switch {
			case f == "":
			case f == "*":
				star = true
			default:
				names = append(names, http.CanonicalHeaderKey(f))
			}
		}
	}
	sort.Strings(names)
	return dedupe(names), star
}

func dedupe(s []string) []string {
	out := s[:0]
	for i, v := range s {
		if i == 0 || v != s[i-1] {
			out = append(out, v)
		}
	}
	return out
}

// varyValues returns the request's values of the named fields, each
// normalised: lines joined by commas, whitespace around commas dropped;
// Accept-Encoding as its sorted set of acceptable codings. An absent field
// differs from an empty one.
func varyValues(names []string, h http.Header) []string {
	if len(names) == 0 {
		return nil
	}
	out := make([]string, len(names))
	for i, n := range names {
		vs, ok := h[n]
		switch {
		case !ok:
			out[i] = "\x00" // absent
		case n == "Accept-Encoding":
			out[i] = normalizeEncodings(vs)
		default:
			parts := make([]string, 0, len(vs))
			for _, v := range vs {
				for _, p := range strings.Split(v, ",") {
					parts = append(parts, strings.TrimSpace(p))
				}
			}
			out[i] = strings.Join(parts, ",")
		}
	}
	return out
}

// normalizeEncodings reduces Accept-Encoding values to the sorted set of
// codings accepted (q above 0), in lower case.
func normalizeEncodings(vs []string) string {
	var codings []string
	compress.ForEachAccepted(vs, func(name string, q float64) {
		if q > 0 {
			codings = append(codings, name)
		}
	})
	sort.Strings(codings)
	return strings.Join(dedupe(codings), ",")
}
