package cache

import (
	"net/http"
	"testing"
	"time"
)

func TestParseRange(t *testing.T) {
	cases := []struct {
		in         string
		start, end int64
		ok         bool
	}{
		{"bytes=0-9", 0, 10, true},
		{"bytes=90-", 90, 100, true},
		{"bytes=-10", 90, 100, true},
		{"bytes=-1000", 0, 100, true},
		{"bytes=50-5000", 50, 100, true},
		{"bytes=100-", 0, 0, true}, // not satisfiable
		{"bytes=-0", 100, 100, true},
		{"bytes=5-1", 0, 0, false},
		{"bytes=0-1,5-6", 0, 0, false},
		{"items=0-1", 0, 0, false},
		{"bytes=a-b", 0, 0, false},
		{"bytes=+1-2", 0, 0, false},
	}
	for _, c := range cases {
		s, e, ok := parseRange(c.in, 100)
		if ok != c.ok || ok && (s != c.start || e != c.end) && !(c.start >= c.end && s >= e) {
			t.Errorf("%q: %d-%d %v, want %d-%d %v", c.in, s, e, ok, c.start, c.end, c.ok)
		}
	}
}

func TestNotModified(t *testing.T) {
	res := http.Header{"Etag": {`W/"v1"`}, "Last-Modified": {date(-time.Hour)}}
	cases := []struct {
		req  http.Header
		want bool
	}{
		{http.Header{"If-None-Match": {`"v1"`}}, true},
		{http.Header{"If-None-Match": {`"v0", W/"v1"`}}, true},
		{http.Header{"If-None-Match": {"*"}}, true},
		{http.Header{"If-None-Match": {`"v2"`}, "If-Modified-Since": {date(0)}}, false},
		{http.Header{"If-Modified-Since": {date(0)}}, true},
		{http.Header{"If-Modified-Since": {date(-2 * time.Hour)}}, false},
		{http.Header{}, false},
	}
	for _, c := range cases {
		if got := notModified(c.req, res); got != c.want {
			t.Errorf("%v: %v", c.req, got)
		}
	}
	if !ifRangeHolds(http.Header{"If-Range": {`"s"`}}, http.Header{"Etag": {`"s"`}}) ||
		ifRangeHolds(http.Header{"If-Range": {`"s"`}}, http.Header{"Etag": {`W/"s"`}}) ||
		!ifRangeHolds(http.Header{"If-Range": {date(0)}}, http.Header{"Last-Modified": {date(0)}}) {
		t.Error("If-Range")
	}
}

func TestClientViewCut(t *testing.T) {
	v := clientView{start: 3, end: 7}
	var got []byte
	for _, p := range []string{"01", "2345", "6789"} {
		got = append(got, v.cut([]byte(p))...)
	}
	if string(got) != "3456" {
		t.Errorf("cut %q", got)
	}
}

func FuzzParseRange(f *testing.F) {
	for _, s := range []string{"bytes=0-9", "bytes=-5", "bytes=5-", "bytes=1-0", "bytes=0-1,2-3", "bytes= 1 - 2"} {
		f.Add(s, int64(100))
	}
	f.Fuzz(func(t *testing.T, v string, size int64) {
		if size < 0 {
			return
		}
		start, end, ok := parseRange(v, size)
		if !ok {
			return
		}
		if start < 0 || end > size || start > end && !(start == 0 && end == 0) {
			t.Fatalf("%q of %d: %d-%d", v, size, start, end)
		}
	})
}
