package activation

import (
	"net"
	"os"
	"path/filepath"
	"strconv"
	"syscall"
	"testing"
)

func TestMatches(t *testing.T) {
	tcp := func(s string) net.Addr { a, _ := net.ResolveTCPAddr("tcp", s); return a }
	for _, c := range []struct {
		bound   net.Addr
		address string
		want    bool
	}{
		{tcp("127.0.0.1:8080"), "127.0.0.1:8080", true},
		{tcp("127.0.0.1:8080"), "127.0.0.1:8081", false},
		{tcp("127.0.0.1:8080"), "127.0.0.2:8080", false},
		{tcp("[::]:8080"), ":8080", true},
		{tcp("0.0.0.0:8080"), ":8080", true},
		{tcp("[::]:8080"), "0.0.0.0:8080", true},
		{tcp("127.0.0.1:8080"), ":8080", false},
		{tcp("[::1]:443"), "[::1]:443", true},
		{tcp("127.0.0.1:443"), "localhost:443", false}, // names are not resolved
		{&net.UnixAddr{Name: "/run/g.sock", Net: "unix"}, "/run/g.sock", true},
		{&net.UnixAddr{Name: "/run/g.sock", Net: "unix"}, "/run/h.sock", false},
	} {
		if got := matches(c.bound, c.address); got != c.want {
			t.Errorf("matches(%v, %q) = %v, want %v", c.bound, c.address, got, c.want)
		}
	}
}

// fdOf is a duplicate descriptor of a socket, as systemd would pass it.
func fdOf(t *testing.T, c interface{ File() (*os.File, error) }) int {
	t.Helper()
	f, err := c.File()
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	fd, err := syscall.Dup(int(f.Fd()))
	if err != nil {
		t.Fatal(err)
	}
	return fd
}

// Passed sockets of each kind are taken once, by the address they are
// bound to; what no listener takes is left and closed.
func TestSocketsAreTakenByAddress(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	udp, err := net.ListenPacket("udp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer udp.Close()
	path := filepath.Join(t.TempDir(), "s.sock")
	ux, err := net.Listen("unix", path)
	if err != nil {
		t.Fatal(err)
	}
	defer ux.Close()
	other, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer other.Close()

	s := &Sockets{}
	for i, fd := range []int{fdOf(t, ln.(*net.TCPListener)), fdOf(t, udp.(*net.UDPConn)), fdOf(t, ux.(*net.UnixListener)), fdOf(t, other.(*net.TCPListener))} {
		if err := s.add(fd, "s"+strconv.Itoa(i)); err != nil {
			t.Fatal(err)
		}
	}
	addr := ln.Addr().String()
	if got, ok := s.Listener("tcp", addr); !ok || got.Addr().String() != addr {
		t.Fatalf("tcp %s: %v %v", addr, got, ok)
	}
	if _, ok := s.Listener("tcp", addr); ok {
		t.Fatal("a socket was taken twice")
	}
	if got, ok := s.PacketConn(addr); !ok || got.LocalAddr().String() != addr {
		t.Fatalf("udp %s: %v %v", addr, got, ok)
	}
	if _, ok := s.Listener("unix", path); !ok {
		t.Fatalf("unix %s not found", path)
	}
	if left := s.Left(); len(left) != 1 || left[0] != "tcp "+other.Addr().String() {
		t.Fatalf("left: %v", left)
	}
	s.Close()
	if s.Left() != nil {
		t.Fatal("Close left sockets")
	}
}

// Variables meant for another process (a parent's LISTEN_PID) pass no
// socket, and are cleared so no child takes them either.
func TestAnotherProcesssSockets(t *testing.T) {
	t.Setenv("LISTEN_PID", strconv.Itoa(os.Getpid()+1))
	t.Setenv("LISTEN_FDS", "1")
	s, err := FromEnv()
	if s != nil || err != nil {
		t.Fatalf("FromEnv = %v, %v", s, err)
	}
	if os.Getenv("LISTEN_FDS") != "" || os.Getenv("LISTEN_PID") != "" {
		t.Fatal("variables not cleared")
	}
	var none *Sockets
	if _, ok := none.Listener("tcp", ":80"); ok {
		t.Fatal("a nil set passed a socket")
	}
}
