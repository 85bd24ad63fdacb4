package sockio

import (
	"io"
	"syscall"
	"unsafe"
)

const supported = true

// Read reads into p as net.Conn's Read does.
func (s *Socket) Read(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, errno, err := s.run(&s.read, p, false)
	switch {
	case err != nil:
		return 0, err
	case errno != 0:
		return 0, errno
	case n == 0:
		return 0, io.EOF
	}
	return n, nil
}

// run hands c's callback the buffer p and the runtime's socket lock, and
// returns what the callback did, or the runtime's error (deadline, closed
// connection) from a wait.
func (s *Socket) run(c *call, p []byte, write bool) (int, syscall.Errno, error) {
	c.p, c.n, c.errno = p, 0, 0
	var err error
	if write {
		err = s.rc.Write(c.fn)
	} else {
		err = s.rc.Read(c.fn)
	}
	n, errno := c.n, c.errno
	c.p = nil
	return n, errno, err
}

func (s *Socket) readOnce(fd uintptr) bool {
	c := &s.read
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, fd, uintptr(unsafe.Pointer(&c.p[0])), uintptr(len(c.p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait in the poller, then call again
		case 0:
			c.n = int(n)
		default:
			c.errno = e
		}
		return true
	}
}

// Write writes all of p as net.Conn's Write does.
func (s *Socket) Write(p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	n, errno, err := s.run(&s.write, p, true)
	switch {
	case err != nil:
		return n, err
	case errno != 0:
		return n, errno
	}
	return n, nil
}

func (s *Socket) writeAll(fd uintptr) bool {
	c := &s.write
	for c.n < len(c.p) {
		rest := c.p[c.n:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, fd, uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // wait for room in the poller, then go on
		case 0:
			c.n += int(n)
		default:
			c.errno = e
			return true
		}
	}
	return true
}

// WaitReadable returns when the socket has input, has reached its end, or
// has failed, or when its read deadline passes; it reads nothing. It looks
// first with a one-byte MSG_PEEK (a read would cost the same, and looking
// after the runtime has reset its readiness state is what makes the wait
// safe: input that arrived earlier is seen by the peek, input that arrives
// later wakes the wait), then lets the runtime's poller wait; once woken
// it returns without another system call.
func (s *Socket) WaitReadable() error {
	s.woken = false
	return s.rc.Read(s.waitFunc)
}

func (s *Socket) peek(fd uintptr) bool {
	if s.woken {
		return true
	}
	s.woken = true
	var b [1]byte
	for {
		_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		switch errno {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return false // nothing yet: wait in the poller
		}
		return true // input, end of stream, or an error the next read reports
	}
}

func (s *Socket) checkQuiet(fd uintptr) bool {
	s.ran = true
	var b [1]byte
	for {
		_, _, errno := syscall.RawSyscall6(syscall.SYS_RECVFROM, fd, uintptr(unsafe.Pointer(&b[0])), 1,
			syscall.MSG_PEEK|syscall.MSG_DONTWAIT, 0, 0)
		if errno == syscall.EINTR {
			continue
		}
		// EAGAIN: nothing to read, the connection is open and quiet.
		// Anything else: input, the end of the stream, or an error.
		s.quiet = errno == syscall.EAGAIN
		return true
	}
}
