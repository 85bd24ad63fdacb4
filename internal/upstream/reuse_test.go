package upstream

import (
	"bufio"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

// conversation is an upstream whose answers depend on the connection and
// on the request's place on it: answer(conn, n) returns the raw bytes for
// the n-th request (from 0) of the conn-th connection (from 0), and
// whether to close after writing them. An empty answer closes at once.
type conversation struct {
	ln    net.Listener
	conns atomic.Int32
}

func startConversation(t *testing.T, answer func(conn, n int) (string, bool)) *conversation {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	cv := &conversation{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			idx := int(cv.conns.Add(1)) - 1
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for n := 0; ; n++ {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					_, _ = io.Copy(io.Discard, req.Body)
					raw, closeAfter := answer(idx, n)
					if raw == "" {
						return
					}
					_, _ = io.WriteString(c, raw)
					if closeAfter {
						return
					}
				}
			}()
		}
	}()
	return cv
}

func (cv *conversation) addr() string { return cv.ln.Addr().String() }

func okAnswer(body string) string {
	return fmt.Sprintf("HTTP/1.1 200 OK\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
}

// TestStaleRetryDialsFresh: when a pooled connection turns out closed by
// the upstream once the request is on it, the request goes again on a
// new connection, not on the next pooled one (which is as stale here).
func TestStaleRetryDialsFresh(t *testing.T) {
	cv := startConversation(t, func(conn, n int) (string, bool) {
		if n > 0 {
			return "", true // every reuse finds the connection dead
		}
		return okAnswer(fmt.Sprint(conn)), false
	})
	c := New(Options{ConnectTimeout: time.Second})
	// Two connections in the pool.
	var wg sync.WaitGroup
	var bodies [2]*http.Response
	for i := range bodies {
		req, _ := http.NewRequest("GET", "http://"+cv.addr()+"/", nil)
		res, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		bodies[i] = res
	}
	for _, res := range bodies {
		wg.Add(1)
		go func() { defer wg.Done(); _, _ = io.ReadAll(res.Body); res.Body.Close() }()
	}
	wg.Wait()
	_, body, err := do(t, c, cv.addr(), "GET", nil)
	if err != nil {
		t.Fatalf("a request failed because the upstream closed an idle connection: %v", err)
	}
	if string(body) != "2" {
		t.Errorf("answered by connection %q, want a new one (2)", body)
	}
}

// TestIdleClosedByUpstreamIsNotUsed: a connection the upstream closed
// while it sat in the pool is seen closed and never carries a request.
func TestIdleClosedByUpstreamIsNotUsed(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	var conns atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					_ = c.SetReadDeadline(time.Now().Add(50 * time.Millisecond))
					req, err := http.ReadRequest(br)
					if err != nil {
						return // idle too long: close, as Gunicorn's gthread workers do
					}
					_, _ = io.Copy(io.Discard, req.Body)
					_, _ = io.WriteString(c, okAnswer("ok"))
				}
			}()
		}
	}()
	c := New(Options{ConnectTimeout: time.Second, KeepAliveTimeout: time.Minute})
	for i := 0; i < 5; i++ {
		// A body that cannot be replayed: the request must never meet a
		// closed connection.
		req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/", io.NopCloser(strings.NewReader("payload")))
		res, err := c.RoundTrip(req)
		if err != nil {
			t.Fatalf("request %d: %v", i, err)
		}
		_, _ = io.ReadAll(res.Body)
		res.Body.Close()
		time.Sleep(120 * time.Millisecond)
	}
	if n := conns.Load(); n != 5 {
		t.Errorf("%d connections for 5 requests 120 ms apart, want 5", n)
	}
}

