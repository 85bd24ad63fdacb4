//go:build unix

package http1

import (
	"syscall"
	"unsafe"
)

// readWaiter waits for input on a socket without a buffer to read it
// into. It is made once per connection: its callback is reused by every
// wait, so a wait allocates nothing.
type readWaiter struct {
	rc    syscall.RawConn
	woken bool
	check func(fd uintptr) bool
}

func newReadWaiter(rc syscall.RawConn) *readWaiter {
	w := &readWaiter{rc: rc}
	w.check = w.peek
	return w
}

// wait returns when the socket has input, has reached its end, or has
// failed, or when its read deadline passes; it reads nothing. It looks
// first with a one-byte MSG_PEEK (a read would cost the same, and looking
// after the runtime has reset its readiness state is what makes the wait
// safe: input that arrived earlier is seen by the peek, input that arrives
// later wakes the wait), then lets the runtime's poller wait; once woken it
// returns without another system call.
func (w *readWaiter) wait() error {
	w.woken = false
	return w.rc.Read(w.check)
}

func (w *readWaiter) peek(fd uintptr) bool {
	if w.woken {
		return true
	}
	w.woken = true
	var b [1]byte
	for {
		_, _, errno := syscall.Syscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // nothing yet: wait for the poller
		}
		return true // input, end of stream, or an error the next read reports
	}
}
