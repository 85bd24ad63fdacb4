//go:build linux

package main

import (
	"bytes"
	"context"
	"fmt"
	"net"
	"os"
	"runtime"
	"syscall"
	"unsafe"

	"golang.org/x/sys/unix"
)

// serveLoops runs n event loops on addr until one fails.
func serveLoops(addr string, n int) error {
	errs := make(chan error, n)
	for range n {
		fd, err := reusePortListener(addr)
		if err != nil {
			return err
		}
		go func() {
			if spawnMode {
				errs <- spawnLoop(fd)
				return
			}
			errs <- loop(fd)
		}()
	}
	return <-errs
}

// reusePortListener opens a non-blocking listening socket on addr with
// SO_REUSEPORT, so that each loop has its own and the kernel spreads
// connections across them.
func reusePortListener(addr string) (int, error) {
	lc := net.ListenConfig{Control: func(_, _ string, c syscall.RawConn) error {
		var serr error
		err := c.Control(func(fd uintptr) { serr = unix.SetsockoptInt(int(fd), unix.SOL_SOCKET, unix.SO_REUSEPORT, 1) })
		if err != nil {
			return err
		}
		return serr
	}}
	ln, err := lc.Listen(context.Background(), "tcp", addr)
	if err != nil {
		return 0, err
	}
	f, err := ln.(*net.TCPListener).File() // a duplicate, blocking descriptor
	if err != nil {
		return 0, err
	}
	fd, err := unix.Dup(int(f.Fd()))
	if err != nil {
		return 0, err
	}
	return fd, unix.SetNonblock(fd, true)
}

// conn is a connection's unread input.
type conn struct{ in []byte }

// loop serves the connections of one listener from one epoll set, on a
// thread of its own.
func loop(lfd int) error {
	runtime.LockOSThread()
	ep, err := unix.EpollCreate1(0)
	if err != nil {
		return err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return err
	}
	conns := map[int32]*conn{}
	events := make([]unix.EpollEvent, 256)
	buf := make([]byte, 64<<10)
	var batch []byte
	for {
		n, err := epollWait(ep, events)
		if err == unix.EINTR || err == unix.EAGAIN {
			continue
		}
		if err != nil {
			return fmt.Errorf("epoll_wait: %w", err)
		}
		for _, ev := range events[:n] {
			if ev.Fd == int32(lfd) {
				for {
					cfd, _, err := unix.Accept4(lfd, unix.SOCK_NONBLOCK|unix.SOCK_CLOEXEC)
					if err != nil {
						break
					}
					_ = unix.SetsockoptInt(cfd, unix.IPPROTO_TCP, unix.TCP_NODELAY, 1)
					conns[int32(cfd)] = &conn{}
					_ = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, cfd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP, Fd: int32(cfd)})
				}
				continue
			}
			c := conns[ev.Fd]
			fd := int(ev.Fd)
			var closed bool
			batch, closed = answer(fd, c, buf, batch[:0])
			if closed {
				_ = unix.EpollCtl(ep, unix.EPOLL_CTL_DEL, fd, nil)
				_ = unix.Close(fd)
				delete(conns, ev.Fd)
			}
		}
	}
}

// rawSyscalls makes the loop's system calls without telling the Go
// scheduler (so no P hand-off around them); epoll_wait then waits at most
// 10 ms at a time, so that a stop-the-world pause is not held up. With
// GOFLOOR_RAW=hybrid, epoll_wait first looks without waiting (raw), and
// only when nothing is ready waits as Go's own calls do, telling the
// scheduler, so that other goroutines can have the P meanwhile.
var (
	rawSyscalls = os.Getenv("GOFLOOR_RAW") != ""
	hybridWait  = os.Getenv("GOFLOOR_RAW") == "hybrid"
)

func epollWait(ep int, events []unix.EpollEvent) (int, error) {
	if !rawSyscalls {
		return unix.EpollWait(ep, events, -1)
	}
	timeout := uintptr(10)
	if hybridWait {
		timeout = 0
	}
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_WAIT, uintptr(ep), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), timeout, 0, 0)
	if e != 0 {
		return 0, e
	}
	if n == 0 && hybridWait {
		return unix.EpollWait(ep, events, -1)
	}
	if n == 0 {
		return 0, unix.EAGAIN
	}
	return int(n), nil
}

func rawRead(fd int, p []byte) (int, error) {
	if !rawSyscalls {
		return unix.Read(fd, p)
	}
	n, _, e := unix.RawSyscall(unix.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

func rawWrite(fd int, p []byte) (int, error) {
	if !rawSyscalls {
		return unix.Write(fd, p)
	}
	n, _, e := unix.RawSyscall(unix.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
	if e != 0 {
		return -1, e
	}
	return int(n), nil
}

// answer reads what fd has, answers every complete head in c's input
// with the fixed response in one write (batch is the buffer for it), and
// reports whether the connection ended.
func answer(fd int, c *conn, buf, batch []byte) ([]byte, bool) {
	closed := false
	for {
		r, err := rawRead(fd, buf)
		if r > 0 {
			c.in = append(c.in, buf[:r]...)
		}
		if r == 0 || err != nil && err != unix.EAGAIN {
			closed = true
		}
		if r < len(buf) {
			break
		}
	}
	for {
		end := bytes.Index(c.in, []byte("\r\n\r\n"))
		if end < 0 {
			break
		}
		c.in = c.in[end+4:]
		batch = append(batch, response...)
	}
	if len(c.in) == 0 {
		c.in = nil
	}
	if len(batch) > 0 {
		if _, err := rawWrite(fd, batch); err != nil {
			closed = true
		}
	}
	return batch, closed
}
