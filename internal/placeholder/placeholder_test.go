package placeholder

import (
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"

	"github.com/gatehouse/gatehouse/internal/reqinfo"
)

func TestRender(t *testing.T) {
	r := httptest.NewRequest("GET", "http://example.com/a/b?x=1", nil)
	info := &reqinfo.Info{ClientIP: "192.0.2.7", ID: "abc", Scheme: "https"}
	cases := map[string]string{
		"plain":                     "plain",
		"{client_ip}":               "192.0.2.7",
		"id={request_id};{scheme}":  "id=abc;https",
		"{host}{path} {uri}":        "example.com/a/b /a/b?x=1",
		"{{literal}} {method}":      "{literal} GET",
		"max-age=0, {{no}} {{x}}}}": "max-age=0, {no} {x}}",
	}
	for in, want := range cases {
		v, err := Parse(in)
		if err != nil {
			t.Fatalf("%q: %v", in, err)
		}
		if got := v.Render(r, info); got != want {
			t.Errorf("%q: got %q, want %q", in, got, want)
		}
	}
	for _, bad := range []string{"{nope}", "{client_ip", "a}b", "x\r\ny"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

// FuzzParse checks that parsing never panics and that a rendered value
// never holds a line break, whatever the request says.
func FuzzParse(f *testing.F) {
	for _, s := range []string{"{client_ip}", "{{", "}}", "a{host}b", "{", "}", "{uri}{path}"} {
		f.Add(s, "evil.example\r\nX-Injected: 1")
	}
	f.Fuzz(func(t *testing.T, s, host string) {
		v, err := Parse(s)
		if err != nil {
			return
		}
		r := httptest.NewRequest("GET", "/", nil)
		r.Host = host
		out := v.Render(r, &reqinfo.Info{})
		if strings.ContainsAny(out, "\r\n\x00") {
			t.Fatalf("%q rendered %q", s, out)
		}
	})
}

func TestRequestPartPlaceholders(t *testing.T) {
	v, err := Parse("{header.x-api-key}|{cookie.session}|{query.page}")
	if err != nil {
		t.Fatal(err)
	}
	r := httptest.NewRequest("GET", "/x?page=3", nil)
	r.Header.Set("X-Api-Key", "k1")
	r.AddCookie(&http.Cookie{Name: "session", Value: "s1"})
	if got := v.Render(r, &reqinfo.Info{}); got != "k1|s1|3" {
		t.Fatalf("Render = %q", got)
	}
	k, _ := Parse("{header.X-Api-Key}")
	if !k.Empty(httptest.NewRequest("GET", "/", nil), &reqinfo.Info{}) || k.Empty(r, &reqinfo.Info{}) {
		t.Fatal("Empty is wrong")
	}
	for _, bad := range []string{"{header.}", "{nosuch.x}", "{cookie}"} {
		if _, err := Parse(bad); err == nil {
			t.Errorf("Parse(%q) accepted", bad)
		}
	}
}
