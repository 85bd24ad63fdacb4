package memlimit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFromCgroup(t *testing.T) {
	for name, c := range map[string]struct {
		file, content string
		want          int64
		ok            bool
	}{
		"v2 limit":    {"memory.max", "1073741824\n", 966367641, true},
		"v2 no limit": {"memory.max", "max\n", 0, false},
		"v1 limit":    {"memory/memory.limit_in_bytes", "536870912\n", 483183820, true},
		"v1 no limit": {"memory/memory.limit_in_bytes", "9223372036854771712\n", 0, false},
		"no cgroup":   {"", "", 0, false},
	} {
		root := t.TempDir()
		if c.file != "" {
			p := filepath.Join(root, c.file)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(c.content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, ok := FromCgroup(root)
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %d %v, want %d %v", name, got, ok, c.want, c.ok)
		}
	}
}
