package upstream

import (
	"bufio"
	"bytes"
	"io"
	"net"
	"net/http"
	"strings"
	"sync/atomic"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/wire"
)

// scripted is an upstream that answers every request on every connection
// with the same raw bytes, and counts connections.
type scripted struct {
	ln    net.Listener
	conns atomic.Int32
	seen  chan string // raw request heads
}

func startScripted(t *testing.T, raw string, closeAfter bool) *scripted {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	s := &scripted{ln: ln, seen: make(chan string, 100)}
	t.Cleanup(func() { ln.Close() })
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			s.conns.Add(1)
			go func() {
				defer c.Close()
				br := bufio.NewReader(c)
				for {
					req, err := http.ReadRequest(br)
					if err != nil {
						return
					}
					body, _ := io.ReadAll(req.Body)
					select {
					case s.seen <- req.Method + " " + req.RequestURI + " " + req.Host + " " + string(body):
					default:
					}
					_, _ = io.WriteString(c, raw)
					if closeAfter {
						return
					}
				}
			}()
		}
	}()
	return s
}

func do(t *testing.T, c *Client, addr, method string, body io.Reader) (*http.Response, []byte, error) {
	t.Helper()
	req, _ := http.NewRequest(method, "http://"+addr+"/p?q=1", body)
	res, err := c.RoundTrip(req)
	if err != nil {
		return nil, nil, err
	}
	b, err := io.ReadAll(res.Body)
	res.Body.Close()
	return res, b, err
}

