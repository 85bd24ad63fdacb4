package h2

import (
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
	"golang.org/x/net/http/httpguts"
	"golang.org/x/net/http2"
	"golang.org/x/net/http2/hpack"
)

// pendingLimit is how much of a body is held back before the HEADERS
// frame goes out, so that a short response gets a content-length and
// leaves as HEADERS and one DATA frame.
const pendingLimit = 4 << 10

// pendingBuffers recycles the held-back bodies of finished streams.
var pendingBuffers = sync.Pool{New: func() any { b := make([]byte, 0, pendingLimit); return &b }}

// field is a header key and its values, captured when the status is set.
type field struct {
	k  string
	vs []string
}

// responseWriter is the http.ResponseWriter of one stream. The header
// fields are captured when the status is set (later changes do not
// apply, as with net/http, but for trailers) and encoded when the
// HEADERS frame goes out: with the first body bytes beyond the held-back
// ones, at Flush, or when the handler returns.
type responseWriter struct {
	s       *stream
	handler http.Handler // of a stream waiting for a handler slot
	header  http.Header
	fields  []field

	status    int
	committed bool  // the HEADERS frame is queued
	declared  int64 // content-length set by the handler, or -1
	written   int64
	isHead    bool
	noBody    bool
	sniff     bool
	hasDate   bool
	closeConn bool
	broken    bool // a write failed: the body is not whole
	trailers  []string
	pending   *[]byte
}

func (w *responseWriter) init(s *stream) {
	w.s = s
	w.header = make(http.Header)
	w.declared = -1
	w.isHead = s.req.Method == http.MethodHead
}

func (w *responseWriter) Header() http.Header { return w.header }

func (w *responseWriter) WriteHeader(code int) {
	if w.status != 0 {
		return
	}
	if code < 100 || code > 999 {
		panic("h2: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 {
		w.writeInformational(code)
		return
	}
	w.status = code
	w.noBody = w.isHead || code == http.StatusNoContent || code == http.StatusNotModified
	_, hasType := w.header["Content-Type"]
	w.sniff = !hasType && !w.noBody
	for k, vs := range w.header {
		switch k {
		case "Content-Length":
			n, err := strconv.ParseInt(strings.TrimSpace(vs[0]), 10, 64)
			if err != nil || n < 0 || code == http.StatusNoContent {
				continue
			}
			w.declared = n
			vs = vs[:1]
		case "Connection":
			for _, v := range vs {
				w.closeConn = w.closeConn || strings.Contains(strings.ToLower(v), "close")
			}
			continue
		case "Transfer-Encoding", "Keep-Alive", "Proxy-Connection", "Upgrade":
			continue // connection-specific: not in HTTP/2
		case "Trailer":
			w.trailers = httpsyntax.AppendFieldNames(w.trailers, vs)
		case "Date":
			w.hasDate = true
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		w.fields = append(w.fields, field{k, vs})
	}
}

// writeInformational sends a 1xx response (103 Early Hints) with the
// header fields set so far. 100 Continue goes out on the first body
// read instead; 101 has no place in HTTP/2.
func (w *responseWriter) writeInformational(code int) {
	if code == http.StatusContinue || code == http.StatusSwitchingProtocols {
		return
	}
	c := w.s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if w.committed || w.s.err != nil || c.werr != nil {
		return
	}
	c.appendHeadersLocked(w.s.id, false, func(e *hpack.Encoder) {
		_ = e.WriteField(hpack.HeaderField{Name: ":status", Value: statusCode(code)})
		for k, vs := range w.header {
			encodeField(e, k, vs)
		}
	})
	c.flushLocked(false)
}

// writeContinueLocked answers Expect: 100-continue, on the first read of
// the body.
func (w *responseWriter) writeContinueLocked() {
	c := w.s.c
	c.appendHeadersLocked(w.s.id, false, func(e *hpack.Encoder) {
		_ = e.WriteField(hpack.HeaderField{Name: ":status", Value: "100"})
	})
	c.kickLocked()
}

func (w *responseWriter) Write(p []byte) (int, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		if !w.isHead {
			return 0, http.ErrBodyNotAllowed
		}
		w.written += int64(len(p))
		return len(p), nil
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	w.written += int64(len(p))
	if !w.committed {
		if w.pending == nil {
			w.pending = pendingBuffers.Get().(*[]byte)
		}
		if len(*w.pending)+len(p) <= pendingLimit {
			*w.pending = append(*w.pending, p...)
			return len(p), nil
		}
	}
	c := w.s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !w.committed {
		if err := w.commitLocked(false); err != nil {
			w.broken = true
			return 0, err
		}
	}
	if err := w.sendLocked(p, false); err != nil {
		w.broken = true
		return 0, err
	}
	// A body beyond the held-back bytes streams: it leaves now, written
	// by this goroutine unless a flush is already under way.
	c.flushLocked(false)
	return len(p), nil
}

func (w *responseWriter) WriteString(s string) (int, error) {
	return w.Write([]byte(s))
}

// commitLocked queues the HEADERS frame and the held-back body; final
// when the handler has returned (the body is then whole: its length is
// known). It ends the stream when nothing follows.
func (w *responseWriter) commitLocked(final bool) error {
	s, c := w.s, w.s.c
	if err := s.writeErrLocked(); err != nil {
		return err
	}
	var pending []byte
	if w.pending != nil {
		pending = *w.pending
	}
	trailers := final && w.hasTrailers()
	endStream := final && len(pending) == 0 && !trailers
	c.appendHeadersLocked(s.id, endStream, func(e *hpack.Encoder) {
		_ = e.WriteField(hpack.HeaderField{Name: ":status", Value: statusCode(w.status)})
		for _, f := range w.fields {
			encodeField(e, f.k, f.vs)
		}
		switch {
		case w.declared >= 0 || w.status == http.StatusNoContent || w.status == http.StatusNotModified:
		case w.isHead:
			if final && w.written > 0 {
				_ = e.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.FormatInt(w.written, 10)})
			}
		case final:
			_ = e.WriteField(hpack.HeaderField{Name: "content-length", Value: strconv.Itoa(len(pending))})
		}
		if w.sniff && len(pending) > 0 {
			_ = e.WriteField(hpack.HeaderField{Name: "content-type", Value: http.DetectContentType(pending)})
		}
		if !w.hasDate {
			_ = e.WriteField(hpack.HeaderField{Name: "date", Value: string(c.srv.date.Get())})
		}
	})
	w.committed = true
	if endStream {
		s.localDone = true
		return nil
	}
	if len(pending) > 0 {
		*w.pending = pending[:0]
		return w.sendLocked(pending, final && !trailers)
	}
	return nil
}

