// Package quicsteer keeps HTTP/3 connections alive across a binary
// upgrade. QUIC runs over one UDP port shared by the old and the new
// process, so every datagram must reach the process that holds its
// connection. Each process stamps a tag, one byte, at the start of the
// connection IDs it issues (Generator); its UDP sockets are bound with
// SO_REUSEPORT (Listen); and before starting its successor, a process
// attaches to its socket's reuseport group a classic BPF program (Steer)
// that sends datagrams for connection IDs with its tag to its own socket
// and all others, first Initial packets of new connections included, to
// the successor's. The old process drains its connections while the new
// one takes every new connection; once the old socket closes, the kernel
// sends everything to the one left.
package quicsteer

import (
	"context"
	"crypto/rand"
	"fmt"
	"net"
	"os"
	"strconv"
	"syscall"

	"github.com/quic-go/quic-go"
	"golang.org/x/sys/unix"
)

// TagEnv names the tag a process passes the binary that replaces it.
const TagEnv = "GATEHOUSE_QUIC_TAG"

// Tag is the first byte of the connection IDs a process issues.
type Tag byte

// TagFromEnv returns the tag the process this one replaces chose for it
// (and clears the variable), or a random one.
func TagFromEnv() Tag {
	v := os.Getenv(TagEnv)
	_ = os.Unsetenv(TagEnv)
	if n, err := strconv.ParseUint(v, 10, 8); err == nil {
		return Tag(n)
	}
	var b [1]byte
	_, _ = rand.Read(b[:])
	return Tag(b[0])
}

// Next is the tag for this process's successor.
func (t Tag) Next() Tag { return t + 1 }

// Env is the environment entry that passes t to a successor.
func (t Tag) Env() string { return TagEnv + "=" + strconv.Itoa(int(t)) }

// idLen is the length of the connection IDs issued: the tag and 7
// random bytes (quic-go's default is 4 random bytes).
const idLen = 8

// Generator issues connection IDs that start with its tag; it is a
// quic.ConnectionIDGenerator.
type Generator struct {
	// Tag starts every connection ID.
	Tag Tag
}

// GenerateConnectionID returns the tag followed by random bytes.
func (g Generator) GenerateConnectionID() (quic.ConnectionID, error) {
	var b [idLen]byte
	b[0] = byte(g.Tag)
	if _, err := rand.Read(b[1:]); err != nil {
		return quic.ConnectionID{}, fmt.Errorf("random connection ID: %w", err)
	}
	return quic.ConnectionIDFromBytes(b[:]), nil
}

// ConnectionIDLen is the length of every connection ID issued.
func (Generator) ConnectionIDLen() int { return idLen }

// Listen binds a UDP socket on addr with SO_REUSEPORT, so that a
// successor can bind its own beside it.
func Listen(ctx context.Context, addr string) (net.PacketConn, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		if err := c.Control(func(fd uintptr) {
			serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1)
		}); err != nil {
			return err
		}
		return serr
	}}
	return lc.ListenPacket(ctx, "udp", addr)
}

// Shareable reports whether a successor can bind its own socket beside
// conn (it was bound with SO_REUSEPORT). A socket that is not shareable,
// one systemd passed for instance, is handed over as it is instead, and
// the old process's HTTP/3 connections close at the hand-over.
func Shareable(conn net.PacketConn) bool {
	sc, ok := conn.(syscall.Conn)
	if !ok {
		return false
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return false
	}
	on := 0
	_ = rc.Control(func(fd uintptr) { on, _ = unix.GetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT) })
	return on != 0
}
