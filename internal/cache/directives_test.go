package cache

import (
	"strings"
	"testing"
)

func TestParseDirectives(t *testing.T) {
	cases := []struct {
		in   []string
		want func(d Directives) bool
	}{
		{[]string{"max-age=10, no-cache"}, func(d Directives) bool { return d.MaxAge == 10 && d.NoCache && !d.Invalid }},
		{[]string{"MAX-AGE=7", "No-Store"}, func(d Directives) bool { return d.MaxAge == 7 && d.NoStore }},
		{[]string{"max-age=10, max-age=20"}, func(d Directives) bool { return d.MaxAge == 10 }},
		{[]string{"max-age=abc"}, func(d Directives) bool { return d.MaxAge == -1 && d.Invalid }},
		{[]string{"max-age=-5"}, func(d Directives) bool { return d.MaxAge == -1 && d.Invalid }},
		{[]string{"max-age"}, func(d Directives) bool { return d.MaxAge == -1 && d.Invalid }},
		{[]string{`max-age="30"`}, func(d Directives) bool { return d.MaxAge == 30 }},
		{[]string{"max-age =5"}, func(d Directives) bool { return d.MaxAge == -1 && !d.Invalid }},
		{[]string{"s-maxage=99999999999999"}, func(d Directives) bool { return d.SMaxAge == 1<<31 }},
		{[]string{`private="set-cookie, x", max-age=5`}, func(d Directives) bool { return d.Private && d.MaxAge == 5 }},
		{[]string{`foo="max-age=5, no-store"`}, func(d Directives) bool { return d.MaxAge == -1 && !d.NoStore }},
		{[]string{"max-stale"}, func(d Directives) bool { return d.MaxStale == maxStaleAny }},
		{[]string{"max-stale=3, min-fresh=4, only-if-cached"}, func(d Directives) bool {
			return d.MaxStale == 3 && d.MinFresh == 4 && d.OnlyIfCache
		}},
		{[]string{"public, must-revalidate, proxy-revalidate, immutable, must-understand"}, func(d Directives) bool {
			return d.Public && d.MustRevalidate && d.ProxyRevalidate && d.Immutable && d.MustUnderstand
		}},
		{[]string{"stale-while-revalidate=30, stale-if-error=60"}, func(d Directives) bool {
			return d.StaleWhileRevalidate == 30 && d.StaleIfError == 60
		}},
		{nil, func(d Directives) bool { return d.MaxAge == -1 && d.SMaxAge == -1 && d.MaxStale == -1 && !d.NoStore }},
	}
	for _, c := range cases {
		if d := ParseDirectives(c.in); !c.want(d) {
			t.Errorf("%q: got %+v", c.in, d)
		}
	}
}

func FuzzParseDirectives(f *testing.F) {
	for _, s := range []string{"max-age=10, no-cache", `private="a,b"`, "max-stale", `x="\"", max-age=1`, "max-age=,", "=,=", `"`} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		d := ParseDirectives([]string{v})
		for _, n := range []int64{d.MaxAge, d.SMaxAge, d.MinFresh, d.StaleWhileRevalidate, d.StaleIfError} {
			if n < -1 || n > 1<<31 {
				t.Fatalf("%q: duration %d out of range", v, n)
			}
		}
		if d.MaxStale < -1 || d.MaxStale > 1<<31 && d.MaxStale != maxStaleAny {
			t.Fatalf("%q: max-stale %d", v, d.MaxStale)
		}
		// Splitting the field into lines at commas outside quotes
		// changes nothing.
		if !strings.Contains(v, `"`) {
			if d2 := ParseDirectives(strings.Split(v, ",")); d2 != d {
				t.Fatalf("%q: one line %+v, split %+v", v, d, d2)
			}
		}
	})
}
