// Package monoclock measures time as nanoseconds on the process's
// monotonic clock, for counters kept in an int64 (rate limit arrival
// times, ban strikes, log throttles). Unlike Unix nanoseconds from the
// wall clock, these do not move when the machine's clock is set back or
// forward: a wall clock set back an hour would otherwise leave every
// stored time an hour in the future.
package monoclock

import "time"

// Clock reads nanoseconds since it was made, on the monotonic clock.
type Clock struct{ start time.Time }

// New returns a clock that reads 0 now.
func New() Clock { return Clock{start: time.Now()} }

// Nanos is the nanoseconds since the clock was made.
func (c Clock) Nanos() int64 { return int64(time.Since(c.start)) }
