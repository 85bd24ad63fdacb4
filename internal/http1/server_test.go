package http1

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"testing"
	"time"
)

// serve starts a server with h on a free port and returns its address.
func serve(t *testing.T, h http.Handler, opts Options) (string, *Server) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	if opts.HeaderTimeout == 0 {
		opts.HeaderTimeout = 5 * time.Second
	}
	if opts.IdleTimeout == 0 {
		opts.IdleTimeout = 5 * time.Second
	}
	opts.ServerName = "test"
	s := New(h, opts)
	go func() { _ = s.Serve(ln) }()
	t.Cleanup(func() { _ = s.Close() })
	return ln.Addr().String(), s
}

// roundTrip writes raw to a new connection and reads until the server
// closes it or 2 s pass.
func roundTrip(t *testing.T, addr, raw string) string {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, raw)
	_ = c.SetReadDeadline(time.Now().Add(2 * time.Second))
	b, _ := io.ReadAll(c)
	return string(b)
}

// readResponses parses n responses from one connection.
func readResponses(t *testing.T, br *bufio.Reader, methods ...string) []*http.Response {
	t.Helper()
	var out []*http.Response
	for _, m := range methods {
		res, err := http.ReadResponse(br, &http.Request{Method: m})
		if err != nil {
			t.Fatalf("reading response %d: %v", len(out)+1, err)
		}
		b, err := io.ReadAll(res.Body)
		if err != nil {
			t.Fatalf("reading body %d: %v", len(out)+1, err)
		}
		res.Body = io.NopCloser(strings.NewReader(string(b)))
		out = append(out, res)
	}
	return out
}

func body(res *http.Response) string {
	b, _ := io.ReadAll(res.Body)
	return string(b)
}

func echo() http.Handler {
	return http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		b, err := io.ReadAll(r.Body)
		if err != nil {
			w.WriteHeader(http.StatusBadRequest)
			return
		}
		fmt.Fprintf(w, "%s %s host=%s body=%s", r.Method, r.URL.RequestURI(), r.Host, b)
	})
}

func TestPipelinedKeepAlive(t *testing.T) {
	addr, _ := serve(t, echo(), Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /a?x=1 HTTP/1.1\r\nHost: h\r\n\r\n"+
		"POST /b HTTP/1.1\r\nHost: h\r\nTransfer-Encoding: chunked\r\n\r\n3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nT: v\r\n\r\n"+
		"PUT /c HTTP/1.1\r\nHost: h\r\nContent-Length: 2\r\n\r\nxy"+
		"HEAD /d HTTP/1.1\r\nHost: h\r\n\r\n")
	res := readResponses(t, bufio.NewReader(c), "GET", "POST", "PUT", "HEAD")
	want := []string{"GET /a?x=1 host=h body=", "POST /b host=h body=abcde", "PUT /c host=h body=xy", ""}
	for i, r := range res {
		if got := body(r); got != want[i] || r.StatusCode != 200 {
			t.Errorf("response %d: %d %q, want %q", i+1, r.StatusCode, got, want[i])
		}
	}
	if res[3].ContentLength != int64(len("HEAD /d host=h body=")) {
		t.Errorf("HEAD Content-Length = %d", res[3].ContentLength)
	}
	if res[0].Header.Get("Date") == "" || res[0].Header.Get("Content-Type") != "text/plain; charset=utf-8" {
		t.Errorf("missing Date or sniffed Content-Type: %v", res[0].Header)
	}
}

