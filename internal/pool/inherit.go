package pool

import "time"

// InheritHealth takes over what old knows of the health of the servers
// the two pools share (same URL), so that a reload does not put a server
// that is down back into rotation until the checks find it down again:
// passive failures and down time when this pool marks servers down on
// failures too (passive checks on, more than one server), and the active
// verdict when it checks actively too. Called before the pool serves or
// starts its checks.
func (p *Pool) InheritHealth(old *Pool) {
	if old == nil {
		return
	}
	byURL := make(map[string]*Server, len(old.servers))
	for _, s := range old.servers {
		byURL[s.URL.String()] = s
	}
	active := p.cfg.Health.Active != nil
	pc := p.cfg.Health.Passive
	passive := pc != nil && !pc.Off && len(p.servers) > 1
	for _, s := range p.servers {
		o, ok := byURL[s.URL.String()]
		if !ok {
			continue
		}
		o.mu.Lock()
		activeDown, downUntil, upSince, lastError := o.activeDown, o.downUntil, o.upSince, o.lastError
		failTimes := append([]time.Time(nil), o.failTimes...)
		o.mu.Unlock()
		s.mu.Lock()
		s.activeDown = active && activeDown
		if passive {
			s.downUntil, s.upSince, s.failTimes = downUntil, upSince, failTimes
		}
		s.lastError = lastError
		s.mu.Unlock()
		s.failures.Store(o.failures.Load())
	}
}
