// Package peer carries the parsed remote address of a client connection
// in a request's context, so that it is parsed once per connection by the
// front end (HTTP/1.1 or HTTP/2) rather than from Request.RemoteAddr on
// every request.
package peer

import (
	"context"
	"net"
	"net/netip"
)

// Peer is the remote end of a client connection.
type Peer struct {
	Addr netip.Addr // unmapped (an IPv4 peer is IPv4, not ::ffff:a.b.c.d); zero on a unix socket
	IP   string     // Addr in text form; "unix:" on a unix socket
}

type key struct{}

// From returns the peer of the connection a request arrived on, or nil
// for a request whose front end recorded none.
func From(ctx context.Context) *Peer {
	p, _ := ctx.Value(key{}).(*Peer)
	return p
}

// With returns ctx carrying the parsed remote address, when it has one.
func With(ctx context.Context, remote net.Addr) context.Context {
	switch a := remote.(type) {
	case *net.TCPAddr:
		addr := a.AddrPort().Addr().Unmap()
		return context.WithValue(ctx, key{}, &Peer{Addr: addr, IP: addr.String()})
	case *net.UnixAddr:
		return context.WithValue(ctx, key{}, &Peer{IP: "unix:"})
	}
	return ctx
}