func TestResponseFraming(t *testing.T) {
	big := strings.Repeat("x", 3*pendingLimit)
	addr, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		switch r.URL.Path {
		case "/big":
			w.Header().Set("Trailer", "X-Sum")
			_, _ = io.WriteString(w, big)
			w.Header().Set("X-Sum", "42")
		case "/declared":
			w.Header().Set("Content-Length", "5")
			_, _ = io.WriteString(w, "hello")
		case "/204":
			w.WriteHeader(http.StatusNoContent)
		case "/304":
			w.Header().Set("ETag", `"x"`)
			w.WriteHeader(http.StatusNotModified)
		case "/103":
			w.Header().Set("Link", "</s.css>; rel=preload")
			w.WriteHeader(http.StatusEarlyHints)
			_, _ = io.WriteString(w, "after hints")
		case "/flush":
			_, _ = io.WriteString(w, "part1")
			w.(http.Flusher).Flush()
			_, _ = io.WriteString(w, "part2")
		case "/split":
			w.Header().Set("X-Evil", "a\r\nSet-Cookie: injected=1")
		}
	}), Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "GET /big HTTP/1.1\r\nHost: h\r\n\r\nGET /declared HTTP/1.1\r\nHost: h\r\n\r\nGET /204 HTTP/1.1\r\nHost: h\r\n\r\nGET /304 HTTP/1.1\r\nHost: h\r\n\r\nGET /103 HTTP/1.1\r\nHost: h\r\n\r\nGET /flush HTTP/1.1\r\nHost: h\r\n\r\nGET /split HTTP/1.1\r\nHost: h\r\n\r\n")
	res := readResponses(t, bufio.NewReader(c), "GET", "GET", "GET", "GET", "GET", "GET", "GET", "GET")
	if res[4].StatusCode != http.StatusEarlyHints || res[4].Header.Get("Link") == "" {
		t.Errorf("103: %d %v", res[4].StatusCode, res[4].Header)
	}
	res = append(res[:4], res[5:]...)
	if b := body(res[0]); b != big || res[0].TransferEncoding == nil || res[0].Trailer.Get("X-Sum") != "42" {
		t.Errorf("big: %d bytes, TE %v, trailer %v", len(b), res[0].TransferEncoding, res[0].Trailer)
	}
	if res[1].ContentLength != 5 || body(res[1]) != "hello" {
		t.Errorf("declared: %d", res[1].ContentLength)
	}
	if res[2].StatusCode != 204 || res[3].StatusCode != 304 || res[3].Header.Get("ETag") != `"x"` {
		t.Errorf("no-body statuses: %d %d", res[2].StatusCode, res[3].StatusCode)
	}
	if res[4].StatusCode != 200 || body(res[4]) != "after hints" {
		t.Errorf("after 103: %d", res[4].StatusCode)
	}
	if body(res[5]) != "part1part2" || res[5].TransferEncoding == nil {
		t.Errorf("flush: TE %v", res[5].TransferEncoding)
	}
	if res[6].Header.Get("Set-Cookie") != "" {
		t.Errorf("header value split the response: %v", res[6].Header)
	}
}

func TestHTTP10(t *testing.T) {
	addr, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "one")
		w.(http.Flusher).Flush()
		_, _ = io.WriteString(w, "two")
	}), Options{})
	got := roundTrip(t, addr, "GET / HTTP/1.0\r\n\r\n")
	if !strings.HasPrefix(got, "HTTP/1.0 200 OK\r\n") || !strings.HasSuffix(got, "\r\n\r\nonetwo") || strings.Contains(got, "chunked") {
		t.Fatalf("HTTP/1.0 close-delimited body: %q", got)
	}
}

func TestExpectContinue(t *testing.T) {
	addr, _ := serve(t, echo(), Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST /up HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nExpect: 100-continue\r\n\r\n")
	br := bufio.NewReader(c)
	line, _ := br.ReadString('\n')
	if line != "HTTP/1.1 100 Continue\r\n" {
		t.Fatalf("got %q, want 100 Continue", line)
	}
	_, _ = br.ReadString('\n')
	_, _ = io.WriteString(c, "abc")
	if b := body(readResponses(t, br, "POST")[0]); b != "POST /up host=h body=abc" {
		t.Fatalf("body %q", b)
	}
}

func TestRefusedHeads(t *testing.T) {
	var mu sync.Mutex
	var refused []Refusal
	reached := false
	addr, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) { reached = true }), Options{
		MaxHeaderSize: 1024, HeaderTimeout: 300 * time.Millisecond,
		Refused: func(r Refusal) { mu.Lock(); refused = append(refused, r); mu.Unlock() },
	})
	cases := map[string]string{
		"POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n": "400 Bad Request",
		"GET /" + strings.Repeat("a", 2000) + " HTTP/1.1\r\nHost: h\r\n\r\n":                    "414 Request URI Too Long",
		"GET / HTTP/1.1\r\nHost: h\r\nX: " + strings.Repeat("a", 2000) + "\r\n\r\n":             "431 Request Header Fields Too Large",
		"GET / HTTP/1.1\r\nHost: h\r\n":                                                         "408 Request Timeout",
		"GET / HTTP/3.0\r\nHost: h\r\n\r\n":                                                     "505 HTTP Version Not Supported",
		"GET %zz HTTP/1.1\r\nHost: h\r\n\r\n":                                                   "400 Bad Request",
	}
	for raw, want := range cases {
		got := roundTrip(t, addr, raw)
		if !strings.HasPrefix(got, "HTTP/1.1 "+want+"\r\n") || !strings.Contains(got, "Connection: close\r\n") {
			t.Errorf("%.40q: got %.60q, want %s", raw, got, want)
		}
	}
	if reached {
		t.Error("a refused head reached the handler")
	}
	mu.Lock()
	defer mu.Unlock()
	if len(refused) != len(cases) {
		t.Errorf("%d refusals reported, want %d", len(refused), len(cases))
	}
}