// hasTrailers reports whether the handler set trailer fields.
func (w *responseWriter) hasTrailers() bool {
	for _, k := range w.trailers {
		if len(w.header[k]) > 0 {
			return true
		}
	}
	for k := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			return true
		}
	}
	return false
}

// sendLocked queues p as DATA frames as the flow-control windows allow,
// waiting for them (and for room in the output buffer); end ends the
// stream with the last frame.
func (w *responseWriter) sendLocked(p []byte, end bool) error {
	s, c := w.s, w.s.c
	for {
		if len(p) > 0 && (s.sendWindow <= 0 || c.sendWindow <= 0) && s.writeDeadline.IsZero() {
			// A client that never opens its window holds the stream
			// no longer than a client that never reads would.
			s.setDeadlineLocked(&s.writeDeadline, &s.writeTimer, time.Now().Add(c.opts.SendTimeout))
			defer s.setDeadlineLocked(&s.writeDeadline, &s.writeTimer, time.Time{})
		}
		for len(p) > 0 && (s.sendWindow <= 0 || c.sendWindow <= 0) || len(c.out) >= maxOut {
			if err := s.writeErrLocked(); err != nil {
				return err
			}
			if !c.flushing && len(c.out) > 0 {
				c.flushLocked(false)
				continue
			}
			c.space.Wait()
		}
		if err := s.writeErrLocked(); err != nil {
			return err
		}
		n := min(int64(len(p)), s.sendWindow, c.sendWindow, int64(c.peerMaxFrame))
		last := end && n == int64(len(p))
		if n > 0 || last {
			c.appendDataLocked(s.id, p[:n], last)
		}
		s.sendWindow -= n
		c.sendWindow -= n
		p = p[n:]
		if last {
			s.localDone = true
		}
		if len(p) == 0 {
			return nil
		}
	}
}

// writeErrLocked is why the stream can take no more writes, if it
// cannot.
func (s *stream) writeErrLocked() error {
	switch {
	case s.err != nil:
		return s.err
	case s.c.werr != nil:
		return s.c.werr
	case !s.writeDeadline.IsZero() && !time.Now().Before(s.writeDeadline):
		return os.ErrDeadlineExceeded
	}
	return nil
}

// Flush sends what has been written so far.
func (w *responseWriter) Flush() { _ = w.FlushError() }

// FlushError sends what has been written so far and reports whether the
// stream can still be written.
func (w *responseWriter) FlushError() error {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	c := w.s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if !w.committed {
		if err := w.commitLocked(false); err != nil {
			w.broken = true
			return err
		}
	}
	c.flushLocked(false)
	if err := w.s.writeErrLocked(); err != nil {
		w.broken = true
		return err
	}
	return nil
}

// SetReadDeadline bounds the reads of the request body.
func (w *responseWriter) SetReadDeadline(t time.Time) error {
	w.s.setDeadline(&w.s.readDeadline, &w.s.readTimer, t)
	return nil
}

// SetWriteDeadline bounds the writes of the response; a write that
// misses it resets the stream.
func (w *responseWriter) SetWriteDeadline(t time.Time) error {
	w.s.setDeadline(&w.s.writeDeadline, &w.s.writeTimer, t)
	return nil
}

