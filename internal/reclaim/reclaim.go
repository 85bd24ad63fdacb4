// Package reclaim gives memory back to the operating system when the
// process falls quiet after a burst. Gatehouse runs with a high GC
// percent (400: a proxy's live heap is small and its garbage is per
// request), so a burst of requests, or of connections that then sit idle,
// leaves the heap several times its live size until the next collection,
// which an idle process may not reach for minutes. Once allocation has all
// but stopped for a moment and the garbage is large, one collection and a
// scavenge return it: the cost of a GC cycle, paid once per burst, never
// under steady load.
package reclaim

import (
	"context"
	"log/slog"
	"runtime/debug"
	"runtime/metrics"
	"time"
)

// Settings of the watch.
const (
	// every is how often allocation is sampled.
	every = 250 * time.Millisecond
	// quietBytes is the most allocated in one sample for the process to
	// count as quiet.
	quietBytes = 256 << 10
	// minReclaim is the least memory worth reclaiming: garbage (heap
	// beyond the live heap) and free heap pages not yet returned.
	minReclaim = 16 << 20
	// gap is the least time between two reclaims, which bounds their
	// cost where traffic comes and goes in short bursts.
	gap = 10 * time.Second
)

// Run watches allocation until ctx ends, reclaiming after each burst.
func Run(ctx context.Context, log *slog.Logger) {
	// The runtime metrics read: bytes allocated in all, the heap's objects
	// (live and not yet collected), the live heap the last collection
	// marked, and free heap pages the process still holds.
	s := []metrics.Sample{{Name: "/gc/heap/allocs:bytes"}, {Name: "/memory/classes/heap/objects:bytes"},
		{Name: "/gc/heap/live:bytes"}, {Name: "/memory/classes/heap/free:bytes"}}
	tick := time.NewTicker(every)
	defer tick.Stop()
	var lastAllocs uint64
	var last time.Time
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		metrics.Read(s)
		allocs, heap, live, free := value(s[0]), value(s[1]), value(s[2]), value(s[3])
		quiet := allocs-lastAllocs < quietBytes
		lastAllocs = allocs
		reclaimable := free
		if heap > live {
			reclaimable += heap - live
		}
		if quiet && reclaimable >= minReclaim && time.Since(last) >= gap {
			start := time.Now()
			last = start
			debug.FreeOSMemory()
			log.Debug("memory returned after a burst", "bytes", reclaimable, "took", time.Since(start))
			metrics.Read(s)
			lastAllocs = value(s[0])
		}
	}
}

// value is a sample's value, 0 when the runtime does not know it.
func value(s metrics.Sample) uint64 {
	if s.Value.Kind() != metrics.KindUint64 {
		return 0
	}
	return s.Value.Uint64()
}
