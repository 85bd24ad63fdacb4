package memlimit

import (
	"os"
	"path/filepath"
	"testing"
)

func TestFromCgroup(t *testing.T) {
	for name, c := range map[string]struct {
		self  string
		files map[string]string
		want  int64
		ok    bool
	}{
		"v2, limit on the unit": {"0::/system.slice/gatehouse.service\n",
			map[string]string{"system.slice/gatehouse.service/memory.max": "1073741824\n", "system.slice/memory.max": "max\n"}, 966367641, true},
		"v2, a parent's limit is smaller": {"0::/a/b\n",
			map[string]string{"a/b/memory.max": "1073741824\n", "a/memory.max": "536870912\n"}, 483183820, true},
		"v2, container namespace":  {"0::/\n", map[string]string{"memory.max": "536870912\n"}, 483183820, true},
		"v2, no limit":             {"0::/\n", map[string]string{"memory.max": "max\n"}, 0, false},
		"v1, limit":                {"12:memory:/docker/abc\n5:cpu,cpuacct:/docker/abc\n", map[string]string{"memory/docker/abc/memory.limit_in_bytes": "536870912\n"}, 483183820, true},
		"v1, joined controllers":   {"4:cpu,memory:/x\n", map[string]string{"memory/x/memory.limit_in_bytes": "536870912\n"}, 483183820, true},
		"v1, no limit":             {"12:memory:/\n", map[string]string{"memory/memory.limit_in_bytes": "9223372036854771712\n"}, 0, false},
		"no cgroup files":          {"0::/\n", nil, 0, false},
		"unreadable /proc content": {"garbage", nil, 0, false},
	} {
		root := t.TempDir()
		for f, content := range c.files {
			p := filepath.Join(root, f)
			if err := os.MkdirAll(filepath.Dir(p), 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(p, []byte(content), 0o644); err != nil {
				t.Fatal(err)
			}
		}
		got, ok := FromCgroup(root, []byte(c.self))
		if got != c.want || ok != c.ok {
			t.Errorf("%s: got %d %v, want %d %v", name, got, ok, c.want, c.ok)
		}
	}
}
