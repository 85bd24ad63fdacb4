package http1

import (
	"context"
	"errors"
	"testing"
	"time"
)

type testKey struct{}

type parentKey struct{}

func newTestContext() *requestContext {
	return &requestContext{parent: context.WithValue(context.Background(), parentKey{}, "peer")}
}

func TestRequestContextCancel(t *testing.T) {
	c := newTestContext()
	if c.Err() != nil || Cause(c) != nil {
		t.Fatal("canceled before cancel")
	}
	done := c.Done()
	if done != c.Done() {
		t.Fatal("Done changes between calls")
	}
	c.cancel(ErrClientGone)
	c.cancel(context.Canceled) // only the first counts
	select {
	case <-done:
	default:
		t.Fatal("Done not closed")
	}
	if !errors.Is(c.Err(), context.Canceled) || !errors.Is(Cause(c), ErrClientGone) {
		t.Fatalf("err %v cause %v", c.Err(), Cause(c))
	}
	// Done asked for only after the end is closed too.
	late := newTestContext()
	late.cancel(context.Canceled)
	<-late.Done()
}

func TestRequestContextValues(t *testing.T) {
	c := newTestContext()
	if !c.SetValue(testKey{}, 1) || c.SetValue(testKey{}, 2) {
		t.Fatal("SetValue must succeed once")
	}
	if c.Value(testKey{}) != 1 || c.Value(parentKey{}) != "peer" || c.Value("other") != nil {
		t.Fatal("values not found")
	}
}

func TestRequestContextAfterFunc(t *testing.T) {
	c := newTestContext()
	ran := make(chan int, 3)
	c.AfterFunc(func() { ran <- 1 })
	stop := c.AfterFunc(func() { ran <- 2 })
	c.AfterFunc(func() { ran <- 3 }) // beyond the inline slots
	if !stop() || stop() {
		t.Fatal("stop must report true once")
	}
	c.cancel(context.Canceled)
	got := map[int]bool{<-ran: true, <-ran: true}
	if !got[1] || !got[3] {
		t.Fatalf("ran %v", got)
	}
	select {
	case n := <-ran:
		t.Fatalf("stopped function %d ran", n)
	case <-time.After(50 * time.Millisecond):
	}
	after := c.AfterFunc(func() { ran <- 4 })
	if <-ran != 4 || after() {
		t.Fatal("AfterFunc on a canceled context must run at once")
	}
}

// The context package's own helpers see through requestContext:
// children are canceled with it, and context.AfterFunc works.
func TestRequestContextChildren(t *testing.T) {
	c := newTestContext()
	child, cancel := context.WithTimeout(c, time.Hour)
	defer cancel()
	fired := make(chan struct{})
	context.AfterFunc(c, func() { close(fired) })
	c.cancel(context.Canceled)
	select {
	case <-child.Done():
	case <-time.After(5 * time.Second):
		t.Fatal("child not canceled")
	}
	select {
	case <-fired:
	case <-time.After(5 * time.Second):
		t.Fatal("context.AfterFunc did not run")
	}
}
