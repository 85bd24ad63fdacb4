package sockio

import (
	"io"
	"net"
	"os"
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

// TryRead reads what the socket fd has for p without waiting:
// ErrWouldBlock when it has nothing yet, io.EOF at its end. fd is one the
// caller owns outside Go's poller (see Detach).
func TryRead(fd int, p []byte) (int, error) {
	if len(p) == 0 {
		return 0, nil
	}
	for {
		n, _, e := syscall.RawSyscall(syscall.SYS_READ, uintptr(fd), uintptr(unsafe.Pointer(&p[0])), uintptr(len(p)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return 0, ErrWouldBlock
		case 0:
			if n == 0 {
				return 0, io.EOF
			}
			return int(n), nil
		}
		return 0, e
	}
}

// TryWrite writes as much of p to the socket fd as it takes without
// waiting and returns how much that was; ErrWouldBlock when it could not
// take all.
func TryWrite(fd int, p []byte) (int, error) {
	done := 0
	for done < len(p) {
		rest := p[done:]
		n, _, e := syscall.RawSyscall(syscall.SYS_WRITE, uintptr(fd), uintptr(unsafe.Pointer(&rest[0])), uintptr(len(rest)))
		switch e {
		case syscall.EINTR:
			continue
		case syscall.EAGAIN:
			return done, ErrWouldBlock
		case 0:
			done += int(n)
		default:
			return done, e
		}
	}
	return done, nil
}

// Detach takes the socket out of Go's poller: it returns a duplicate of
// its descriptor (non-blocking, as the socket is) and closes the
// connection, whose descriptor the poller watched. The socket lives on
// in the duplicate, the caller's to watch (an epoll set of its own), to
// read and write with TryRead and TryWrite, and to close or Attach. A
// socket in two epoll sets wakes both for every input; detached, it
// wakes only the caller's.
func (s *Socket) Detach(nc net.Conn) (int, error) {
	var fd int
	var derr error
	if err := s.rc.Control(func(f uintptr) { fd, derr = dupCloseOnExec(int(f)) }); err != nil {
		return -1, err
	}
	if derr != nil {
		return -1, derr
	}
	if err := nc.Close(); err != nil {
		_ = syscall.Close(fd)
		return -1, err
	}
	return fd, nil
}

func dupCloseOnExec(fd int) (int, error) {
	for {
		r, _, e := syscall.RawSyscall(syscall.SYS_FCNTL, uintptr(fd), syscall.F_DUPFD_CLOEXEC, 0)
		if e == syscall.EINTR {
			continue
		}
		if e != 0 {
			return -1, e
		}
		return int(r), nil
	}
}

// Attach gives a detached socket back to Go's poller as a connection of
// its own; fd is closed either way.
func Attach(fd int) (net.Conn, error) {
	f := os.NewFile(uintptr(fd), "")
	nc, err := net.FileConn(f)
	_ = f.Close()
	return nc, err
}

// CloseFD closes a detached socket.
func CloseFD(fd int) error { return syscall.Close(fd) }
