package sockio

import (
	"crypto/tls"
	"net"
	"testing"
)

func TestFDLooksThroughWrappers(t *testing.T) {
	if !supported {
		t.Skip("raw socket I/O not supported here")
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	nc, err := net.Dial("tcp", ln.Addr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer nc.Close()
	fd := FD(nc)
	if fd < 0 {
		t.Fatal("no fd for a TCP connection")
	}
	wrapped := Wrap(nc)
	if FD(wrapped) != fd || FD(tls.Client(wrapped, &tls.Config{})) != fd {
		t.Fatal("the fd is not found through the wrappers")
	}
	a, b := net.Pipe()
	defer a.Close()
	defer b.Close()
	if FD(a) != -1 {
		t.Fatal("an in-memory pipe has an fd")
	}
}
