package h2

import (
	"context"
	"errors"
	"io"
	"net/http"
	"os"
	"sync"
	"time"

	"golang.org/x/net/http2"
)

// errStreamReset is what a stream's reads and writes return once the
// stream is reset (by either side).
var errStreamReset = errors.New("h2: stream reset")

// stream is one request and its response. Its fields are guarded by the
// connection's mu.
type stream struct {
	c      *conn
	id     uint32
	ctx    context.Context
	cancel context.CancelFunc
	req    *http.Request
	rw     responseWriter

	remoteDone bool  // the client sent END_STREAM
	localDone  bool  // the server sent END_STREAM
	err        error // set when reset or the connection is gone

	sendWindow int64
	recvWindow int64 // bytes the client may still send
	recvUnack  int64 // read by the handler, not yet given back

	// The request body received and not yet read: buf[off:].
	buf        []byte
	off        int
	bodyClosed bool // the handler closed the body or returned
	declared   int64
	received   int64
	trailer    http.Header

	// readable is signalled when body bytes, its end or an error arrive.
	readable sync.Cond
	// Deadlines set through http.ResponseController.
	readDeadline, writeDeadline time.Time
	readTimer, writeTimer       *time.Timer
	expectContinue              bool
}

// wake rouses the stream's reader; writers wait on the connection's
// space, which failLocked and abortLocked broadcast.
func (s *stream) wake() { s.readable.Broadcast() }

// abortLocked ends the stream with err: its reads and writes fail and
// its handler's context is canceled.
func (s *stream) abortLocked(err error) {
	if s.err == nil {
		s.err = err
	}
	s.cancel()
	s.readable.Broadcast()
	s.c.space.Broadcast()
}

// processHeaders opens a stream or takes a stream's trailers.
func (c *conn) processHeaders(f *http2.MetaHeadersFrame) error {
	id := f.StreamID
	if id%2 == 0 {
		return http2.ConnectionError(http2.ErrCodeProtocol)
	}
	c.mu.Lock()
	defer c.mu.Unlock()
	if s := c.streams[id]; s != nil {
		return c.trailersLocked(s, f)
	}
	if id <= c.maxClientID {
		if c.wasResetLocked(id) {
			return nil
		}
		return http2.ConnectionError(http2.ErrCodeStreamClosed)
	}
	c.maxClientID = id
	if f.HasPriority() && f.Priority.StreamDep == id {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if c.goAway {
		return nil // after a GOAWAY, new streams are ignored
	}
	if len(c.streams) >= int(c.opts.MaxConcurrentStreams) {
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeRefusedStream}
	}
	s := &stream{c: c, id: id, sendWindow: int64(c.peerWindow), recvWindow: streamWindow, declared: -1}
	s.readable.L = &c.mu
	s.ctx, s.cancel = context.WithCancel(c.ctx)
	handler := c.srv.handler
	if f.Truncated || headerListSize(f) > c.opts.MaxHeaderSize {
		handler = http.HandlerFunc(headerListTooLong)
	}
	req, err := c.newRequest(s, f)
	if err != nil {
		s.cancel()
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	s.req = req
	s.rw.init(s)
	s.remoteDone = f.StreamEnded()
	c.streams[id] = s
	if c.running >= int(c.opts.MaxConcurrentStreams) {
		// Handlers of streams the client reset are still running:
		// this one waits for a slot, and a client that keeps
		// resetting (rapid reset) is cut off.
		if len(c.queued) >= 4*int(c.opts.MaxConcurrentStreams) {
			return http2.ConnectionError(http2.ErrCodeEnhanceYourCalm)
		}
		c.queued = append(c.queued, s)
		s.rw.handler = handler
		return nil
	}
	c.running++
	go s.run(handler)
	return nil
}

// trailersLocked takes a HEADERS frame on an open stream: the request's
// trailers, which must end it.
func (c *conn) trailersLocked(s *stream, f *http2.MetaHeadersFrame) error {
	if s.remoteDone {
		return http2.StreamError{StreamID: s.id, Code: http2.ErrCodeStreamClosed}
	}
	if !f.StreamEnded() || len(f.PseudoFields()) > 0 {
		return http2.StreamError{StreamID: s.id, Code: http2.ErrCodeProtocol}
	}
	for _, hf := range f.RegularFields() {
		if s.trailer == nil {
			s.trailer = http.Header{}
		}
		k := canonicalName(hf.Name)
		s.trailer[k] = append(s.trailer[k], hf.Value)
	}
	return c.endBodyLocked(s)
}

// endBodyLocked marks the client's side of s done.
func (c *conn) endBodyLocked(s *stream) error {
	if s.declared >= 0 && s.received != s.declared {
		return http2.StreamError{StreamID: s.id, Code: http2.ErrCodeProtocol}
	}
	s.remoteDone = true
	s.readable.Broadcast()
	if s.localDone {
		c.removeLocked(s)
	}
	return nil
}

// processData takes request body bytes.
func (c *conn) processData(f *http2.DataFrame) error {
	id := f.StreamID
	n := int64(f.Header().Length) // padding counts toward flow control
	c.mu.Lock()
	defer c.mu.Unlock()
	if n > c.recvWindow {
		return http2.ConnectionError(http2.ErrCodeFlowControl)
	}
	c.recvWindow -= n
	s := c.streams[id]
	if s == nil || s.remoteDone {
		if s == nil && id > c.maxClientID {
			return http2.ConnectionError(http2.ErrCodeProtocol)
		}
		c.giveBackLocked(n)
		if s == nil && c.wasResetLocked(id) {
			return nil
		}
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeStreamClosed}
	}
	if n > s.recvWindow {
		c.giveBackLocked(n)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeFlowControl}
	}
	s.recvWindow -= n
	data := f.Data()
	s.received += int64(len(data))
	if s.declared >= 0 && s.received > s.declared {
		c.giveBackLocked(n)
		return http2.StreamError{StreamID: id, Code: http2.ErrCodeProtocol}
	}
	if pad := n - int64(len(data)); pad > 0 {
		c.giveBackLocked(pad)
		s.recvUnack += pad
	}
	if s.bodyClosed {
		c.giveBackLocked(int64(len(data)))
	} else if len(data) > 0 {
		if s.off == len(s.buf) {
			s.buf, s.off = s.buf[:0], 0
		}
		s.buf = append(s.buf, data...)
		s.readable.Broadcast()
	}
	if f.StreamEnded() {
		return c.endBodyLocked(s)
	}
	return nil
}

