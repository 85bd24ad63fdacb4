package pool

import (
	"sync"
	"time"
)

// minRetryTokens is the retry allowance that always remains: it refills at
// one token a second up to this many.
const minRetryTokens = 10

// maxRetryTokens caps what a busy period can save up.
const maxRetryTokens = 100

// retryBudget lets retries be at most a share of requests, so a failing
// pool does not get its load multiplied by retries.
type retryBudget struct {
	mu     sync.Mutex
	ratio  float64
	tokens float64
	last   time.Time
}

// request credits one request's share of a retry.
func (b *retryBudget) request() {
	b.mu.Lock()
	b.tokens = min(b.tokens+b.ratio, maxRetryTokens)
	b.mu.Unlock()
}

// take spends a token for a retry; false when the budget is spent.
func (b *retryBudget) take(now time.Time) bool {
	b.mu.Lock()
	defer b.mu.Unlock()
	if b.tokens < minRetryTokens {
		b.tokens = min(b.tokens+now.Sub(b.last).Seconds(), minRetryTokens)
	}
	b.last = now
	if b.tokens < 1 {
		return false
	}
	b.tokens--
	return true
}

// NoteRequest credits the retry budget for one request.
func (p *Pool) NoteRequest() { p.budget.request() }

// AllowRetry spends the retry budget for one retry.
func (p *Pool) AllowRetry() bool { return p.budget.take(time.Now()) }
