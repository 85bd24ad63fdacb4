package http1

import (
	"bufio"
	"io"
	"net/http"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/wire"
)

// requestBody is a request's body as the handler reads it: Content-Length
// or chunked framing checked strictly, 100 Continue sent on the first read
// when the client asked for it.
type requestBody struct {
	w      *response
	r      io.Reader
	eof    bool        // read to the end: the connection can be reused
	done   atomic.Bool // eof, for the client-close watcher
	err    error
	closed bool
}

func (b *requestBody) setLength(br *bufio.Reader, n int64) {
	b.r = wire.NewLengthReader(br, n)
}

func (b *requestBody) setChunked(br *bufio.Reader) {
	b.r = wire.NewChunkedReader(br, nil)
}

func (b *requestBody) Read(p []byte) (int, error) {
	switch {
	case b.closed:
		return 0, http.ErrBodyReadAfterClose
	case b.eof:
		return 0, io.EOF
	case b.err != nil:
		return 0, b.err
	}
	if w := b.w; w.expectContinue && !w.wroteContinue && !w.committed {
		w.writeInformational(http.StatusContinue)
	}
	n, err := b.r.Read(p)
	switch err {
	case nil:
	case io.EOF:
		b.eof = true
		b.done.Store(true)
	default:
		b.err = err
	}
	return n, err
}

// Close stops the handler's reads; what is left is drained or the
// connection closed after the response.
func (b *requestBody) Close() error {
	b.closed = true
	return nil
}

// drainTimeout bounds the wait for the rest of an unread body.
const drainTimeout = 2 * time.Second

// drain reads and discards what the handler left of the body, up to
// maxDrain, and reports whether the connection can be reused.
func (b *requestBody) drain() bool {
	if b.err != nil || b.r == nil {
		return false
	}
	if b.w.expectContinue && !b.w.wroteContinue {
		return false // the client may never send it
	}
	_ = b.w.c.setReadDeadline(time.Now().Add(drainTimeout))
	n, err := io.CopyN(io.Discard, b.r, maxDrain+1)
	return err == io.EOF && n <= maxDrain
}
