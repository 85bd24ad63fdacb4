// Package buffer holds whole request and response bodies so that a slow
// party on one side never holds the other: the first part of a body stays
// in memory, the rest goes to a spool file that is unlinked as soon as it is
// created (a crash leaves nothing behind), and all spool files together stay
// within a process-wide budget.
package buffer

import (
	"errors"
	"fmt"
	"io"
	"log/slog"
	"os"
	"sync"
	"sync/atomic"
)

// ErrSpoolFull reports that a body found no room to be spooled: the spool
// budget is spent, or the spool directory's disk refused the bytes (full,
// or gone).
var ErrSpoolFull = errors.New("no spool space")

// errBudgetSpent is ErrSpoolFull for the budget.
var errBudgetSpent = fmt.Errorf("%w: buffering.spool_max reached", ErrSpoolFull)

// Budget bounds the bytes held in spool files at once, across reloads.
type Budget struct {
	used atomic.Int64
	max  atomic.Int64
}

// NewBudget returns a budget of max bytes.
func NewBudget(max int64) *Budget {
	b := &Budget{}
	b.max.Store(max)
	return b
}

// SetMax changes the limit (on reload).
func (b *Budget) SetMax(max int64) { b.max.Store(max) }

// Used reports the bytes held now.
func (b *Budget) Used() int64 { return b.used.Load() }

func (b *Budget) reserve(n int64) bool {
	if b.used.Add(n) > b.max.Load() {
		b.used.Add(-n)
		return false
	}
	return true
}

func (b *Budget) release(n int64) { b.used.Add(-n) }

// Spool buffers bodies.
type Spool struct {
	// Dir holds the spool files.
	Dir string
	// Memory is how many bytes of one body stay in memory.
	Memory int
	// Budget bounds the spool files' total size.
	Budget *Budget
	// Log, when set, hears of responses streamed because the disk refused
	// their spool file.
	Log *slog.Logger

	segs sync.Pool // *[segSize]byte, reused across bodies
}

// segSize is the size of one in-memory segment, and of one read or file
// write while filling.
const segSize = 32 << 10

func (s *Spool) getSeg() []byte {
	if p, ok := s.segs.Get().(*[segSize]byte); ok {
		return p[:0]
	}
	return new([segSize]byte)[:0]
}

func (s *Spool) putSeg(b []byte) {
	if cap(b) == segSize {
		s.segs.Put((*[segSize]byte)(b[:segSize]))
	}
}

// Fill reads r to its end into a Body and closes r. When the spool budget
// runs out or the disk refuses a write, Fill fails with ErrSpoolFull,
// unless stream is set: then it returns a Body that yields what was
// buffered followed by the rest of r (which the Body's Close closes).
func (s *Spool) Fill(r io.ReadCloser, stream bool) (*Body, error) {
	b := &Body{spool: s, budget: s.Budget}
	b.segs = b.firstSeg[:0]
	var buf []byte
	for {
		if b.memLen < int64(s.Memory) {
			last := len(b.segs) - 1
			if last < 0 || len(b.segs[last]) == segSize {
				b.segs = append(b.segs, s.getSeg())
				last++
			}
			seg := b.segs[last]
			room := min(segSize, s.Memory-int(b.memLen)+len(seg))
			n, err := r.Read(seg[len(seg):room])
			b.segs[last] = seg[:len(seg)+n]
			b.memLen += int64(n)
			b.size += int64(n)
			if done, err := b.finishRead(r, err); done || err != nil {
				return b.result(err)
			}
			continue
		}
		if buf == nil {
			buf = make([]byte, segSize)
		}
		n, rerr := r.Read(buf)
		if n > 0 {
			var err error
			unwritten := buf[:n]
			if !s.Budget.reserve(int64(n)) {
				err = errBudgetSpent
			} else {
				b.reserved += int64(n)
				var w int
				w, err = b.writeFile(s.Dir, buf[:n])
				b.size += int64(w)
				if err != nil {
					b.budget.release(int64(n - w))
					b.reserved -= int64(n - w)
					err = fmt.Errorf("%w: %w", ErrSpoolFull, err)
				}
				unwritten = buf[w:n]
			}
			if err != nil {
				if !stream {
					r.Close()
					b.Close()
					return nil, err
				}
				if s.Log != nil && err != errBudgetSpent {
					// A refused upload is logged by whoever answers it.
					s.Log.Warn("spool file not written: response streamed unbuffered", "dir", s.Dir, "error", err)
				}
				b.rest = io.MultiReader(readerOf(unwritten), r)
				b.restCloser = r
				b.size = -1
				return b, nil
			}
		}
		if done, err := b.finishRead(r, rerr); done || err != nil {
			return b.result(err)
		}
	}
}

