package route

import (
	"strings"
	"testing"
)

func mustTable(t *testing.T, paths ...string) *Table[string] {
	t.Helper()
	tb := NewTable[string]()
	for _, p := range paths {
		pat, err := ParsePattern(p)
		if err != nil {
			t.Fatalf("%s: %v", p, err)
		}
		if err := tb.Add(pat, p); err != nil {
			t.Fatalf("%s: %v", p, err)
		}
	}
	return tb
}

func TestPrecedence(t *testing.T) {
	tb := mustTable(t, "/", "/api/", "/api/v1/", "= /api/v1/exact", "~ ^/api/v1/[0-9]+$", "~* \\.PNG$", "/static", "/a/b/c/")
	cases := map[string]string{
		"/":                 "/",
		"/x":                "/",
		"/api":              "/",
		"/api/":             "/api/",
		"/api/x":            "/api/",
		"/api/v1/":          "/api/v1/",
		"/api/v1/exact":     "= /api/v1/exact",
		"/api/v1/42":        "~ ^/api/v1/[0-9]+$",
		"/api/v1/42x":       "/api/v1/",
		"/img/logo.png":     "~* \\.PNG$",
		"/static":           "/static",
		"/staticfoo":        "/static",
		"/a/b/c/d":          "/a/b/c/",
		"/a/b/":             "/",
		"/api/v1/exact/sub": "/api/v1/",
	}
	for path, want := range cases {
		got, _, ok := tb.Match(path)
		if !ok || got != want {
			t.Errorf("%s: got %q, want %q", path, got, want)
		}
	}
	if _, caps, _ := tb.Match("/api/v1/42"); len(caps) != 1 || caps[0] != "/api/v1/42" {
		t.Errorf("regex captures: %q", caps)
	}
}

func TestNoMatchWithoutRoot(t *testing.T) {
	tb := mustTable(t, "/api/")
	if _, _, ok := tb.Match("/ap"); ok {
		t.Error("/ap matched /api/")
	}
}

func TestDuplicates(t *testing.T) {
	tb := mustTable(t, "/a/", "= /x")
	for _, p := range []string{"/a/", "= /x"} {
		pat, _ := ParsePattern(p)
		if err := tb.Add(pat, p); err == nil {
			t.Errorf("duplicate %q accepted", p)
		}
	}
}

func TestParsePatternErrors(t *testing.T) {
	for _, p := range []string{"api", "= api", "~ (", "~", "~*"} {
		if _, err := ParsePattern(p); err == nil {
			t.Errorf("%q accepted", p)
		}
	}
}

func TestHosts(t *testing.T) {
	h := NewHosts[string]()
	for _, n := range []string{"example.com", "*.example.com", "*.api.example.com"} {
		if err := h.Add(n, n); err != nil {
			t.Fatal(err)
		}
	}
	cases := map[string]string{
		"example.com":        "example.com",
		"EXAMPLE.com:8080":   "example.com",
		"example.com.":       "example.com",
		"www.example.com":    "*.example.com",
		"a.b.example.com":    "*.example.com",
		"v1.api.example.com": "*.api.example.com",
		"api.example.com":    "*.example.com",
		"other.com":          "",
		"notexample.com":     "",
		"[::1]:80":           "",
	}
	for host, want := range cases {
		got, ok := h.Match(host)
		if ok != (want != "") || got != want {
			t.Errorf("%s: got %q %v, want %q", host, got, ok, want)
		}
	}
	_ = h.SetDefault("default")
	if got, _ := h.Match("other.com"); got != "default" {
		t.Errorf("default: %q", got)
	}
	if err := h.SetDefault("again"); err == nil {
		t.Error("second default accepted")
	}
	if err := h.Add("EXAMPLE.COM", "x"); err == nil {
		t.Error("duplicate host accepted")
	}
}

func TestCleanPath(t *testing.T) {
	cases := map[string]string{
		"":              "/",
		"/":             "/",
		"/a/b":          "/a/b",
		"/a/b/":         "/a/b/",
		"//a///b":       "/a/b",
		"/a/./b":        "/a/b",
		"/a/../b":       "/b",
		"/../../etc":    "/etc",
		"/a/..":         "/",
		"/a/b/..":       "/a/",
		"/a/.":          "/a/",
		"a/b":           "/a/b",
		"/.well-known/": "/.well-known/",
		"/a/.hidden":    "/a/.hidden",
		"/a/..b":        "/a/..b",
	}
	for in, want := range cases {
		if got := CleanPath(in); got != want {
			t.Errorf("CleanPath(%q) = %q, want %q", in, got, want)
		}
	}
}

// FuzzCleanPath checks that cleaning is idempotent and never leaves a dot
// segment or an empty segment behind.
func FuzzCleanPath(f *testing.F) {
	for _, s := range []string{"/a/../b", "//x/./y/", "/..", "a", "/.well-known/x"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, p string) {
		c := CleanPath(p)
		if !strings.HasPrefix(c, "/") {
			t.Fatalf("%q -> %q: no leading slash", p, c)
		}
		if CleanPath(c) != c {
			t.Fatalf("not idempotent: %q -> %q -> %q", p, c, CleanPath(c))
		}
		for _, seg := range strings.Split(strings.Trim(c, "/"), "/") {
			if c != "/" && (seg == "" || seg == "." || seg == "..") {
				t.Fatalf("%q -> %q keeps segment %q", p, c, seg)
			}
		}
	})
}

// FuzzMatch builds a table from fuzzed prefixes and checks that the radix
// tree agrees with a plain longest-prefix scan.
func FuzzMatch(f *testing.F) {
	f.Add("/a/,/a/b/,/abc,/", "/a/b/c")
	f.Add("/static/,/s", "/static")
	f.Fuzz(func(t *testing.T, prefixes, path string) {
		tb := NewTable[string]()
		var added []string
		for _, p := range strings.Split(prefixes, ",") {
			if !strings.HasPrefix(p, "/") {
				continue
			}
			if err := tb.Add(Pattern{Kind: Prefix, Path: p}, p); err == nil {
				added = append(added, p)
			}
		}
		want := ""
		for _, p := range added {
			if strings.HasPrefix(path, p) && len(p) > len(want) {
				want = p
			}
		}
		got, _, ok := tb.Match(path)
		if ok != (want != "") || got != want {
			t.Fatalf("prefixes %q path %q: got %q %v, want %q", added, path, got, ok, want)
		}
	})
}
