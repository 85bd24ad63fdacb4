package accesslog

import (
	"bufio"
	"fmt"
	"io"
	"os"
	"sync"
	"time"
)

// flushEvery bounds how long a line waits in a stream's buffer.
const flushEvery = 100 * time.Millisecond

// streamOutput writes lines to a file or a standard stream. Lines are
// collected in a buffer written out every flushEvery (and when it fills,
// and on close), so a busy server makes a few large writes instead of one
// system call per request; every write holds whole lines.
type streamOutput struct {
	mu   sync.Mutex
	buf  *bufio.Writer
	file *os.File // nil for stdout and stderr
	path string   // the file's path, for reopen
	stop chan struct{}
	done chan struct{}
}

func newStreamOutput(w io.Writer, path string) *streamOutput {
	o := &streamOutput{buf: bufio.NewWriterSize(w, 64<<10), path: path, stop: make(chan struct{}), done: make(chan struct{})}
	if f, ok := w.(*os.File); ok && path != "" {
		o.file = f
	}
	go o.flushLoop()
	return o
}

// openLogFile opens an access log file for appending, creating it 0640.
func openLogFile(path string) (*os.File, error) {
	f, err := os.OpenFile(path, os.O_WRONLY|os.O_APPEND|os.O_CREATE, 0o640)
	if err != nil {
		return nil, fmt.Errorf("open access log: %w", err)
	}
	return f, nil
}

func (o *streamOutput) flushLoop() {
	defer close(o.done)
	t := time.NewTicker(flushEvery)
	defer t.Stop()
	for {
		select {
		case <-o.stop:
			return
		case <-t.C:
			o.mu.Lock()
			_ = o.buf.Flush()
			o.mu.Unlock()
		}
	}
}

func (o *streamOutput) write(line []byte) {
	o.mu.Lock()
	// Flush before a line that does not fit, so that every write holds
	// whole lines: during a reload two loggers append to the same file.
	if o.buf.Available() < len(line) {
		_ = o.buf.Flush()
	}
	_, _ = o.buf.Write(line)
	o.mu.Unlock()
}

// reopen flushes what the old file is owed and goes on in a file opened
// again at the same path (which log rotation has renamed the old one
// away from).
func (o *streamOutput) reopen() error {
	if o.file == nil {
		return nil
	}
	f, err := openLogFile(o.path)
	if err != nil {
		return err
	}
	o.mu.Lock()
	err = o.buf.Flush()
	old := o.file
	o.file = f
	o.buf.Reset(f)
	o.mu.Unlock()
	if cerr := old.Close(); err == nil {
		err = cerr
	}
	return err
}

func (o *streamOutput) close() error {
	close(o.stop)
	<-o.done
	o.mu.Lock()
	defer o.mu.Unlock()
	err := o.buf.Flush()
	if o.file != nil {
		if cerr := o.file.Close(); err == nil {
			err = cerr
		}
	}
	return err
}
