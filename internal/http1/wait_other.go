//go:build !unix

package http1

import "syscall"

// readWaiter is not available here: connections keep their buffers and
// wait in their reads.
type readWaiter struct{}

func newReadWaiter(syscall.RawConn) *readWaiter { return nil }

func (w *readWaiter) wait() error { return nil }
