package site

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"
)

// responseWriter records the status and size of a response for the access
// log, sets Gatehouse's Server header when the handler set none, and closes
// the connection after any refused protocol upgrade (after which the framing
// of the connection is no longer followed).
type responseWriter struct {
	http.ResponseWriter
	status  int
	bytes   int64
	server  []string
	upgrade bool
	// hsts and altSvc, when set, are added to responses that lack them.
	hsts, altSvc []string
	// pages are the site's own error pages; intercept applies them to
	// upstream error responses too.
	pages     map[int][]byte
	intercept bool

	// Pacing of slow readers: once rateGrace has passed since start, the
	// client must have taken the response at minRate bytes per second.
	start     time.Time
	minRate   int64
	rateGrace time.Duration
	ctl       *http.ResponseController
	hijacked  bool
}

// paceFrom is the response size below which no write deadline is set: a
// small response fits in the socket buffers whatever the client does.
const paceFrom = 64 << 10

// pace sets the write deadline for the next n bytes.
func (w *responseWriter) pace(n int) {
	if w.minRate <= 0 || w.bytes+int64(n) < paceFrom {
		return
	}
	if w.ctl == nil {
		w.ctl = http.NewResponseController(w.ResponseWriter)
	}
	due := w.start.Add(w.rateGrace + time.Duration(float64(w.bytes+int64(n))/float64(w.minRate)*float64(time.Second)))
	_ = w.ctl.SetWriteDeadline(due)
}

// clearDeadline lifts a write deadline so the next response on the
// connection does not inherit it.
func (w *responseWriter) clearDeadline() {
	if w.ctl != nil && !w.hijacked {
		_ = w.ctl.SetWriteDeadline(time.Time{})
	}
}

func (w *responseWriter) WriteHeader(code int) {
	if w.status == 0 && (code >= 200 || code == http.StatusSwitchingProtocols) {
		w.status = code
		h := w.Header()
		if _, ok := h["Server"]; !ok {
			h["Server"] = w.server
		}
		if _, ok := h["Strict-Transport-Security"]; !ok && w.hsts != nil {
			h["Strict-Transport-Security"] = w.hsts
		}
		if _, ok := h["Alt-Svc"]; !ok && w.altSvc != nil {
			h["Alt-Svc"] = w.altSvc
		}
		if w.upgrade && code != http.StatusSwitchingProtocols {
			h.Set("Connection", "close")
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	w.pace(len(p))
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// sendChunk is how much ReadFrom hands to sendfile between two pacing
// checks.
const sendChunk = 1 << 20

// ReadFrom keeps net/http's sendfile path for static files, in chunks so
// that slow readers are paced as with Write.
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	var total int64
	for {
		w.pace(sendChunk)
		n, err := io.CopyN(w.ResponseWriter, r, sendChunk)
		w.bytes += n
		total += n
		if err == io.EOF {
			return total, nil
		}
		if err != nil {
			return total, err
		}
	}
}

// Unwrap gives http.ResponseController access to Flush and deadlines.
func (w *responseWriter) Unwrap() http.ResponseWriter { return w.ResponseWriter }

// Hijack takes over the connection for an upgraded protocol.
func (w *responseWriter) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	conn, rw, err := http.NewResponseController(w.ResponseWriter).Hijack()
	if err != nil {
		return nil, nil, err
	}
	if w.status == 0 {
		w.status = http.StatusSwitchingProtocols
	}
	w.hijacked = true
	return conn, rw, nil
}

// ErrorPage returns the site's page for status, or nil.
func (w *responseWriter) ErrorPage(status int) []byte { return w.pages[status] }

// InterceptsError reports whether an upstream response with status is
// replaced by the site's page for it.
func (w *responseWriter) InterceptsError(status int) bool {
	return w.intercept && w.pages[status] != nil
}
