// Package memlimit picks Gatehouse's default soft memory limit: 90% of the
// memory its cgroup (a container, a systemd unit with MemoryMax=) may use.
// Gatehouse collects garbage less often than Go's default (GOGC 400), so
// without a limit a burst could grow the heap past what the cgroup allows
// and get the process killed; with one, the runtime collects harder as
// the heap nears it. GOMEMLIMIT, when set, wins.
package memlimit

import (
	"os"
	"path"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
)

// share is the part of the cgroup's limit given to the Go heap, leaving
// room for stacks, the runtime's own memory and what the kernel counts
// against the cgroup (socket buffers, page cache of spool files).
const share = 0.9

// Default returns the soft memory limit for this process: 90% of the
// smallest memory limit on its cgroup's path; false when there is none.
func Default() (int64, bool) {
	self, err := os.ReadFile("/proc/self/cgroup")
	if err != nil {
		return 0, false
	}
	return FromCgroup("/sys/fs/cgroup", self)
}

// FromCgroup returns the soft memory limit for a process whose
// /proc/self/cgroup reads self, with the cgroup file systems mounted
// under root: the smallest of the memory limits from its cgroup up to the
// root (cgroup v2's memory.max, v1's memory.limit_in_bytes), times share;
// false when none is set.
func FromCgroup(root string, self []byte) (int64, bool) {
	var files []string
	for _, line := range strings.Split(string(self), "\n") {
		parts := strings.SplitN(line, ":", 3)
		if len(parts) != 3 {
			continue
		}
		switch {
		case parts[0] == "0" && parts[1] == "":
			for p := path.Clean("/" + parts[2]); ; p = path.Dir(p) {
				files = append(files, filepath.Join(root, p, "memory.max"))
				if p == "/" {
					break
				}
			}
		case slices.Contains(strings.Split(parts[1], ","), "memory"):
			for p := path.Clean("/" + parts[2]); ; p = path.Dir(p) {
				files = append(files, filepath.Join(root, "memory", p, "memory.limit_in_bytes"))
				if p == "/" {
					break
				}
			}
		}
	}
	var limit int64
	for _, f := range files {
		b, err := os.ReadFile(f)
		if err != nil {
			continue
		}
		n, err := strconv.ParseInt(strings.TrimSpace(string(b)), 10, 64)
		// "max" (v2) or a page-rounded 2^63 (v1) mean no limit.
		if err != nil || n <= 0 || n >= 1<<62 {
			continue
		}
		if limit == 0 || n < limit {
			limit = n
		}
	}
	if limit == 0 {
		return 0, false
	}
	return int64(float64(limit) * share), true
}
