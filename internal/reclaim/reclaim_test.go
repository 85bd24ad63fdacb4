package reclaim

import (
	"context"
	"io"
	"log/slog"
	"runtime"
	"runtime/debug"
	"testing"
	"time"
)

// sink keeps allocations from being optimized away.
var sink [][]byte

// TestReturnsMemoryAfterABurst allocates 64 MB of garbage with the GC
// percent a proxy runs at, then falls quiet: the watch must collect it and
// give it back within a few samples.
func TestReturnsMemoryAfterABurst(t *testing.T) {
	defer debug.SetGCPercent(debug.SetGCPercent(400))
	runtime.GC()
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	go Run(ctx, slog.New(slog.NewTextHandler(io.Discard, nil)))
	for range 64 {
		sink = append(sink, make([]byte, 1<<20))
	}
	sink = nil
	var before runtime.MemStats
	runtime.ReadMemStats(&before)
	deadline := time.Now().Add(5 * time.Second)
	for {
		var now runtime.MemStats
		runtime.ReadMemStats(&now)
		if now.HeapReleased > before.HeapReleased+32<<20 && now.NumGC > before.NumGC {
			return
		}
		if time.Now().After(deadline) {
			t.Fatalf("not returned within 5 s: released %d -> %d MB, %d -> %d collections",
				before.HeapReleased>>20, now.HeapReleased>>20, before.NumGC, now.NumGC)
		}
		time.Sleep(50 * time.Millisecond)
	}
}
