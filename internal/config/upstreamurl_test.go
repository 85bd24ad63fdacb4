package config

import "testing"

func TestParseUpstreamURL(t *testing.T) {
	for in, want := range map[string]UpstreamURL{
		"http://127.0.0.1:8000":          {"http", "tcp", "127.0.0.1:8000"},
		"http://app.internal":            {"http", "tcp", "app.internal:80"},
		"https://[::1]":                  {"https", "tcp", "[::1]:443"},
		"http://unix:/run/app.sock":      {"http", "unix", "/run/app.sock"},
		"http+unix:///run/app.sock":      {"http", "unix", "/run/app.sock"},
		"http+unix://%2Frun%2Fapp.sock/": {"http", "unix", "/run/app.sock"},
		"uwsgi://127.0.0.1:3031":         {"uwsgi", "tcp", "127.0.0.1:3031"},
		"uwsgi://unix:/run/u/../u.sock":  {"uwsgi", "unix", "/run/u.sock"},
		"scgi://unix:/run/s.sock":        {"scgi", "unix", "/run/s.sock"},
		"fastcgi://127.0.0.1:9000":       {"fastcgi", "tcp", "127.0.0.1:9000"},
		"grpc://10.0.0.5":                {"grpc", "tcp", "10.0.0.5:80"},
		"grpcs://api.internal:8443":      {"grpcs", "tcp", "api.internal:8443"},
	} {
		got, err := ParseUpstreamURL(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v, want %+v", in, got, err, want)
		}
	}
	for _, bad := range []string{
		"127.0.0.1:8000", "ftp://x:1", "uwsgi://127.0.0.1", "fastcgi://x", "https://unix:/run/x.sock",
		"grpc://unix:/run/x.sock", "http://unix:relative.sock", "http://x:1/path", "http://u:p@x:1",
		"http+unix://", "http://unix:/a\x00b",
	} {
		if got, err := ParseUpstreamURL(bad); err == nil {
			t.Errorf("%q accepted as %+v", bad, got)
		}
	}
	if s := (UpstreamURL{"uwsgi", "unix", "/run/u.sock"}).String(); s != "uwsgi://unix:/run/u.sock" {
		t.Errorf("String: %s", s)
	}
}

func TestParseListenUnix(t *testing.T) {
	for in, want := range map[string]Listen{
		":8080":                    {"http", false, "tcp", ":8080", ":8080"},
		"unix:/run/gh.sock":        {"http", false, "unix", "/run/gh.sock", "unix:/run/gh.sock"},
		"http://unix:/run/gh.sock": {"http", false, "unix", "/run/gh.sock", "unix:/run/gh.sock"},
		"proxy+https://:8443":      {"https", true, "tcp", ":8443", ":8443"},
		"proxy+http://unix:/r.s":   {"http", true, "unix", "/r.s", "unix:/r.s"},
	} {
		got, err := ParseListen(in)
		if err != nil || got != want {
			t.Errorf("%s: %+v %v", in, got, err)
		}
	}
	for _, bad := range []string{"unix:gh.sock", "https://unix:/run/gh.sock"} {
		if _, err := ParseListen(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
	if p := (Listen{Scheme: "http", Network: "unix"}).Port(); p != "80" {
		t.Errorf("port of a unix listener: %q", p)
	}
}
