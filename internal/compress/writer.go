package compress

import (
	"fmt"
	"io"
	"net/http"
	"strings"
	"sync"

	"github.com/andybalholm/brotli"
	"github.com/klauspost/compress/gzip"
	"github.com/klauspost/compress/zstd"
)

// Levels chosen for on-the-fly compression: fast enough to keep up with a
// proxy, most of the gain of the slow levels.
const (
	gzipLevel   = 5
	brotliLevel = 4
)

// Encoder is a streaming encoder: Write compresses, Flush pushes out what
// is buffered (for streamed responses), Close ends the stream.
type Encoder interface {
	io.WriteCloser
	Flush() error
}

// Compressor hands out pooled encoders for the encodings a route offers.
type Compressor struct {
	offered []string
	gzips   sync.Pool
	brs     sync.Pool
	zstds   sync.Pool
}

// New returns a compressor offering encodings in that order of preference.
func New(encodings []string) (*Compressor, error) {
	for _, e := range encodings {
		if !Known(e) {
			return nil, fmt.Errorf("compress: unknown encoding %q (want zstd, br or gzip)", e)
		}
	}
	c := &Compressor{offered: encodings}
	c.gzips.New = func() any { w, _ := gzip.NewWriterLevel(nil, gzipLevel); return w }
	c.brs.New = func() any { return brotli.NewWriterLevel(nil, brotliLevel) }
	c.zstds.New = func() any {
		w, _ := zstd.NewWriter(nil, zstd.WithEncoderLevel(zstd.SpeedDefault), zstd.WithEncoderConcurrency(1),
			zstd.WithWindowSize(1<<20), zstd.WithLowerEncoderMem(true))
		return w
	}
	return c, nil
}

// Offered are the encodings in order of preference.
func (c *Compressor) Offered() []string { return c.offered }

// Start decides whether the response about to be sent with status and
// header h is compressed for a client sending acceptEncoding. When it is,
// the header is changed (Content-Encoding, Vary, no Content-Length, a weak
// ETag) and the returned encoder writes to dst; otherwise nil.
func (c *Compressor) Start(dst io.Writer, method string, status int, h http.Header, acceptEncoding []string) Encoder {
	if !Eligible(method, status, h) {
		return nil
	}
	addVary(h)
	enc := Negotiate(acceptEncoding, c.offered)
	if enc == "" {
		return nil
	}
	h["Content-Encoding"] = []string{enc}
	delete(h, "Content-Length")
	delete(h, "Accept-Ranges")
	if et := h["Etag"]; len(et) > 0 && !strings.HasPrefix(et[0], "W/") {
		h["Etag"] = []string{"W/" + et[0]}
	}
	switch enc {
	case Gzip:
		w := c.gzips.Get().(*gzip.Writer)
		w.Reset(dst)
		return &pooled{Encoder: w, put: func() { w.Reset(nil); c.gzips.Put(w) }}
	case Brotli:
		w := c.brs.Get().(*brotli.Writer)
		w.Reset(dst)
		return &pooled{Encoder: w, put: func() { w.Reset(nil); c.brs.Put(w) }}
	default:
		w := c.zstds.Get().(*zstd.Encoder)
		w.Reset(dst)
		return &pooled{Encoder: w, put: func() { w.Reset(nil); c.zstds.Put(w) }}
	}
}

// addVary adds Accept-Encoding to the Vary header once.
func addVary(h http.Header) {
	for _, v := range h["Vary"] {
		for _, f := range strings.Split(v, ",") {
			f = strings.TrimSpace(f)
			if f == "*" || strings.EqualFold(f, "Accept-Encoding") {
				return
			}
		}
	}
	h["Vary"] = append(h["Vary"], "Accept-Encoding")
}

// pooled returns its encoder to the pool when closed.
type pooled struct {
	Encoder
	put  func()
	done bool
}

// Close ends the encoded stream and recycles the encoder.
func (p *pooled) Close() error {
	if p.done {
		return nil
	}
	p.done = true
	err := p.Encoder.Close()
	p.put()
	return err
}
