package quicsteer

import (
	"bytes"
	"context"
	"errors"
	"net"
	"os"
	"testing"
	"time"
)

// datagrams a client could send, by the connection ID they carry.
func shortHeader(dcid0 byte) []byte { return []byte{0x40, dcid0, 1, 2, 3, 4, 5, 6, 7, 0xaa} }

func longHeader(first byte, version uint32, dcid0 byte) []byte {
	return []byte{first, byte(version >> 24), byte(version >> 16), byte(version >> 8), byte(version),
		8, dcid0, 1, 2, 3, 4, 5, 6, 7, 0, 0xbb}
}

// receive reads one datagram from conn, or fails.
func receive(t *testing.T, conn net.PacketConn, name string) []byte {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 1500)
	n, _, err := conn.ReadFrom(buf)
	if err != nil {
		t.Fatalf("%s received nothing: %v", name, err)
	}
	return buf[:n]
}

// nothingMore checks that no datagram waits on conn.
func nothingMore(t *testing.T, conn net.PacketConn, name string) {
	t.Helper()
	_ = conn.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	buf := make([]byte, 1500)
	if n, _, err := conn.ReadFrom(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("%s received %x (%v), meant for the other socket", name, buf[:n], err)
	}
}

// The kernel, with the program attached, delivers each datagram to the
// process holding its connection: the old socket keeps its own tag's,
// the successor's takes every other and every Initial; with one socket
// left, it takes everything.
func TestSteersByConnectionID(t *testing.T) {
	ctx := context.Background()
	const tag = Tag(7)
	old, err := Listen(ctx, "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer old.Close()
	if !Shareable(old) {
		t.Fatal("a socket from Listen is not shareable")
	}
	if err := Steer(old, tag); err != nil {
		t.Fatal(err)
	}
	client, err := net.Dial("udp", old.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer client.Close()
	send := func(b []byte) {
		t.Helper()
		if _, err := client.Write(b); err != nil {
			t.Fatal(err)
		}
	}
	// Alone in its group, the old socket takes everything.
	send(shortHeader(8))
	if got := receive(t, old, "the old socket, alone"); !bytes.Equal(got, shortHeader(8)) {
		t.Fatalf("got %x", got)
	}

	successor, err := Listen(ctx, old.LocalAddr().String())
	if err != nil {
		t.Fatal(err)
	}
	defer successor.Close()
	cases := []struct {
		name   string
		packet []byte
		toOld  bool
	}{
		{"short header, old tag", shortHeader(7), true},
		{"short header, other tag", shortHeader(8), false},
		{"v1 Initial, old tag", longHeader(0xc0, version1, 7), false},
		{"v1 Handshake, old tag", longHeader(0xe0, version1, 7), true},
		{"v1 Handshake, other tag", longHeader(0xe0, version1, 9), false},
		{"v2 Initial, old tag", longHeader(0xd0, version2, 7), false},
		{"v2 Handshake, old tag", longHeader(0xf0, version2, 7), true},
		{"too short to tell", []byte{0x40}, true},
	}
	for _, c := range cases {
		send(c.packet)
		to, name := successor, "the successor"
		if c.toOld {
			to, name = old, "the old socket"
		}
		if got := receive(t, to, name+" ("+c.name+")"); !bytes.Equal(got, c.packet) {
			t.Fatalf("%s: got %x", c.name, got)
		}
	}
	nothingMore(t, old, "the old socket")
	nothingMore(t, successor, "the successor")

	// The old process leaves: the successor takes its stale datagrams too.
	old.Close()
	send(shortHeader(7))
	receive(t, successor, "the successor, alone")
}
