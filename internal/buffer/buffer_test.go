package buffer

import (
	"bytes"
	"errors"
	"io"
	"os"
	"syscall"
	"testing"
)

type closeTracker struct {
	io.Reader
	closed bool
}

func (c *closeTracker) Close() error { c.closed = true; return nil }

func fill(t *testing.T, s *Spool, data []byte, stream bool) (*Body, *closeTracker, error) {
	t.Helper()
	src := &closeTracker{Reader: bytes.NewReader(data)}
	b, err := s.Fill(src, stream)
	return b, src, err
}

func TestFillMemoryAndSpool(t *testing.T) {
	dir := t.TempDir()
	budget := NewBudget(1 << 20)
	s := &Spool{Dir: dir, Memory: 1000, Budget: budget}
	for _, size := range []int{0, 1, 999, 1000, 1001, 100000} {
		data := bytes.Repeat([]byte("0123456789abcdefg"), size/17+1)[:size]
		b, src, err := fill(t, s, data, false)
		if err != nil {
			t.Fatalf("%d: %v", size, err)
		}
		if !src.closed {
			t.Errorf("%d: source not closed", size)
		}
		if b.Len() != int64(size) {
			t.Errorf("%d: Len %d", size, b.Len())
		}
		for round := 0; round < 2; round++ {
			got, err := io.ReadAll(b)
			if err != nil || !bytes.Equal(got, data) {
				t.Fatalf("%d round %d: %d bytes, %v", size, round, len(got), err)
			}
			if err := b.Rewind(); err != nil {
				t.Fatal(err)
			}
		}
		if entries, _ := os.ReadDir(dir); len(entries) != 0 {
			t.Errorf("%d: spool file left visible", size)
		}
		wantSpooled := int64(max(size-1000, 0))
		if budget.Used() != wantSpooled {
			t.Errorf("%d: budget used %d, want %d", size, budget.Used(), wantSpooled)
		}
		b.Close()
		if budget.Used() != 0 {
			t.Errorf("%d: budget not released: %d", size, budget.Used())
		}
	}
}

func TestFillBudgetExhausted(t *testing.T) {
	s := &Spool{Dir: t.TempDir(), Memory: 100, Budget: NewBudget(1000)}
	data := bytes.Repeat([]byte("x"), 50000)
	if _, src, err := fill(t, s, data, false); !errors.Is(err, ErrSpoolFull) || !src.closed {
		t.Fatalf("want ErrSpoolFull and the source closed, got %v", err)
	}
	if s.Budget.Used() != 0 {
		t.Errorf("budget leaked: %d", s.Budget.Used())
	}
	b, src, err := fill(t, s, data, true)
	if err != nil {
		t.Fatal(err)
	}
	if b.Len() != -1 || b.Rewind() == nil {
		t.Errorf("a partly buffered body must report Len -1 and refuse Rewind")
	}
	got, _ := io.ReadAll(b)
	if !bytes.Equal(got, data) {
		t.Fatalf("streamed fallback: %d bytes", len(got))
	}
	b.Close()
	if !src.closed || s.Budget.Used() != 0 {
		t.Errorf("close: source closed %v, budget %d", src.closed, s.Budget.Used())
	}
}

type failingReader struct{ n int }

func (f *failingReader) Read(p []byte) (int, error) {
	if f.n <= 0 {
		return 0, errors.New("boom")
	}
	n := min(len(p), f.n)
	f.n -= n
	return n, nil
}
func (f *failingReader) Close() error { return nil }

func TestFillError(t *testing.T) {
	s := &Spool{Dir: t.TempDir(), Memory: 100, Budget: NewBudget(1 << 20)}
	if _, err := s.Fill(&failingReader{n: 5000}, false); err == nil || err.Error() != "boom" {
		t.Fatalf("want the read error, got %v", err)
	}
	if s.Budget.Used() != 0 {
		t.Errorf("budget leaked: %d", s.Budget.Used())
	}
}

// A disk that refuses the spool file's bytes (full; here a file size limit
// stops the file part-way through a write) is a full spool: an upload is
// refused with ErrSpoolFull and its budget given back; a response streams
// on, every byte in order, those the file took and those it did not.
func TestDiskThatRefusesWrites(t *testing.T) {
	var old syscall.Rlimit
	if err := syscall.Getrlimit(syscall.RLIMIT_FSIZE, &old); err != nil {
		t.Fatal(err)
	}
	const limit = 100_000 // not a multiple of a write: the last one is cut short
	lim := old
	lim.Cur = limit
	if err := syscall.Setrlimit(syscall.RLIMIT_FSIZE, &lim); err != nil {
		t.Fatal(err)
	}
	defer func() { _ = syscall.Setrlimit(syscall.RLIMIT_FSIZE, &old) }()

	budget := NewBudget(1 << 30)
	s := &Spool{Dir: t.TempDir(), Memory: 1000, Budget: budget}
	data := bytes.Repeat([]byte("0123456789abcdefg"), 300_000/17+1)[:300_000]

	_, src, err := fill(t, s, data, false)
	if !errors.Is(err, ErrSpoolFull) || !errors.Is(err, syscall.EFBIG) {
		t.Fatalf("upload: err = %v, want ErrSpoolFull wrapping EFBIG", err)
	}
	if !src.closed || budget.Used() != 0 {
		t.Fatalf("upload: source closed %v, budget used %d", src.closed, budget.Used())
	}

	b, _, err := fill(t, s, data, true)
	if err != nil {
		t.Fatalf("response: %v", err)
	}
	if b.Len() != -1 {
		t.Fatalf("response: Len %d, want -1 (streamed on)", b.Len())
	}
	if used := budget.Used(); used != limit {
		t.Fatalf("response: budget used %d, want the %d bytes on disk", used, limit)
	}
	got, err := io.ReadAll(b)
	if err != nil || !bytes.Equal(got, data) {
		t.Fatalf("response: read %d bytes (%v), want the %d sent, in order", len(got), err, len(data))
	}
	_ = b.Close()
	if budget.Used() != 0 {
		t.Fatalf("budget used %d after close", budget.Used())
	}
}
