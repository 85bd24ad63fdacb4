package conngate

import (
	"net"
	"sync/atomic"
)

// Conn is a connection that gives its Pass back when closed and, behind a
// PROXY header, reports the client as its remote address. It is what TLS,
// the HTTP/2 server and a hijacking handler are handed; the HTTP/1.1 front
// end keeps the bare connection and its Pass apart.
type Conn struct {
	net.Conn
	pass   Pass
	remote net.Addr
	closed atomic.Bool
}

// Wrap returns nc holding pass and reporting remote (nil: nc's own), or nc
// itself when there is neither to carry.
func Wrap(nc net.Conn, pass Pass, remote net.Addr) net.Conn {
	if !pass.Holds() && remote == nil {
		return nc
	}
	return &Conn{Conn: nc, pass: pass, remote: remote}
}

// RemoteAddr is the client: the PROXY header's, else the peer.
func (c *Conn) RemoteAddr() net.Addr {
	if c.remote != nil {
		return c.remote
	}
	return c.Conn.RemoteAddr()
}

// Close closes the connection and gives its place back, once.
func (c *Conn) Close() error {
	err := c.Conn.Close()
	if c.closed.CompareAndSwap(false, true) {
		c.pass.Release()
	}
	return err
}

// CloseWrite shuts down the writing side when the connection can.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// NetConn is the wrapped connection.
func (c *Conn) NetConn() net.Conn { return c.Conn }
