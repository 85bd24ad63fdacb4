package http1

import (
	"context"
	"net"
	"net/netip"
)

// Peer is the remote end of a client connection, parsed once per
// connection rather than from Request.RemoteAddr on every request.
type Peer struct {
	Addr netip.Addr // unmapped (an IPv4 peer is IPv4, not ::ffff:a.b.c.d); zero on a unix socket
	IP   string     // Addr in text form; "unix:" on a unix socket
}

type peerKey struct{}

// PeerFrom returns the peer of the connection a request arrived on, or nil
// for a request that did not come through this package.
func PeerFrom(ctx context.Context) *Peer {
	p, _ := ctx.Value(peerKey{}).(*Peer)
	return p
}

// withPeer returns ctx carrying the parsed remote address of nc, when it
// has one.
func withPeer(ctx context.Context, remote net.Addr) context.Context {
	switch a := remote.(type) {
	case *net.TCPAddr:
		addr := a.AddrPort().Addr().Unmap()
		return context.WithValue(ctx, peerKey{}, &Peer{Addr: addr, IP: addr.String()})
	case *net.UnixAddr:
		return context.WithValue(ctx, peerKey{}, &Peer{IP: "unix:"})
	}
	return ctx
}
