//go:build !linux

package sockio

import "io"

// supported is false: Open returns nil and connections use their own I/O.
const supported = false

// Read is not reached: Open returns nil here.
func (s *Socket) Read([]byte) (int, error) { return 0, io.ErrUnexpectedEOF }

// Write is not reached: Open returns nil here.
func (s *Socket) Write([]byte) (int, error) { return 0, io.ErrShortWrite }

// WaitReadable is not reached: Open returns nil here.
func (s *Socket) WaitReadable() error { return nil }

func (s *Socket) readOnce(uintptr) bool { return true }
func (s *Socket) writeAll(uintptr) bool { return true }
func (s *Socket) peek(uintptr) bool     { return true }
func (s *Socket) checkQuiet(uintptr) bool {
	s.ran, s.quiet = true, true
	return true
}
