package reqinfo

import (
	"net/netip"
	"strings"
)

// Trust decides which peers' forwarding headers are believed.
type Trust struct {
	prefixes []netip.Prefix
	unix     bool
}

// NewTrust returns a Trust over the given prefixes; unix trusts peers on
// unix sockets (another proxy on the same machine).
func NewTrust(prefixes []netip.Prefix, unix bool) *Trust {
	return &Trust{prefixes: prefixes, unix: unix}
}

// Contains reports whether addr is a trusted proxy. The zero Addr stands
// for a peer on a unix socket.
func (t *Trust) Contains(addr netip.Addr) bool {
	if !addr.IsValid() {
		return t.unix
	}
	addr = addr.Unmap()
	for _, p := range t.prefixes {
		if p.Contains(addr) {
			return true
		}
	}
	return false
}

// ClientIP returns the real client address for a request from peer carrying
// the given X-Forwarded-For values: the peer itself unless it is trusted, in
// which case the rightmost address in the chain that is not a trusted proxy.
func (t *Trust) ClientIP(peer netip.Addr, xff []string) (client netip.Addr, trusted bool) {
	peer = peer.Unmap()
	if !t.Contains(peer) {
		return peer, false
	}
	client = peer
	for i := len(xff) - 1; i >= 0; i-- {
		parts := strings.Split(xff[i], ",")
		for j := len(parts) - 1; j >= 0; j-- {
			a, err := netip.ParseAddr(strings.TrimSpace(parts[j]))
			if err != nil {
				return client, true
			}
			client = a.Unmap()
			if !t.Contains(client) {
				return client, true
			}
		}
	}
	return client, true
}
