package http1

import (
	"bufio"
	"context"
	"fmt"
	"io"
	"net"
	"net/http"
	"runtime"
	"testing"
	"time"
)

// waitUntil polls cond for up to five seconds.
func waitUntil(t *testing.T, what string, cond func() bool) {
	t.Helper()
	deadline := time.Now().Add(5 * time.Second)
	for !cond() {
		if time.Now().After(deadline) {
			t.Fatalf("not within 5 s: %s", what)
		}
		time.Sleep(20 * time.Millisecond)
	}
}

// dialIdle opens n keep-alive connections that have each made a request.
func dialIdle(t *testing.T, addr string, n int) ([]net.Conn, []*bufio.Reader) {
	t.Helper()
	var conns []net.Conn
	var readers []*bufio.Reader
	for i := 0; i < n; i++ {
		c, err := net.Dial("tcp", addr)
		if err != nil {
			t.Fatal(err)
		}
		t.Cleanup(func() { c.Close() })
		br := bufio.NewReader(c)
		fmt.Fprintf(c, "GET /%d HTTP/1.1\r\nHost: h\r\n\r\n", i)
		if got := body(readResponses(t, br, "GET")[0]); got != fmt.Sprintf("GET /%d host=h body=", i) {
			t.Fatalf("first answer: %q", got)
		}
		conns, readers = append(conns, c), append(readers, br)
	}
	return conns, readers
}

func TestIdleConnectionsParkAndWake(t *testing.T) {
	addr, s := serve(t, echo(), Options{})
	if s.idle == nil {
		t.Skip("no idle set on this platform")
	}
	before := runtime.NumGoroutine()
	conns, readers := dialIdle(t, addr, 50)
	waitUntil(t, "50 connections parked", func() bool { return s.idle.Len() == 50 })
	if g := runtime.NumGoroutine(); g > before+5 {
		t.Errorf("50 parked connections, %d goroutines more than before", g-before)
	}
	// Each wakes on its next request, is answered, and parks again.
	for i, c := range conns {
		fmt.Fprintf(c, "POST /again HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi")
		if got := body(readResponses(t, readers[i], "POST")[0]); got != "POST /again host=h body=hi" {
			t.Fatalf("connection %d after parking: %q", i, got)
		}
	}
	waitUntil(t, "parked again", func() bool { return s.idle.Len() == 50 })
	// A client that closes a parked connection frees it.
	conns[0].Close()
	waitUntil(t, "a closed connection forgotten", func() bool { return s.OpenConns() == 49 && s.idle.Len() == 49 })
	// Pipelined requests that arrive together after parking are all answered.
	fmt.Fprintf(conns[1], "GET /a HTTP/1.1\r\nHost: h\r\n\r\nGET /b HTTP/1.1\r\nHost: h\r\n\r\n")
	res := readResponses(t, readers[1], "GET", "GET")
	if body(res[0]) != "GET /a host=h body=" || body(res[1]) != "GET /b host=h body=" {
		t.Fatal("pipelined requests after parking")
	}
}

func TestParkedConnectionsExpireAndShutDown(t *testing.T) {
	addr, s := serve(t, echo(), Options{IdleTimeout: 1500 * time.Millisecond})
	if s.idle == nil {
		t.Skip("no idle set on this platform")
	}
	conns, _ := dialIdle(t, addr, 3)
	waitUntil(t, "parked", func() bool { return s.idle.Len() == 3 })
	// The idle timeout closes parked connections (within a second of it).
	start := time.Now()
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(5 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("parked connection past its idle timeout: %v", err)
		}
	}
	if d := time.Since(start); d > 3500*time.Millisecond {
		t.Errorf("closed %s after parking", d)
	}
	waitUntil(t, "expired connections forgotten", func() bool { return s.OpenConns() == 0 && s.idle.Len() == 0 })

	// Shutdown closes parked connections at once.
	conns, _ = dialIdle(t, addr, 3)
	waitUntil(t, "parked", func() bool { return s.idle.Len() == 3 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("parked connection after Shutdown: %v", err)
		}
	}
	if n := s.OpenConns(); n != 0 {
		t.Errorf("%d connections left after Shutdown", n)
	}
}

// TestParkingUnderTraffic runs busy and idle connections together while
// the park scan runs: every request is answered.
func TestParkingUnderTraffic(t *testing.T) {
	addr, s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ok")
	}), Options{})
	if s.idle == nil {
		t.Skip("no idle set on this platform")
	}
	done := make(chan error, 8)
	for g := 0; g < 8; g++ {
		go func() {
			c, err := net.Dial("tcp", addr)
			if err != nil {
				done <- err
				return
			}
			defer c.Close()
			br := bufio.NewReader(c)
			for i := 0; i < 40; i++ {
				if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n"); err != nil {
					done <- err
					return
				}
				res, err := http.ReadResponse(br, nil)
				if err != nil {
					done <- fmt.Errorf("request %d: %w", i, err)
					return
				}
				_, _ = io.Copy(io.Discard, res.Body)
				// Pauses around the park scan, so that some waits are
				// asked to park just as the next request arrives.
				time.Sleep(time.Duration(i%7) * 60 * time.Millisecond)
			}
			done <- nil
		}()
	}
	for g := 0; g < 8; g++ {
		if err := <-done; err != nil {
			t.Fatal(err)
		}
	}
}
