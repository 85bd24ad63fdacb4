package site

import (
	"bufio"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/gatehouse/gatehouse/internal/buffer"
	"github.com/gatehouse/gatehouse/internal/config"
)

// graphFor builds a graph with a fixed-response route and a proxy route to
// upstream, access log off.
func graphFor(tb testing.TB, upstream string) http.Handler {
	tb.Helper()
	cfg, err := config.Parse([]byte(`admin: "off"
access_log: {output: "off"}
sites:
  - listen: ["127.0.0.1:1"]
    routes:
      - path: /fixed
        respond: {body: "hello\n"}
      - path: /
        proxy: {to: "http://`+upstream+`"}
`), "")
	if err != nil {
		tb.Fatal(err)
	}
	g, err := Build(cfg, Deps{Log: slog.New(slog.DiscardHandler), SpoolBudget: buffer.NewBudget(1 << 30)})
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(g.Close)
	return g.Handlers["127.0.0.1:1"]
}

// startUpstream runs a minimal keep-alive upstream that answers every
// request head with a fixed response, allocating nothing per request, so
// that allocation counts are Gatehouse's own.
func startUpstream(tb testing.TB) string {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { ln.Close() })
	resp := []byte("HTTP/1.1 200 OK\r\nContent-Type: text/plain\r\nContent-Length: 6\r\n\r\nhello\n")
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					line, err := br.ReadSlice('\n')
					if err != nil {
						return
					}
					if len(line) == 2 { // the empty line ending a head
						if _, err := c.Write(resp); err != nil {
							return
						}
					}
				}
			}()
		}
	}()
	return ln.Addr().String()
}

// discard is a ResponseWriter that keeps nothing, so the numbers are the
// graph's own.
type discard struct{ h http.Header }

func (d *discard) Header() http.Header         { return d.h }
func (d *discard) Write(p []byte) (int, error) { return len(p), nil }
func (d *discard) WriteHeader(int)             {}

func serve(h http.Handler, path string) {
	r := httptest.NewRequest("GET", path, nil)
	r.RemoteAddr = "127.0.0.1:5000"
	h.ServeHTTP(&discard{h: http.Header{}}, r)
}

func BenchmarkFixedResponse(b *testing.B) {
	h := graphFor(b, startUpstream(b))
	b.ReportAllocs()
	for b.Loop() {
		serve(h, "/fixed")
	}
}

func BenchmarkProxy(b *testing.B) {
	h := graphFor(b, startUpstream(b))
	b.ReportAllocs()
	for b.Loop() {
		serve(h, "/proxied")
	}
}

// TestAllocationBudget keeps the per-request allocations from creeping up.
// The counts include building the test request (httptest.NewRequest).
func TestAllocationBudget(t *testing.T) {
	h := graphFor(t, startUpstream(t))
	for path, budget := range map[string]float64{"/fixed": 24, "/proxied": 80} {
		serve(h, path) // warm pools and the upstream connection
		if got := testing.AllocsPerRun(200, func() { serve(h, path) }); got > budget {
			t.Errorf("%s: %.0f allocations per request, budget %.0f", path, got, budget)
		}
	}
}
