// Package compress encodes responses on the fly (zstd, brotli, gzip):
// negotiation by Accept-Encoding with q-values, a list of compressible
// types and a minimum size, streaming through pooled encoders so a large
// body is never held whole, and the header changes that go with it (Vary,
// no Content-Length, weak ETags).
package compress

import (
	"net/http"
	"strconv"
	"strings"
)

// Encodings Gatehouse can produce, by their Content-Encoding names.
const (
	Zstd   = "zstd"
	Brotli = "br"
	Gzip   = "gzip"
)

// Known reports whether name is an encoding Gatehouse can produce.
func Known(name string) bool { return name == Zstd || name == Brotli || name == Gzip }

// Negotiate picks, from offered (the server's order of preference), the
// encoding acceptEncoding gives the highest q-value; ties go to the
// server's order. "" means send the response unencoded.
func Negotiate(acceptEncoding []string, offered []string) string {
	if len(acceptEncoding) == 0 || len(offered) == 0 {
		return ""
	}
	best, bestQ := "", 0.0
	star := -1.0
	q := map[string]float64{}
	ForEachAccepted(acceptEncoding, func(name string, v float64) {
		if name == "*" {
			star = v
			return
		}
		if prev, ok := q[name]; !ok || v > prev {
			q[name] = v
		}
	})
	for _, enc := range offered {
		v, ok := q[enc]
		if !ok {
			if star < 0 {
				continue
			}
			v = star
		}
		if v > bestQ {
			best, bestQ = enc, v
		}
	}
	return best
}

// ForEachAccepted calls f for each coding an Accept-Encoding field lists
// (its lines and comma-separated items), with its name in lower case and
// its q-value (1 when absent, 0 when malformed or out of range).
func ForEachAccepted(acceptEncoding []string, f func(name string, q float64)) {
	for _, line := range acceptEncoding {
		for _, item := range strings.Split(line, ",") {
			name, params, _ := strings.Cut(strings.TrimSpace(item), ";")
			name = strings.ToLower(strings.TrimSpace(name))
			if name == "" {
				continue
			}
			v := 1.0
			for _, p := range strings.Split(params, ";") {
				k, val, ok := strings.Cut(strings.TrimSpace(p), "=")
				if ok && strings.EqualFold(strings.TrimSpace(k), "q") {
					f, err := strconv.ParseFloat(strings.TrimSpace(val), 64)
					if err != nil || f < 0 || f > 1 {
						f = 0
					}
					v = f
				}
			}
			f(name, v)
		}
	}
}

// minSize is the smallest body (by Content-Length) worth compressing.
const minSize = 1024

// compressibleTypes are the media types compressed (besides text/*).
var compressibleTypes = map[string]bool{
	"application/json": true, "application/javascript": true, "application/ecmascript": true,
	"application/xml": true, "application/xhtml+xml": true, "application/rss+xml": true,
	"application/atom+xml": true, "application/ld+json": true, "application/manifest+json": true,
	"application/wasm": true, "application/x-javascript": true, "application/graphql-response+json": true,
	"image/svg+xml": true, "image/x-icon": true, "image/vnd.microsoft.icon": true, "image/bmp": true,
	"font/ttf": true, "font/otf": true, "application/vnd.ms-fontobject": true,
}

// Eligible reports whether a response with this status and header may be
// compressed: a success with a body, not already encoded, of a
// compressible type, not too small, not marked no-transform, not a
// stream of events (which must reach the client as produced).
func Eligible(method string, status int, h http.Header) bool {
	if method == http.MethodHead || status < 200 || status == http.StatusNoContent ||
		status == http.StatusPartialContent || status == http.StatusNotModified || status >= 300 && status < 400 {
		return false
	}
	if len(h["Content-Encoding"]) > 0 || len(h["Content-Range"]) > 0 {
		return false
	}
	for _, cc := range h["Cache-Control"] {
		if strings.Contains(strings.ToLower(cc), "no-transform") {
			return false
		}
	}
	if cl := h["Content-Length"]; len(cl) > 0 {
		if n, err := strconv.ParseInt(cl[0], 10, 64); err == nil && n < minSize {
			return false
		}
	}
	ct := ""
	if v := h["Content-Type"]; len(v) > 0 {
		ct = v[0]
	}
	mt, _, _ := strings.Cut(ct, ";")
	mt = strings.ToLower(strings.TrimSpace(mt))
	switch {
	case mt == "text/event-stream":
		return false
	case strings.HasPrefix(mt, "text/"):
		return true
	case strings.HasSuffix(mt, "+json"), strings.HasSuffix(mt, "+xml"):
		return true
	}
	return compressibleTypes[mt]
}
