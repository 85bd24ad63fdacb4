//go:build !linux

package sockio

import (
	"io"
	"net"
)

// supported is false: Open returns nil and connections use their own I/O.
const supported = false

// Read is not reached: Open returns nil here.
func (s *Socket) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// Write is not reached: Open returns nil here.
func (s *Socket) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

// TryRead is not reached: Open returns nil here.
func TryRead(int, []byte) (int, error) { return 0, ErrWouldBlock }

// TryWrite is not reached: Open returns nil here.
func TryWrite(int, []byte) (int, error) { return 0, ErrWouldBlock }

// Detach is not reached: Open returns nil here.
func (s *Socket) Detach(net.Conn) (int, error) { return -1, ErrWouldBlock }

// Attach is not reached: Detach never succeeds here.
func Attach(int) (net.Conn, error) { return nil, ErrWouldBlock }

// CloseFD is not reached: Detach never succeeds here.
func CloseFD(int) error { return nil }

// WaitReadable is not reached: Open returns nil here.
func (s *Socket) WaitReadable() error { return nil }

func (s *Socket) readOnce(uintptr) bool { return true }
func (s *Socket) writeAll(uintptr) bool { return true }
func (s *Socket) peek(uintptr) bool     { return true }

func (s *Socket) checkQuiet(uintptr) bool {
	s.ran, s.quiet = true, true
	return true
}
