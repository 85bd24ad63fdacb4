package pool

import (
	"sync"
	"sync/atomic"
	"time"

	"github.com/gatehouse/gatehouse/internal/config"
	"github.com/gatehouse/gatehouse/internal/metrics"
	"github.com/gatehouse/gatehouse/internal/upstream"
)

// Server is one upstream server of a pool and what the pool knows of it.
type Server struct {
	// URL is the server's URL; Addr where to connect to it.
	URL  config.UpstreamURL
	Addr upstream.Addr
	// Endpoint is Addr as text (host:port or unix:PATH), for logs.
	Endpoint string
	// Stats counts the attempts sent to the server (nil: metrics off).
	Stats *metrics.Server
	// Weight, Backup and MaxConns are as configured.
	Weight   int
	Backup   bool
	MaxConns int

	index int    // position in the pool, for hash rings
	id    string // sticky cookie value

	inflight atomic.Int64
	requests atomic.Int64
	failures atomic.Int64

	mu         sync.Mutex
	activeDown bool // the last active checks failed
	passes     int  // consecutive active results
	fails      int
	failTimes  []time.Time // passive failures within the window
	downUntil  time.Time   // passive: out of rotation until then
	upSince    time.Time   // when it last came back, for slow start
	lastError  string
	current    int // smooth weighted round robin state, under Pool.mu
}

// Acquire counts a request in flight to s; Release ends it.
func (s *Server) Acquire() {
	s.inflight.Add(1)
	s.requests.Add(1)
}

// Release ends a request counted by Acquire.
func (s *Server) Release() { s.inflight.Add(-1) }

// InFlight is the number of requests in flight to s.
func (s *Server) InFlight() int64 { return s.inflight.Load() }

// healthy reports whether health checks let s take requests at now.
func (s *Server) healthy(now time.Time) bool {
	s.mu.Lock()
	defer s.mu.Unlock()
	return !s.activeDown && !now.Before(s.downUntil)
}

// available reports whether s can take one more request at now.
func (s *Server) available(now time.Time) bool {
	if s.MaxConns > 0 && s.inflight.Load() >= int64(s.MaxConns) {
		return false
	}
	return s.healthy(now)
}

// effectiveWeight is s's weight in hundredths, reduced while it is
// slow-starting after coming back up.
func (s *Server) effectiveWeight(now time.Time, slowStart time.Duration) int {
	w := s.Weight * 100
	if slowStart <= 0 {
		return w
	}
	s.mu.Lock()
	since := now.Sub(s.upSince)
	s.mu.Unlock()
	if since >= slowStart || since < 0 {
		return w
	}
	return max(1, int(int64(w)*int64(since)/int64(slowStart)))
}

// state names s's state for status output.
func (s *Server) state(now time.Time) string {
	s.mu.Lock()
	defer s.mu.Unlock()
	switch {
	case s.activeDown:
		return "down (health check)"
	case now.Before(s.downUntil):
		return "down (failures)"
	case s.MaxConns > 0 && s.inflight.Load() >= int64(s.MaxConns):
		return "full"
	}
	return "up"
}
