package http1

import (
	"bufio"
	"io"
	"net"
	"net/http"
	"strconv"
	"strings"
	"time"

	"github.com/gatehouse/gatehouse/internal/httpsyntax"
)

// pendingLimit is how much of a body is held back before the head is
// written, so that a short response gets a Content-Length instead of
// chunked framing.
const pendingLimit = 4 << 10

// response is the http.ResponseWriter of one request. The head is built
// when the status is set (later header changes do not apply, as with
// net/http) and written with the first body bytes that do not fit the
// pending buffer, at Flush, or when the handler returns.
type response struct {
	c      *conn
	req    *http.Request
	ctx    requestContext
	header http.Header
	body   requestBody

	status    int
	committed bool  // the head is in the write buffer
	declared  int64 // Content-Length set by the handler, or -1
	written   int64 // body bytes accepted from the handler
	chunked   bool
	noBody    bool // HEAD, 1xx, 204, 304
	isHead    bool
	sniff     bool // no Content-Type: detect one from the first bytes
	hasDate   bool
	teOther   bool // the handler set a Transfer-Encoding other than chunked
	trailers  []string

	closeAfter     bool
	broken         bool // a write failed; the connection is done
	hijacked       bool
	expectContinue bool
	wroteContinue  bool
}

func (w *response) Header() http.Header { return w.header }

func (w *response) WriteHeader(code int) {
	if w.hijacked || w.status != 0 {
		return
	}
	if code < 100 || code > 999 {
		panic("http1: invalid WriteHeader code " + strconv.Itoa(code))
	}
	if code < 200 && code != http.StatusSwitchingProtocols {
		w.writeInformational(code)
		return
	}
	w.status = code
	w.noBody = w.isHead || code == http.StatusNoContent || code == http.StatusNotModified || code < 200
	w.buildHead()
}

// writeInformational sends a 1xx response (100 Continue, 103 Early Hints)
// with the header fields set so far.
func (w *response) writeInformational(code int) {
	if code == http.StatusContinue {
		if w.wroteContinue || !w.expectContinue {
			return
		}
		w.wroteContinue = true
	}
	b := append(w.c.hb[:0], "HTTP/1.1 "...)
	b = appendStatusLine(b, code)
	if code != http.StatusContinue {
		for k, vs := range w.header {
			b = appendField(b, k, vs)
		}
	}
	b = append(b, "\r\n"...)
	w.c.hb = b[:0]
	if _, err := w.c.bw.Write(b); err == nil {
		err = w.c.bw.Flush()
		w.broken = w.broken || err != nil
	}
}

// buildHead snapshots the status line and header fields into c.hb; the
// framing fields are added at commit.
func (w *response) buildHead() {
	b := append(w.c.hb[:0], "HTTP/1."...)
	b = append(b, byte('0'+w.req.ProtoMinor), ' ')
	b = appendStatusLine(b, w.status)
	_, hasType := w.header["Content-Type"]
	w.sniff = !hasType && !w.noBody
	for k, vs := range w.header {
		switch k {
		case "Content-Length":
			if n, ok := parseContentLength(strings.Join(vs, ",")); ok && w.status != http.StatusNoContent && w.status >= 200 {
				w.declared = n
				b = appendField(b, k, vs[:1])
			}
			continue
		case "Transfer-Encoding":
			for _, v := range vs {
				w.teOther = w.teOther || !strings.EqualFold(httpsyntax.TrimOWS(v), "chunked")
			}
			continue // framing is ours to choose
		case "Connection":
			for _, v := range vs {
				w.closeAfter = w.closeAfter || strings.Contains(strings.ToLower(v), "close")
			}
			continue
		case "Trailer":
			w.trailers = httpsyntax.AppendFieldNames(w.trailers, vs)
		case "Date":
			w.hasDate = true
		}
		if strings.HasPrefix(k, http.TrailerPrefix) {
			continue
		}
		b = appendField(b, k, vs)
	}
	w.c.hb = b
}