func TestResponsesAndReuse(t *testing.T) {
	cases := []struct {
		name       string
		raw        string
		method     string
		wantBody   string
		wantStatus int
		reuse      bool
	}{
		{"content-length", "HTTP/1.1 200 OK\r\nContent-Length: 5\r\n\r\nhello", "GET", "hello", 200, true},
		{"chunked with trailer", "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5;x=y\r\nhello\r\n6\r\n world\r\n0\r\nX-T: 1\r\n\r\n", "GET", "hello world", 200, true},
		{"interim 103 then 200", "HTTP/1.1 103 Early Hints\r\nLink: </a>\r\n\r\nHTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", "ok", 200, true},
		{"HEAD keeps length header, no body", "HTTP/1.1 200 OK\r\nContent-Length: 100\r\n\r\n", "HEAD", "", 200, true},
		{"204", "HTTP/1.1 204 No Content\r\n\r\n", "GET", "", 204, true},
		{"304", "HTTP/1.1 304 Not Modified\r\nContent-Length: 9\r\n\r\n", "GET", "", 304, true},
		{"connection close", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\nok", "GET", "ok", 200, false},
		{"HEAD with connection close", "HTTP/1.1 200 OK\r\nContent-Length: 2\r\nConnection: close\r\n\r\n", "HEAD", "", 200, false},
		{"http/1.0 without keep-alive", "HTTP/1.0 200 OK\r\nContent-Length: 2\r\n\r\nok", "GET", "ok", 200, false},
		{"status without reason", "HTTP/1.1 200\r\nContent-Length: 2\r\n\r\nok", "GET", "ok", 200, true},
	}
	for _, tc := range cases {
		t.Run(tc.name, func(t *testing.T) {
			up := startScripted(t, tc.raw, !tc.reuse)
			c := New(Options{ConnectTimeout: time.Second})
			for i := 0; i < 3; i++ {
				res, body, err := do(t, c, up.ln.Addr().String(), tc.method, nil)
				if err != nil {
					t.Fatalf("round %d: %v", i, err)
				}
				if res.StatusCode != tc.wantStatus || string(body) != tc.wantBody {
					t.Fatalf("round %d: %d %q", i, res.StatusCode, body)
				}
			}
			want := int32(3)
			if tc.reuse {
				want = 1
			}
			if got := up.conns.Load(); got != want {
				t.Errorf("%d connections for 3 requests, want %d", got, want)
			}
		})
	}
}

func TestRefusesAmbiguousResponses(t *testing.T) {
	for name, raw := range map[string]string{
		"CL and TE":          "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"conflicting CL":     "HTTP/1.1 200 OK\r\nContent-Length: 3\r\nContent-Length: 4\r\n\r\nabcd",
		"signed CL":          "HTTP/1.1 200 OK\r\nContent-Length: +3\r\n\r\nabc",
		"obs-fold":           "HTTP/1.1 200 OK\r\nX-A: 1\r\n folded\r\nContent-Length: 0\r\n\r\n",
		"bare LF":            "HTTP/1.1 200 OK\nContent-Length: 0\n\n",
		"space before colon": "HTTP/1.1 200 OK\r\nContent-Length : 0\r\n\r\n",
		"NUL in value":       "HTTP/1.1 200 OK\r\nX-A: a\x00b\r\nContent-Length: 0\r\n\r\n",
		"chunked then gzip":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked, gzip\r\n\r\n",
		"gzip then chunked":  "HTTP/1.1 200 OK\r\nTransfer-Encoding: gzip, chunked\r\n\r\n",
		"TE on HTTP/1.0":     "HTTP/1.0 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n",
		"bad status":         "HTTP/1.1 20 OK\r\n\r\n",
		"bad version":        "HTTP/2.0 200 OK\r\n\r\n",
		"bad chunk size":     "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n0x5\r\nhello\r\n0\r\n\r\n",
		"chunk missing CRLF": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhelloX\r\n0\r\n\r\n",
		"chunk size bare LF": "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\nhello\r\n0\r\n\r\n",
		"short content":      "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\nabc",
		"huge chunk size":    "HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\nffffffffffffffffff\r\n",
	} {
		t.Run(name, func(t *testing.T) {
			up := startScripted(t, raw, true)
			c := New(Options{ConnectTimeout: time.Second, ResponseHeaderTimeout: 2 * time.Second})
			if _, _, err := do(t, c, up.ln.Addr().String(), "GET", nil); err == nil {
				t.Fatalf("accepted %q", raw)
			}
			c.conns.mu.Lock()
			idle := len(c.conns.idle[TCP(up.ln.Addr().String())])
			c.conns.mu.Unlock()
			if idle != 0 {
				t.Errorf("connection kept after a refused response")
			}
		})
	}
}

func TestRequestFramingAndReplay(t *testing.T) {
	up := startScripted(t, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok", false)
	c := New(Options{ConnectTimeout: time.Second})
	addr := up.ln.Addr().String()
	if _, _, err := do(t, c, addr, "POST", strings.NewReader("abc")); err != nil {
		t.Fatal(err)
	}
	if got := <-up.seen; got != "POST /p?q=1 "+addr+" abc" {
		t.Errorf("upstream saw %q", got)
	}
	// Unknown length goes chunked.
	if _, _, err := do(t, c, addr, "POST", io.MultiReader(strings.NewReader("chunk"), strings.NewReader("ed"))); err != nil {
		t.Fatal(err)
	}
	if got := <-up.seen; got != "POST /p?q=1 "+addr+" chunked" {
		t.Errorf("upstream saw %q", got)
	}
	// Header values that would break the framing are never sent.
	req, _ := http.NewRequest("GET", "http://"+addr+"/", nil)
	req.Header["X-Evil"] = []string{"a\r\nInjected: yes"}
	if _, err := c.RoundTrip(req); err == nil {
		t.Error("a header with CRLF was sent")
	}
}

func TestUnreadBodyIsNotReused(t *testing.T) {
	up := startScripted(t, "HTTP/1.1 200 OK\r\nContent-Length: 10\r\n\r\n0123456789", false)
	c := New(Options{ConnectTimeout: time.Second})
	for i := 0; i < 2; i++ {
		req, _ := http.NewRequest("GET", "http://"+up.ln.Addr().String()+"/", nil)
		res, err := c.RoundTrip(req)
		if err != nil {
			t.Fatal(err)
		}
		buf := make([]byte, 3)
		_, _ = io.ReadFull(res.Body, buf)
		res.Body.Close()
	}
	if got := up.conns.Load(); got != 2 {
		t.Errorf("%d connections, want 2 (a half-read response must not be reused)", got)
	}
}

// FuzzResponse parses arbitrary upstream output: it must never panic or
// hang, and whatever is accepted must read to a clean end or an error.
func FuzzResponse(f *testing.F) {
	f.Add([]byte("HTTP/1.1 200 OK\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\nT: 1\r\n\r\n"), false)
	f.Add([]byte("HTTP/1.1 200 OK\r\nContent-Length: 3\r\n\r\nabc"), true)
	f.Add([]byte("HTTP/1.0 200 OK\r\n\r\nrest"), false)
	f.Fuzz(func(t *testing.T, data []byte, head bool) {
		br := bufio.NewReader(bytes.NewReader(data))
		h, err := readHead(br, nil)
		if err != nil {
			return
		}
		method := "GET"
		if head {
			method = "HEAD"
		}
		fr, err := bodyFraming(method, h)
		if err != nil {
			return
		}
		var r io.Reader
		switch {
		case fr.chunked:
			r = wire.NewChunkedReader(br, http.Header{})
		case fr.length >= 0:
			r = wire.NewLengthReader(br, fr.length)
		default:
			r = br
		}
		n, _ := io.Copy(io.Discard, r)
		if fr.length >= 0 && !fr.chunked && n > fr.length {
			t.Fatalf("read %d bytes of a %d-byte body", n, fr.length)
		}
	})
}

func TestEarlyResponseWhileUploading(t *testing.T) {
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
		br := bufio.NewReader(c)
		if _, err := http.ReadRequest(br); err != nil {
			return
		}
		// Refuse without reading the body, then close.
		_, _ = io.WriteString(c, "HTTP/1.1 413 Payload Too Large\r\nContent-Length: 4\r\nConnection: close\r\n\r\nnope")
		time.Sleep(100 * time.Millisecond)
		c.Close()
	}()
	c := New(Options{ConnectTimeout: time.Second})
	req, _ := http.NewRequest("POST", "http://"+ln.Addr().String()+"/", bytes.NewReader(make([]byte, 64<<20)))
	res, err := c.RoundTrip(req)
	if err != nil {
		t.Fatalf("the upstream's early answer was lost: %v", err)
	}
	body, _ := io.ReadAll(res.Body)
	res.Body.Close()
	if res.StatusCode != 413 || string(body) != "nope" {
		t.Errorf("got %d %q", res.StatusCode, body)
	}
}
