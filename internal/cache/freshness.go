package cache

import (
	"net/http"
	"strings"
	"time"
)

// Meta is what is stored of a response besides its body.
type Meta struct {
	// URL is scheme://host/path?query of the request (for purges);
	// Primary the cache key, Variant the key of this variant (Primary
	// plus the request's values of the fields Vary names).
	URL, Primary, Variant string
	Status                int
	Header                http.Header
	// RequestTime and ResponseTime bracket the exchange that brought the
	// response (RFC 9111 section 4.2.3).
	RequestTime, ResponseTime time.Time
	// Size is the body's length.
	Size int64
	// Vary are the request fields the response varies on (canonical
	// names) and their normalised values when it was stored.
	Vary, VaryValues []string
	// TTL is the rule's lifetime for the status, used when the response
	// has no freshness of its own; SWR and SIE are the rule's defaults of
	// stale-while-revalidate and stale-if-error.
	TTL, SWR, SIE time.Duration
}

// heuristicStatuses are cacheable by default (RFC 9110 section 15.1).
func heuristicStatus(code int) bool {
	switch code {
	case 200, 203, 204, 206, 300, 301, 308, 404, 405, 410, 414, 501:
		return true
	}
	return false
}

// understoodStatus reports whether a cache knows the status's semantics
// (for must-understand).
func understoodStatus(code int) bool {
	switch code {
	case 200, 203, 204, 206, 300, 301, 302, 303, 304, 307, 308, 400, 401, 403, 404, 405, 406, 408, 409, 410,
		411, 412, 413, 414, 415, 416, 417, 421, 422, 426, 428, 429, 431, 451, 500, 501, 502, 503, 504, 505:
		return true
	}
	return false
}

// httpDate parses an HTTP date; ok is false for none or an invalid one.
func httpDate(h http.Header, name string) (time.Time, bool) {
	v := h[name]
	if len(v) != 1 {
		return time.Time{}, false
	}
	t, err := http.ParseTime(v[0])
	return t, err == nil
}

// dateValue is the response's Date, or the time it arrived when it has
// no valid one.
func (m *Meta) dateValue() time.Time {
	if t, ok := httpDate(m.Header, "Date"); ok {
		return t
	}
	return m.ResponseTime
}

// ageValue is the response's Age: one value of digits only; anything else
// is invalid (the response is then treated as stale).
func ageValue(h http.Header) (time.Duration, bool) {
	v := h["Age"]
	switch len(v) {
	case 0:
		return 0, true
	case 1:
		s := strings.TrimSpace(v[0])
		if !isDigits(s) {
			return 0, false
		}
		n := seconds(s, false, true, nil)
		return time.Duration(n) * time.Second, true
	}
	return 0, false
}

// CurrentAge is the response's age at now (RFC 9111 section 4.2.3); ok is
// false when its Age field is invalid.
func (m *Meta) CurrentAge(now time.Time) (time.Duration, bool) {
	initial, ok := m.initialAge()
	return initial + now.Sub(m.ResponseTime), ok
}

// initialAge is the response's corrected initial age: its age when it
// arrived, from Age, Date and the time the exchange took.
func (m *Meta) initialAge() (time.Duration, bool) {
	age, ok := ageValue(m.Header)
	if !ok {
		return 0, false
	}
	apparent := max(0, m.ResponseTime.Sub(m.dateValue()))
	delay := m.ResponseTime.Sub(m.RequestTime)
	return max(apparent, age+delay), true
}

// Lifetime is the response's freshness lifetime for a shared cache:
// s-maxage, max-age, Expires minus Date, the rule's TTL, or heuristic
// freshness (a tenth of the time since Last-Modified, at most a day) for
// statuses cacheable by default. Zero means stale at once.
func (m *Meta) Lifetime(cc *Directives) time.Duration {
	if cc.Invalid {
		return 0
	}
	if cc.SMaxAge >= 0 {
		return time.Duration(cc.SMaxAge) * time.Second
	}
	if cc.MaxAge >= 0 {
		return time.Duration(cc.MaxAge) * time.Second
	}
	if v, present := m.Header["Expires"]; present {
		exp, ok := httpDate(m.Header, "Expires")
		if !ok || len(v) != 1 {
			return 0 // an invalid Expires means already expired
		}
		return max(0, exp.Sub(m.dateValue()))
	}
	if m.TTL > 0 {
		return m.TTL
	}
	if lm, ok := httpDate(m.Header, "Last-Modified"); ok && (heuristicStatus(m.Status) || cc.Public) {
		if d := m.dateValue().Sub(lm); d > 0 {
			return min(d/10, 24*time.Hour)
		}
	}
	return 0
}

// explicitFreshness reports whether the response says how long it is
// fresh (s-maxage, max-age, Expires).
func explicitFreshness(h http.Header, cc *Directives) bool {
	_, expires := h["Expires"]
	return cc.SMaxAge >= 0 || cc.MaxAge >= 0 || expires
}

// Freshness is how a stored response stands at one moment.
type Freshness struct {
	Age, Lifetime time.Duration
	// AgeInvalid: the Age field could not be read; the response is stale.
	AgeInvalid bool
	CC         Directives
}

// Fresh reports whether the response is fresh.
func (f *Freshness) Fresh() bool { return !f.AgeInvalid && f.Age < f.Lifetime }

// Staleness is how long the response has been stale (0 when fresh).
func (f *Freshness) Staleness() time.Duration {
	if f.AgeInvalid {
		return 1 << 62
	}
	return max(0, f.Age-f.Lifetime)
}

// mayServeStale reports whether the response's directives let a shared
// cache serve it stale at all (must-revalidate, proxy-revalidate,
// s-maxage and no-cache forbid it).
func (f *Freshness) mayServeStale() bool {
	cc := &f.CC
	return !cc.MustRevalidate && !cc.ProxyRevalidate && cc.SMaxAge < 0 && !cc.NoCache
}

// staleWindow returns a stale-while-revalidate or stale-if-error window:
// the response's own directive when it has one, else the rule's default.
func staleWindow(directive int64, def time.Duration) time.Duration {
	if directive >= 0 {
		return time.Duration(directive) * time.Second
	}
	return def
}
