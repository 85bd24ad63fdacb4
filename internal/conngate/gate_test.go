package conngate

import (
	"io"
	"log/slog"
	"net"
	"net/netip"
	"testing"
	"time"

	"github.com/gatehouse/gatehouse/internal/bans"
	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

// pair returns the server side of a fresh loopback connection from the
// client address ip, and the client side.
func pair(t *testing.T, ln net.Listener, ip string) (server, client net.Conn) {
	t.Helper()
	d := net.Dialer{LocalAddr: &net.TCPAddr{IP: net.ParseIP(ip)}}
	c, err := d.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	s, err := ln.Accept()
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { c.Close(); s.Close() })
	return s, c
}

func listen(t *testing.T) net.Listener {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	return ln
}

var quiet = slog.New(slog.NewTextHandler(io.Discard, nil))

func TestLimitsPerAddressAndTotal(t *testing.T) {
	ln := listen(t)
	refused := 0
	g := New(false, nil, quiet)
	g.SetSettings(Settings{PerIP: 2, Total: 3, Refused: map[string]func(){"conn": func() { refused++ }}})
	admit := func(ip string) (Pass, bool) {
		s, _ := pair(t, ln, ip)
		return g.Accept(s)
	}
	a1, ok1 := admit("127.0.0.2")
	_, ok2 := admit("127.0.0.2")
	_, ok3 := admit("127.0.0.2")
	if !ok1 || !ok2 || ok3 {
		t.Fatalf("per address: %v %v %v", ok1, ok2, ok3)
	}
	_, ok4 := admit("127.0.0.3")
	_, ok5 := admit("127.0.0.4")
	if !ok4 || ok5 {
		t.Fatalf("total: %v %v", ok4, ok5)
	}
	a1.Release()
	if _, ok := admit("127.0.0.4"); !ok {
		t.Fatal("a released place was not taken")
	}
	if refused != 2 {
		t.Fatalf("refused %d", refused)
	}
	if len(g.perIP) != 3 || g.total.Load() != 3 {
		t.Fatalf("counts: %v total %d", g.perIP, g.total.Load())
	}
}

func TestBannedAtAccept(t *testing.T) {
	ln := listen(t)
	b := bans.New(quiet, nil)
	b.Ban(netip.MustParseAddr("127.0.0.2"), time.Minute)
	g := New(false, b, quiet)
	s, _ := pair(t, ln, "127.0.0.2")
	if _, ok := g.Accept(s); ok {
		t.Fatal("a banned address was admitted")
	}
	s, _ = pair(t, ln, "127.0.0.3")
	if _, ok := g.Accept(s); !ok {
		t.Fatal("an address not banned was refused")
	}
}

func TestProxyHeaderNamesTheClient(t *testing.T) {
	ln := listen(t)
	g := New(true, nil, quiet)
	g.SetSettings(Settings{PerIP: 1, Trust: reqinfo.NewTrust([]netip.Prefix{netip.MustParsePrefix("127.0.0.1/32")}, false), HeaderTimeout: time.Second})

	// An untrusted peer is closed at accept.
	s, _ := pair(t, ln, "127.0.0.2")
	if _, ok := g.Accept(s); ok {
		t.Fatal("an untrusted peer was admitted")
	}
	s, c := pair(t, ln, "127.0.0.1")
	p, ok := g.Accept(s)
	if !ok {
		t.Fatal("a trusted peer was refused")
	}
	_, _ = c.Write([]byte("PROXY TCP6 2001:db8::7 ::1 4000 443\r\nGET /"))
	remote, err := g.ReadProxyHeader(s, &p)
	if err != nil || remote.String() != "[2001:db8::7]:4000" {
		t.Fatalf("remote %v, %v", remote, err)
	}
	rest := make([]byte, 5)
	if _, err := io.ReadFull(s, rest); err != nil || string(rest) != "GET /" {
		t.Fatalf("after the header: %q %v", rest, err)
	}
	// The client's per-address place is taken: a second connection
	// naming it is refused.
	s2, c2 := pair(t, ln, "127.0.0.1")
	p2, _ := g.Accept(s2)
	_, _ = c2.Write([]byte("PROXY TCP6 2001:db8::7 ::1 4001 443\r\n"))
	if _, err := g.ReadProxyHeader(s2, &p2); err == nil {
		t.Fatal("the client's second connection was admitted beyond per_ip")
	}
	// Wrapped, the connection reports the client and gives its place
	// back on close.
	w := Wrap(s, p, remote)
	if w.RemoteAddr().String() != "[2001:db8::7]:4000" {
		t.Fatalf("wrapped remote %v", w.RemoteAddr())
	}
	_ = w.Close()
	_ = w.Close()
	if len(g.perIP) != 0 {
		t.Fatalf("places held after close: %v", g.perIP)
	}
	// A header that is not one closes the connection.
	s3, c3 := pair(t, ln, "127.0.0.1")
	p3, _ := g.Accept(s3)
	_, _ = c3.Write([]byte("GET / HTTP/1.1\r\n\r\n"))
	if _, err := g.ReadProxyHeader(s3, &p3); err == nil {
		t.Fatal("a request without a PROXY header was taken")
	}
}

func TestNoGateAdmitsEverything(t *testing.T) {
	var g *Gate
	ln := listen(t)
	s, _ := pair(t, ln, "127.0.0.2")
	if p, ok := g.Accept(s); !ok || p.Holds() || g.Proxy() {
		t.Fatal("a nil gate refused or holds")
	}
	if Wrap(s, Pass{}, nil) != s {
		t.Fatal("a connection with nothing to carry was wrapped")
	}
}