// finishRead interprets a read error: EOF ends the fill, anything else
// fails it.
func (b *Body) finishRead(r io.ReadCloser, err error) (bool, error) {
	if err == nil {
		return false, nil
	}
	r.Close()
	if err == io.EOF {
		return true, nil
	}
	return true, err
}

func (b *Body) result(err error) (*Body, error) {
	if err != nil {
		b.Close()
		return nil, err
	}
	return b, nil
}

// writeFile appends p to the body's spool file, making it first, and
// returns how much of p the file took.
func (b *Body) writeFile(dir string, p []byte) (int, error) {
	if b.file == nil {
		f, err := os.CreateTemp(dir, "gatehouse-spool-*")
		if err != nil {
			return 0, fmt.Errorf("create spool file: %w", err)
		}
		// Unlinked at once: the open descriptor keeps the data, and no
		// file outlives the process.
		_ = os.Remove(f.Name())
		b.file = f
	}
	n, err := b.file.Write(p)
	if err != nil {
		return n, fmt.Errorf("write spool file: %w", err)
	}
	return n, nil
}

func readerOf(p []byte) io.Reader {
	c := make([]byte, len(p))
	copy(c, p)
	return &sliceReader{b: c}
}

type sliceReader struct{ b []byte }

func (s *sliceReader) Read(p []byte) (int, error) {
	if len(s.b) == 0 {
		return 0, io.EOF
	}
	n := copy(p, s.b)
	s.b = s.b[n:]
	return n, nil
}

// Body is a buffered body: memory, then spool file, then (when the budget
// ran out while streaming) the rest of the original reader.
type Body struct {
	spool      *Spool
	segs       [][]byte // in-memory part; every segment but the last is full
	firstSeg   [1][]byte
	memLen     int64
	file       *os.File
	size       int64 // total buffered bytes, or -1 when a rest follows
	off        int64 // read position in the buffered part
	rest       io.Reader
	restCloser io.Closer
	budget     *Budget
	reserved   int64
}

// Len is the body's length, or -1 when it is not wholly buffered.
func (b *Body) Len() int64 { return b.size }

// Read reads the body from its start (or from the last Rewind).
func (b *Body) Read(p []byte) (int, error) {
	if b.off < b.memLen {
		seg := b.segs[b.off/segSize]
		n := copy(p, seg[b.off%segSize:])
		b.off += int64(n)
		return n, nil
	}
	if b.file != nil {
		n, err := b.file.ReadAt(p, b.off-b.memLen)
		b.off += int64(n)
		if n > 0 || err != io.EOF {
			if err == io.EOF {
				err = nil
			}
			return n, err
		}
	}
	if b.rest != nil {
		return b.rest.Read(p)
	}
	return 0, io.EOF
}

// Rewind makes the next Read start over, for replaying a request body. It
// fails when the body was not wholly buffered.
func (b *Body) Rewind() error {
	if b.rest != nil {
		return errors.New("body not wholly buffered")
	}
	b.off = 0
	return nil
}

// Close releases the memory, the spool file and its budget.
func (b *Body) Close() error {
	if b.file != nil {
		_ = b.file.Close()
		b.file = nil
	}
	if b.reserved > 0 {
		b.budget.release(b.reserved)
		b.reserved = 0
	}
	if b.restCloser != nil {
		_ = b.restCloser.Close()
		b.restCloser = nil
	}
	for _, seg := range b.segs {
		b.spool.putSeg(seg)
	}
	b.segs, b.memLen = nil, 0
	return nil
}
