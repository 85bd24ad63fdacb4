package monoclock

import (
	"testing"
	"time"
)

// The clock counts from its making, not from 1970: values stored from it
// stay meaningful whatever the wall clock does meanwhile.
func TestCountsFromItsMaking(t *testing.T) {
	c := New()
	a := c.Nanos()
	time.Sleep(2 * time.Millisecond)
	b := c.Nanos()
	if a < 0 || a > int64(time.Second) {
		t.Fatalf("first reading %d, want near 0", a)
	}
	if b-a < int64(2*time.Millisecond) {
		t.Fatalf("readings %d then %d, want at least 2ms apart", a, b)
	}
}
