//go:build linux

package idlepark

import (
	"fmt"
	"slices"
	"sync"
	"time"

	"golang.org/x/sys/unix"
)

// sweepEvery is how often deadlines are checked: a parked connection
// outlives its deadline by at most this much.
const sweepEvery = time.Second

// Set is the epoll set of parked connections and the loop that watches
// it.
type Set struct {
	epfd   int
	wakeFD int // an eventfd that wakes the loop for Close

	mu     sync.Mutex
	byFD   map[int]*Conn
	closed bool
	done   chan struct{}
}

// New makes a set and starts its loop.
func New() (*Set, error) {
	epfd, err := unix.EpollCreate1(unix.EPOLL_CLOEXEC)
	if err != nil {
		return nil, fmt.Errorf("idle connections: epoll_create1: %w", err)
	}
	wfd, err := unix.Eventfd(0, unix.EFD_CLOEXEC|unix.EFD_NONBLOCK)
	if err != nil {
		_ = unix.Close(epfd)
		return nil, fmt.Errorf("idle connections: eventfd: %w", err)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN, Fd: int32(wfd)}
	if err := unix.EpollCtl(epfd, unix.EPOLL_CTL_ADD, wfd, &ev); err != nil {
		_ = unix.Close(epfd)
		_ = unix.Close(wfd)
		return nil, fmt.Errorf("idle connections: epoll_ctl: %w", err)
	}
	s := &Set{epfd: epfd, wakeFD: wfd, byFD: map[int]*Conn{}, done: make(chan struct{})}
	go s.loop()
	return s, nil
}

// Park hands c's wait to the set until deadline (zero: none). It reports
// false when the set cannot take it (closed, c cancelled by Unpark since
// its last wake, or a failed system call): then the caller still owns c
// and waits for it itself.
func (s *Set) Park(c *Conn, deadline time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if c.cancelled {
		c.cancelled = false
		return false
	}
	if s.closed {
		return false
	}
	// Level-triggered and one-shot: input already there when the
	// socket is armed is reported at once, and a wake disarms it.
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(c.fd)}
	op := unix.EPOLL_CTL_ADD
	if c.added {
		op = unix.EPOLL_CTL_MOD
	}
	err := unix.EpollCtl(s.epfd, op, c.fd, &ev)
	if err == unix.ENOENT && op == unix.EPOLL_CTL_MOD {
		err = unix.EpollCtl(s.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev)
	}
	if err != nil {
		return false
	}
	c.added, c.parked, c.deadline = true, true, deadline
	s.byFD[c.fd] = c
	return true
}

// Unpark takes c out of the set and reports true when it was parked: the
// caller owns it now. Otherwise c is on its way out already (its wake or
// expiry runs) or not yet parked, and its next Park is refused.
func (s *Set) Unpark(c *Conn) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	if !c.parked {
		c.cancelled = true
		return false
	}
	s.take(c)
	return true
}

// take removes c from the set; the caller holds s.mu. The socket stays
// in the epoll set, disarmed, until it is closed (which removes it) or
// parked again.
func (s *Set) take(c *Conn) {
	c.parked = false
	delete(s.byFD, c.fd)
}

// Len counts the parked connections.
func (s *Set) Len() int {
	s.mu.Lock()
	defer s.mu.Unlock()
	return len(s.byFD)
}

// Close stops the loop; every parked connection expires.
func (s *Set) Close() {
	s.mu.Lock()
	if s.closed {
		s.mu.Unlock()
		return
	}
	s.closed = true
	var left []*Conn
	for _, c := range s.byFD {
		left = append(left, c)
		s.take(c)
	}
	s.mu.Unlock()
	var one = [8]byte{1}
	_, _ = unix.Write(s.wakeFD, one[:])
	<-s.done
	for _, c := range left {
		c.expire()
	}
}

// loop waits for parked sockets to become readable and wakes their
// connections; once a second it expires those past their deadline.
func (s *Set) loop() {
	defer close(s.done)
	defer func() {
		_ = unix.Close(s.epfd)
		_ = unix.Close(s.wakeFD)
	}()
	events := make([]unix.EpollEvent, 256)
	woken := make([]*Conn, 0, 256)
	nextSweep := time.Now().Add(sweepEvery)
	for {
		n, err := unix.EpollWait(s.epfd, events, int(sweepEvery/time.Millisecond))
		if err != nil && err != unix.EINTR {
			n = 0
			time.Sleep(10 * time.Millisecond) // not expected; do not spin
		}
		woken = woken[:0]
		s.mu.Lock()
		if s.closed {
			s.mu.Unlock()
			return
		}
		for _, ev := range events[:max(n, 0)] {
			if c := s.byFD[int(ev.Fd)]; c != nil && c.parked {
				s.take(c)
				woken = append(woken, c)
			}
		}
		s.mu.Unlock()
		for _, c := range woken {
			go c.wake()
		}
		if now := time.Now(); !now.Before(nextSweep) {
			nextSweep = now.Add(sweepEvery)
			s.sweep(now)
		}
	}
}

// sweep expires the connections whose deadline has passed.
func (s *Set) sweep(now time.Time) {
	var due []*Conn
	s.mu.Lock()
	for _, c := range s.byFD {
		if !c.deadline.IsZero() && now.After(c.deadline) {
			s.take(c)
			due = append(due, c)
		}
	}
	s.mu.Unlock()
	for _, c := range due {
		c.expire()
	}
}

// ExpireOldest expires up to n parked connections, those whose idle
// deadline comes first (the longest idle), and reports how many: room
// made when the process runs out of file descriptors. Their expire
// callbacks have run (and closed them) when it returns.
func (s *Set) ExpireOldest(n int) int {
	s.mu.Lock()
	all := make([]*Conn, 0, len(s.byFD))
	for _, c := range s.byFD {
		all = append(all, c)
	}
	slices.SortFunc(all, func(a, b *Conn) int { return a.deadline.Compare(b.deadline) })
	due := all[:min(n, len(all))]
	for _, c := range due {
		s.take(c)
	}
	s.mu.Unlock()
	for _, c := range due {
		c.expire()
	}
	return len(due)
}
