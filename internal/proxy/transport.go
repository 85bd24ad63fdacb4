package proxy

import (
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

// bufferPool recycles the 32 KiB buffers used to copy response bodies.
type bufferPool struct {
	pool sync.Pool
}

func newBufferPool() *bufferPool {
	return &bufferPool{pool: sync.Pool{New: func() any { b := make([]byte, 32<<10); return &b }}}
}

func (p *bufferPool) Get() []byte  { return *(p.pool.Get().(*[]byte)) }
func (p *bufferPool) Put(b []byte) { p.pool.Put(&b) }
