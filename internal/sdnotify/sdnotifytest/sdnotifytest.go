// Package sdnotifytest stands in for systemd in tests: a datagram socket
// that $NOTIFY_SOCKET names, and its messages read one at a time.
package sdnotifytest

import (
	"net"
	"path/filepath"
	"testing"
	"time"
)

// Socket receives sd_notify messages.
type Socket struct{ conn *net.UnixConn }

// Listen opens the socket and points $NOTIFY_SOCKET at it for the rest of
// the test (and the processes it starts).
func Listen(t *testing.T) *Socket {
	t.Helper()
	path := filepath.Join(t.TempDir(), "notify.sock")
	conn, err := net.ListenUnixgram("unixgram", &net.UnixAddr{Name: path, Net: "unixgram"})
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { conn.Close() })
	t.Setenv("NOTIFY_SOCKET", path)
	return &Socket{conn: conn}
}

// Next is the next message, failing the test after 10 s without one.
func (s *Socket) Next(t *testing.T) string {
	t.Helper()
	_ = s.conn.SetReadDeadline(time.Now().Add(10 * time.Second))
	buf := make([]byte, 8192)
	n, err := s.conn.Read(buf)
	if err != nil {
		t.Fatalf("no notification: %v", err)
	}
	return string(buf[:n])
}
