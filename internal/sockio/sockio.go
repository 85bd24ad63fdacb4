// Package sockio reads and writes plain sockets (TCP and unix) for the hot paths of
// the proxy (client connections of the HTTP/1.1 front end, upstream
// connections) with system calls the Go scheduler is not told about, and
// waits for input without a buffer.
//
// A read or write on a non-blocking socket never sleeps: it returns what
// it could do, or EAGAIN. Go's ordinary socket I/O still announces each
// call to the scheduler as a possibly blocking one, and when the kernel
// stretches a call (delivering over loopback and waking the reader
// happens inside the write), the scheduler's monitor hands the
// goroutine's P to another thread, which costs two thread wake-ups and
// keeps the monitor polling every 20 µs. Here the goroutine keeps its P
// through the call and waits in the runtime's poller only on EAGAIN, with
// the connection's deadlines applying to that wait as usual.
package sockio

import (
	"errors"
	"net"
	"syscall"
)

// ErrWouldBlock is what TryRead and TryWrite return when the socket has
// no input, or no room for output, right now.
var ErrWouldBlock = errors.New("sockio: the call would block")

// Socket is the raw I/O of one connection's socket. Read and Write may run
// at the same time (one reader, one writer); WaitReadable only while no
// Read runs. Made once per connection: the callbacks it hands the runtime
// are made here, so calls allocate nothing.
type Socket struct {
	rc syscall.RawConn
	// fd is the socket's descriptor, valid while the connection is open.
	fd    int
	read  call
	write call
	// woken is the state of WaitReadable.
	woken    bool
	waitFunc func(fd uintptr) bool
	// quiet is the answer of Quiet; ran tells its callback ran.
	quiet, ran bool
	quietFunc  func(fd uintptr) bool
}

// call is the state of one Read or Write, passed to its callback.
type call struct {
	p     []byte
	n     int
	errno syscall.Errno
	fn    func(fd uintptr) bool
}

// Open returns the raw I/O of nc's socket, or nil when nc is not a plain
// socket (a TLS connection, an in-memory pipe) or the platform is not
// supported: then nc's own methods are the way.
func Open(nc net.Conn) *Socket {
	if !supported {
		return nil
	}
	var sc syscall.Conn
	switch c := nc.(type) {
	case *net.TCPConn:
		sc = c
	case *net.UnixConn:
		sc = c
	default:
		return nil
	}
	rc, err := sc.SyscallConn()
	if err != nil {
		return nil
	}
	s := &Socket{rc: rc}
	if err := rc.Control(func(fd uintptr) { s.fd = int(fd) }); err != nil {
		return nil
	}
	s.read.fn, s.write.fn, s.waitFunc, s.quietFunc = s.readOnce, s.writeAll, s.peek, s.checkQuiet
	return s
}

// FD returns the socket's file descriptor, for a poller of the caller's
// own (see idlepark); it is valid until the connection is closed.
func (s *Socket) FD() int { return s.fd }

// Conn is a TCP or unix connection whose Read and Write go through its
// Socket; everything else (deadlines, addresses, Close) is the
// connection's own. It is what a layer that reads and writes a net.Conn
// itself (TLS, the upstream clients) is given.
type Conn struct {
	net.Conn
	sock *Socket
}

// Wrap returns nc as a Conn when Open can drive its socket, else nc.
func Wrap(nc net.Conn) net.Conn {
	s := Open(nc)
	if s == nil {
		return nc
	}
	return &Conn{Conn: nc, sock: s}
}

// CloseWrite shuts down the writing side of the connection.
func (c *Conn) CloseWrite() error {
	if cw, ok := c.Conn.(interface{ CloseWrite() error }); ok {
		return cw.CloseWrite()
	}
	return nil
}

// Socket returns the connection's Socket.
func (c *Conn) Socket() *Socket { return c.sock }

// Quiet reports whether the socket has no input waiting and has not
// reached its end or failed: whether an idle keep-alive connection is
// still fit to carry a request. It never waits. When it cannot look (a
// read deadline already passed), it answers true and the next read tells.
func (s *Socket) Quiet() bool {
	s.quiet, s.ran = false, false
	if err := s.rc.Read(s.quietFunc); err != nil && !s.ran {
		return true
	}
	return s.quiet
}

// Read reads through the socket.
func (c *Conn) Read(p []byte) (int, error) { return c.sock.Read(p) }

// Write writes through the socket.
func (c *Conn) Write(p []byte) (int, error) { return c.sock.Write(p) }

// FD returns the file descriptor of the TCP or unix socket beneath nc,
// looking through the wrappers that expose what they wrap (crypto/tls,
// conngate, this package's Conn), or -1 when there is none; valid until
// nc is closed.
func FD(nc net.Conn) int {
	for {
		switch c := nc.(type) {
		case *Conn:
			return c.sock.fd
		case *net.TCPConn, *net.UnixConn:
			if s := Open(c); s != nil {
				return s.fd
			}
			return -1
		case interface{ NetConn() net.Conn }:
			nc = c.NetConn()
		default:
			return -1
		}
	}
}