// TestKeepAliveTimeouts: connections are given up after the configured
// keep-alive time, or sooner when the upstream announces a shorter one.
func TestKeepAliveTimeouts(t *testing.T) {
	for _, tc := range []struct {
		name     string
		raw      string
		keep     time.Duration
		pause    time.Duration
		wantConn int32
	}{
		{"within configured", okAnswer("ok"), time.Second, 100 * time.Millisecond, 1},
		{"past configured", okAnswer("ok"), 100 * time.Millisecond, 200 * time.Millisecond, 2},
		{"past announced", "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=1, max=100\r\nContent-Length: 2\r\n\r\nok", time.Minute, 900 * time.Millisecond, 2},
		{"within announced", "HTTP/1.1 200 OK\r\nKeep-Alive: timeout=5\r\nContent-Length: 2\r\n\r\nok", time.Minute, 900 * time.Millisecond, 1},
	} {
		t.Run(tc.name, func(t *testing.T) {
			cv := startConversation(t, func(int, int) (string, bool) { return tc.raw, false })
			c := New(Options{ConnectTimeout: time.Second, KeepAliveTimeout: tc.keep})
			for i := 0; i < 2; i++ {
				if _, _, err := do(t, c, cv.addr(), "GET", nil); err != nil {
					t.Fatal(err)
				}
				time.Sleep(tc.pause)
			}
			if got := cv.conns.Load(); got != tc.wantConn {
				t.Errorf("%d connections, want %d", got, tc.wantConn)
			}
		})
	}
}

// serveFirstThenMine serves on ln: the first request of all gets what
// first writes, every later one okAnswer("mine"). It returns the count of
// connections accepted.
func serveFirstThenMine(t *testing.T, ln net.Listener, first func(net.Conn)) *atomic.Int32 {
	t.Helper()
	t.Cleanup(func() { ln.Close() })
	var conns, requests atomic.Int32
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					if _, err := http.ReadRequest(br); err != nil {
						return
					}
					if requests.Add(1) == 1 {
						first(c)
						continue
					}
					_, _ = io.WriteString(c, okAnswer("mine"))
				}
			}()
		}
	}()
	return &conns
}

