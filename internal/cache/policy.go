package cache

import (
	"net/http"
	"strings"
	"time"
)

// storable decides whether a response may be stored (RFC 9111 section 3,
// as a shared cache) and, when it may, returns its metadata. Beyond the
// RFC: a response with Set-Cookie is never stored, nor one the cache
// could do nothing with (stale at once, without validators or a
// stale-if-error allowance).
func (h *Handler) storable(code int, hdr http.Header, rc *recorder) *Meta {
	req := rc.req
	if rc.up.Method != http.MethodGet || req.cc.NoStore || code == http.StatusNotModified ||
		code == http.StatusPartialContent || rc.up.Header["Range"] != nil {
		return nil
	}
	if hdr["Set-Cookie"] != nil || hdr["Trailer"] != nil {
		return nil
	}
	cc := ParseDirectives(hdr["Cache-Control"])
	switch {
	case cc.MustUnderstand:
		if !understoodStatus(code) {
			return nil
		}
	case cc.NoStore:
		return nil
	}
	if cc.Private {
		return nil
	}
	if req.authorized && !cc.Public && !cc.MustRevalidate && cc.SMaxAge < 0 {
		return nil
	}
	vary, star := parseVary(hdr)
	if star {
		return nil
	}
	ttl := h.ttl[code]
	if !explicitFreshness(hdr, &cc) && !cc.Public && !heuristicStatus(code) && ttl <= 0 {
		return nil
	}
	now := time.Now()
	m := &Meta{
		URL: req.url, Primary: req.primary, Status: code, Header: storedHeader(hdr),
		RequestTime: rc.requestTime, ResponseTime: now,
		Vary: vary, VaryValues: varyValues(vary, rc.client.Header),
		TTL: ttl, SWR: h.swr, SIE: h.sie,
	}
	m.Variant = variantKey(m.Primary, m.VaryValues)
	_, etag := m.Header["Etag"]
	_, lm := m.Header["Last-Modified"]
	if m.Lifetime(&cc) <= 0 && !etag && !lm && staleWindow(cc.StaleIfError, h.sie) <= 0 {
		return nil
	}
	return m
}

// variantKey is the key of one variant: the cache key and the request's
// values of the fields the response varies on.
func variantKey(primary string, values []string) string {
	if len(values) == 0 {
		return primary
	}
	return primary + "\x00" + strings.Join(values, "\x00")
}

// storedHeader copies the fields of a response that are stored: not the
// cache's own Cache-Status.
func storedHeader(hdr http.Header) http.Header {
	out := make(http.Header, len(hdr))
	for k, vs := range hdr {
		if k == "Cache-Status" {
			continue
		}
		out[k] = append([]string(nil), vs...)
	}
	return out
}

// notUpdated are the stored fields a 304 does not change (RFC 9111
// section 3.2): those describing the stored content, which the 304 has
// none of.
func notUpdated(name string) bool {
	switch name {
	case "Content-Length", "Content-Encoding", "Content-Range", "Content-Md5", "Transfer-Encoding", "Etag",
		"Cache-Status", "Set-Cookie", "Trailer":
		return true
	}
	return false
}

// freshen returns the entry e becomes after a 304 with fields hdr
// validated it (RFC 9111 section 4.3.4), and stores it in e's place.
func (h *Handler) freshen(e *Entry, hdr http.Header, requestTime, now time.Time) *Entry {
	n := &Entry{Meta: e.Meta, body: e.body, file: e.file}
	n.Meta.Header = e.Meta.Header.Clone()
	if _, ok := hdr["Age"]; !ok {
		delete(n.Meta.Header, "Age") // the age of the validation counts
	}
	for k, vs := range hdr {
		if notUpdated(k) {
			continue
		}
		n.Meta.Header[k] = append([]string(nil), vs...)
	}
	n.Meta.RequestTime, n.Meta.ResponseTime = requestTime, now
	n.init()
	h.store.update(e, n)
	return n
}
