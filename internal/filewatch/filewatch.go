// Package filewatch re-reads the files a config names (deny lists,
// htpasswd files, key sets) when they change, without a reload: it polls
// each file's modification time and size, cheap enough every few seconds
// and sure on every filesystem, where change notifications are not.
package filewatch

import (
	"context"
	"fmt"
	"os"
	"time"
)

// Stamp is what tells a file's versions apart: its modification time and
// size ("" when it cannot be read).
func Stamp(path string) string {
	fi, err := os.Stat(path)
	if err != nil {
		return ""
	}
	return fmt.Sprint(fi.ModTime().UnixNano(), fi.Size())
}

// Poll checks path every interval until ctx ends and calls reload when
// its stamp differs from the one last read (first, since stamp) and has
// held still for one interval: a file rewritten in place (truncated, then
// written) is read once it is whole, not in between. A reload's error
// goes to failed; the file is not tried again until it changes once more.
func Poll(ctx context.Context, path, stamp string, interval time.Duration, reload func() error, failed func(error)) {
	t := time.NewTicker(interval)
	defer t.Stop()
	pending := stamp
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
		}
		now := Stamp(path)
		if now == stamp {
			pending = stamp
			continue
		}
		if now != pending {
			pending = now // changed since the last look: wait for it to settle
			continue
		}
		stamp = now
		if err := reload(); err != nil {
			failed(err)
		}
	}
}
