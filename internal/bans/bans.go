// Package bans refuses, for a while, the clients that earn too many error
// answers (automatic bans) or that an operator names (the admin API). A
// ban is one entry in a map from address to expiry; looking an address
// up costs one atomic load while nothing is banned. Counting is exact: an
// address's last Threshold counted answers are kept as time stamps, and
// the answer that makes Threshold within Window bans it at once.
package bans

import (
	"log/slog"
	"net/netip"
	"sort"
	"sync"
	"sync/atomic"
	"time"
)

// Policy is what earns an automatic ban.
type Policy struct {
	// Threshold counted answers within Window earn a ban of Duration,
	// counted from its start.
	Threshold        int
	Window, Duration time.Duration
	// Statuses are the answers that count.
	Statuses []int
}

// compiled is a Policy ready for the request path.
type compiled struct {
	Policy
	counts [600]bool
}

// maxTracked bounds the addresses whose strikes are kept: a flood of
// distinct addresses forgets the stalest first.
const maxTracked = 100_000

// List is the bans in force and the strikes counted toward new ones. It
// outlives config reloads.
type List struct {
	log *slog.Logger
	now func() time.Time
	// epoch is when the list was made: strikes are nanoseconds since it,
	// on the monotonic clock (time.Now's readings carry it), so that the
	// wall clock set back or forward neither bans nor pardons anyone.
	epoch time.Time

	policy atomic.Pointer[compiled]

	// active counts the entries of banned (expired ones not yet swept
	// included): zero means no lookup is needed.
	active atomic.Int64
	mu     sync.RWMutex
	banned map[netip.Addr]time.Time

	strikesMu sync.Mutex
	strikes   map[netip.Addr]*strikes

	// issued counts the bans ever started, automatic or not.
	issued atomic.Uint64

	// share, when set, is told of every ban this instance starts or
	// lifts (auto: earned, not an admin's), to pass it to the fleet.
	share atomic.Pointer[Share]
}

// Share receives the bans an instance starts and lifts, for the fleet.
type Share struct {
	Ban  func(ip netip.Addr, until time.Time, auto bool)
	Lift func(ip netip.Addr)
}

// SetShare sets who is told of this instance's bans (nil: nobody).
func (l *List) SetShare(s *Share) { l.share.Store(s) }

// strikes are an address's latest counted answers, a ring of time stamps
// (nanoseconds since the list's epoch) at most Threshold long.
type strikes struct {
	times []int64
	next  int
}

// New returns an empty list; now is the clock (nil: the real one).
func New(log *slog.Logger, now func() time.Time) *List {
	if now == nil {
		now = time.Now
	}
	if log == nil {
		log = slog.Default()
	}
	return &List{log: log, now: now, epoch: now(), banned: map[netip.Addr]time.Time{}, strikes: map[netip.Addr]*strikes{}}
}

// SetPolicy sets what earns an automatic ban; nil turns them off (bans in
// force stay). Strikes counted under another policy are forgotten.
func (l *List) SetPolicy(p *Policy) {
	old := l.policy.Load()
	if p == nil {
		l.policy.Store(nil)
	} else {
		c := &compiled{Policy: *p}
		for _, s := range p.Statuses {
			if s >= 0 && s < len(c.counts) {
				c.counts[s] = true
			}
		}
		l.policy.Store(c)
	}
	if old != nil && (p == nil || old.Threshold != p.Threshold || old.Window != p.Window) {
		l.strikesMu.Lock()
		l.strikes = map[netip.Addr]*strikes{}
		l.strikesMu.Unlock()
	}
}

// Banned reports whether ip is banned now.
func (l *List) Banned(ip netip.Addr) bool {
	if l.active.Load() == 0 {
		return false
	}
	ip = ip.Unmap()
	l.mu.RLock()
	until, ok := l.banned[ip]
	l.mu.RUnlock()
	if !ok {
		return false
	}
	if l.now().Before(until) {
		return true
	}
	l.mu.Lock()
	if u, ok := l.banned[ip]; ok && u == until {
		delete(l.banned, ip)
		l.active.Add(-1)
	}
	l.mu.Unlock()
	return false
}

// Observe counts an answer to ip when the policy counts it, and bans ip
// when that makes Threshold within Window. It reports whether ip was
// banned by it.
func (l *List) Observe(ip netip.Addr, status int, wafBlock bool) bool {
	p := l.policy.Load()
	if p == nil || !ip.IsValid() || !(wafBlock || status >= 0 && status < len(p.counts) && p.counts[status]) {
		return false
	}
	ip = ip.Unmap()
	now := l.now()
	t := int64(now.Sub(l.epoch))
	l.strikesMu.Lock()
	s := l.strikes[ip]
	if s == nil {
		if len(l.strikes) >= maxTracked {
			l.forgetStale(t - int64(p.Window))
		}
		s = &strikes{}
		l.strikes[ip] = s
	}
	earned := s.add(t, p.Threshold, int64(p.Window))
	if earned {
		delete(l.strikes, ip)
	}
	l.strikesMu.Unlock()
	if !earned {
		return false
	}
	until := now.Add(p.Duration)
	l.ban(ip, until)
	l.log.Warn("client banned", "client", ip.String(), "until", until.UTC().Format(time.RFC3339),
		"reason", "too many error answers", "threshold", p.Threshold, "window", p.Window.String())
	if s := l.share.Load(); s != nil {
		s.Ban(ip, until, true)
	}
	return true
}

