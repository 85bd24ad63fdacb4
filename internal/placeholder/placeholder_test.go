package placeholder

import (
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
