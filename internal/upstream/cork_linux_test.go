package upstream

import (
	"net"
	"syscall"
)

// corked runs write with tcp corked, so that what it writes leaves in one
// go and arrives together.
func corked(tcp *net.TCPConn, write func()) {
	raw, err := tcp.SyscallConn()
	if err != nil {
		write()
		return
	}
	set := func(on int) {
		_ = raw.Control(func(fd uintptr) { _ = syscall.SetsockoptInt(int(fd), syscall.IPPROTO_TCP, syscall.TCP_CORK, on) })
	}
	set(1)
	write()
	set(0)
}
