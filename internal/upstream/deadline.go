package upstream

import (
	"time"
)

// deadlineSlack is how far a read deadline may lag behind the one asked
// for before it is moved: on a busy keep-alive connection that saves a
// timer update per request, and a timeout is still kept give or take
// this slack (or an eighth of a short timeout).
const deadlineSlack = time.Second

// setReadDeadline sets the connection's read deadline to now+timeout, or
// lifts it when timeout is zero. A deadline later than the current one by
// less than the slack is left as it is; an earlier one is always set.
// Once the connection has been interrupted, its deadline stays in the
// past.
func (pc *conn) setReadDeadline(now time.Time, timeout time.Duration) {
	if pc.interrupted.Load() {
		return
	}
	if timeout <= 0 {
		if !pc.readDeadline.IsZero() {
			pc.readDeadline = time.Time{}
			_ = pc.nc.SetReadDeadline(time.Time{})
		}
		return
	}
	until := now.Add(timeout)
	if !pc.readDeadline.IsZero() && !until.Before(pc.readDeadline) && until.Sub(pc.readDeadline) < min(deadlineSlack, timeout/8) {
		return
	}
	pc.readDeadline = until
	_ = pc.nc.SetReadDeadline(until)
}

// interrupt unblocks any read or write on the connection, for good.
func (pc *conn) interrupt() {
	pc.interrupted.Store(true)
	_ = pc.nc.SetDeadline(time.Unix(1, 0))
}
