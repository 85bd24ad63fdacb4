package wire

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net/http/httputil"
	"strings"
	"testing"
	"testing/iotest"
)

func TestChunkedReader(t *testing.T) {
	good := "3\r\nabc\r\n2;ext=1\r\nde\r\n0\r\nX-T: v\r\n\r\nrest"
	br := bufio.NewReader(strings.NewReader(good))
	got, err := io.ReadAll(NewChunkedReader(br, nil))
	if err != nil || string(got) != "abcde" {
		t.Fatalf("got %q, %v", got, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "rest" {
		t.Fatalf("read past the body: rest %q", rest)
	}
	for _, bad := range []string{"zz\r\nabc\r\n0\r\n\r\n", "3\r\nabcXX0\r\n\r\n", "3\nabc\r\n0\r\n\r\n", "fffffffffffffffff\r\n", "3\r\nab"} {
		if _, err := io.ReadAll(NewChunkedReader(bufio.NewReader(strings.NewReader(bad)), nil)); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestReadHeadAcrossBuffers(t *testing.T) {
	head := "GET / HTTP/1.1\r\nHost: x\r\nX-Long: " + strings.Repeat("a", 100) + "\r\n\r\n"
	br := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(head+"body")), 16)
	got, err := ReadHead(br, 1<<10, nil)
	if err != nil || got != head {
		t.Fatalf("got %q, %v", got, err)
	}
	if rest, _ := io.ReadAll(br); string(rest) != "body" {
		t.Fatalf("rest %q", rest)
	}
	var tl *HeadTooLargeError
	if _, err := ReadHead(bufio.NewReaderSize(strings.NewReader(head), 16), 50, nil); !errors.As(err, &tl) || !tl.LineDone {
		t.Fatalf("over the limit: %v", err)
	}
}

// FuzzChunkedReader checks that what the strict decoder accepts, Go's own
// decoder reads the same way, and that no input makes it read past the
// body's end.
func FuzzChunkedReader(f *testing.F) {
	f.Add("3\r\nabc\r\n0\r\n\r\n")
	f.Add("1;a=b\r\nx\r\n0\r\nT: v\r\n\r\n")
	f.Add("0\r\n\r\n")
	f.Fuzz(func(t *testing.T, in string) {
		ours, err := io.ReadAll(NewChunkedReader(bufio.NewReader(strings.NewReader(in)), nil))
		if err != nil {
			return
		}
		std, err := io.ReadAll(httputil.NewChunkedReader(bufio.NewReader(strings.NewReader(in))))
		if err != nil {
			t.Fatalf("we accept %q, net/http does not: %v", in, err)
		}
		if !bytes.Equal(ours, std) {
			t.Fatalf("%q: we read %q, net/http %q", in, ours, std)
		}
	})
}

// FuzzReadHead checks that a head reads the same whatever the read sizes
// and buffer size, and that the bytes after it stay in the reader.
func FuzzReadHead(f *testing.F) {
	f.Add("GET / HTTP/1.1\r\nHost: x\r\n\r\nbody", 16)
	f.Add("\r\nHTTP/1.1 200 OK\nA: b\n\nrest", 32)
	f.Fuzz(func(t *testing.T, in string, size int) {
		size = 16 + (size&0xff)%64
		whole, err1 := ReadHead(bufio.NewReaderSize(strings.NewReader(in), 4096), 1024, nil)
		br := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(in)), size)
		split, err2 := ReadHead(br, 1024, nil)
		if (err1 == nil) != (err2 == nil) || whole != split {
			t.Fatalf("%q: whole %q %v, split %q %v", in, whole, err1, split, err2)
		}
		if err1 == nil {
			if !strings.HasPrefix(in, whole) {
				t.Fatalf("head %q is not a prefix of the input", whole)
			}
			rest, _ := io.ReadAll(br)
			if string(rest) != in[len(whole):] {
				t.Fatalf("bytes after the head lost: %q", rest)
			}
		}
	})
}

// BenchmarkReadHeadTrickled reads a large head that arrives a byte at a
// time: the work must stay linear in the head's size.
func BenchmarkReadHeadTrickled(b *testing.B) {
	head := "GET / HTTP/1.1\r\n" + strings.Repeat("X-Pad: "+strings.Repeat("a", 90)+"\r\n", 600) + "\r\n"
	for b.Loop() {
		br := bufio.NewReaderSize(iotest.OneByteReader(strings.NewReader(head)), 4096)
		if _, err := ReadHead(br, 64<<10, nil); err != nil {
			b.Fatal(err)
		}
	}
}
