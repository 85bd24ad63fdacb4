package cache

import (
	"bytes"
	"io"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"
	"time"
)

func diskStore(t testing.TB, dir string, size int64) *Store {
	t.Helper()
	s, err := NewStore(Options{Memory: 1 << 20, MaxObject: 1 << 30, DiskPath: dir, DiskSize: size})
	if err != nil {
		t.Fatal(err)
	}
	return s
}

func testEntry(url, body string) *Entry {
	e := &Entry{Meta: Meta{URL: url, Primary: "GET " + url, Variant: "GET " + url, Status: 200,
		Header:      http.Header{"Cache-Control": {"max-age=60"}, "Content-Type": {"text/plain"}},
		RequestTime: time.Now(), ResponseTime: time.Now(), Size: int64(len(body))}, body: []byte(body)}
	e.init()
	return e
}

func readBody(t testing.TB, e *Entry) string {
	t.Helper()
	r, c, err := e.Body()
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	b, err := io.ReadAll(r)
	if err != nil {
		t.Fatal(err)
	}
	return string(b)
}

func TestDiskKeepsEntriesAcrossRestarts(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, 1<<30)
	s.put(testEntry("http://x/a", "hello"))
	s.put(testEntry("http://x/b", "world"))
	s.Purge("http://x/b")

	s2 := diskStore(t, dir, 1<<30)
	req := httptest.NewRequest("GET", "http://x/a", nil)
	e := s2.lookup("GET http://x/a", req)
	if e == nil || readBody(t, e) != "hello" || e.Meta.Header.Get("Content-Type") != "text/plain" {
		t.Fatalf("entry after reopening: %+v", e)
	}
	if s2.lookup("GET http://x/b", req) != nil {
		t.Error("a purged entry came back")
	}
	if !s2.Purge("http://x/a") || s2.Objects() != 0 {
		t.Error("the reopened index does not purge")
	}
	if names, _ := os.ReadDir(dir); len(names) != 0 {
		t.Errorf("files left: %d", len(names))
	}
}

func TestDiskEvictsLeastRecentlyUsed(t *testing.T) {
	dir := t.TempDir()
	one := testEntry("http://x/0", string(make([]byte, 10000)))
	s := diskStore(t, dir, 35000) // room for three
	s.mem.InvalidateAll()
	s.put(one)
	req := httptest.NewRequest("GET", "http://x/", nil)
	for i := 1; i <= 4; i++ {
		s.mem.InvalidateAll() // make every lookup go to the disk tier
		if s.disk.lookup("GET http://x/0", req) == nil {
			t.Fatalf("the entry in use was evicted at %d", i)
		}
		u := "http://x/" + string(rune('0'+i))
		s.put(testEntry(u, string(make([]byte, 10000))))
	}
	if n := s.disk.count(); n != 3 {
		t.Errorf("%d entries on disk, want 3", n)
	}
	if s.disk.bytes() > 35000 {
		t.Errorf("%d bytes on disk", s.disk.bytes())
	}
	if s.disk.lookup("GET http://x/1", req) != nil {
		t.Error("the least recently used entry is still there")
	}
}

func TestDiskUpdatesMetadataInPlace(t *testing.T) {
	dir := t.TempDir()
	s := diskStore(t, dir, 1<<30)
	e := testEntry("http://x/a", "body")
	s.put(e)
	n := &Entry{Meta: e.Meta, file: e.file}
	n.Meta.Header = http.Header{"Cache-Control": {"max-age=600"}, "X-New": {"1"}}
	n.init()
	s.update(e, n)
	s2 := diskStore(t, dir, 1<<30)
	got := s2.lookup("GET http://x/a", httptest.NewRequest("GET", "http://x/a", nil))
	if got == nil || got.Meta.Header.Get("X-New") != "1" || readBody(t, got) != "body" {
		t.Fatalf("after the update: %+v", got)
	}
}

// validEntryFile returns the name and content of a stored entry's file.
func validEntryFile(t testing.TB) (string, []byte) {
	dir := t.TempDir()
	s := diskStore(t, dir, 1<<30)
	s.put(testEntry("http://x/a", "hello, world"))
	names, _ := os.ReadDir(dir)
	if len(names) != 1 {
		t.Fatalf("%d files", len(names))
	}
	data, err := os.ReadFile(filepath.Join(dir, names[0].Name()))
	if err != nil {
		t.Fatal(err)
	}
	return names[0].Name(), data
}

// FuzzDiskLoad feeds the disk format's reader any file content: it is
// either refused or describes exactly the file it came from, never a
// crash.
func FuzzDiskLoad(f *testing.F) {
	_, valid := validEntryFile(f)
	f.Add(valid)
	f.Add(valid[:len(valid)-1])
	f.Add(valid[5:])
	f.Add([]byte("GHC1"))
	f.Fuzz(func(t *testing.T, data []byte) {
		m, err := readMeta(bytes.NewReader(data), int64(len(data)))
		if err != nil {
			return
		}
		if m.Size < 0 || m.Size > int64(len(data))-footerSize || m.Primary == "" || m.Variant == "" || m.Status < 100 || m.Status > 599 {
			t.Fatalf("accepted metadata that does not fit the file: %+v", m)
		}
		e := &Entry{Meta: *m}
		e.init() // whatever the fields say, working them out must not fail
	})
}

// TestDiskDropsDamagedEntries damages a stored file every way a crash or
// a disk could, byte by byte and by truncation: any damage past the body
// (to the metadata, its checksum, the footer) drops the entry; the tier
// never serves a body of the wrong length.
func TestDiskDropsDamagedEntries(t *testing.T) {
	name, valid := validEntryFile(t)
	bodyLen := len("hello, world")
	for i := range valid {
		for _, data := range [][]byte{append(append([]byte(nil), valid[:i]...), valid[i]^0x20), valid[:i]} {
			if len(data) == i+1 {
				data = append(data, valid[i+1:]...)
			}
			dir := t.TempDir()
			path := filepath.Join(dir, name)
			if err := os.WriteFile(path, data, 0o600); err != nil {
				t.Fatal(err)
			}
			s := diskStore(t, dir, 1<<30)
			if s.Objects() == 0 {
				if _, err := os.Stat(path); !os.IsNotExist(err) {
					t.Fatal("a broken entry was left on disk")
				}
				continue
			}
			if len(data) != len(valid) || i >= bodyLen {
				t.Fatalf("damage at byte %d of %d (file of %d bytes) went unnoticed", i, len(valid), len(data))
			}
			e := s.disk.lookup(anyPrimary(s.disk), httptest.NewRequest("GET", "http://x/a", nil))
			if e == nil || int64(len(readBody(t, e))) != e.Meta.Size {
				t.Fatalf("damage in the body at %d: entry %+v", i, e)
			}
		}
	}
}

// anyPrimary returns the key of some entry of d.
func anyPrimary(d *disk) string {
	d.mu.Lock()
	defer d.mu.Unlock()
	for k := range d.byPrimary {
		return k
	}
	return ""
}
