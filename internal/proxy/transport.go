package proxy

import (
	"io"
	"net/http"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// timedTransport records how long the upstream took to send its response
// headers.
type timedTransport struct {
	rt http.RoundTripper
}

func (t timedTransport) RoundTrip(r *http.Request) (*http.Response, error) {
	start := time.Now()
	res, err := t.rt.RoundTrip(r)
	reqinfo.From(r.Context()).UpstreamTime = time.Since(start)
	return res, err
}

// clientBody records a failure to read the client's request body, so that
// the failure is answered with 400 rather than blamed on the upstream.
type clientBody struct {
	io.ReadCloser
	info *reqinfo.Info
}

func (b *clientBody) Read(p []byte) (int, error) {
	n, err := b.ReadCloser.Read(p)
	if err != nil && err != io.EOF {
		b.info.BodyError = err
	}
	return n, err
}

// bufferPool recycles the 32 KiB buffers used to copy response bodies.
type bufferPool struct {
	pool sync.Pool
}

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (p *bufferPool) Get() []byte  { return *(p.pool.Get().(*[]byte)) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }

// idleBody fails the upstream exchange (through onIdle) when a single read
// of the upstream's body waits longer than d. Time spent between reads, for
// instance writing to a slow client, does not count.
type idleBody struct {
	rc    io.ReadCloser
	d     time.Duration
	timer *time.Timer
}

func newIdleBody(rc io.ReadCloser, d time.Duration, onIdle func()) *idleBody {
	t := time.AfterFunc(d, onIdle)
	t.Stop()
	return &idleBody{rc: rc, d: d, timer: t}
}

func (b *idleBody) Read(p []byte) (int, error) {
	b.timer.Reset(b.d)
	n, err := b.rc.Read(p)
	b.timer.Stop()
	return n, err
}

func (b *idleBody) Close() error {
	b.timer.Stop()
	return b.rc.Close()
}
