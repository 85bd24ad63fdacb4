package cache

import (
	"io"
	"net/http"
	"net/url"
	"strconv"
	"time"

	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// serveStored answers r from a stored entry: its header fields (Age set to
// the entry's current age), then its body; a range, a HEAD and the
// client's own conditions are answered from the stored full response.
func (h *Handler) serveStored(w http.ResponseWriter, r *http.Request, e *Entry, f Freshness) {
	hdr := w.Header()
	copyHeader(hdr, e.Meta.Header)
	hdr["Age"] = []string{strconv.FormatInt(int64(f.Age/time.Second), 10)}
	body, closer, err := e.Body()
	if err != nil {
		// The file went (purged or evicted) since the lookup.
		h.log.Warn("cache entry unreadable", "url", e.Meta.URL, "error", err)
		clear(hdr)
		w.Header()["Retry-After"] = []string{"1"}
		w.WriteHeader(http.StatusServiceUnavailable)
		return
	}
	defer closer.Close()
	h.store.Stats.BytesServed.Add(uint64(e.Meta.Size))
	if e.Meta.Status == http.StatusOK && needsServeContent(r) {
		// Ranges and the client's conditions, against the stored
		// representation; the stored Content-Type stands (no sniffing).
		if _, ok := hdr["Content-Type"]; !ok {
			hdr["Content-Type"] = nil
		}
		delete(hdr, "Content-Length")
		modtime, _ := httpDate(e.Meta.Header, "Last-Modified")
		http.ServeContent(w, r, "", modtime, body)
		return
	}
	if bodyless(e.Meta.Status) {
		delete(hdr, "Content-Length")
	} else {
		hdr["Content-Length"] = e.contentLength
	}
	w.WriteHeader(e.Meta.Status)
	if r.Method == http.MethodHead || bodyless(e.Meta.Status) {
		return
	}
	if e.body != nil && (e.file == nil || e.Meta.Size < sendfileFrom) {
		_, _ = w.Write(e.body)
		return
	}
	if f, ok := closer.(io.Reader); ok {
		// The file from its start: a plain reader, which keeps the
		// sendfile path.
		_, _ = io.Copy(w, io.LimitReader(f, e.Meta.Size))
		return
	}
	_, _ = io.Copy(w, body)
}

// sendfileFrom is the body size from which a stored response that is in
// both tiers is sent from its file (sendfile, no copy) rather than from
// memory.
const sendfileFrom = 64 << 10

// needsServeContent reports whether answering r takes more than sending
// the stored response: a range or a condition of the client's.
func needsServeContent(r *http.Request) bool {
	hd := r.Header
	return hd["Range"] != nil || hd["If-None-Match"] != nil || hd["If-Modified-Since"] != nil ||
		hd["If-Match"] != nil || hd["If-Unmodified-Since"] != nil
}

// bodyless reports whether responses with the status have no content.
func bodyless(status int) bool {
	return status == http.StatusNoContent || status == http.StatusNotModified || status < 200
}

// copyHeader puts the stored fields in dst. Each value slice is clipped,
// so a later append (a header rule adding a value) copies instead of
// writing into the stored entry.
func copyHeader(dst, src http.Header) {
	for k, vs := range src {
		dst[k] = vs[:len(vs):len(vs)]
	}
}

// serveUnsafe passes a request with an unsafe method to the origin and,
// when it succeeds, invalidates what it may have changed: the target URI
// and the same-origin URIs in the response's Location and
// Content-Location (RFC 9111 section 4.4).
func (h *Handler) serveUnsafe(w http.ResponseWriter, r *http.Request, info *reqinfo.Info) {
	h.setStatus(w.Header(), info, "", "fwd=method")
	iw := &invalidator{ResponseWriter: w, h: h, r: r}
	h.next.ServeHTTP(iw, r)
}

// invalidator watches the status of an unsafe request's response.
type invalidator struct {
	http.ResponseWriter
	h    *Handler
	r    *http.Request
	done bool
}

func (iw *invalidator) WriteHeader(code int) {
	if !iw.done && code >= 200 {
		iw.done = true
		if code < 400 {
			iw.h.invalidate(iw.r, iw.Header())
		}
	}
	iw.ResponseWriter.WriteHeader(code)
}

func (iw *invalidator) Write(p []byte) (int, error) {
	if !iw.done {
		iw.WriteHeader(http.StatusOK)
	}
	return iw.ResponseWriter.Write(p)
}

// Unwrap gives http.ResponseController the writer underneath.
func (iw *invalidator) Unwrap() http.ResponseWriter { return iw.ResponseWriter }

// Flush passes a flush on.
func (iw *invalidator) Flush() { _ = http.NewResponseController(iw.ResponseWriter).Flush() }

// invalidate purges the request's URL and the same-origin URLs its
// response points at.
func (h *Handler) invalidate(r *http.Request, hdr http.Header) {
	target := requestURL(r)
	h.store.Purge(target)
	base, err := url.Parse(target)
	if err != nil {
		return
	}
	origin := NormalizeURL(base.Scheme, base.Host, "")
	for _, name := range [...]string{"Location", "Content-Location"} {
		vs := hdr[name]
		if len(vs) != 1 {
			continue
		}
		ref, err := base.Parse(vs[0])
		if err != nil || NormalizeURL(ref.Scheme, ref.Host, "") != origin {
			continue
		}
		h.store.Purge(origin + ref.RequestURI())
	}
}
