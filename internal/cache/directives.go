package cache

import (
	"strconv"
	"strings"
)

// Directives are the Cache-Control directives a shared cache acts on
// (RFC 9111 section 5.2), of a request or a response. Durations are in
// seconds; -1 means absent. When a directive appears more than once, the
// first occurrence counts; a malformed value makes the directive invalid,
// which for the freshness directives means the response is stale.
type Directives struct {
	NoStore, NoCache, Private, Public      bool
	MustRevalidate, ProxyRevalidate        bool
	Immutable, MustUnderstand, OnlyIfCache bool
	NoTransform                            bool
	MaxAge, SMaxAge, MinFresh              int64
	// MaxStale is -1 when absent, maxStaleAny for "max-stale" without a
	// value.
	MaxStale                           int64
	StaleWhileRevalidate, StaleIfError int64
	// Invalid is set when a freshness directive (max-age, s-maxage) was
	// malformed.
	Invalid bool
}

// maxStaleAny is max-stale without a value: any staleness is accepted.
const maxStaleAny = int64(1) << 62

// ParseDirectives reads Cache-Control field values. Directive names are
// case-insensitive; values are tokens or quoted strings (whose content
// never counts as directives).
func ParseDirectives(values []string) Directives {
	d := Directives{MaxAge: -1, SMaxAge: -1, MinFresh: -1, MaxStale: -1, StaleWhileRevalidate: -1, StaleIfError: -1}
	var seen uint32
	for _, v := range values {
		forEachDirective(v, func(name, value string, quoted, hasValue bool) {
			name = strings.ToLower(name)
			bit := directiveBit(name)
			if bit == 0 || seen&bit != 0 {
				return
			}
			seen |= bit
			switch name {
			case "no-store":
				d.NoStore = true
			case "no-cache":
				// With field names it still asks for validation.
				d.NoCache = true
			case "private":
				d.Private = true
			case "public":
				d.Public = true
			case "must-revalidate":
				d.MustRevalidate = true
			case "proxy-revalidate":
				d.ProxyRevalidate = true
			case "immutable":
				d.Immutable = true
			case "must-understand":
				d.MustUnderstand = true
			case "only-if-cached":
				d.OnlyIfCache = true
			case "no-transform":
				d.NoTransform = true
			case "max-age":
				d.MaxAge = seconds(value, quoted, hasValue, &d.Invalid)
			case "s-maxage":
				d.SMaxAge = seconds(value, quoted, hasValue, &d.Invalid)
			case "min-fresh":
				d.MinFresh = seconds(value, quoted, hasValue, nil)
			case "max-stale":
				if !hasValue {
					d.MaxStale = maxStaleAny
				} else {
					d.MaxStale = seconds(value, quoted, hasValue, nil)
				}
			case "stale-while-revalidate":
				d.StaleWhileRevalidate = seconds(value, quoted, hasValue, nil)
			case "stale-if-error":
				d.StaleIfError = seconds(value, quoted, hasValue, nil)
			}
		})
	}
	return d
}

// directiveNames are the directives acted on, in the order of their bits.
var directiveNames = [...]string{"no-store", "no-cache", "private", "public", "must-revalidate", "proxy-revalidate",
	"immutable", "must-understand", "only-if-cached", "no-transform", "max-age", "s-maxage", "min-fresh",
	"max-stale", "stale-while-revalidate", "stale-if-error"}

// directiveBit is the bit of a known directive name, 0 for others.
func directiveBit(name string) uint32 {
	for i, n := range directiveNames {
		if n == name {
			return 1 << i
		}
	}
	return 0
}

// seconds parses a delta-seconds value: digits only (a quoted value is
// read as its content, as RFC 9111 asks recipients to). A malformed one
// is -1 and, when invalid is given, marks the directives invalid. Values
// beyond 2^31 are 2^31 (RFC 9111 section 1.2.2).
func seconds(v string, quoted, hasValue bool, invalid *bool) int64 {
	_ = quoted
	if !hasValue || v == "" || !isDigits(v) {
		if invalid != nil {
			*invalid = true
		}
		return -1
	}
	n, err := strconv.ParseInt(v, 10, 64)
	if err != nil || n > 1<<31 {
		return 1 << 31
	}
	return n
}

func isDigits(s string) bool {
	for i := 0; i < len(s); i++ {
		if s[i] < '0' || s[i] > '9' {
			return false
		}
	}
	return s != ""
}

// forEachDirective splits one Cache-Control value into directives:
// name, name=token or name="quoted string". Commas inside quoted strings
// do not separate directives; whitespace around names and values is
// dropped. A directive whose syntax is broken (a space before or after
// "=", say) is passed with its name only as it stands, so it matches no
// known directive.
func forEachDirective(v string, f func(name, value string, quoted, hasValue bool)) {
	i := 0
	for i < len(v) {
		for i < len(v) && (v[i] == ' ' || v[i] == '\t' || v[i] == ',') {
			i++
		}
		start := i
		for i < len(v) && v[i] != ',' && v[i] != '=' && v[i] != '"' {
			i++
		}
		name := strings.TrimRight(v[start:i], " \t")
		broken := strings.ContainsAny(name, " \t")
		if i >= len(v) || v[i] == ',' {
			if name != "" && !broken {
				f(name, "", false, false)
			}
			continue
		}
		if v[i] == '"' {
			// A quote inside a name: skip the rest of the directive.
			i = skipQuoted(v, i)
			for i < len(v) && v[i] != ',' {
				i++
			}
			continue
		}
		// v[i] == '='
		if len(name) < len(v[start:i]) {
			broken = true // whitespace before '='
		}
		i++
		if i < len(v) && (v[i] == ' ' || v[i] == '\t') {
			broken = true // whitespace after '='
		}
		var value string
		quoted := false
		if i < len(v) && v[i] == '"' {
			end := skipQuoted(v, i)
			value = unquote(v[i:end])
			quoted = true
			i = end
		} else {
			vs := i
			for i < len(v) && v[i] != ',' {
				i++
			}
			value = strings.TrimRight(v[vs:i], " \t")
		}
		for i < len(v) && v[i] != ',' {
			if v[i] != ' ' && v[i] != '\t' {
				broken = true
			}
			i++
		}
		if name != "" && !broken {
			f(name, value, quoted, true)
		}
	}
}

// skipQuoted returns the index after the quoted string that starts at
// v[i] (or len(v) when it does not end).
func skipQuoted(v string, i int) int {
	for j := i + 1; j < len(v); j++ {
		switch v[j] {
		case '\\':
			j++
		case '"':
			return j + 1
		}
	}
	return len(v)
}

// unquote returns the content of a quoted string, backslash escapes
// resolved.
func unquote(q string) string {
	q = strings.TrimPrefix(q, `"`)
	q = strings.TrimSuffix(q, `"`)
	if !strings.Contains(q, `\`) {
		return q
	}
	var b strings.Builder
	for i := 0; i < len(q); i++ {
		if q[i] == '\\' && i+1 < len(q) {
			i++
		}
		b.WriteByte(q[i])
	}
	return b.String()
}
