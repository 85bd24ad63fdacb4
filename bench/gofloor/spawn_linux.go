//go:build linux

package main

import (
	"fmt"
	"os"
	"runtime"
	"unsafe"

	"golang.org/x/sys/unix"
)

// spawnMode (GOFLOOR_SPAWN=1 with -loops): the loops only watch, one-shot;
// each ready connection is served by a goroutine started for it, which
// reads, answers, and re-arms the connection in the loop's epoll set.
// That is a goroutine per request rather than per connection, woken by
// the loop instead of Go's poller: how a Go server could keep its
// blocking-style handlers and still wait in an event loop.
var spawnMode = os.Getenv("GOFLOOR_SPAWN") != ""

func spawnLoop(lfd int) error {
	runtime.LockOSThread()
	ep, err := unix.EpollCreate1(0)
	if err != nil {
		return err
	}
	if err := unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, lfd, &unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(lfd)}); err != nil {
		return err
	}
	conns := make([]*conn, 1<<16)
	events := make([]unix.EpollEvent, 256)
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
					conns[cfd] = &conn{}
					_ = unix.EpollCtl(ep, unix.EPOLL_CTL_ADD, cfd, &unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(cfd)})
				}
				continue
			}
			go serveReady(ep, int(ev.Fd), conns[ev.Fd])
		}
	}
}

var spawnBufs = make(chan []byte, 1024)

func serveReady(ep, fd int, c *conn) {
	var buf []byte
	select {
	case buf = <-spawnBufs:
	default:
		buf = make([]byte, 16<<10)
	}
	defer func() {
		select {
		case spawnBufs <- buf:
		default:
		}
	}()
	_, closed := answer(fd, c, buf, nil)
	if closed {
		_ = unix.Close(fd)
		return
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(fd)}
	_, _, _ = unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(ep), unix.EPOLL_CTL_MOD, uintptr(fd), uintptr(unsafe.Pointer(&ev)), 0, 0)
}
