package h2

import (
	"errors"
	"net"
	"os"
	"time"

	"golang.org/x/net/http2"

	"github.com/gatehouse/gatehouse/internal/idlepark"
)

// Parking idle connections, as the HTTP/1.1 front end does: a connection
// with no stream open that has waited parkAfter for its client's next
// frame gives up its goroutine and waits in the server's idle set
// (idlepark), where it costs no stack; input starts a goroutine again,
// the idle deadline passing closes it. It waits there on the TCP socket
// beneath TLS: its reader is in a one-byte read with no buffer
// (lazyReader), and a TLS read that blocks has nothing decrypted in
// hand, so input on the socket is the only thing that can wake it.
//
// The timer asks the reader to park by moving its read deadline to the
// past; the reader sees why its read ended and hands the socket to the
// set. Whoever takes the connection out of the set (its wake, its expiry,
// Shutdown's Unpark) owns it.

// parkAfter is how long an idle connection keeps its goroutine.
const parkAfter = 250 * time.Millisecond

// aLongTimeAgo is a read deadline that has passed.
var aLongTimeAgo = time.Unix(1, 0)

// parking is a connection's part in parking; guarded by conn.mu.
type parking struct {
	fd     int // the socket beneath; -1 when the connection cannot park
	entry  *idlepark.Conn
	timer  *time.Timer
	asked  bool // the read deadline was moved to the past
	parked bool
}

// armParkLocked starts the wait after which an idle connection parks.
func (c *conn) armParkLocked() {
	if c.srv.idle == nil || c.park.fd < 0 {
		return
	}
	if c.park.timer == nil {
		c.park.timer = time.AfterFunc(parkAfter, c.askPark)
		return
	}
	c.park.timer.Reset(parkAfter)
}

// disarmParkLocked stops the wait: a stream opened.
func (c *conn) disarmParkLocked() {
	if c.park.timer != nil {
		c.park.timer.Stop()
	}
}

// askPark asks a reader still waiting for an idle connection's input to
// park.
func (c *conn) askPark() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if !c.readIdle || c.goAway || c.park.asked || c.park.parked || c.werr != nil {
		return
	}
	if !c.br.waiting.Load() {
		c.armParkLocked() // between reads: look again later
		return
	}
	c.park.asked = true
	_ = c.nc.SetReadDeadline(aLongTimeAgo)
}

// waited runs after the reader's one-byte wait returned input: if the
// park request came too late, the idle deadline is put back.
func (c *conn) waited() {
	c.mu.Lock()
	defer c.mu.Unlock()
	if c.park.asked {
		c.park.asked = false
		c.restoreDeadlineLocked()
	}
}

// restoreDeadlineLocked sets the read deadline the connection's state
// calls for.
func (c *conn) restoreDeadlineLocked() {
	if c.readIdle {
		_ = c.nc.SetReadDeadline(c.idleUntil)
	} else {
		_ = c.nc.SetReadDeadline(time.Time{})
	}
}

// tryPark parks the connection when err is the read deadline the park
// request set and the connection is still idle; true when it is parked
// (the reader is to return without closing it).
func (c *conn) tryPark(err error) bool {
	if !errors.Is(err, os.ErrDeadlineExceeded) {
		return false
	}
	c.mu.Lock()
	if !c.park.asked {
		c.mu.Unlock()
		return false // the idle deadline: the connection ends
	}
	c.park.asked = false
	if !c.readIdle || c.goAway || c.werr != nil || c.br.buf != nil || replaying(c.nc) {
		c.restoreDeadlineLocked()
		c.mu.Unlock()
		return false
	}
	if c.park.entry == nil {
		c.park.entry = idlepark.NewConn(c.park.fd, c.resume, c.expire)
	}
	c.park.parked = true
	until := c.idleUntil
	c.mu.Unlock()
	if c.srv.idle.Park(c.park.entry, until) {
		return true
	}
	c.mu.Lock()
	c.park.parked = false
	c.restoreDeadlineLocked()
	c.mu.Unlock()
	return false
}

// resume reads the connection again after input arrived while parked.
func (c *conn) resume() {
	c.mu.Lock()
	c.park.parked = false
	c.restoreDeadlineLocked()
	if c.goAway && len(c.streams) == 0 && c.running == 0 {
		_ = c.nc.SetReadDeadline(time.Now())
	}
	c.mu.Unlock()
	c.run()
}

// expire ends a parked connection whose idle deadline has passed (or
// whose socket is wanted for another: idlepark.ExpireOldest): a GOAWAY
// and the close, at once; with no stream open nothing is in flight that
// a linger would protect.
func (c *conn) expire() {
	c.connError(http2.ErrCodeNo)
	c.mu.Lock()
	c.park.parked = false
	c.lingerOnClose = false
	c.mu.Unlock()
	c.close()
}

// unparkLocked takes a parked connection out of the set to end it (a
// GOAWAY went out and nothing is open); if a wake or expiry got there
// first, that one ends it.
func (c *conn) unparkLocked() {
	if !c.park.parked || !c.srv.idle.Unpark(c.park.entry) {
		return
	}
	c.park.parked = false
	go c.close()
}

// replaying reports whether nc still holds bytes read ahead of the
// socket (a connection the HTTP/1.1 front end handed over with the
// preface it read): the socket's readiness would not show them.
func replaying(nc net.Conn) bool {
	b, ok := nc.(interface{ Buffered() int })
	return ok && b.Buffered() > 0
}
