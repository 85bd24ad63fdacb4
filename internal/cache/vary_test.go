package cache

import (
	"net/http"
	"slices"
	"testing"
)

func TestParseVary(t *testing.T) {
	names, star := parseVary(http.Header{"Vary": {"accept-encoding, Accept-Language", "ACCEPT-ENCODING"}})
	if star || !slices.Equal(names, []string{"Accept-Encoding", "Accept-Language"}) {
		t.Errorf("got %q %v", names, star)
	}
	if _, star := parseVary(http.Header{"Vary": {"Accept, *"}}); !star {
		t.Error("* not seen")
	}
	if names, _ := parseVary(http.Header{}); len(names) != 0 {
		t.Errorf("no Vary: %q", names)
	}
}

func TestVaryValues(t *testing.T) {
	names := []string{"Accept-Encoding", "Accept-Language"}
	same := [][2]http.Header{
		{{"Accept-Encoding": {"gzip, br"}, "Accept-Language": {"fr"}}, {"Accept-Encoding": {"br,gzip"}, "Accept-Language": {"fr"}}},
		{{"Accept-Encoding": {"gzip", "br"}}, {"Accept-Encoding": {"BR, gzip;q=0.5"}}},
		{{"Accept-Encoding": {"gzip, br;q=0"}}, {"Accept-Encoding": {"gzip"}}},
		{{"Accept-Language": {"fr, en"}}, {"Accept-Language": {"fr,en"}}},
	}
	for _, p := range same {
		if a, b := varyValues(names, p[0]), varyValues(names, p[1]); !slices.Equal(a, b) {
			t.Errorf("%v and %v differ: %q %q", p[0], p[1], a, b)
		}
	}
	differ := [][2]http.Header{
		{{"Accept-Encoding": {"gzip"}}, {"Accept-Encoding": {"br"}}},
		{{"Accept-Language": {""}}, {}},
		{{"Accept-Language": {"fr, en"}}, {"Accept-Language": {"en, fr"}}},
	}
	for _, p := range differ {
		if a, b := varyValues(names, p[0]), varyValues(names, p[1]); slices.Equal(a, b) {
			t.Errorf("%v and %v match: %q", p[0], p[1], a)
		}
	}
	if variantKey("k", nil) != "k" || variantKey("k", []string{"a"}) == variantKey("k", []string{"b"}) {
		t.Error("variant keys")
	}
}