// EnableFullDuplex is accepted: the request body can always be read
// while the response is written.
func (w *responseWriter) EnableFullDuplex() error { return nil }

// finish completes the response after the handler returned and closes
// the stream's side.
func (w *responseWriter) finish() {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	s, c := w.s, w.s.c
	c.mu.Lock()
	// Connection: close asks for the connection's end after a response
	// that went out (as net/http's server does), not after one the
	// client reset.
	closeConn := w.closeConn && s.err == nil && c.werr == nil
	reset := http2.ErrCodeNo
	switch {
	case w.broken || s.writeErrLocked() != nil:
		if s.err == nil && c.werr == nil {
			reset = http2.ErrCodeCancel // a write deadline passed
		}
	case !w.committed:
		if err := w.commitLocked(true); err == nil && !s.localDone {
			w.endLocked()
		}
	case w.declared >= 0 && w.written < w.declared && !w.noBody:
		reset = http2.ErrCodeInternal // cut short: must not look whole
	default:
		w.endLocked()
	}
	w.closeLocked(reset)
	c.flushLocked(true)
	c.mu.Unlock()
	if closeConn {
		c.goAwayGracefully()
	}
}

// endLocked ends the stream: with the trailers, when there are any.
func (w *responseWriter) endLocked() {
	s, c := w.s, w.s.c
	if !w.hasTrailers() {
		_ = w.sendLocked(nil, true)
		return
	}
	if s.writeErrLocked() != nil {
		return
	}
	c.appendHeadersLocked(s.id, true, func(e *hpack.Encoder) {
		for _, k := range w.trailers {
			if vs := w.header[k]; len(vs) > 0 {
				encodeField(e, k, vs)
			}
		}
		for k, vs := range w.header {
			if name, ok := strings.CutPrefix(k, http.TrailerPrefix); ok {
				encodeField(e, name, vs)
			}
		}
	})
	s.localDone = true
}

// closeLocked closes the server's side of the stream after its handler
// returned: a stream whose response did not end, or whose request body
// is still coming, is reset (with NO_ERROR for the latter: the client
// may stop sending).
func (w *responseWriter) closeLocked(code http2.ErrCode) {
	s, c := w.s, w.s.c
	for _, t := range []*time.Timer{s.readTimer, s.writeTimer} {
		if t != nil {
			t.Stop()
		}
	}
	s.closeBodyLocked()
	if w.pending != nil {
		*w.pending = (*w.pending)[:0]
		pendingBuffers.Put(w.pending)
		w.pending = nil
	}
	if c.streams[s.id] != s {
		return // already reset, by either side
	}
	switch {
	case !s.localDone && code == http2.ErrCodeNo:
		code = http2.ErrCodeInternal
	case s.localDone && s.remoteDone:
		c.removeLocked(s)
		return
	}
	s.abortLocked(errStreamReset)
	c.removeLocked(s)
	c.rememberResetLocked(s.id)
	if c.werr == nil {
		c.out = append(c.out, rstFrame(s.id, code)...)
	}
}

// panicked answers for a handler that panicked: a 500 when nothing was
// sent yet, otherwise a reset stream. http.ErrAbortHandler is the
// handler's way to abort quietly.
func (w *responseWriter) panicked(v any) {
	if v != http.ErrAbortHandler {
		w.s.c.opts.Log.Error("handler panicked", "stream", w.s.id, "panic", v)
	}
	c := w.s.c
	if w.committed || v == http.ErrAbortHandler {
		c.mu.Lock()
		w.closeLocked(http2.ErrCodeInternal)
		c.kickLocked()
		c.mu.Unlock()
		return
	}
	w.status, w.fields, w.trailers, w.declared = 0, nil, nil, -1
	if w.pending != nil {
		*w.pending = (*w.pending)[:0]
	}
	w.written = 0
	w.header = http.Header{"Content-Type": {"text/plain; charset=utf-8"}}
	w.WriteHeader(http.StatusInternalServerError)
	_, _ = w.Write([]byte("Internal Server Error\n"))
	w.finish()
}

// encodeField writes a header field in its wire form; names that are no
// tokens and values that could split the field are left out.
func encodeField(e *hpack.Encoder, k string, vs []string) {
	name := lowerName(k)
	if !httpguts.ValidHeaderFieldName(name) {
		return
	}
	for _, v := range vs {
		if httpguts.ValidHeaderFieldValue(v) {
			_ = e.WriteField(hpack.HeaderField{Name: name, Value: v})
		}
	}
}

// statusCodes are the :status values of the codes 100-599.
var statusCodes = func() (s [600]string) {
	for i := 100; i < len(s); i++ {
		s[i] = strconv.Itoa(i)
	}
	return s
}()

func statusCode(code int) string {
	if code < len(statusCodes) {
		return statusCodes[code]
	}
	return strconv.Itoa(code)
}
