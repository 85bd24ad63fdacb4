package http1

import (
	"net/http"
	"sync/atomic"
	"time"
)

// dateCache formats the Date header once per second.
type dateCache struct {
	cur atomic.Pointer[dateEntry]
}

type dateEntry struct {
	sec int64
	b   []byte
}

// get returns the current Date header value; callers must not modify it.
func (d *dateCache) get() []byte {
	now := time.Now()
	if e := d.cur.Load(); e != nil && e.sec == now.Unix() {
		return e.b
	}
	e := &dateEntry{sec: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	d.cur.Store(e)
	return e.b
}
