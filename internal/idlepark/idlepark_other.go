//go:build !linux

package idlepark

import "time"

// Set is not available here: New returns nil.
type Set struct{}

// New returns nil: connections wait for their next request as usual.
func New(int) (*Set, error) { return nil, nil }

// Park refuses: there is no set.
func (s *Set) Park(*Conn, time.Time) bool { return false }

// Unpark reports false: nothing is ever parked.
func (s *Set) Unpark(*Conn) bool { return false }

// Release does nothing: nothing is ever parked.
func (s *Set) Release(*Conn) {}

// Len is 0.
func (s *Set) Len() int { return 0 }

// Close does nothing.
func (s *Set) Close() {}

// ExpireOldest expires nothing: nothing is ever parked.
func (s *Set) ExpireOldest(int) int { return 0 }