// TestBytesBeyondResponseRetireConnection: an upstream that sends more
// than the response it was asked for never gets those bytes read as the
// next request's answer: the connection is closed.
func TestBytesBeyondResponseRetireConnection(t *testing.T) {
	for _, tc := range []struct {
		name, method, first string
		delayed             string // sent a moment after the response
	}{
		{"past content-length", "GET", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nokHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!", ""},
		{"past last chunk", "GET", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n2\r\nok\r\n0\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!", ""},
		{"body after HEAD", "HEAD", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!", ""},
		{"body after 204", "GET", "HTTP/1.1 204 No Content\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!", ""},
		{"extra bytes a moment later", "GET", okAnswer("ok"), "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nEVIL!"},
	} {
		t.Run(tc.name, func(t *testing.T) {
			ln, err := net.Listen("tcp", "127.0.0.1:0")
			if err != nil {
				t.Fatal(err)
			}
			conns := serveFirstThenMine(t, ln, func(c net.Conn) {
				_, _ = io.WriteString(c, tc.first)
				if tc.delayed != "" {
					time.Sleep(30 * time.Millisecond)
					_, _ = io.WriteString(c, tc.delayed)
				}
			})
			c := New(Options{ConnectTimeout: time.Second, KeepAliveTimeout: time.Minute})
			if _, _, err := do(t, c, ln.Addr().String(), tc.method, nil); err != nil {
				t.Fatal(err)
			}
			time.Sleep(100 * time.Millisecond)
			res, body, err := do(t, c, ln.Addr().String(), "GET", nil)
			if err != nil {
				t.Fatal(err)
			}
			if res.StatusCode != 200 || string(body) != "mine" {
				t.Fatalf("the second request got %d %q: another response's bytes", res.StatusCode, body)
			}
			if n := conns.Load(); n != 2 {
				t.Errorf("%d connections, want 2", n)
			}
		})
	}
}

// TestHugeResponseHeadRefused: a response head beyond MaxResponseHead is
// an error, and its connection is not kept.
func TestHugeResponseHeadRefused(t *testing.T) {
	raw := "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 200<<10) + "\r\nContent-Length: 0\r\n\r\n"
	up := startScripted(t, raw, false)
	c := New(Options{ConnectTimeout: time.Second})
	if _, _, err := do(t, c, up.ln.Addr().String(), "GET", nil); err == nil || !strings.Contains(err.Error(), "larger than") {
		t.Fatalf("a 200 KB header line was accepted: %v", err)
	}
	raw = "HTTP/1.1 200 OK\r\nX-Big: " + strings.Repeat("a", 60<<10) + "\r\nContent-Length: 0\r\n\r\n"
	up = startScripted(t, raw, false)
	if _, _, err := do(t, c, up.ln.Addr().String(), "GET", nil); err != nil {
		t.Fatalf("a 60 KB head was refused: %v", err)
	}
}

// TestIdleConnectionsClosedOnExpiry: an idle connection is closed once its
// keep-alive time is over, even when no request comes to take it (it may
// hold one of the upstream's workers).
func TestIdleConnectionsClosedOnExpiry(t *testing.T) {
	closed := make(chan struct{}, 1)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		c, err := ln.Accept()
		if err != nil {
			return
		}
		defer c.Close()
		br := bufio.NewReader(c)
		for {
			if _, err := http.ReadRequest(br); err != nil {
				closed <- struct{}{}
				return
			}
			_, _ = io.WriteString(c, okAnswer("ok"))
		}
	}()
	c := New(Options{ConnectTimeout: time.Second, KeepAliveTimeout: 100 * time.Millisecond})
	if _, _, err := do(t, c, ln.Addr().String(), "GET", nil); err != nil {
		t.Fatal(err)
	}
	select {
	case <-closed:
	case <-time.After(5 * time.Second):
		t.Fatal("the idle connection was never closed")
	}
	c.conns.mu.Lock()
	defer c.conns.mu.Unlock()
	if len(c.conns.idle) != 0 || c.conns.reaperArmed {
		t.Errorf("idle %v, reaper armed %v", c.conns.idle, c.conns.reaperArmed)
	}
}

// selfSigned returns a TLS certificate for 127.0.0.1.
func selfSigned(t *testing.T) tls.Certificate {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour),
		IPAddresses: []net.IP{net.ParseIP("127.0.0.1")}}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	return tls.Certificate{Certificate: [][]byte{der}, PrivateKey: key}
}

// TestBytesBeyondResponseOverTLS: extra bytes that arrive with the
// response are read ahead into the TLS layer, where a look at the socket
// cannot see them; they retire the connection all the same.
func TestBytesBeyondResponseOverTLS(t *testing.T) {
	ln, err := tls.Listen("tcp", "127.0.0.1:0", &tls.Config{Certificates: []tls.Certificate{selfSigned(t)}})
	if err != nil {
		t.Fatal(err)
	}
	conns := serveFirstThenMine(t, ln, func(c net.Conn) {
		// The answer and a forged one, in records of their own that
		// arrive together: the second is read ahead into the TLS layer
		// with the first.
		corked(c.(*tls.Conn).NetConn().(*net.TCPConn), func() {
			_, _ = io.WriteString(c, okAnswer("ok"))
			_, _ = io.WriteString(c, okAnswer("EVIL!"))
		})
	})
	c := New(Options{ConnectTimeout: time.Second, KeepAliveTimeout: time.Minute, TLS: &tls.Config{InsecureSkipVerify: true}})
	addr := ln.Addr().String()
	for i, want := range []string{"ok", "mine", "mine"} {
		req, _ := http.NewRequest("GET", "https://"+addr+"/", nil)
		res, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		body, _ := io.ReadAll(res.Body)
		res.Body.Close()
		if string(body) != want {
			t.Fatalf("request %d got %q, want %q", i, body, want)
		}
	}
	if n := conns.Load(); n != 2 {
		t.Errorf("%d connections, want 2 (the first retired, the second reused)", n)
	}
}
