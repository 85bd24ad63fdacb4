package cache

import (
	"net/http"
	"testing"
	"time"
)

var t0 = time.Date(2026, 12, 1, 12, 0, 0, 0, time.UTC)

func meta(status int, fields ...string) *Meta {
	m := &Meta{Status: status, Header: http.Header{}, RequestTime: t0.Add(-time.Second), ResponseTime: t0}
	for i := 0; i+1 < len(fields); i += 2 {
		m.Header[fields[i]] = append(m.Header[fields[i]], fields[i+1])
	}
	return m
}

func date(d time.Duration) string { return t0.Add(d).Format(http.TimeFormat) }

func TestLifetime(t *testing.T) {
	cases := []struct {
		name string
		m    *Meta
		ttl  time.Duration
		want time.Duration
	}{
		{"s-maxage wins", meta(200, "Cache-Control", "max-age=10, s-maxage=20"), 0, 20 * time.Second},
		{"max-age over Expires", meta(200, "Cache-Control", "max-age=10", "Expires", date(time.Hour), "Date", date(0)), 0, 10 * time.Second},
		{"Expires minus Date", meta(200, "Expires", date(time.Hour), "Date", date(0)), 0, time.Hour},
		{"Expires in the past", meta(200, "Expires", date(-time.Hour), "Date", date(0)), 0, 0},
		{"invalid Expires", meta(200, "Expires", "0", "Date", date(0)), time.Minute, 0},
		{"invalid max-age", meta(200, "Cache-Control", "max-age=x"), time.Minute, 0},
		{"the rule's TTL", meta(200), time.Minute, time.Minute},
		{"TTL beats heuristics", meta(200, "Last-Modified", date(-100*time.Hour), "Date", date(0)), time.Minute, time.Minute},
		{"heuristic: a tenth", meta(200, "Last-Modified", date(-10*time.Hour), "Date", date(0)), 0, time.Hour},
		{"heuristic: at most a day", meta(404, "Last-Modified", date(-1000*time.Hour), "Date", date(0)), 0, 24 * time.Hour},
		{"no heuristic for 302", meta(302, "Last-Modified", date(-10*time.Hour), "Date", date(0)), 0, 0},
		{"public allows heuristics", meta(302, "Cache-Control", "public", "Last-Modified", date(-10*time.Hour), "Date", date(0)), 0, time.Hour},
		{"nothing", meta(200), 0, 0},
	}
	for _, c := range cases {
		c.m.TTL = c.ttl
		cc := ParseDirectives(c.m.Header["Cache-Control"])
		if got := c.m.Lifetime(&cc); got != c.want {
			t.Errorf("%s: lifetime %v, want %v", c.name, got, c.want)
		}
	}
}

func TestCurrentAge(t *testing.T) {
	cases := []struct {
		name string
		m    *Meta
		want time.Duration
		ok   bool
	}{
		// The response took a second to arrive (RequestTime is t0-1s).
		{"no Age, Date now", meta(200, "Date", date(0)), time.Second, true},
		{"Date in the past", meta(200, "Date", date(-30*time.Second)), 30 * time.Second, true},
		{"Age and delay", meta(200, "Date", date(0), "Age", "100"), 101 * time.Second, true},
		{"apparent age wins", meta(200, "Date", date(-300*time.Second), "Age", "100"), 300 * time.Second, true},
		{"Age with a list", meta(200, "Age", "0, 7200"), 0, false},
		{"Age on two lines", meta(200, "Age", "0", "Age", "7200"), 0, false},
		{"Age not digits", meta(200, "Age", "1.5"), 0, false},
		{"Age negative", meta(200, "Age", "-1"), 0, false},
	}
	for _, c := range cases {
		got, ok := c.m.CurrentAge(t0)
		if ok != c.ok || ok && got != c.want {
			t.Errorf("%s: age %v %v, want %v %v", c.name, got, ok, c.want, c.ok)
		}
	}
	m := meta(200, "Date", date(0))
	if got, _ := m.CurrentAge(t0.Add(time.Minute)); got != time.Minute+time.Second {
		t.Errorf("a minute later: %v", got)
	}
}

func TestEntryFreshness(t *testing.T) {
	e := &Entry{Meta: *meta(200, "Date", date(0), "Cache-Control", "max-age=60")}
	e.init()
	if f := e.freshness(t0.Add(30 * time.Second)); !f.Fresh() || f.Staleness() != 0 {
		t.Errorf("at 30s: %+v", f)
	}
	f := e.freshness(t0.Add(90 * time.Second))
	if f.Fresh() || f.Staleness() != 31*time.Second {
		t.Errorf("at 90s: fresh %v, stale for %v", f.Fresh(), f.Staleness())
	}
	bad := &Entry{Meta: *meta(200, "Age", "1, 2", "Cache-Control", "max-age=3600")}
	bad.init()
	if f := bad.freshness(t0); f.Fresh() {
		t.Error("an invalid Age must make the response stale")
	}
	for _, cc := range []string{"must-revalidate", "proxy-revalidate", "s-maxage=5", "no-cache"} {
		e := &Entry{Meta: *meta(200, "Cache-Control", cc)}
		e.init()
		if f := e.freshness(t0); f.mayServeStale() {
			t.Errorf("%s allows serving stale", cc)
		}
	}
}