// appendField appends "Key: value\r\n" per value. Invalid names are
// skipped and CR or LF in values become spaces, so a handler cannot split
// the response.
func appendField(b []byte, k string, vs []string) []byte {
	if !httpsyntax.IsToken(k) {
		return b
	}
	for _, v := range vs {
		b = append(b, k...)
		b = append(b, ": "...)
		start := len(b)
		b = append(b, v...)
		for i := start; i < len(b); i++ {
			if b[i] == '\r' || b[i] == '\n' {
				b[i] = ' '
			}
		}
		b = append(b, "\r\n"...)
	}
	return b
}

func (w *response) Write(p []byte) (int, error) {
	if w.hijacked {
		return 0, http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody {
		if w.isHead {
			w.written += int64(len(p))
			return len(p), nil
		}
		return 0, http.ErrBodyNotAllowed
	}
	if w.declared >= 0 && w.written+int64(len(p)) > w.declared {
		return 0, http.ErrContentLength
	}
	if w.broken {
		return 0, net.ErrClosed
	}
	w.written += int64(len(p))
	if !w.committed {
		if len(w.c.pending)+len(p) <= pendingLimit {
			w.c.pending = append(w.c.pending, p...)
			return len(p), nil
		}
		if err := w.commit(false); err != nil {
			return 0, err
		}
	}
	if err := w.writeBody(p); err != nil {
		return 0, err
	}
	return len(p), nil
}

// WriteString avoids a copy for io.WriteString callers.
func (w *response) WriteString(s string) (int, error) {
	return w.Write([]byte(s))
}

// writeBody writes body bytes after the head, in a chunk when chunked.
func (w *response) writeBody(p []byte) error {
	if len(p) == 0 {
		return nil
	}
	bw := w.c.bw
	if w.chunked {
		var size [20]byte
		_, _ = bw.Write(append(strconv.AppendInt(size[:0], int64(len(p)), 16), '\r', '\n'))
	}
	_, err := bw.Write(p)
	if w.chunked && err == nil {
		_, err = bw.WriteString("\r\n")
	}
	if err != nil {
		w.broken = true
	}
	return err
}

// commit writes the head with its framing fields, then the pending body.
// final means the handler is done, so the pending bytes are the whole body.
func (w *response) commit(final bool) error {
	c := w.c
	b := c.hb
	pending := c.pending
	switch {
	case w.noBody:
		if w.isHead && final && w.declared < 0 && w.written > 0 && w.status >= 200 && w.status != http.StatusNoContent && w.status != http.StatusNotModified {
			b = append(b, "Content-Length: "...)
			b = strconv.AppendInt(b, w.written, 10)
			b = append(b, "\r\n"...)
		}
	case w.declared >= 0:
	case final && !w.teOther:
		b = append(b, "Content-Length: "...)
		b = strconv.AppendInt(b, int64(len(pending)), 10)
		b = append(b, "\r\n"...)
	case w.req.ProtoMinor == 1 && !w.teOther:
		w.chunked = true
		b = append(b, "Transfer-Encoding: chunked\r\n"...)
	default:
		w.closeAfter = true // the body ends when the connection does
	}
	if w.sniff && len(pending) > 0 {
		b = append(b, "Content-Type: "...)
		b = append(b, http.DetectContentType(pending)...)
		b = append(b, "\r\n"...)
	}
	if !w.hasDate {
		b = append(b, "Date: "...)
		b = append(b, c.srv.date.Get()...)
		b = append(b, "\r\n"...)
	}
	if w.req.Close || c.srv.closing.Load() || (w.expectContinue && !w.wroteContinue && !w.body.eof) {
		w.closeAfter = true
	}
	switch {
	case w.closeAfter:
		b = append(b, "Connection: close\r\n"...)
	case w.req.ProtoMinor == 0:
		b = append(b, "Connection: keep-alive\r\n"...)
	}
	b = append(b, "\r\n"...)
	c.hb = b[:0]
	w.committed = true
	if _, err := c.bw.Write(b); err != nil {
		w.broken = true
		return err
	}
	c.pending = pending[:0]
	if w.noBody {
		return nil
	}
	return w.writeBody(pending)
}

// finish completes the response after the handler returned and says what
// becomes of the connection.
func (w *response) finish() outcome {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		_ = w.commit(true)
	} else if w.chunked && !w.broken {
		w.writeTrailers()
	}
	if w.declared >= 0 && w.written < w.declared && !w.noBody {
		w.closeAfter = true // the body was cut short; its framing is wrong
	}
	if err := w.c.bw.Flush(); err != nil {
		w.broken = true
	}
	switch {
	case w.broken:
		return outcomeClose
	case w.closeAfter:
		if w.body.eof && w.c.br.Buffered() == 0 {
			return outcomeClose
		}
		return outcomeLinger
	case !w.body.eof && !w.body.drain():
		return outcomeLinger
	}
	return outcomeKeep
}

