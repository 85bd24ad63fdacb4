package upstream

import (
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"os"
	"testing"
	"time"
)

// zeros reads as endless zero bytes.
type zeros struct{}

func (zeros) Read(p []byte) (int, error) {
	clear(p)
	return len(p), nil
}

// An upstream that accepts and never reads fails an upload once it has
// taken nothing for the body idle timeout, rather than holding it
// forever.
func TestDeafUpstreamFailsAnUpload(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	go func() {
		var held []net.Conn
		for {
			c, err := ln.Accept()
			if err != nil {
				for _, c := range held {
					_ = c.Close()
				}
				return
			}
			held = append(held, c)
		}
	}()
	opt := Options{BodyIdleTimeout: 200 * time.Millisecond}
	for name, c := range map[string]interface {
		Do(context.Context, Addr, *Request) (*http.Response, error)
	}{
		"HTTP":    New(opt),
		"FastCGI": NewFastCGI(opt, FastCGIOptions{Root: "/srv/www"}),
	} {
		const size = 64 << 20
		req := &Request{Method: "POST", Target: "/x.php", Host: "deaf", Body: io.NopCloser(io.LimitReader(zeros{}, size)), ContentLength: size,
			Gateway: Gateway{Path: "/x.php", RequestURI: "/x.php", Proto: "HTTP/1.1"}}
		ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		_, err = c.Do(ctx, TCP(ln.Addr().String()), req)
		if err == nil || ctx.Err() != nil {
			t.Fatalf("%s: upload to a deaf upstream ended with %v (context: %v)", name, err, ctx.Err())
		}
		cancel()
		if !errors.Is(err, os.ErrDeadlineExceeded) {
			t.Fatalf("%s: want a write timeout, got %v", name, err)
		}
	}
}
