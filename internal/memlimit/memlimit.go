// Package memlimit picks Gatehouse's default soft memory limit: 90% of the
// memory its cgroup (a container, a systemd unit with MemoryMax=) may use.
// Gatehouse collects garbage less often than Go's default (GOGC 400), so
// without a limit a burst could grow the heap past what the cgroup allows
// and get the process killed; with one, the runtime collects harder as
// the heap nears it. GOMEMLIMIT, when set, wins.
package memlimit

import (
	"os"
	"path/filepath"
	"strconv"
	"strings"
)

// share is the part of the cgroup's limit given to the Go heap, leaving
// room for stacks, the runtime's own memory and what the kernel counts
// against the cgroup (socket buffers, page cache of spool files).
const share = 0.9

// FromCgroup returns the soft memory limit for a process whose cgroup
// files are under root ("/sys/fs/cgroup"): cgroup v2's memory.max, else
// v1's memory/memory.limit_in_bytes; false when there is no limit.
func FromCgroup(root string) (int64, bool) {
	for _, name := range []string{"memory.max", filepath.Join("memory", "memory.limit_in_bytes")} {
		b, err := os.ReadFile(filepath.Join(root, name))
		if err != nil {
			continue
		}
		v := strings.TrimSpace(string(b))
		n, err := strconv.ParseInt(v, 10, 64)
		// "max" (v2) or a page-rounded 2^63 (v1) mean no limit.
		if err != nil || n <= 0 || n >= 1<<62 {
			return 0, false
		}
		return int64(float64(n) * share), true
	}
	return 0, false
}
