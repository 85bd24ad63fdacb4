// Package limits is the phase that bounds what a client may send: the
// request target's length (414), the number of header fields (431), the
// body's size (413, from Content-Length before anything is read, and while
// reading bodies of unknown length) and the body's pace (408 for a body that
// trickles slower than the minimum upload rate once the grace period ends).
package limits

import (
	"errors"
	"io"
	"net/http"
	"os"
	"time"

	"github.com/gatehouse/gatehouse/internal/errpage"
)

// Errors a guarded request body returns.
var (
	ErrBodyTooLarge = errors.New("request body larger than max_body_size")
	ErrTooSlow      = errors.New("request body arrived slower than client.min_upload_rate")
)

// Config holds the effective limits of one route.
type Config struct {
	MaxURILength  int
	MaxHeaders    int
	MaxBodySize   int64
	MinUploadRate int64 // bytes per second; 0 disables
	RateGrace     time.Duration
}

type handler struct {
	cfg  Config
	next http.Handler
}

// New returns the limits phase in front of next.
func New(cfg Config, next http.Handler) http.Handler {
	return &handler{cfg: cfg, next: next}
}

func (h *handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if len(r.RequestURI) > h.cfg.MaxURILength {
		errpage.Write(w, http.StatusRequestURITooLong)
		return
	}
	fields := 0
	for _, v := range r.Header {
		fields += len(v)
	}
	if fields > h.cfg.MaxHeaders {
		errpage.Write(w, http.StatusRequestHeaderFieldsTooLarge)
		return
	}
	if r.ContentLength > h.cfg.MaxBodySize {
		// Refused before a byte of the body is read (and before any
		// 100 Continue), so the connection cannot be reused.
		w.Header().Set("Connection", "close")
		errpage.Write(w, http.StatusRequestEntityTooLarge)
		return
	}
	// The body of an HTTP/2 extended CONNECT is a tunnel (a WebSocket),
	// not an upload: neither its size nor its pace is bounded.
	if r.Body != nil && r.Body != http.NoBody && r.Method != http.MethodConnect {
		r.Body = &Body{
			rc: r.Body, ctl: http.NewResponseController(w), max: h.cfg.MaxBodySize,
			start: time.Now(), grace: h.cfg.RateGrace, rate: h.cfg.MinUploadRate,
		}
	}
	h.next.ServeHTTP(w, r)
}

// Body enforces the size and pace limits on a request body.
type Body struct {
	rc       io.ReadCloser
	ctl      *http.ResponseController
	max, n   int64
	start    time.Time
	grace    time.Duration
	rate     int64
	deadline bool
	refused  bool
}

// Read reads from the client's body. Until the grace period ends the client
// may pause as it likes; after it, the body must have kept up with the
// minimum rate since the request began, or Read fails with ErrTooSlow.
func (b *Body) Read(p []byte) (int, error) {
	if b.n > b.max {
		return 0, ErrBodyTooLarge
	}
	if b.rate > 0 {
		due := b.start.Add(b.grace + time.Duration(float64(b.n+1)/float64(b.rate)*float64(time.Second)))
		if b.ctl.SetReadDeadline(due) == nil {
			b.deadline = true
		}
	}
	n, err := b.rc.Read(p)
	b.n += int64(n)
	switch {
	case errors.Is(err, os.ErrDeadlineExceeded):
		err = ErrTooSlow
	case b.n > b.max:
		err = ErrBodyTooLarge
	}
	switch {
	case err == ErrTooSlow || err == ErrBodyTooLarge:
		b.refuse()
	case err != nil:
		b.clearDeadline()
	}
	return n, err
}

// refuse makes every further read of the connection fail at once: the
// request is answered and the connection closed, and nothing may wait on
// the rest of a body that was refused (net/http would otherwise try to
// drain it, for as long as the client likes).
func (b *Body) refuse() {
	b.refused = true
	_ = b.ctl.SetReadDeadline(time.Now())
}

// Close closes the body and lifts the read deadline, which the server's own
// reads must not inherit. A refused body is left to the server, which
// closes the connection.
func (b *Body) Close() error {
	if b.refused {
		return nil
	}
	b.clearDeadline()
	return b.rc.Close()
}

func (b *Body) clearDeadline() {
	if b.deadline {
		_ = b.ctl.SetReadDeadline(time.Time{})
		b.deadline = false
	}
}

// Status is the response status for a failure to read a request body.
func Status(err error) int {
	switch {
	case errors.Is(err, ErrBodyTooLarge):
		return http.StatusRequestEntityTooLarge
	case errors.Is(err, ErrTooSlow):
		return http.StatusRequestTimeout
	}
	return http.StatusBadRequest
}
