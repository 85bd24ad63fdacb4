package http1

import (
	"crypto/tls"
	"errors"
	"io"
	"net"
	"os"
	"sync"
	"time"

	"github.com/gatehouse/gatehouse/internal/idlepark"
)

// Parking idle connections: a keep-alive connection (plain, or TLS over
// TCP) that has waited
// for its next request through one whole park scan (parkScan, so between
// one and two of them) leaves its goroutine and waits in the server's
// idle set (idlepark), where it costs no stack. Busy connections never
// get there: a client that sends its next request sooner is served on the
// same goroutine as before, without a system call more.
//
// The scan asks a waiting connection to park by moving its read deadline
// to the past; the connection's goroutine sees why its wait ended and
// hands the socket to the set. A wake (input or the client's end) runs the
// request loop again on a new goroutine; the idle deadline passing while
// parked closes the connection.

// parkScan is how often the server looks for connections to park.
const parkScan = 250 * time.Millisecond

// errParked ends a request loop whose connection went to the idle set.
var errParked = errors.New("connection parked")

// Where a connection is in an idle wait.
const (
	idleNone    = iota // not waiting for a request in the poller
	idleWaiting        // waiting: the scan may ask it to park
	idleAsked          // asked: its read deadline was moved to the past
)

// idleState is a connection's part in parking, shared between its
// goroutine and the park scan.
type idleState struct {
	mu    sync.Mutex
	state uint8
	// wait numbers the connection's idle waits; seen is the wait the
	// last scan found it in, so a wait seen twice has lasted a scan.
	wait, seen uint32
	// entry is the connection's place in the idle set, made the first
	// time it parks; fd is the socket it waits on there (beneath TLS),
	// -1 when the connection cannot park.
	entry *idlepark.Conn
	fd    int
}

// tlsInput is a TLS connection that can hold one byte read ahead.
type tlsInput struct {
	*tls.Conn
	b       [1]byte
	pending bool
}

// waitByte reads one byte and keeps it for the next Read.
func (t *tlsInput) waitByte() error {
	n, err := t.Conn.Read(t.b[:])
	if n == 1 {
		t.pending = true
		return nil
	}
	if err == nil {
		err = io.ErrNoProgress
	}
	return err
}

// Read returns the byte held, if any, then reads the connection.
func (t *tlsInput) Read(p []byte) (int, error) {
	if t.pending && len(p) > 0 {
		p[0], t.pending = t.b[0], false
		return 1, nil
	}
	return t.Conn.Read(p)
}

// waitIdle waits for the next request on an idle connection: in the
// runtime's poller, and, once the park scan asks, in the server's idle set
// (errParked: the goroutine is to end).
func (c *conn) waitIdle() error {
	if c.srv.idle == nil || c.idle.fd < 0 {
		return c.waitInput()
	}
	for {
		c.idle.mu.Lock()
		c.idle.state = idleWaiting
		c.idle.wait++
		c.idle.mu.Unlock()
		err := c.waitInput()
		c.idle.mu.Lock()
		asked := c.idle.state == idleAsked
		c.idle.state = idleNone
		c.idle.mu.Unlock()
		if !asked || err != nil && !errors.Is(err, os.ErrDeadlineExceeded) {
			return err
		}
		if err == nil {
			// Input came before the scan's deadline took effect.
			_ = c.nc.SetReadDeadline(c.waitUntil)
			return nil
		}
		parked, err := c.park()
		if parked {
			return errParked
		}
		if err != nil {
			return err
		}
		// The set would not take it: wait here, as before.
		_ = c.nc.SetReadDeadline(c.waitUntil)
	}
}

// waitInput returns when input has arrived (or the connection has ended,
// or the read deadline passed), without buffers: a plain socket is
// peeked at; a TLS connection reads one byte, kept for the buffers. A TLS
// read that blocks has nothing decrypted in hand, so the socket beneath
// is where its next input will show.
func (c *conn) waitInput() error {
	if c.sock != nil {
		return c.sock.WaitReadable()
	}
	return c.tlsIn.waitByte()
}

// park hands the connection to the idle set until its idle deadline. A
// plain connection's socket leaves Go's poller for the set's loop
// (loop.go); should the set then refuse it, the connection is closed
// (net.ErrClosed).
func (c *conn) park() (bool, error) {
	if c.sock != nil && c.sio.fd < 0 {
		if err := c.detach(); err != nil {
			return false, err
		}
		c.idle.entry = idlepark.NewLoopConn(c.sio.fd, c.wakeOnLoop, c.expire)
	}
	if c.idle.entry == nil {
		c.idle.entry = idlepark.NewConn(c.idle.fd, c.resume, c.expire)
	}
	if !c.state.CompareAndSwap(stateIdle, stateParked) {
		return false, net.ErrClosed
	}
	// Out of the watch loop's sight before the set may wake it.
	c.srv.asleep(c)
	if c.srv.idle.Park(c.idle.entry, c.waitUntil) {
		return true, nil
	}
	c.srv.awoken(c)
	if !c.state.CompareAndSwap(stateParked, stateIdle) || c.sio.fd >= 0 {
		return false, net.ErrClosed
	}
	return false, nil
}

// resume runs the request loop again for a parked TLS connection that
// has input (or whose client has gone: the read says so). Plain ones wake
// on the idle set's loop instead (wakeOnLoop).
func (c *conn) resume() {
	c.srv.awoken(c)
	if !c.state.CompareAndSwap(stateParked, stateIdle) {
		c.finish(false) // closed by Shutdown meanwhile
		return
	}
	c.deadlineMoved.Store(true) // still in the past: the loop sets it anew
	c.run(false, nil)
}

// expire closes a parked connection whose idle deadline has passed.
func (c *conn) expire() {
	c.state.Store(stateClosed)
	c.finish(false)
}

// askPark asks the connection to park when it has waited for a request
// since the previous scan. The caller holds the server's lock.
func (c *conn) askPark() {
	c.idle.mu.Lock()
	defer c.idle.mu.Unlock()
	if c.idle.state != idleWaiting {
		return
	}
	if c.idle.seen != c.idle.wait {
		c.idle.seen = c.idle.wait
		return
	}
	c.idle.state = idleAsked
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
}
