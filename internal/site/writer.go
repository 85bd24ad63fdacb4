package site

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"time"

	"github.com/gatehouse/gatehouse/internal/compress"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
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
	// out, when set, is the route's (or, before a route matched, the
	// site's) response settings, applied with the request and its info
	// when the response starts; enc is the encoder when the response is
	// being compressed.
	out  *routeOutput
	req  *http.Request
	info *reqinfo.Info
	enc  compress.Encoder
	// stats counts the response: the route's, or the site's for a
	// response no route gave.
	stats *metrics.Route

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

// pace sets the write deadline for the next n bytes: the client must
// have taken the response at minRate on average since it began, and is
// given at least rateGrace for each write, so that a stream the upstream
// produces slowly (server-sent events, a gRPC stream) is never cut for
// the time it spent waiting on the upstream.
func (w *responseWriter) pace(n int) {
	if w.minRate <= 0 || w.bytes+int64(n) < paceFrom {
		return
	}
	if w.ctl == nil {
		w.ctl = http.NewResponseController(w.ResponseWriter)
	}
	due := w.start.Add(w.rateGrace + time.Duration(float64(w.bytes+int64(n))/float64(w.minRate)*float64(time.Second)))
	if now := time.Now(); due.Before(now.Add(w.rateGrace)) {
		due = now.Add(w.rateGrace)
	}
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
		if o := w.out; o != nil && code != http.StatusSwitchingProtocols {
			o.headers.Apply(h, w.req, w.info)
			o.expires.Apply(h, code, time.Now())
			if o.compress != nil {
				w.enc = o.compress.Start(encodedWriter{w}, w.req.Method, code, h, w.req.Header["Accept-Encoding"])
			}
		}
	}
	w.ResponseWriter.WriteHeader(code)
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.enc != nil {
		return w.enc.Write(p)
	}
	return w.write(p)
}

// write sends p to the client, paced.
func (w *responseWriter) write(p []byte) (int, error) {
	w.pace(len(p))
	n, err := w.ResponseWriter.Write(p)
	w.bytes += int64(n)
	return n, err
}

// encodedWriter takes an encoder's output to the client.
type encodedWriter struct{ w *responseWriter }

func (e encodedWriter) Write(p []byte) (int, error) { return e.w.write(p) }

// Flush pushes out what an encoder holds, then the connection's buffer.
func (w *responseWriter) Flush() {
	if w.enc != nil {
		_ = w.enc.Flush()
	}
	_ = http.NewResponseController(w.ResponseWriter).Flush()
}

// finishEncoding ends a compressed response's stream.
func (w *responseWriter) finishEncoding() {
	if w.enc != nil {
		_ = w.enc.Close()
		w.enc = nil
	}
}

// sendChunk is how much ReadFrom hands to sendfile between two pacing
// checks.
const sendChunk = 1 << 20

// ReadFrom keeps the sendfile path for files (static files, the cache's
// disk tier), in chunks so that slow readers are paced as with Write.
// Each chunk reaches the connection as one io.LimitedReader over the file
// itself: the kernel's sendfile is only used for a file behind at most
// one such reader.
func (w *responseWriter) ReadFrom(r io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.enc != nil {
		return io.Copy(w.enc, r)
	}
	src, limit := r, int64(-1)
	lr, limited := r.(*io.LimitedReader)
	if limited {
		src, limit = lr.R, lr.N
	}
	var total int64
	for limit != 0 {
		want := int64(sendChunk)
		if limit > 0 {
			want = min(want, limit)
		}
		w.pace(int(want))
		n, err := io.Copy(w.ResponseWriter, &io.LimitedReader{R: src, N: want})
		w.bytes += n
		total += n
		if limited {
			lr.N -= n
			limit = lr.N
		}
		if err != nil {
			return total, err
		}
		if n < want {
			return total, nil // the end of src
		}
	}
	return total, nil
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
