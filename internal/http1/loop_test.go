//go:build linux

package http1

import (
	"bufio"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"os"
	"runtime"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// loopHandler answers /fixed (and /big: 4 MB) on the loop, as Inliner, and
// everything else (/slow waits 50 ms, /echo returns the body) on a
// goroutine. It counts the requests served on the loop.
type loopHandler struct {
	onLoop atomic.Int32
}

func (h *loopHandler) InlineHandler(r *http.Request) http.Handler {
	if r.URL.Path == "/fixed" || r.URL.Path == "/big" {
		return h
	}
	return nil
}

func (h *loopHandler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	buf := make([]byte, 16<<10)
	if strings.Contains(string(buf[:runtime.Stack(buf, false)]), "wakeOnLoop") {
		h.onLoop.Add(1)
	}
	switch r.URL.Path {
	case "/fixed":
		_, _ = io.WriteString(w, "fixed "+r.URL.RawQuery)
	case "/big":
		_, _ = w.Write([]byte(strings.Repeat("b", 4<<20)))
	case "/slow":
		time.Sleep(50 * time.Millisecond)
		_, _ = io.WriteString(w, "slow "+r.URL.RawQuery)
	case "/echo":
		b, _ := io.ReadAll(r.Body)
		_, _ = w.Write(b)
	}
}

func dialLoop(t *testing.T, addr string) (net.Conn, *bufio.Reader) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	_ = c.SetDeadline(time.Now().Add(20 * time.Second))
	return c, bufio.NewReader(c)
}

// onTheLoop serves a loopHandler and returns a connection that has made
// a first quick request and parked, for the loop to serve its next ones.
func onTheLoop(t *testing.T, opts Options) (net.Conn, *bufio.Reader) {
	t.Helper()
	addr, _ := serve(t, &loopHandler{}, opts)
	c, br := dialLoop(t, addr)
	ask(t, c, br, "GET /fixed HTTP/1.1\r\nHost: h\r\n\r\n", "fixed ")
	time.Sleep(20 * time.Millisecond)
	return c, br
}

func ask(t *testing.T, c net.Conn, br *bufio.Reader, raw, want string) {
	t.Helper()
	if _, err := io.WriteString(c, raw); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatalf("%q: %v", raw, err)
	}
	if got := body(res); got != want {
		t.Fatalf("%q: got %q, want %q", raw, got, want)
	}
}

// TestServedOnTheLoop: after a first request the loop could serve, a
// connection's requests are served on the idle set's loop; requests it
// cannot serve there (a handler that waits, a body) go to a goroutine and
// the connection comes back to the loop after the next quick one.
func TestServedOnTheLoop(t *testing.T) {
	h := &loopHandler{}
	addr, s := serve(t, h, Options{})
	if s.idle == nil {
		t.Skip("no idle set on this platform")
	}
	c, br := dialLoop(t, addr)
	for i := 0; i < 20; i++ {
		ask(t, c, br, fmt.Sprintf("GET /fixed?%d HTTP/1.1\r\nHost: h\r\n\r\n", i), fmt.Sprintf("fixed %d", i))
	}
	if n := h.onLoop.Load(); n < 15 {
		t.Fatalf("%d of 20 requests served on the loop", n)
	}
	before := h.onLoop.Load()
	for i := 0; i < 5; i++ {
		ask(t, c, br, fmt.Sprintf("GET /slow?%d HTTP/1.1\r\nHost: h\r\n\r\n", i), fmt.Sprintf("slow %d", i))
		ask(t, c, br, "POST /echo HTTP/1.1\r\nHost: h\r\nContent-Length: 5\r\n\r\nhello", "hello")
		ask(t, c, br, fmt.Sprintf("GET /fixed?%d HTTP/1.1\r\nHost: h\r\n\r\n", i), fmt.Sprintf("fixed %d", i))
		ask(t, c, br, fmt.Sprintf("GET /fixed?%d HTTP/1.1\r\nHost: h\r\n\r\n", i), fmt.Sprintf("fixed %d", i))
	}
	if n := h.onLoop.Load() - before; n < 4 {
		t.Fatalf("after requests on goroutines, %d quick ones served on the loop", n)
	}
	// A head that arrives in pieces is read on a goroutine.
	if _, err := io.WriteString(c, "GET /fixed?split HTTP/1.1\r\nHo"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(50 * time.Millisecond)
	ask(t, c, br, "st: h\r\n\r\n", "fixed split")
	ask(t, c, br, "GET /fixed?after HTTP/1.1\r\nHost: h\r\n\r\n", "fixed after")
}

// TestLoopPipelined: many requests sent at once on a loop connection are
// all answered, in order (the loop serves maxServedPerWake of them, a
// goroutine the rest), with waiting ones among them.
func TestLoopPipelined(t *testing.T) {
	c, br := onTheLoop(t, Options{})
	var b strings.Builder
	for i := 0; i < 60; i++ {
		path := "/fixed"
		if i%25 == 24 {
			path = "/slow"
		}
		fmt.Fprintf(&b, "GET %s?%d HTTP/1.1\r\nHost: h\r\n\r\n", path, i)
	}
	if _, err := io.WriteString(c, b.String()); err != nil {
		t.Fatal(err)
	}
	for i := 0; i < 60; i++ {
		res, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatalf("response %d: %v", i, err)
		}
		want := fmt.Sprintf("fixed %d", i)
		if i%25 == 24 {
			want = fmt.Sprintf("slow %d", i)
		}
		if got := body(res); got != want {
			t.Fatalf("response %d: %q, want %q", i, got, want)
		}
	}
}

