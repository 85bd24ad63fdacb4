//go:build linux

package idlepark

import (
	"fmt"
	"slices"
	"sync"
	"time"
	"unsafe"

	"golang.org/x/sys/unix"
)

// sweepEvery is how often deadlines are checked: a parked connection
// outlives its deadline by at most this much.
const sweepEvery = time.Second

// Set is the epoll sets of parked connections and the loops that watch
// them.
type Set struct {
	loops []*loop
}

// loopOf is the loop that watches c's socket: always the same one.
func (s *Set) loopOf(c *Conn) *loop { return s.loops[c.fd%len(s.loops)] }

// loop is one epoll set and the goroutine that waits on it.
type loop struct {
	epfd   int
	wakeFD int // an eventfd that wakes the loop for Close

	mu     sync.Mutex
	byFD   map[int]*Conn
	closed bool
	done   chan struct{}
}

// New makes a set of n loops (at least one) and starts them.
func New(n int) (*Set, error) {
	s := &Set{}
	for range max(n, 1) {
		l, err := newLoop()
		if err != nil {
			s.Close()
			return nil, err
		}
		s.loops = append(s.loops, l)
		go l.run()
	}
	return s, nil
}

func newLoop() (*loop, error) {
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
	return &loop{epfd: epfd, wakeFD: wfd, byFD: map[int]*Conn{}, done: make(chan struct{})}, nil
}

// Park hands c's wait to the set until deadline (zero: none). It reports
// false when the set cannot take it (closed, c cancelled by Unpark since
// its last wake, or a failed system call): then the caller still owns c
// and waits for it itself.
func (s *Set) Park(c *Conn, deadline time.Time) bool {
	l := s.loopOf(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.cancelled {
		c.cancelled = false
		return false
	}
	if l.closed {
		return false
	}
	if err := l.arm(c); err != nil {
		return false
	}
	c.added, c.parked, c.deadline = true, true, deadline
	l.byFD[c.fd] = c
	return true
}

// arm makes the epoll set report c's socket's next input. A connection
// woken on the loop (NewLoopConn) is added once, edge-triggered, and
// parked again with no system call: its socket is the loop's alone (its
// owner reads it until it would block before parking it again, and an
// edge that comes while it is being served is reported by the loop's
// next wait). Others are added level-triggered and one-shot, and re-armed
// at each park: input already there is reported at once, and a wake
// disarms the socket while a goroutine of the connection's owns it.
func (l *loop) arm(c *Conn) error {
	if c.onLoop {
		if c.added {
			return nil
		}
		ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLET, Fd: int32(c.fd)}
		return epollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev)
	}
	ev := unix.EpollEvent{Events: unix.EPOLLIN | unix.EPOLLRDHUP | unix.EPOLLONESHOT, Fd: int32(c.fd)}
	op := unix.EPOLL_CTL_ADD
	if c.added {
		op = unix.EPOLL_CTL_MOD
	}
	err := epollCtl(l.epfd, op, c.fd, &ev)
	if err == unix.ENOENT && op == unix.EPOLL_CTL_MOD {
		err = epollCtl(l.epfd, unix.EPOLL_CTL_ADD, c.fd, &ev)
	}
	return err
}

// epollCtl is epoll_ctl made without telling the scheduler: it never
// blocks, and a loop re-arms a socket after every request it serves.
func epollCtl(epfd, op, fd int, ev *unix.EpollEvent) error {
	_, _, e := unix.RawSyscall6(unix.SYS_EPOLL_CTL, uintptr(epfd), uintptr(op), uintptr(fd), uintptr(unsafe.Pointer(ev)), 0, 0)
	if e != 0 {
		return e
	}
	return nil
}

// Unpark takes c out of the set and reports true when it was parked: the
// caller owns it now. Otherwise c is on its way out already (its wake or
// expiry runs) or not yet parked, and its next Park is refused.
func (s *Set) Unpark(c *Conn) bool {
	l := s.loopOf(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if !c.parked {
		c.cancelled = true
		return false
	}
	l.take(c)
	return true
}

// Release takes c's socket out of the epoll set, for good: its owner
// (not the set: c is not parked) hands the socket on to be watched
// elsewhere. Closing a socket leaves its epoll sets by itself, unless a
// duplicate of its descriptor lives on, which is then a stale entry
// that refuses the same descriptor number and socket later.
func (s *Set) Release(c *Conn) {
	l := s.loopOf(c)
	l.mu.Lock()
	defer l.mu.Unlock()
	if c.added {
		_ = epollCtl(l.epfd, unix.EPOLL_CTL_DEL, c.fd, nil)
		c.added = false
	}
}

// take removes c from the loop; the caller holds l.mu. The socket stays
// in the epoll set, disarmed, until it is closed (which removes it) or
// parked again.
func (l *loop) take(c *Conn) {
	c.parked = false
	delete(l.byFD, c.fd)
}

// Len counts the parked connections.
func (s *Set) Len() int {
	n := 0
	for _, l := range s.loops {
		l.mu.Lock()
		n += len(l.byFD)
		l.mu.Unlock()
	}
	return n
}

// Close stops the loops; every parked connection expires.
func (s *Set) Close() {
	for _, l := range s.loops {
		l.close()
	}
}

func (l *loop) close() {
	l.mu.Lock()
	if l.closed {
		l.mu.Unlock()
		return
	}
	l.closed = true
	var left []*Conn
	for _, c := range l.byFD {
		left = append(left, c)
		l.take(c)
	}
	l.mu.Unlock()
	var one = [8]byte{1}
	_, _ = unix.Write(l.wakeFD, one[:])
	<-l.done
	for _, c := range left {
		c.expire()
	}
}

// run waits for parked sockets to become ready and wakes their
// connections; once a second it expires those past their deadline.
func (l *loop) run() {
	defer close(l.done)
	defer func() {
		_ = unix.Close(l.epfd)
		_ = unix.Close(l.wakeFD)
	}()
	events := make([]unix.EpollEvent, 256)
	woken := make([]*Conn, 0, 256)
	nextSweep := time.Now().Add(sweepEvery)
	for {
		n := l.wait(events, time.Until(nextSweep))
		woken = woken[:0]
		l.mu.Lock()
		if l.closed {
			l.mu.Unlock()
			return
		}
		for _, ev := range events[:n] {
			if c := l.byFD[int(ev.Fd)]; c != nil && c.parked {
				l.take(c)
				woken = append(woken, c)
			}
		}
		l.mu.Unlock()
		for i, c := range woken {
			woken[i] = nil
			if c.onLoop {
				c.wake()
			} else {
				go c.wake()
			}
		}
		if now := time.Now(); !now.Before(nextSweep) {
			nextSweep = now.Add(sweepEvery)
			l.sweep(now)
		}
	}
}

// wait returns the number of ready events: it looks first without
// waiting or telling the scheduler; only when nothing is ready does it
// wait (at most timeout) as an ordinary system call, during which the
// loop's P can run other goroutines.
func (l *loop) wait(events []unix.EpollEvent, timeout time.Duration) int {
	n, _, e := unix.RawSyscall6(unix.SYS_EPOLL_PWAIT, uintptr(l.epfd), uintptr(unsafe.Pointer(&events[0])), uintptr(len(events)), 0, 0, 0)
	if e == 0 && n > 0 {
		return int(n)
	}
	ms := max(int(timeout/time.Millisecond), 0) + 1
	m, err := unix.EpollWait(l.epfd, events, ms)
	if err != nil {
		if err != unix.EINTR {
			time.Sleep(10 * time.Millisecond) // not expected; do not spin
		}
		return 0
	}
	return m
}

// sweep expires the connections whose deadline has passed.
func (l *loop) sweep(now time.Time) {
	var due []*Conn
	l.mu.Lock()
	for _, c := range l.byFD {
		if !c.deadline.IsZero() && now.After(c.deadline) {
			l.take(c)
			due = append(due, c)
		}
	}
	l.mu.Unlock()
	for _, c := range due {
		c.expire()
	}
}

// ExpireOldest expires up to n parked connections, those whose idle
// deadline comes first (the longest idle), and reports how many: room
// made when the process runs out of file descriptors. Their expire
// callbacks have run (and closed them) when it returns.
func (s *Set) ExpireOldest(n int) int {
	for _, l := range s.loops {
		l.mu.Lock()
	}
	var all []*Conn
	for _, l := range s.loops {
		for _, c := range l.byFD {
			all = append(all, c)
		}
	}
	slices.SortFunc(all, func(a, b *Conn) int { return a.deadline.Compare(b.deadline) })
	due := all[:min(n, len(all))]
	for _, c := range due {
		s.loopOf(c).take(c)
	}
	for _, l := range s.loops {
		l.mu.Unlock()
	}
	for _, c := range due {
		c.expire()
	}
	return len(due)
}
