package h2

import (
	"io"
	"sync"
	"sync/atomic"
)

// readBuffers are the read buffers of connections that have input in
// hand; an idle connection holds none.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// lazyReader buffers a connection's input like bufio.Reader, but an idle
// connection (no stream open) gives its buffer back once it is drained
// and waits for the next input with a one-byte read: a connection
// waiting for its client holds no read buffer (over TLS, crypto/tls
// holds the record).
type lazyReader struct {
	r          io.Reader
	idle       atomic.Bool
	buf        *[]byte
	start, end int
	one        [1]byte
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.start == l.end {
		if len(p) >= readBufferSize {
			l.release()
			return l.r.Read(p)
		}
		if l.buf == nil || l.idle.Load() {
			l.release()
			// Wait without a buffer; once a byte came, the rest of
			// what arrived with it is read into one.
			n, err := l.r.Read(l.one[:])
			if n == 0 {
				return 0, err
			}
			l.buf = readBuffers.Get().(*[]byte)
			(*l.buf)[0] = l.one[0]
			l.start, l.end = 0, 1
			if len(p) > 1 {
				m, _ := l.r.Read((*l.buf)[1:])
				l.end += m
			}
		} else {
			n, err := l.r.Read(*l.buf)
			if n == 0 {
				l.release()
				return 0, err
			}
			l.start, l.end = 0, n
		}
	}
	n := copy(p, (*l.buf)[l.start:l.end])
	l.start += n
	if l.start == l.end && l.idle.Load() {
		l.release()
	}
	return n, nil
}

// release gives the buffer back once it is drained.
func (l *lazyReader) release() {
	if l.buf != nil {
		readBuffers.Put(l.buf)
		l.buf = nil
	}
	l.start, l.end = 0, 0
}
