package site

import (
	"bufio"
	"io"
	"log/slog"
	"net"
	"net/http"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/buffer"
	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/http1"
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

// frontEnd serves h through Gatehouse's HTTP/1.1 front end and returns a
// keep-alive client connection to it that sends path and reads exactly the
// response's bytes (its length is learned on the first call), allocating
// nothing itself.
func frontEnd(tb testing.TB, h http.Handler) func(path string) {
	tb.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		tb.Fatal(err)
	}
	srv := http1.New(h, http1.Options{HeaderTimeout: time.Minute, IdleTimeout: time.Minute, ServerName: "gatehouse"})
	go func() { _ = srv.Serve(ln) }()
	tb.Cleanup(func() { _ = srv.Close() })
	c, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		tb.Fatal(err)
	}
	tb.Cleanup(func() { c.Close() })
	sizes := map[string]int{}
	reqs := map[string][]byte{}
	buf := make([]byte, 64<<10)
	return func(path string) {
		req, ok := reqs[path]
		if !ok {
			req = []byte("GET " + path + " HTTP/1.1\r\nHost: bench\r\n\r\n")
			reqs[path] = req
		}
		if _, err := c.Write(req); err != nil {
			tb.Fatal(err)
		}
		n, ok := sizes[path]
		if !ok {
			// The first response is read until the line goes quiet.
			_ = c.SetReadDeadline(time.Now().Add(300 * time.Millisecond))
			for {
				m, err := c.Read(buf[n:])
				n += m
				if err != nil {
					break
				}
			}
			_ = c.SetReadDeadline(time.Time{})
			sizes[path] = n
			return
		}
		if _, err := io.ReadFull(c, buf[:n]); err != nil {
			tb.Fatal(err)
		}
	}
}

func BenchmarkFixedResponse(b *testing.B) {
	get := frontEnd(b, graphFor(b, startUpstream(b)))
	get("/fixed")
	b.ReportAllocs()
	for b.Loop() {
		get("/fixed")
	}
}

func BenchmarkProxy(b *testing.B) {
	get := frontEnd(b, graphFor(b, startUpstream(b)))
	get("/proxied")
	b.ReportAllocs()
	for b.Loop() {
		get("/proxied")
	}
}

// TestAllocationBudget keeps the per-request allocations of the whole path
// (front end, site, limits, handler, upstream client) from creeping up.
func TestAllocationBudget(t *testing.T) {
	get := frontEnd(t, graphFor(t, startUpstream(t)))
	for path, budget := range map[string]float64{"/fixed": 14, "/proxied": 26} {
		get(path) // learn the response size, warm pools and the upstream connection
		get(path)
		if got := testing.AllocsPerRun(200, func() { get(path) }); got > budget {
			t.Errorf("%s: %.0f allocations per request, budget %.0f", path, got, budget)
		}
	}
}
