package cache

import (
	"net/http"
	"strconv"
	"strings"
	"time"
)

// A GET that misses goes to the origin without the client's own
// conditions (If-None-Match, If-Modified-Since) and range (Range,
// If-Range), so that the full response comes back to be stored, as
// nginx's proxy_cache does. A clientView then cuts what the client gets
// back to what it asked for: a 304, one range of the body, or all of it.
// Several ranges in one request get the whole body, which HTTP allows.

// narrowedFields are the request fields a miss leaves out.
var narrowedFields = [...]string{"If-None-Match", "If-Modified-Since", "Range", "If-Range"}

// widen returns the request to send the origin for a miss of r: r
// itself, or a copy without the fields a clientView answers. Requests
// with preconditions of their own (If-Match, If-Unmodified-Since) go as
// they are.
func widen(r *http.Request) *http.Request {
	if r.Method != http.MethodGet || r.Header["If-Match"] != nil || r.Header["If-Unmodified-Since"] != nil {
		return r
	}
	for _, name := range narrowedFields {
		if r.Header[name] != nil {
			up := r.Clone(r.Context())
			for _, n := range narrowedFields {
				delete(up.Header, n)
			}
			return up
		}
	}
	return r
}

// clientView is the part of a response that goes to the client.
type clientView struct {
	// none: no body goes to the client (a 304 or a 416).
	none bool
	// start and end bound the range sent (end exclusive); end < 0 means
	// the whole body. pos counts the bytes of the body seen so far.
	start, end, pos int64
}

// prepare decides, for a 200 whose fields are hdr, what the client gets
// (and edits hdr for it) and returns the status to send.
func (v *clientView) prepare(r *http.Request, hdr http.Header) int {
	v.end = -1
	if notModified(r.Header, hdr) {
		for _, name := range [...]string{"Content-Type", "Content-Length", "Content-Encoding", "Content-Range"} {
			delete(hdr, name)
		}
		v.none = true
		return http.StatusNotModified
	}
	rng := r.Header["Range"]
	if len(rng) != 1 || !ifRangeHolds(r.Header, hdr) || hdr["Content-Encoding"] != nil && hdr["Content-Range"] != nil {
		return http.StatusOK
	}
	size := contentLength(hdr)
	if size < 0 {
		return http.StatusOK
	}
	start, end, ok := parseRange(rng[0], size)
	switch {
	case !ok:
		return http.StatusOK
	case start >= end:
		hdr["Content-Range"] = []string{"bytes */" + strconv.FormatInt(size, 10)}
		hdr["Content-Length"] = []string{"0"}
		v.none = true
		return http.StatusRequestedRangeNotSatisfiable
	}
	hdr["Content-Range"] = []string{"bytes " + strconv.FormatInt(start, 10) + "-" + strconv.FormatInt(end-1, 10) + "/" + strconv.FormatInt(size, 10)}
	hdr["Content-Length"] = []string{strconv.FormatInt(end-start, 10)}
	v.start, v.end = start, end
	return http.StatusPartialContent
}

// cut returns the part of the next body bytes p that the client gets.
func (v *clientView) cut(p []byte) []byte {
	if v.none {
		return nil
	}
	if v.end < 0 {
		return p
	}
	lo := max(v.start-v.pos, 0)
	hi := min(v.end-v.pos, int64(len(p)))
	v.pos += int64(len(p))
	if lo >= hi {
		return nil
	}
	return p[lo:hi]
}

// contentLength is the response's Content-Length, -1 when it has none.
func contentLength(hdr http.Header) int64 {
	cl := hdr["Content-Length"]
	if len(cl) != 1 {
		return -1
	}
	n, err := strconv.ParseInt(cl[0], 10, 64)
	if err != nil || n < 0 {
		return -1
	}
	return n
}

// notModified evaluates If-None-Match (weak comparison), or when it is
// absent If-Modified-Since, against a response (RFC 9110 section 13.2.2).
func notModified(req, hdr http.Header) bool {
	if inm := req["If-None-Match"]; inm != nil {
		etag := hdr["Etag"]
		if len(etag) != 1 {
			return false
		}
		return etagListMatches(inm, etag[0], false)
	}
	ims, ok := httpDate(req, "If-Modified-Since")
	if !ok {
		return false
	}
	lm, ok := httpDate(hdr, "Last-Modified")
	return ok && !lm.Truncate(time.Second).After(ims)
}

// ifRangeHolds reports whether a Range applies: no If-Range, or one that
// matches the response (a strong ETag, or exactly its Last-Modified).
func ifRangeHolds(req, hdr http.Header) bool {
	ir := req["If-Range"]
	if ir == nil {
		return true
	}
	if len(ir) != 1 {
		return false
	}
	v := strings.TrimSpace(ir[0])
	if strings.HasPrefix(v, `"`) || strings.HasPrefix(v, "W/") {
		etag := hdr["Etag"]
		return len(etag) == 1 && etagListMatches([]string{v}, etag[0], true)
	}
	lm := hdr["Last-Modified"]
	return len(lm) == 1 && lm[0] == v
}

// etagListMatches reports whether an entity tag list (or "*") names etag,
// comparing strongly (both strong and equal) or weakly (equal opaque
// tags).
func etagListMatches(list []string, etag string, strong bool) bool {
	if strong && strings.HasPrefix(etag, "W/") {
		return false
	}
	opaque := strings.TrimPrefix(etag, "W/")
	for _, line := range list {
		for _, t := range strings.Split(line, ",") {
			t = strings.TrimSpace(t)
			if t == "*" {
				return true
			}
			if strong && strings.HasPrefix(t, "W/") {
				continue
			}
			if strings.TrimPrefix(t, "W/") == opaque {
				return true
			}
		}
	}
	return false
}

// parseRange reads a single byte range ("bytes=a-b", "bytes=a-",
// "bytes=-n") of a body of size bytes. ok is false when the field is not
// one range of bytes (then it is ignored); start >= end means the range
// is not satisfiable.
func parseRange(v string, size int64) (start, end int64, ok bool) {
	spec, found := strings.CutPrefix(strings.TrimSpace(v), "bytes=")
	if !found || strings.Contains(spec, ",") {
		return 0, 0, false
	}
	first, last, found := strings.Cut(strings.TrimSpace(spec), "-")
	if !found {
		return 0, 0, false
	}
	if first == "" {
		n, err := strconv.ParseInt(last, 10, 64)
		if err != nil || n < 0 || !isDigits(last) {
			return 0, 0, false
		}
		return max(size-n, 0), size, true
	}
	a, err := strconv.ParseInt(first, 10, 64)
	if err != nil || !isDigits(first) {
		return 0, 0, false
	}
	b := size - 1
	if last != "" {
		if b, err = strconv.ParseInt(last, 10, 64); err != nil || !isDigits(last) || b < a {
			return 0, 0, false
		}
		b = min(b, size-1)
	}
	if a >= size {
		return 0, 0, true
	}
	return a, b + 1, true
}