// run runs the handler of a stream, then the handlers of queued streams
// while there are any.
func (s *stream) run(h http.Handler) {
	for s != nil {
		s.serve(h)
		c := s.c
		c.mu.Lock()
		s, h = nil, nil
		for len(c.queued) > 0 && s == nil {
			next := c.queued[0]
			c.queued = c.queued[1:]
			if next.err == nil {
				s, h = next, next.rw.handler
			}
		}
		if s == nil {
			c.running--
			c.updateIdleLocked()
		}
		c.mu.Unlock()
	}
}

// serve runs h for the stream and completes its response.
func (s *stream) serve(h http.Handler) {
	defer s.cancel()
	defer func() {
		if v := recover(); v != nil {
			s.rw.panicked(v)
		}
	}()
	h.ServeHTTP(&s.rw, s.req)
	s.rw.finish()
}

// body is a stream's request body.
type body struct{ s *stream }

func (b body) Read(p []byte) (int, error) {
	s := b.s
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	if s.expectContinue {
		s.expectContinue = false
		if s.off == len(s.buf) && !s.remoteDone && s.err == nil && !s.rw.committed {
			s.rw.writeContinueLocked()
		}
	}
	for s.off == len(s.buf) {
		switch {
		case s.err != nil:
			return 0, s.err
		case s.bodyClosed:
			return 0, http.ErrBodyReadAfterClose
		case s.remoteDone:
			if s.trailer != nil {
				if s.req.Trailer == nil {
					s.req.Trailer = http.Header{}
				}
				for k, v := range s.trailer {
					s.req.Trailer[k] = v
				}
				s.trailer = nil
			}
			return 0, io.EOF
		case !s.readDeadline.IsZero() && !time.Now().Before(s.readDeadline):
			return 0, os.ErrDeadlineExceeded
		}
		s.readable.Wait()
	}
	n := copy(p, s.buf[s.off:])
	s.off += n
	if s.off == len(s.buf) {
		s.buf, s.off = s.buf[:0], 0
	}
	s.consumedLocked(int64(n))
	return n, nil
}

// consumedLocked gives n read bytes back to the client's windows.
func (s *stream) consumedLocked(n int64) {
	c := s.c
	c.giveBackLocked(n)
	s.recvUnack += n
	if s.recvUnack >= streamWindow/2 && !s.remoteDone && s.err == nil {
		s.recvWindow += s.recvUnack
		c.out = append(c.out, windowUpdateFrame(s.id, uint32(s.recvUnack))...)
		s.recvUnack = 0
		c.kickLocked()
	}
}

func (b body) Close() error {
	s := b.s
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	s.closeBodyLocked()
	return nil
}

// closeBodyLocked drops what is buffered of the body and anything more
// that arrives, returning it to the connection's window.
func (s *stream) closeBodyLocked() {
	if s.bodyClosed {
		return
	}
	s.bodyClosed = true
	if n := len(s.buf) - s.off; n > 0 {
		s.c.giveBackLocked(int64(n))
	}
	s.buf, s.off = nil, 0
	s.readable.Broadcast()
}

// setDeadline arms (or, for the zero time, disarms) a deadline timer
// that wakes the stream's waiters when it passes.
func (s *stream) setDeadline(d *time.Time, t **time.Timer, at time.Time) {
	c := s.c
	c.mu.Lock()
	defer c.mu.Unlock()
	s.setDeadlineLocked(d, t, at)
}

// setDeadlineLocked is setDeadline with the connection's mu held.
func (s *stream) setDeadlineLocked(d *time.Time, t **time.Timer, at time.Time) {
	c := s.c
	*d = at
	if *t != nil {
		(*t).Stop()
	}
	if at.IsZero() {
		return
	}
	wake := func() {
		c.mu.Lock()
		s.readable.Broadcast()
		c.space.Broadcast()
		c.mu.Unlock()
	}
	if *t == nil {
		*t = time.AfterFunc(time.Until(at), wake)
	} else {
		(*t).Reset(time.Until(at))
	}
}

// headerListTooLong answers a request whose header fields exceed
// SETTINGS_MAX_HEADER_LIST_SIZE.
func headerListTooLong(w http.ResponseWriter, _ *http.Request) {
	http.Error(w, "Request Header Fields Too Large", http.StatusRequestHeaderFieldsTooLarge)
}

// headerListSize is the size of a header list as SETTINGS_MAX_HEADER_LIST_SIZE
// counts it (RFC 9113 6.5.2).
func headerListSize(f *http2.MetaHeadersFrame) int {
	n := 0
	for _, hf := range f.Fields {
		n += len(hf.Name) + len(hf.Value) + 32
	}
	return n
}
