//go:build !linux

package quicsteer

import (
	"errors"
	"net"
)

// Steer is Linux only (SO_ATTACH_REUSEPORT_CBPF): elsewhere a successor's
// HTTP/3 shares the old socket and the old connections close.
func Steer(conn net.PacketConn, tag Tag) error {
	return errors.New("steering QUIC datagrams between processes needs Linux")
}
