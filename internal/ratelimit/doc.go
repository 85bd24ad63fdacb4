// Package ratelimit limits request rates per key (a client address, an API
// key, a session...) with the generic cell rate algorithm (GCRA): one
// theoretical arrival time per key, exact, no timers or goroutines per
// key. The times live in a Store (process memory here, bounded by an LRU
// with expiry; a shared store for fleets can take its place), and New
// wraps a route's handler in the rules that apply to it.
package ratelimit
