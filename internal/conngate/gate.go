// Package conngate admits a listener's client connections, in the accept
// loop, before a goroutine or a buffer is spent on them: banned addresses
// and connections beyond the per-address or total limit are closed at
// once. On a PROXY protocol listener it also takes connections only from
// trusted proxies and reads the header that names the client, which then
// stands for the connection's remote address everywhere.
//
// A connection's place is held by a Pass until the connection closes: the
// HTTP/1.1 front end releases it when it is done with a connection, and
// Conn (the wrapper given to TLS, to HTTP/2 and to a hijacker) when it is
// closed.
package conngate

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/netip"
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/bans"
	"github.com/gatehouse/gatehouse/internal/monoclock"
	"github.com/gatehouse/gatehouse/internal/proxyproto"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// Settings are a gate's limits under the current config.
type Settings struct {
	// PerIP and Total bound the open connections of one client address
	// and of the listener; 0: no bound.
	PerIP, Total int
	// Trust names the proxies a PROXY protocol listener takes
	// connections from.
	Trust *reqinfo.Trust
	// HeaderTimeout bounds the wait for the PROXY header.
	HeaderTimeout time.Duration
	// Refused counts refusals by reason: conn (a limit), ban, proxy (an
	// untrusted peer or a bad PROXY header). Nil entries count nothing.
	Refused map[string]func()
}

// Gate admits one listener's connections. It outlives config reloads, so
// its counts stay true; SetSettings applies a new config's limits.
type Gate struct {
	log      *slog.Logger
	proxy    bool
	bans     *bans.List
	settings atomic.Pointer[Settings]

	total atomic.Int64
	mu    sync.Mutex
	perIP map[netip.Addr]int32

	// The refusals since the last log line, and when that was (on clock):
	// refusals are logged at most once per logEvery.
	unlogged atomic.Int64
	loggedAt atomic.Int64
	clock    monoclock.Clock
}

// logEvery is the least time between log lines about refusals.
const logEvery = 10 * time.Second

// New returns the gate of a listener; proxy tells whether it takes the
// PROXY protocol; bans (may be nil) are checked at accept.
func New(proxy bool, b *bans.List, log *slog.Logger) *Gate {
	g := &Gate{log: log, proxy: proxy, bans: b, perIP: map[netip.Addr]int32{}, clock: monoclock.New()}
	g.loggedAt.Store(-int64(logEvery))
	g.settings.Store(&Settings{Trust: reqinfo.NewTrust(nil, false)})
	return g
}

// SetSettings applies a config's limits; connections open stay.
func (g *Gate) SetSettings(s Settings) {
	if s.Trust == nil {
		s.Trust = reqinfo.NewTrust(nil, false)
	}
	g.settings.Store(&s)
}

// Proxy reports whether connections start with a PROXY header.
func (g *Gate) Proxy() bool { return g != nil && g.proxy }

// Pass is a connection's place at the gate. The zero Pass holds none.
type Pass struct {
	g *Gate
	// ip is the address counted per address (invalid: not counted).
	ip netip.Addr
	// total tells whether the connection is counted in the total.
	total bool
}

// Release gives the connection's place back.
func (p Pass) Release() {
	if p.g == nil {
		return
	}
	if p.total {
		p.g.total.Add(-1)
	}
	if p.ip.IsValid() {
		p.g.mu.Lock()
		if n := p.g.perIP[p.ip] - 1; n > 0 {
			p.g.perIP[p.ip] = n
		} else {
			delete(p.g.perIP, p.ip)
		}
		p.g.mu.Unlock()
	}
}

// Holds reports whether the pass holds a place to give back.
func (p Pass) Holds() bool { return p.g != nil && (p.total || p.ip.IsValid()) }