// TestLoopBacklog: a response larger than the socket takes at once, to a
// client that reads it late, is written whole off the loop; the loop
// meanwhile serves other connections.
func TestLoopBacklog(t *testing.T) {
	c, br := onTheLoop(t, Options{})
	addr := c.RemoteAddr().String()
	if _, err := io.WriteString(c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /fixed?next HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
		t.Fatal(err)
	}
	time.Sleep(100 * time.Millisecond) // not reading: the socket fills
	other, obr := dialLoop(t, addr)
	for i := 0; i < 5; i++ {
		ask(t, other, obr, "GET /fixed?other HTTP/1.1\r\nHost: h\r\n\r\n", "fixed other")
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if n, _ := io.Copy(io.Discard, res.Body); n != 4<<20 {
		t.Fatalf("big body: %d bytes", n)
	}
	res, err = http.ReadResponse(br, nil)
	if err != nil || body(res) != "fixed next" {
		t.Fatalf("after the big body: %v", err)
	}
}

// TestLoopHeaderTimeout: a head left unfinished on a loop connection is
// refused with 408 after the header timeout.
func TestLoopHeaderTimeout(t *testing.T) {
	c, br := onTheLoop(t, Options{HeaderTimeout: 300 * time.Millisecond})
	if _, err := io.WriteString(c, "GET /fixed HTTP/1.1\r\nHo"); err != nil {
		t.Fatal(err)
	}
	res, err := http.ReadResponse(br, nil)
	if err != nil {
		t.Fatal(err)
	}
	if res.StatusCode != http.StatusRequestTimeout {
		t.Fatalf("status %d, want 408", res.StatusCode)
	}
}

// TestLoopShutdownLosesNothing: connections busy on the loop while the
// server shuts down get every request answered, the last ones with
// Connection: close, and are then closed.
func TestLoopShutdownLosesNothing(t *testing.T) {
	addr, s := serve(t, &loopHandler{}, Options{})
	errs := make(chan error, 4)
	for g := 0; g < 4; g++ {
		go func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				errs <- err
				return
			}
			defer c.Close()
			_ = c.SetDeadline(time.Now().Add(20 * time.Second))
			br := bufio.NewReader(c)
			for i := 0; ; i++ {
				if _, err := io.WriteString(c, "GET /fixed HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
					errs <- fmt.Errorf("request %d: %w", i, err)
					return
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					errs <- fmt.Errorf("response %d: %w", i, err)
					return
				}
				_ = body(res)
				if res.Close {
					errs <- nil
					return
				}
			}
		}()
	}
	time.Sleep(200 * time.Millisecond)
	ctx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for g := 0; g < 4; g++ {
		if err := <-errs; err != nil {
			t.Fatal(err)
		}
	}
	if n := s.OpenConns(); n != 0 {
		t.Fatalf("%d connections left", n)
	}
}

// TestClosingOnlyItsOwnSocket: a connection that never left Go's poller
// (TLS here) closes nothing but its own connection when it ends (a
// detached descriptor left at its zero value once closed descriptor 0,
// and with it whatever socket had taken that number).
func TestClosingOnlyItsOwnSocket(t *testing.T) {
	r, w, err := os.Pipe()
	if err != nil {
		t.Fatal(err)
	}
	defer r.Close()
	defer w.Close()
	addr, s, clientConf := serveTLS(t, echo())
	for i := 0; i < 3; i++ {
		c, err := tls.Dial("tcp", addr, clientConf)
		if err != nil {
			t.Fatal(err)
		}
		fmt.Fprintf(c, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n")
		_, _ = io.ReadAll(c)
		_ = c.Close()
	}
	waitUntil(t, "connections ended", func() bool { return s.OpenConns() == 0 })
	for _, f := range []*os.File{r, w} {
		if _, err := unix.FcntlInt(f.Fd(), unix.F_GETFD, 0); err != nil {
			t.Fatalf("descriptor %d closed under its owner: %v", f.Fd(), err)
		}
	}
	if _, err := unix.FcntlInt(0, unix.F_GETFD, 0); err != nil {
		t.Fatalf("descriptor 0 closed: %v", err)
	}
}

// panickyInliner's InlineHandler panics: the request is still answered,
// on a goroutine, and the server survives.
type panickyInliner struct{ loopHandler }

func (*panickyInliner) InlineHandler(*http.Request) http.Handler { panic("inline") }

func TestInlinerPanicIsContained(t *testing.T) {
	addr, _ := serve(t, &panickyInliner{}, Options{})
	c, br := dialLoop(t, addr)
	for i := 0; i < 3; i++ {
		ask(t, c, br, "GET /fixed?p HTTP/1.1\r\nHost: h\r\n\r\n", "fixed p")
	}
}
