package e2e

import (
	"bufio"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// recorder is an upstream that records every request it receives and
// answers each with 200.
type recorder struct {
	ln   net.Listener
	mu   sync.Mutex
	reqs []string // "METHOD TARGET body=..."
}

func startRecorder(t *testing.T) *recorder {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	r := &recorder{ln: ln}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go r.serve(c)
		}
	}()
	return r
}

func (r *recorder) serve(c net.Conn) {
	defer c.Close()
	br := bufio.NewReader(c)
	for {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		body, _ := io.ReadAll(req.Body)
		r.mu.Lock()
		r.reqs = append(r.reqs, fmt.Sprintf("%s %s body=%q", req.Method, req.RequestURI, body))
		r.mu.Unlock()
		fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
	}
}

func (r *recorder) requests() []string {
	r.mu.Lock()
	defer r.mu.Unlock()
	return append([]string(nil), r.reqs...)
}

// exchange sends raw bytes and returns everything read until the server
// closes the connection (or 3 s pass). With halfClose the client then shuts
// its sending side, as a client does that has nothing more to say.
func exchange(t *testing.T, addr, raw string, halfClose bool) (resp string, closed bool) {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, raw)
	if halfClose {
		_ = c.(*net.TCPConn).CloseWrite()
	}
	_ = c.SetReadDeadline(time.Now().Add(3 * time.Second))
	b, err := io.ReadAll(c)
	return string(b), err == nil
}

func TestHostileFramingNeverReachesUpstream(t *testing.T) {
	rec := startRecorder(t)
	addr := freeAddr(t)
	startGatehouse(t, proxyConfig(addr, rec.ln.Addr().String(), ""), addr)

	cases := []struct {
		name, raw string
	}{
		{"CL and TE together (smuggling)", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"TE and CL together", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nContent-Length: 4\r\n\r\n5c\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n0\r\n\r\n"},
		{"obs-fold", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n"},
		{"TE on HTTP/1.0", "POST /a HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"TE not chunked", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked, identity\r\n\r\n0\r\n\r\n"},
		{"xchunked", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: xchunked\r\n\r\n0\r\n\r\n"},
		{"two differing CL", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 3\r\nContent-Length: 30\r\n\r\nabc"},
		{"signed CL", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: +3\r\n\r\nabc"},
		{"space before colon", "GET /a HTTP/1.1\r\nHost: x\r\nContent-Length : 3\r\n\r\nabc"},
		{"control char in value", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\x00b\r\n\r\n"},
		{"CR in value", "GET /a HTTP/1.1\r\nHost: x\r\nX-A: a\rb\r\n\r\n"},
		{"NUL in target", "GET /a\x00b HTTP/1.1\r\nHost: x\r\n\r\n"},
		{"no Host", "GET /a HTTP/1.1\r\n\r\n"},
		{"two Hosts", "GET /a HTTP/1.1\r\nHost: x\r\nHost: y\r\n\r\n"},
		{"bad chunk size", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nabc\r\n0\r\n\r\n"},
		{"chunk data without CRLF", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabcXX0\r\n\r\n"},
		{"chunk size followed by a second number", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n1 0\r\nx\r\n0\r\n\r\n"},
		{"chunk size overflow", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nfffffffffffffffffffff\r\nabc\r\n0\r\n\r\n"},
		{"body shorter than Content-Length", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 10\r\n\r\nabc"},
		{"pipelined after OPTIONS *", "OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\nPOST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 35\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n"},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			before := len(rec.requests())
			// The pipelined case keeps its sending side open: a client that
			// half-closes while a request is in flight counts as gone.
			resp, closed := exchange(t, addr, c.raw, !strings.HasPrefix(c.raw, "OPTIONS"))
			last := resp[max(strings.LastIndex(resp, "HTTP/1."), 0):]
			status := strings.TrimPrefix(strings.TrimPrefix(last, "HTTP/1.1 "), "HTTP/1.0 ")
			if !strings.HasPrefix(status, "400 ") && !strings.HasPrefix(status, "501 ") {
				t.Errorf("got %q, want a 400 (or 501 for an unknown coding)", firstLine(last))
			}
			if !closed {
				t.Errorf("connection left open after a refused request")
			}
			for _, r := range rec.requests()[before:] {
				if !strings.HasPrefix(r, "OPTIONS *") {
					t.Errorf("upstream received %s", r)
				}
			}
		})
	}

	// The same connection still serves well-formed pipelined requests.
	resp, _ := exchange(t, addr, "GET /one HTTP/1.1\r\nHost: x\r\n\r\nPOST /two HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n0\r\n\r\nGET /three HTTP/1.1\r\nHost: x\r\nConnection: close\r\n\r\n", false)
	if n := strings.Count(resp, "HTTP/1.1 200"); n != 3 {
		t.Fatalf("pipelined good requests: %d answered 200, want 3:\n%s", n, resp)
	}
	got := rec.requests()
	tail := got[len(got)-3:]
	want := []string{`GET /one body=""`, `POST /two body="abc"`, `GET /three body=""`}
	for i := range want {
		if tail[i] != want[i] {
			t.Errorf("upstream got %q, want %q", tail[i], want[i])
		}
	}
}

func firstLine(s string) string {
	line, _, _ := strings.Cut(s, "\r\n")
	return line
}