// Accept decides about a connection just accepted, before anything is
// read from it; refused connections are closed. On a PROXY listener only
// the peer's trust and the total are checked here, the rest once the
// header names the client (ReadProxyHeader).
func (g *Gate) Accept(nc net.Conn) (Pass, bool) {
	if g == nil {
		return Pass{}, true
	}
	s := g.settings.Load()
	peer := AddrOf(nc.RemoteAddr())
	if g.proxy {
		if !s.Trust.Contains(peer) {
			g.refuse(s, "proxy", peer, "PROXY protocol connection from an address not in trusted_proxies")
			_ = nc.Close()
			return Pass{}, false
		}
		p, ok := g.admit(s, netip.Addr{})
		if !ok {
			_ = nc.Close()
		}
		return p, ok
	}
	if peer.IsValid() && g.bans != nil && g.bans.Banned(peer) {
		g.refuse(s, "ban", peer, "connection from a banned address")
		_ = nc.Close()
		return Pass{}, false
	}
	p, ok := g.admit(s, peer)
	if !ok {
		_ = nc.Close()
	}
	return p, ok
}

// admit takes a place in the total and, for a valid ip, ip's.
func (g *Gate) admit(s *Settings, ip netip.Addr) (Pass, bool) {
	p := Pass{g: g}
	if s.Total > 0 {
		if g.total.Add(1) > int64(s.Total) {
			g.total.Add(-1)
			g.refuse(s, "conn", ip, "connection over conn_limit.total")
			return Pass{}, false
		}
		p.total = true
	}
	if s.PerIP > 0 && ip.IsValid() {
		g.mu.Lock()
		n := g.perIP[ip]
		if int(n) >= s.PerIP {
			g.mu.Unlock()
			p.Release()
			g.refuse(s, "conn", ip, "connection over conn_limit.per_ip")
			return Pass{}, false
		}
		g.perIP[ip] = n + 1
		g.mu.Unlock()
		p.ip = ip
	}
	return p, true
}

// ReadProxyHeader reads the PROXY header of a connection on a PROXY
// listener and admits the client it names (bans, per-address limit),
// updating p. It returns the client's address, or the peer's for a
// header that carries none (the balancer's own health checks). On an
// error the caller closes the connection and releases p.
func (g *Gate) ReadProxyHeader(nc net.Conn, p *Pass) (net.Addr, error) {
	s := g.settings.Load()
	if s.HeaderTimeout > 0 {
		_ = nc.SetReadDeadline(time.Now().Add(s.HeaderTimeout))
	}
	h, err := proxyproto.Read(nc)
	_ = nc.SetReadDeadline(time.Time{})
	if err != nil {
		// A connection closed before its first byte is a balancer's
		// TCP health check, not a refusal.
		if !errors.Is(err, io.EOF) {
			g.refuse(s, "proxy", AddrOf(nc.RemoteAddr()), "bad PROXY protocol header: "+err.Error())
		}
		return nil, err
	}
	if h.Local {
		return nc.RemoteAddr(), nil
	}
	client := h.Source.Addr().Unmap()
	if g.bans != nil && g.bans.Banned(client) {
		g.refuse(s, "ban", client, "connection from a banned address")
		return nil, fmt.Errorf("client %s is banned", client)
	}
	if s.PerIP > 0 {
		q, ok := g.admit(&Settings{PerIP: s.PerIP, Refused: s.Refused}, client)
		if !ok {
			return nil, fmt.Errorf("client %s is over conn_limit.per_ip", client)
		}
		p.ip = q.ip
	}
	return net.TCPAddrFromAddrPort(netip.AddrPortFrom(client, h.Source.Port())), nil
}

// refuse counts a refusal and logs refusals at most once per logEvery.
func (g *Gate) refuse(s *Settings, reason string, ip netip.Addr, msg string) {
	if c := s.Refused[reason]; c != nil {
		c()
	}
	n := g.unlogged.Add(1)
	now := g.clock.Nanos()
	last := g.loggedAt.Load()
	if now-last < int64(logEvery) || !g.loggedAt.CompareAndSwap(last, now) {
		return
	}
	g.unlogged.Add(-n)
	client := "unix:"
	if ip.IsValid() {
		client = ip.String()
	}
	g.log.Warn("connections refused", "reason", msg, "client", client, "refused_since_last_report", n)
}

// AddrOf is the IP address of a connection's remote end, unmapped; the
// zero Addr for a unix socket.
func AddrOf(a net.Addr) netip.Addr {
	if t, ok := a.(*net.TCPAddr); ok {
		return t.AddrPort().Addr().Unmap()
	}
	return netip.Addr{}
}
