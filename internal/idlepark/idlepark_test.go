//go:build linux

package idlepark

import (
	"testing"
	"time"

	"golang.org/x/sys/unix"
)

// pair returns two connected sockets, closed at the test's end.
func pair(t *testing.T) (int, int) {
	t.Helper()
	fds, err := unix.Socketpair(unix.AF_UNIX, unix.SOCK_STREAM|unix.SOCK_NONBLOCK, 0)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { unix.Close(fds[0]); unix.Close(fds[1]) })
	return fds[0], fds[1]
}

// entry returns a Conn for fd whose wake and expiry are reported on the
// channels.
func entry(fd int) (*Conn, chan struct{}, chan struct{}) {
	woke, expired := make(chan struct{}, 1), make(chan struct{}, 1)
	return NewConn(fd, func() { woke <- struct{}{} }, func() { expired <- struct{}{} }), woke, expired
}

func within(t *testing.T, ch chan struct{}, d time.Duration, what string) {
	t.Helper()
	select {
	case <-ch:
	case <-time.After(d):
		t.Fatalf("no %s within %s", what, d)
	}
}

func TestWakeOnInputAndParkAgain(t *testing.T) {
	s, err := New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	a, b := pair(t)
	c, woke, _ := entry(a)
	for round := 0; round < 3; round++ {
		if !s.Park(c, time.Now().Add(time.Minute)) {
			t.Fatal("not parked")
		}
		if s.Len() != 1 {
			t.Fatalf("Len %d", s.Len())
		}
		_, _ = unix.Write(b, []byte("x"))
		within(t, woke, 5*time.Second, "wake on input")
		var buf [8]byte
		_, _ = unix.Read(a, buf[:])
		if s.Len() != 0 {
			t.Fatalf("woken but still counted: %d", s.Len())
		}
	}
	// Input already there when parking wakes at once.
	_, _ = unix.Write(b, []byte("y"))
	s.Park(c, time.Time{})
	within(t, woke, 5*time.Second, "wake on input already there")
}

func TestDeadlineUnparkAndClose(t *testing.T) {
	s, err := New(1)
	if err != nil {
		t.Fatal(err)
	}
	a, _ := pair(t)
	c, woke, expired := entry(a)
	s.Park(c, time.Now().Add(100*time.Millisecond))
	within(t, expired, 5*time.Second, "expiry")

	// Unpark of a parked entry hands it back; of one not parked, refuses
	// its next Park once.
	s.Park(c, time.Time{})
	if !s.Unpark(c) || s.Len() != 0 {
		t.Fatal("Unpark of a parked entry")
	}
	if s.Unpark(c) {
		t.Fatal("Unpark of an entry not parked")
	}
	if s.Park(c, time.Time{}) {
		t.Fatal("Park after a cancelling Unpark")
	}
	if !s.Park(c, time.Time{}) {
		t.Fatal("Park refused twice")
	}
	s.Close()
	within(t, expired, time.Second, "expiry at Close")
	if s.Park(c, time.Time{}) {
		t.Fatal("Park after Close")
	}
	select {
	case <-woke:
		t.Fatal("woken without input")
	default:
	}
}

func TestExpireOldestTakesTheLongestIdle(t *testing.T) {
	s, err := New(1)
	if err != nil {
		t.Fatal(err)
	}
	defer s.Close()
	now := time.Now()
	var expired []chan struct{}
	for i := range 3 {
		a, _ := pair(t)
		c, _, exp := entry(a)
		// The first parked has the latest deadline.
		if !s.Park(c, now.Add(time.Duration(3-i)*time.Hour)) {
			t.Fatal("not parked")
		}
		expired = append(expired, exp)
	}
	if n := s.ExpireOldest(2); n != 2 {
		t.Fatalf("expired %d, want 2", n)
	}
	within(t, expired[1], time.Second, "the second expired")
	within(t, expired[2], time.Second, "the third expired")
	select {
	case <-expired[0]:
		t.Fatal("the one idle the shortest expired")
	default:
	}
	if s.Len() != 1 {
		t.Fatalf("%d left parked, want 1", s.Len())
	}
}
