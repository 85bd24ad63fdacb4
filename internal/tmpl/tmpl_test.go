package tmpl

import (
	"strings"
	"testing"
)

func TestTemplates(t *testing.T) {
	groups := []string{"/api/v1/users", "users", "x"}
	cases := map[string]string{
		"/v2/$1":        "/v2/users",
		"/v2/${1}s":     "/v2/userss",
		"$$5 for $1":    "$5 for users",
		"/plain":        "/plain",
		"/$0":           "//api/v1/users",
		"/$9":           "/",
		"/$1/$2/${2}.x": "/users/x/x.x",
	}
	for tmpl, want := range cases {
		tp, err := Parse(tmpl)
		if err != nil {
			t.Fatalf("%q: %v", tmpl, err)
		}
		if got := tp.Expand(groups); got != want {
			t.Errorf("%q: got %q, want %q", tmpl, got, want)
		}
	}
	for _, bad := range []string{"/a$", "/$x", "/${", "/${a}", "/${100}"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzTemplate checks that parsing never panics and that expanding a parsed
// template with any groups only ever inserts those groups.
func FuzzTemplate(f *testing.F) {
	for _, s := range []string{"/v2/$1", "${12}x", "$$", "$", "${", "a$b", "/$1$2$3", "${0}"} {
		f.Add(s, "g1", "g2")
	}
	f.Fuzz(func(t *testing.T, tmpl, g1, g2 string) {
		tp, err := Parse(tmpl)
		if err != nil {
			return
		}
		out := tp.Expand([]string{"", g1, g2})
		if !strings.Contains(tmpl, "$") && out != tmpl {
			t.Fatalf("template without $ %q expanded to %q", tmpl, out)
		}
		// Without groups, the output is the literal text alone.
		lit := tp.Expand(nil)
		if len(lit) > len(tmpl) {
			t.Fatalf("literal part %q longer than template %q", lit, tmpl)
		}
	})
}
