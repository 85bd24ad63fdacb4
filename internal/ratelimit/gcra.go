package ratelimit

import "time"

// Rule is one rate: Interval between requests on average (1/rate), and
// Burst more requests allowed at once on top of the first.
type Rule struct {
	Interval time.Duration
	Burst    int
	// Delay: allowed requests wait their turn (the delay action), so a
	// shared store grants them one at a time.
	Delay bool
}

// tolerance is how far ahead of the schedule a key may run.
func (r Rule) tolerance() int64 { return int64(r.Interval) * int64(r.Burst) }

// Decision is what GCRA decided for one request.
type Decision struct {
	// Allowed: the request may pass (after Delay, in delay mode).
	Allowed bool
	// Delay is how long an allowed request waits to keep to the rate
	// (used by the delay action; zero when it is on schedule).
	Delay time.Duration
	// RetryAfter is, for a refused request, when one would pass.
	RetryAfter time.Duration
	// Remaining is how many more requests would pass right now; Reset
	// when the key is back to a full burst.
	Remaining int
	Reset     time.Duration
	// Unavailable: the shared store the limit needs cannot be reached
	// and its failure mode is closed; the request is refused with 503.
	Unavailable bool
}

// decide applies GCRA to a key whose theoretical arrival time is tat
// (0 for a new key) at now, in nanoseconds; it returns the decision and
// the key's new theoretical arrival time (unchanged when refused).
func decide(r Rule, tat, now int64) (Decision, int64) {
	t := int64(r.Interval)
	tau := r.tolerance()
	if tat < now {
		tat = now
	}
	next := tat + t
	if next-now > tau+t {
		d := Decision{RetryAfter: time.Duration(tat - tau - now), Reset: time.Duration(tat - now)}
		return d, tat
	}
	d := Decision{Allowed: true, Delay: time.Duration(tat - now), Reset: time.Duration(next - now)}
	d.Remaining = int((tau + t - (next - now)) / t)
	return d, next
}
