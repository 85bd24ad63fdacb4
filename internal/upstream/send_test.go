package upstream

import (
	"context"
	"errors"
	"io"
	"net"
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
	c := New(Options{BodyIdleTimeout: 200 * time.Millisecond})
	const size = 64 << 20
	req := &Request{Method: "POST", Target: "/", Host: "deaf", Body: io.NopCloser(io.LimitReader(zeros{}, size)), ContentLength: size}
	ctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
	defer cancel()
	_, err = c.Do(ctx, TCP(ln.Addr().String()), req)
	if err == nil || ctx.Err() != nil {
		t.Fatalf("upload to a deaf upstream ended with %v (context: %v)", err, ctx.Err())
	}
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("want a write timeout, got %v", err)
	}
}