// writeTrailers ends a chunked body, with the trailer fields the handler
// announced (Trailer) or set with http.TrailerPrefix.
func (w *response) writeTrailers() {
	b := append(w.c.hb[:0], "0\r\n"...)
	for _, k := range w.trailers {
		if vs := w.header[k]; len(vs) > 0 {
			b = appendField(b, k, vs)
		}
	}
	for k, vs := range w.header {
		if strings.HasPrefix(k, http.TrailerPrefix) {
			b = appendField(b, strings.TrimPrefix(k, http.TrailerPrefix), vs)
		}
	}
	b = append(b, "\r\n"...)
	w.c.hb = b[:0]
	if _, err := w.c.bw.Write(b); err != nil {
		w.broken = true
	}
}

// Flush sends what has been written so far.
func (w *response) Flush() { _ = w.FlushError() }

// FlushError sends what has been written so far, with chunked framing when
// the length is not known yet.
func (w *response) FlushError() error {
	if w.hijacked {
		return http.ErrHijacked
	}
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if !w.committed {
		if err := w.commit(false); err != nil {
			return err
		}
	}
	if err := w.c.bw.Flush(); err != nil {
		w.broken = true
		return err
	}
	return nil
}

// ReadFrom copies src to the response; a body of declared length goes
// straight to the socket, where the kernel can sendfile it.
func (w *response) ReadFrom(src io.Reader) (int64, error) {
	if w.status == 0 {
		w.WriteHeader(http.StatusOK)
	}
	if w.noBody || w.hijacked || w.broken || w.declared < 0 || w.sniff {
		return io.Copy(writerOnly{w}, src)
	}
	if !w.committed {
		if err := w.commit(false); err != nil {
			return 0, err
		}
	}
	if err := w.c.bw.Flush(); err != nil {
		w.broken = true
		return 0, err
	}
	rf, ok := w.c.nc.(io.ReaderFrom)
	if !ok {
		return io.Copy(writerOnly{w}, src)
	}
	n, err := rf.ReadFrom(src)
	w.written += n
	if w.written > w.declared {
		w.broken = true // more than the declared length went out
	}
	if err != nil {
		w.broken = true
	}
	return n, err
}

// writerOnly hides ReadFrom so io.Copy does not loop back into it.
type writerOnly struct{ io.Writer }

// Hijack hands the connection to the handler, with whatever the client
// sent beyond the request head still in the reader.
func (w *response) Hijack() (net.Conn, *bufio.ReadWriter, error) {
	if w.hijacked {
		return nil, nil, http.ErrHijacked
	}
	c := w.c
	c.watch.stop(c)
	if w.committed {
		if err := c.bw.Flush(); err != nil {
			return nil, nil, err
		}
	}
	w.hijacked = true
	c.state.Store(stateHijacked)
	c.srv.forget(c)
	_ = c.nc.SetDeadline(time.Time{})
	return c.handOver(), bufio.NewReadWriter(c.br, c.bw), nil
}

// SetReadDeadline bounds the reads of the request body.
func (w *response) SetReadDeadline(t time.Time) error { return w.c.setReadDeadline(t) }

// SetWriteDeadline bounds the writes of the response.
func (w *response) SetWriteDeadline(t time.Time) error { return w.c.nc.SetWriteDeadline(t) }

// EnableFullDuplex is accepted: the request body can always be read while
// the response is written.
func (w *response) EnableFullDuplex() error { return nil }
