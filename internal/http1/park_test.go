package http1

import (
	"bufio"
	"context"
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
	return dialIdleWith(t, func() (net.Conn, error) { return net.Dial("tcp", addr) }, n)
}

// dialIdleWith is dialIdle with connections that dial makes.
func dialIdleWith(t *testing.T, dial func() (net.Conn, error), n int) ([]net.Conn, []*bufio.Reader) {
	t.Helper()
	var conns []net.Conn
	var readers []*bufio.Reader
	for i := 0; i < n; i++ {
		c, err := dial()
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
	// The idle timeout closes parked connections (swept every second).
	for _, c := range conns {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err != io.EOF {
			t.Fatalf("parked connection past its idle timeout: %v", err)
		}
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

// serveTLS starts a server with h behind TLS on a free port.
func serveTLS(t *testing.T, h http.Handler) (string, *Server, *tls.Config) {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{SerialNumber: big.NewInt(1), DNSNames: []string{"localhost"},
		NotBefore: time.Now().Add(-time.Hour), NotAfter: time.Now().Add(time.Hour)}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	inner, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	ln := &handshaken{Listener: inner, conf: &tls.Config{Certificates: []tls.Certificate{{Certificate: [][]byte{der}, PrivateKey: key}}}}
	s := New(h, Options{HeaderTimeout: 5 * time.Second, IdleTimeout: 5 * time.Second, ServerName: "test"})
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = ln.Close(); _ = s.Close() })
	return inner.Addr().String(), s, &tls.Config{InsecureSkipVerify: true, ServerName: "localhost"}
}

func TestIdleTLSConnectionsParkAndWake(t *testing.T) {
	addr, s, clientConf := serveTLS(t, echo())
	if s.idle == nil {
		t.Skip("no idle set on this platform")
	}
	conns, readers := dialIdleWith(t, func() (net.Conn, error) { return tls.Dial("tcp", addr, clientConf) }, 20)
	waitUntil(t, "20 TLS connections parked", func() bool { return s.idle.Len() == 20 })
	for i, c := range conns {
		// Two requests in one write: the second is decrypted with the
		// first and must not wait for more input.
		fmt.Fprintf(c, "GET /a%d HTTP/1.1\r\nHost: h\r\n\r\nPOST /b HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nhi", i)
		res := readResponses(t, readers[i], "GET", "POST")
		if body(res[0]) != fmt.Sprintf("GET /a%d host=h body=", i) || body(res[1]) != "POST /b host=h body=hi" {
			t.Fatalf("connection %d after parking", i)
		}
	}
	waitUntil(t, "parked again", func() bool { return s.idle.Len() == 20 })
	ctx, cancel := context.WithTimeout(context.Background(), 2*time.Second)
	defer cancel()
	if err := s.Shutdown(ctx); err != nil {
		t.Fatal(err)
	}
	if n := s.OpenConns(); n != 0 {
		t.Errorf("%d connections left after Shutdown", n)
	}
}

// handshaken hands over TLS connections after their handshake, as
// Gatehouse's HTTPS listener does.
type handshaken struct {
	net.Listener
	conf *tls.Config
}

func (l *handshaken) Accept() (net.Conn, error) {
	for {
		c, err := l.Listener.Accept()
		if err != nil {
			return nil, err
		}
		tc := tls.Server(c, l.conf)
		if tc.Handshake() == nil {
			return tc, nil
		}
		c.Close()
	}
}