func TestClientGoneCancelsContext(t *testing.T) {
	canceled := make(chan error, 1)
	addr, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		select {
		case <-r.Context().Done():
			canceled <- Cause(r.Context())
		case <-time.After(5 * time.Second):
			canceled <- nil
		}
	}), Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.WriteString(c, "GET / HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(50 * time.Millisecond)
	c.Close()
	if err := <-canceled; !errors.Is(err, ErrClientGone) {
		t.Fatalf("cause %v, want ErrClientGone", err)
	}
}

func TestSlowHandlerKeepsPipelinedRequest(t *testing.T) {
	addr, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			time.Sleep(3 * watchDelay)
		}
		_, _ = io.WriteString(w, r.URL.Path)
	}), Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	br := bufio.NewReader(c)
	_, _ = io.WriteString(c, "GET /slow HTTP/1.1\r\nHost: h\r\n\r\n")
	time.Sleep(2 * watchDelay) // the watcher is reading ahead now
	_, _ = io.WriteString(c, "GET /next HTTP/1.1\r\nHost: h\r\n\r\n")
	res := readResponses(t, br, "GET", "GET")
	if body(res[0]) != "/slow" || body(res[1]) != "/next" {
		t.Fatal("request read ahead by the watcher was lost")
	}
}

func TestHijack(t *testing.T) {
	addr, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		conn, rw, err := http.NewResponseController(w).Hijack()
		if err != nil {
			t.Error(err)
			return
		}
		defer conn.Close()
		_, _ = rw.WriteString("HTTP/1.1 101 Switching Protocols\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\n")
		_ = rw.Flush()
		line, _ := rw.ReadString('\n')
		_, _ = rw.WriteString("echo:" + line)
		_ = rw.Flush()
	}), Options{})
	got := roundTrip(t, addr, "GET / HTTP/1.1\r\nHost: h\r\nUpgrade: echo\r\nConnection: Upgrade\r\n\r\nhello\n")
	if !strings.HasPrefix(got, "HTTP/1.1 101") || !strings.HasSuffix(got, "echo:hello\n") {
		t.Fatalf("got %q", got)
	}
}

func TestPanicGives500AndServerSurvives(t *testing.T) {
	addr, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/panic" {
			panic("boom")
		}
	}), Options{})
	if got := roundTrip(t, addr, "GET /panic HTTP/1.1\r\nHost: h\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 500 ") {
		t.Fatalf("got %q", got)
	}
	if got := roundTrip(t, addr, "GET / HTTP/1.1\r\nHost: h\r\nConnection: close\r\n\r\n"); !strings.HasPrefix(got, "HTTP/1.1 200 ") {
		t.Fatalf("after a panic: %q", got)
	}
}

func TestShutdownWaitsForInFlight(t *testing.T) {
	started := make(chan struct{})
	addr, s := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		close(started)
		time.Sleep(300 * time.Millisecond)
		_, _ = io.WriteString(w, "finished")
	}), Options{})
	idle, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer idle.Close()
	result := make(chan string, 1)
	go func() { result <- roundTrip(t, addr, "GET / HTTP/1.1\r\nHost: h\r\n\r\n") }()
	<-started
	if err := s.Shutdown(context.Background()); err != nil {
		t.Fatal(err)
	}
	got := <-result
	if !strings.HasSuffix(got, "finished") || !strings.Contains(got, "Connection: close") {
		t.Fatalf("in-flight request: %q", got)
	}
	_ = idle.SetReadDeadline(time.Now().Add(time.Second))
	if _, err := idle.Read(make([]byte, 1)); err == nil || errors.Is(err, net.ErrClosed) {
		t.Fatalf("idle connection not closed by the server: %v", err)
	}
}

func TestUnreadBodyIsDrainedOrClosed(t *testing.T) {
	addr, _ := serve(t, http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		_, _ = io.WriteString(w, "ignored the body")
	}), Options{})
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	_, _ = io.WriteString(c, "POST / HTTP/1.1\r\nHost: h\r\nContent-Length: 10\r\n\r\n0123456789GET /again HTTP/1.1\r\nHost: h\r\n\r\n")
	res := readResponses(t, bufio.NewReader(c), "POST", "GET")
	if res[1].StatusCode != 200 {
		t.Fatal("connection not reused after a small unread body")
	}
}
