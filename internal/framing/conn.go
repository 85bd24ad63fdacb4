package framing

import (
	"context"
	"net"
	"sync"
)

// Conn is a client connection whose reads are fed to a Scanner.
type Conn struct {
	net.Conn
	mu sync.Mutex
	s  *Scanner
}

// NewConn wraps c; maxHead bounds the size of one request head.
func NewConn(c net.Conn, maxHead int) *Conn {
	return &Conn{Conn: c, s: NewScanner(maxHead)}
}

// Read reads from the connection and shows the bytes to the scanner.
func (c *Conn) Read(p []byte) (int, error) {
	n, err := c.Conn.Read(p)
	if n > 0 {
		c.mu.Lock()
		c.s.Feed(p[:n])
		c.mu.Unlock()
	}
	return n, err
}

// Check pops the verdict for the next request and confirms it belongs to
// the request the server parsed (same method and request-target). It
// returns OK only when the request may be served.
func (c *Conn) Check(method, requestURI string) Verdict {
	c.mu.Lock()
	v, m, target, ok := c.s.Next()
	c.mu.Unlock()
	switch {
	case !ok:
		return LostSync
	case v != OK:
		return v
	case m != method || target != requestURI:
		return LostSync
	}
	return OK
}

type connKey struct{}

// ContextWithConn returns ctx carrying c, for http.Server.ConnContext.
func ContextWithConn(ctx context.Context, c net.Conn) context.Context {
	if fc, ok := c.(*Conn); ok {
		return context.WithValue(ctx, connKey{}, fc)
	}
	return ctx
}

// ConnFrom returns the Conn a request arrived on, or nil.
func ConnFrom(ctx context.Context) *Conn {
	c, _ := ctx.Value(connKey{}).(*Conn)
	return c
}

// Listener wraps every accepted connection in a Conn.
type Listener struct {
	net.Listener
	MaxHead int
}

// Accept accepts and wraps the next connection.
func (l Listener) Accept() (net.Conn, error) {
	c, err := l.Listener.Accept()
	if err != nil {
		return nil, err
	}
	return NewConn(c, l.MaxHead), nil
}

// NetConn returns the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }
