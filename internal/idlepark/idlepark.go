// Package idlepark holds idle keep-alive connections without a goroutine
// each: a parked connection is a socket in an epoll set that one loop
// watches, and a goroutine is started for it again only when bytes (or
// its end) arrive, or its idle deadline passes. nginx holds idle
// connections this way; a goroutine blocked in a read costs its stack
// (4-8 KB once it has served a request) for as long as the client keeps
// the connection open.
//
// A set runs one loop per epoll set (New's loops), and the loops wait the
// way an event loop does: they look for ready sockets without telling Go's
// scheduler (a raw epoll_pwait that does not wait), and only when none is
// ready do they wait as Go's own system calls do, giving their P to other
// goroutines meanwhile. A connection made with NewLoopConn is woken on its
// loop, which lets a busy connection whose requests never block (fixed
// responses, redirects) be served there, request after request, with no
// goroutine wake-up at all: nginx's way, measured in bench/README.md.
//
// Linux only (epoll); elsewhere New returns nil and connections wait as
// usual.
package idlepark

import "time"

// Conn is one connection's entry, made once per connection and parked
// as often as it goes idle. Whoever takes it out of the set (its wake,
// its expiry, or a successful Unpark) owns the connection from then on.
type Conn struct {
	fd     int
	wake   func()
	expire func()
	// onLoop: wake runs on the loop itself (NewLoopConn).
	onLoop bool

	// Owned by the set, under its lock.
	deadline  time.Time
	parked    bool
	cancelled bool
	added     bool // in the epoll set (re-armed with MOD after a wake)
}

// NewConn returns the entry of the socket fd: wake runs on a goroutine of
// its own when the socket has input or has ended, expire when its
// deadline passes first (or the set closes).
func NewConn(fd int, wake, expire func()) *Conn {
	return &Conn{fd: fd, wake: wake, expire: expire}
}

// NewLoopConn is NewConn for a connection woken on the set's loop: wake
// runs there, so it must not block (it may start a goroutine for work
// that might), and the connections of the same loop wait while it runs.
func NewLoopConn(fd int, wake, expire func()) *Conn {
	return &Conn{fd: fd, wake: wake, expire: expire, onLoop: true}
}
