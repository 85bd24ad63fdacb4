package pool

import "time"

// Status is a pool's state for `gatehouse status` and the admin API.
type Status struct {
	Name    string         `json:"name"`
	Balance string         `json:"balance"`
	Servers []ServerStatus `json:"servers"`
}

// ServerStatus is one server's state.
type ServerStatus struct {
	URL string `json:"url"`
	// Endpoint is where it is reached: host:port or unix:PATH.
	Endpoint  string `json:"endpoint"`
	State     string `json:"state"`
	Weight    int    `json:"weight"`
	Backup    bool   `json:"backup,omitempty"`
	MaxConns  int    `json:"max_conns,omitempty"`
	InFlight  int64  `json:"in_flight"`
	Requests  int64  `json:"requests"`
	Failures  int64  `json:"failures"`
	LastError string `json:"last_error,omitempty"`
}

// Status reports the pool's servers now.
func (p *Pool) Status() Status {
	now := time.Now()
	st := Status{Name: p.name, Balance: p.cfg.Balance}
	for _, s := range p.servers {
		s.mu.Lock()
		lastErr := s.lastError
		s.mu.Unlock()
		st.Servers = append(st.Servers, ServerStatus{
			URL: s.URL.String(), Endpoint: s.Endpoint, State: s.state(now), Weight: s.Weight, Backup: s.Backup, MaxConns: s.MaxConns,
			InFlight: s.InFlight(), Requests: s.requests.Load(), Failures: s.failures.Load(), LastError: lastErr,
		})
	}
	return st
}
