package framing

import (
	"reflect"
	"testing"
)

func verdicts(s *Scanner) []Verdict {
	var out []Verdict
	for {
		v, _, _, ok := s.Next()
		if !ok || (v == LostSync && len(out) > 0 && out[len(out)-1] == LostSync) {
			return out
		}
		out = append(out, v)
		if v == LostSync {
			return out
		}
	}
}

func TestScannerVerdicts(t *testing.T) {
	cases := []struct {
		name string
		in   string
		want []Verdict
	}{
		{"simple", "GET / HTTP/1.1\r\nHost: x\r\n\r\n", []Verdict{OK}},
		{"pipelined with bodies", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\n\r\nhelloGET /b HTTP/1.1\r\nHost: x\r\n\r\n", []Verdict{OK, OK}},
		{"chunked then next", "POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5;ext=1\r\nhello\r\n0\r\nTrailer: t\r\n\r\nGET /b HTTP/1.1\r\nHost: x\r\n\r\n", []Verdict{OK, OK}},
		{"cl and te", "POST /a HTTP/1.1\r\nHost: x\r\nContent-Length: 5\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\nGET /smuggled HTTP/1.1\r\nHost: x\r\n\r\n", []Verdict{BothLengths, LostSync}},
		{"obs-fold", "GET / HTTP/1.1\r\nHost: x\r\nX-A: 1\r\n  folded\r\n\r\n", []Verdict{ObsFold, LostSync}},
		{"te on http/1.0", "POST / HTTP/1.0\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n0\r\n\r\n", []Verdict{CodingOnHTTP10, LostSync}},
		{"te not chunked", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: gzip, chunked\r\n\r\n", []Verdict{BadCoding, LostSync}},
		{"te twice", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\nTransfer-Encoding: chunked\r\n\r\n", []Verdict{BadCoding, LostSync}},
		{"differing cl", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: 1\r\nContent-Length: 2\r\n\r\nab", []Verdict{BadLength, LostSync}},
		{"plus cl", "POST / HTTP/1.1\r\nHost: x\r\nContent-Length: +1\r\n\r\na", []Verdict{BadLength, LostSync}},
		{"space before colon", "GET / HTTP/1.1\r\nHost : x\r\n\r\n", []Verdict{BadHeader, LostSync}},
		{"ctl in value", "GET / HTTP/1.1\r\nHost: x\x01\r\n\r\n", []Verdict{BadHeader, LostSync}},
		{"bad version", "GET / HTTP/2.0\r\nHost: x\r\n\r\n", []Verdict{BadRequestLine, LostSync}},
		{"bare lf accepted", "GET / HTTP/1.1\nHost: x\n\n", []Verdict{OK}},
		{"bad chunk size poisons", "POST / HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\nzz\r\nGET / HTTP/1.1\r\nHost: x\r\n\r\n", []Verdict{OK, LostSync}},
		{"websocket passthrough", "GET /ws HTTP/1.1\r\nHost: x\r\nUpgrade: websocket\r\nConnection: Upgrade\r\n\r\n\x81\x85garbage", []Verdict{OK}},
	}
	for _, c := range cases {
		t.Run(c.name, func(t *testing.T) {
			whole := NewScanner(1 << 16)
			whole.Feed([]byte(c.in))
			got := verdicts(whole)
			if !reflect.DeepEqual(got, c.want) {
				t.Fatalf("whole: got %q, want %q", got, c.want)
			}
			bytewise := NewScanner(1 << 16)
			for i := 0; i < len(c.in); i++ {
				bytewise.Feed([]byte{c.in[i]})
			}
			if got := verdicts(bytewise); !reflect.DeepEqual(got, c.want) {
				t.Fatalf("byte by byte: got %q, want %q", got, c.want)
			}
		})
	}
}

func TestScannerRequestLine(t *testing.T) {
	s := NewScanner(1 << 16)
	s.Feed([]byte("OPTIONS * HTTP/1.1\r\nHost: x\r\n\r\nGET /a?b=c HTTP/1.1\r\nHost: x\r\n\r\n"))
	for _, want := range [][2]string{{"OPTIONS", "*"}, {"GET", "/a?b=c"}} {
		v, m, tg, ok := s.Next()
		if !ok || v != OK || m != want[0] || tg != want[1] {
			t.Fatalf("got %q %q %q %v, want %q", v, m, tg, ok, want)
		}
	}
}

func TestScannerHeadLimit(t *testing.T) {
	s := NewScanner(64)
	s.Feed([]byte("GET / HTTP/1.1\r\nX-Long: " + string(make([]byte, 100))))
	if v, _, _, ok := s.Next(); !ok || v != LostSync {
		t.Fatalf("oversized head: got %q %v, want LostSync", v, ok)
	}
}

// FuzzScanner checks that the scanner never panics and that its verdicts do
// not depend on how the bytes were split into reads.
func FuzzScanner(f *testing.F) {
	f.Add([]byte("POST /a HTTP/1.1\r\nHost: x\r\nTransfer-Encoding: chunked\r\n\r\n5\r\nhello\r\n0\r\n\r\nGET / HTTP/1.1\r\n\r\n"), uint8(3))
	f.Add([]byte("POST /a HTTP/1.1\r\nContent-Length: 3\r\nTransfer-Encoding: chunked\r\n\r\n"), uint8(1))
	f.Add([]byte("GET / HTTP/1.1\r\nA: b\r\n c\r\n\r\n"), uint8(7))
	f.Fuzz(func(t *testing.T, in []byte, step uint8) {
		whole := NewScanner(1024)
		whole.Feed(in)
		split := NewScanner(1024)
		n := int(step%16) + 1
		for i := 0; i < len(in); i += n {
			split.Feed(in[i:min(i+n, len(in))])
		}
		if a, b := verdicts(whole), verdicts(split); !reflect.DeepEqual(a, b) {
			t.Fatalf("verdicts differ by split: %q vs %q", a, b)
		}
	})
}