// add records a strike at t and reports whether the ring now holds
// threshold strikes within window.
func (s *strikes) add(t int64, threshold int, window int64) bool {
	if len(s.times) < threshold {
		s.times = append(s.times, t)
		s.next = len(s.times) % threshold
		return len(s.times) == threshold && t-s.times[0] < window
	}
	s.times[s.next] = t
	s.next = (s.next + 1) % threshold
	oldest := s.times[s.next]
	return t-oldest < window
}

// forgetStale drops the strikes whose latest is before cutoff; when none
// are, an arbitrary address's, so the map stays within its bound. Called
// with strikesMu held.
func (l *List) forgetStale(cutoff int64) {
	for ip, s := range l.strikes {
		latest := s.times[(s.next+len(s.times)-1)%len(s.times)]
		if latest < cutoff {
			delete(l.strikes, ip)
		}
	}
	for ip := range l.strikes {
		if len(l.strikes) < maxTracked {
			break
		}
		delete(l.strikes, ip)
	}
}

// Ban bans ip for d from now, replacing a ban in force.
func (l *List) Ban(ip netip.Addr, d time.Duration) time.Time {
	until := l.now().Add(d)
	l.ban(ip.Unmap(), until)
	l.log.Warn("client banned", "client", ip.Unmap().String(), "until", until.UTC().Format(time.RFC3339), "reason", "admin")
	if s := l.share.Load(); s != nil {
		s.Ban(ip.Unmap(), until, false)
	}
	return until
}

// Apply bans ip until the wall-clock time until, as another instance of
// the fleet did; a ban in force that lasts longer stays. Nothing is told
// to the fleet.
func (l *List) Apply(ip netip.Addr, until time.Time) {
	ip = ip.Unmap()
	now := l.now()
	if !until.After(now) {
		return
	}
	// Kept on this clock's reading (monotonic), as long as the fleet said.
	local := now.Add(until.Sub(now))
	l.mu.RLock()
	cur, ok := l.banned[ip]
	l.mu.RUnlock()
	if ok && !cur.Before(local) {
		return
	}
	l.ban(ip, local)
	l.log.Info("client banned by the fleet", "client", ip.String(), "until", until.UTC().Format(time.RFC3339))
}

// Lift lifts ip's ban as another instance of the fleet did.
func (l *List) Lift(ip netip.Addr) {
	if l.unban(ip.Unmap()) {
		l.log.Info("ban lifted by the fleet", "client", ip.Unmap().String())
	}
}

func (l *List) ban(ip netip.Addr, until time.Time) {
	l.mu.Lock()
	if _, ok := l.banned[ip]; !ok {
		l.active.Add(1)
	}
	l.banned[ip] = until
	l.mu.Unlock()
	l.issued.Add(1)
}

// Unban lifts ip's ban and forgets its strikes; false when it had none.
func (l *List) Unban(ip netip.Addr) bool {
	ip = ip.Unmap()
	ok := l.unban(ip)
	if s := l.share.Load(); s != nil {
		s.Lift(ip)
	}
	return ok
}

// unban lifts ip's ban and forgets its strikes.
func (l *List) unban(ip netip.Addr) bool {
	l.strikesMu.Lock()
	delete(l.strikes, ip)
	l.strikesMu.Unlock()
	l.mu.Lock()
	until, ok := l.banned[ip]
	if ok {
		delete(l.banned, ip)
		l.active.Add(-1)
	}
	l.mu.Unlock()
	return ok && l.now().Before(until)
}

// Entry is a ban in force.
type Entry struct {
	IP      string    `json:"ip"`
	Expires time.Time `json:"expires"`
}

// Entries returns the bans in force, soonest to expire first, and sweeps
// the expired ones.
func (l *List) Entries() []Entry {
	now := l.now()
	out := []Entry{}
	l.mu.Lock()
	for ip, until := range l.banned {
		if !now.Before(until) {
			delete(l.banned, ip)
			l.active.Add(-1)
			continue
		}
		out = append(out, Entry{IP: ip.String(), Expires: until.UTC().Truncate(time.Second)})
	}
	l.mu.Unlock()
	sort.Slice(out, func(i, j int) bool {
		if !out[i].Expires.Equal(out[j].Expires) {
			return out[i].Expires.Before(out[j].Expires)
		}
		return out[i].IP < out[j].IP
	})
	return out
}

// Issued counts the bans started since the process began.
func (l *List) Issued() uint64 { return l.issued.Load() }
