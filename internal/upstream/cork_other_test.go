//go:build !linux

package upstream

import "net"

// corked runs write with Nagle's algorithm holding back small segments,
// the nearest to corking elsewhere.
func corked(tcp *net.TCPConn, write func()) {
	_ = tcp.SetNoDelay(false)
	write()
	_ = tcp.SetNoDelay(true)
}
