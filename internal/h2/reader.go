package h2

import (
	"io"
	"sync"
	"sync/atomic"
)

// readBuffers are the read buffers of connections that have input in
// hand; a connection waiting for its client's next frame holds none.
var readBuffers = sync.Pool{New: func() any { b := make([]byte, readBufferSize); return &b }}

// lazyReader buffers a connection's input like bufio.Reader, but waits
// for the next frame (at a frame boundary, with nothing buffered) with a
// one-byte read and no buffer, and gives the buffer back when it drains
// on an idle connection: a connection waiting for its client holds no
// read buffer (over TLS, crypto/tls holds the record), and can park
// (park.go) since nothing of a frame has been read.
type lazyReader struct {
	r io.Reader
	// idle is set while no stream is open.
	idle atomic.Bool
	// boundary is set by the reader before each frame, until the frame's
	// first byte is returned.
	boundary bool
	// waiting is set during the one-byte wait for a frame; waited runs
	// after one that returned input.
	waiting    atomic.Bool
	waited     func()
	buf        *[]byte
	start, end int
	one        [1]byte
}

func (l *lazyReader) Read(p []byte) (int, error) {
	if l.start == l.end {
		switch {
		case l.boundary:
			if err := l.waitFrame(); err != nil {
				return 0, err
			}
		case len(p) >= readBufferSize:
			l.release()
			return l.r.Read(p)
		default:
			if l.buf == nil {
				l.buf = readBuffers.Get().(*[]byte)
			}
			n, err := l.r.Read(*l.buf)
			if n == 0 {
				return 0, err
			}
			l.start, l.end = 0, n
		}
	}
	n := copy(p, (*l.buf)[l.start:l.end])
	l.start += n
	l.boundary = false
	if l.start == l.end && l.idle.Load() {
		l.release()
	}
	return n, nil
}

// waitFrame waits for the next frame's first byte without a buffer, then
// takes what arrived with it into one.
func (l *lazyReader) waitFrame() error {
	l.release()
	l.waiting.Store(true)
	n, err := l.r.Read(l.one[:])
	l.waiting.Store(false)
	if n == 0 {
		if err == nil {
			err = io.ErrNoProgress
		}
		return err
	}
	if l.waited != nil {
		l.waited()
	}
	l.buf = readBuffers.Get().(*[]byte)
	(*l.buf)[0] = l.one[0]
	m, _ := l.r.Read((*l.buf)[1:])
	l.start, l.end = 0, 1+m
	return nil
}

// release gives the buffer back; the caller has drained it.
func (l *lazyReader) release() {
	if l.buf != nil {
		readBuffers.Put(l.buf)
		l.buf = nil
	}
	l.start, l.end = 0, 0
}
