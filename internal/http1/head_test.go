package http1

import (
	"bufio"
	"net/http"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/wire"
)

func TestParseHeadAccepts(t *testing.T) {
	var h head
	raw := "\r\nPOST /p?q=1 HTTP/1.1\r\nHost: example.com\r\ncontent-length: 5, 5\r\nX-A: one\nx-a: two\r\nConnection: keep-alive, close\r\nExpect: 100-continue\r\n\r\n"
	if err := parseHead(raw, &h); err != nil {
		t.Fatal(err)
	}
	if h.method != "POST" || h.target != "/p?q=1" || h.minor != 1 || h.host != "example.com" {
		t.Fatalf("request line: %+v", h)
	}
	if h.contentLength != 5 || h.chunked || !h.close || !h.expectContinue {
		t.Fatalf("framing: %+v", h)
	}
	if got := h.header["X-A"]; len(got) != 2 || got[0] != "one" || got[1] != "two" {
		t.Fatalf("X-A = %q", got)
	}
	if got := h.header["Content-Length"]; len(got) != 1 {
		t.Fatalf("Content-Length = %q", got)
	}
	// A handler's append must not overwrite a neighbour's value.
	h.header["Host"] = append(h.header["Host"], "other")
	if h.header["Content-Length"][0] != "5, 5" {
		t.Fatalf("append leaked into another field: %q", h.header)
	}
}

func TestParseHeadHTTP10(t *testing.T) {
	var h head
	if err := parseHead("GET / HTTP/1.0\r\n\r\n", &h); err != nil {
		t.Fatal(err)
	}
	if !h.close {
		t.Fatal("HTTP/1.0 without keep-alive must close")
	}
	h = head{}
	if err := parseHead("GET / HTTP/1.0\r\nConnection: Keep-Alive\r\n\r\n", &h); err != nil || h.close {
		t.Fatalf("HTTP/1.0 keep-alive: %v %v", err, h.close)
	}
}

func TestParseHeadRefuses(t *testing.T) {
	cases := []struct {
		raw    string
		status int
	}{
		{"GET / HTTP/1.1\r\n\r\n", 400},                                                                // no Host
		{"GET / HTTP/1.1\r\nHost: a\r\nHost: b\r\n\r\n", 400},                                          // two Hosts
		{"GET / HTTP/1.1\r\nHost: a b\r\n\r\n", 400},                                                   // bad Host
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nTransfer-Encoding: chunked\r\n\r\n", 400}, // CL+TE
		{"POST / HTTP/1.0\r\nTransfer-Encoding: chunked\r\n\r\n", 400},                                 // TE on 1.0
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", 501},
		{"POST / HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", 501},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: +1\r\n\r\n", 400},
		{"POST / HTTP/1.1\r\nHost: a\r\nContent-Length: 1 2\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: 1\r\n folded\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX : 1\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\rb\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nX: a\x00b\r\n\r\n", 400},
		{"GET  / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"GET / HTTP/2.0\r\nHost: a\r\n\r\n", 505},
		{"GET / FOO\r\nHost: a\r\n\r\n", 400},
		{"G(T / HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"GET /\x7f HTTP/1.1\r\nHost: a\r\n\r\n", 400},
		{"GET / HTTP/1.1\r\nHost: a\r\nExpect: something\r\n\r\n", 417},
	}
	for _, c := range cases {
		var h head
		err := parseHead(c.raw, &h)
		if err == nil || err.status != c.status {
			t.Errorf("%q: got %v, want %d", c.raw, err, c.status)
		}
	}
}

func TestHeadEnd(t *testing.T) {
	cases := map[string]int{
		"GET / HTTP/1.1\r\nHost: a\r\n\r\nrest": 27,
		"GET / HTTP/1.1\nHost: a\n\nrest":       24,
		"\r\n\r\nGET / HTTP/1.1\r\n\r\n":        22,
		"GET / HTTP/1.1\r\nHost: a\r\n":         -1,
		"GET / HTTP/1.1\r\nHost: a\r\n\r":       -1,
	}
	for in, want := range cases {
		if got := wire.HeadEnd([]byte(in)); got != want {
			t.Errorf("wire.HeadEnd(%q) = %d, want %d", in, got, want)
		}
	}
}

// FuzzParseHead checks that the parser never panics, that what it accepts
// has unambiguous framing, and that net/http's own reader, where it also
// accepts the head, agrees on method, target and body length.
func FuzzParseHead(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: a\r\n\r\n")
	f.Add("POST /x HTTP/1.1\r\nHost: a\r\nTransfer-Encoding: chunked\r\n\r\n")
	f.Add("POST /x HTTP/1.0\r\nContent-Length: 3\r\n\r\n")
	f.Add("GET http://h/p HTTP/1.1\r\nHost: a\r\n\r\n")
	f.Fuzz(func(t *testing.T, raw string) {
		end := wire.HeadEnd([]byte(raw))
		if end < 0 {
			return
		}
		raw = raw[:end]
		var h head
		if err := parseHead(raw, &h); err != nil {
			return
		}
		if h.chunked && h.contentLength != -1 || !h.chunked && h.contentLength < 0 {
			t.Fatalf("ambiguous framing: %+v", h)
		}
		if _, ok := h.header["Content-Length"]; ok && h.chunked {
			t.Fatalf("chunked with Content-Length accepted")
		}
		std, err := http.ReadRequest(bufio.NewReader(strings.NewReader(raw)))
		if err != nil {
			return
		}
		if std.Method != h.method || std.RequestURI != h.target {
			t.Fatalf("net/http reads %s %s, we read %s %s", std.Method, std.RequestURI, h.method, h.target)
		}
		if std.ContentLength != h.contentLength {
			t.Fatalf("net/http reads length %d, we read %d", std.ContentLength, h.contentLength)
		}
	})
}
