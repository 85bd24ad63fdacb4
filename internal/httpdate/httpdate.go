// Package httpdate formats the Date header of responses once per second
// for the front ends that write it.
package httpdate

import (
	"net/http"
	"sync/atomic"
	"time"
)

// Cache holds the current Date header value. The zero value is ready.
type Cache struct {
	cur atomic.Pointer[entry]
}

type entry struct {
	sec int64
	b   []byte
}

// Get returns the current Date header value; callers must not modify it.
func (d *Cache) Get() []byte {
	now := time.Now()
	if e := d.cur.Load(); e != nil && e.sec == now.Unix() {
		return e.b
	}
	e := &entry{sec: now.Unix(), b: now.UTC().AppendFormat(nil, http.TimeFormat)}
	d.cur.Store(e)
	return e.b
}
