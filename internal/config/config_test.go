package config

import (
	"strings"
	"testing"
	"time"
)

func TestParseValid(t *testing.T) {
	cfg, err := Parse([]byte(`
upstreams:
  app:
    servers: ["http://10.0.0.5:8000", {url: "http://10.0.0.6:8000", weight: 2}]
sites:
  - listen: ["http://:80", "127.0.0.1:8080"]
    hosts: [example.com, "*.example.com"]
    routes:
      - path: "= /old"
        redirect: {to: /new, status: 301}
      - path: /api/
        proxy: {to: app, response_timeout: 2m}
      - path: /
        proxy: {to: ["http://127.0.0.1:8000", "http://127.0.0.1:8001"]}
      - path: /perftest/
        respond: {status: 204}
`), "test.yaml")
	if err != nil {
		t.Fatal(err)
	}
	u := cfg.Upstreams["app"]
	if len(u.Servers) != 2 || u.Servers[0].Weight != 1 || u.Servers[1].Weight != 2 || u.Balance != "round_robin" {
		t.Errorf("upstream: %+v", u)
	}
	r := cfg.Sites[0].Routes
	if r[1].Proxy.ResponseTimeout.Std() != 2*time.Minute || r[1].Proxy.ConnectTimeout.Std() != DefaultConnectTimeout {
		t.Errorf("proxy timeouts: %+v", r[1].Proxy)
	}
	if len(r[2].Proxy.To) != 2 {
		t.Errorf("to list: %v", r[2].Proxy.To)
	}
	if cfg.AccessLog.Format != "json" || cfg.ShutdownTimeout.Std() != DefaultShutdownTimeout {
		t.Errorf("defaults: %+v", cfg)
	}
}

func TestParseProblems(t *testing.T) {
	cases := []struct{ doc, want string }{
		{"sites: [", "f.yaml:1:"},
		{"", "needs at least one site"},
		{"sites: []", "f.yaml:1:1: sites: at least one site is needed"},
		{"sites:\n  - listen: [\":80\"]\n    routes:\n      - path: /\n        proxy: {to: \"http://x:1/path\"}\n", "f.yaml:5:21: sites[0].routes[0].proxy.to[0]: upstream"},
		{"shutdown_timeout: soon\nsites: []", "f.yaml:1:19: shutdown_timeout: invalid duration"},
		{"sites:\n  - listen: [\":80\"]\n    routes:\n      - path: /\n        respond: {status: 999}\n", "status 999 is not an HTTP status"},
		{"sites:\n  - listen: [\":80\"]\n    routes:\n      - path: /\n        respond: {}\n        redirect: {to: /}\n", "exactly one of"},
		{"sites:\n  - listen: [\":80\"]\n    routes:\n      - path: /\n        respond: {}\n  - listen: [\":80\"]\n    routes:\n      - path: /\n        respond: {}\n", "two sites without hosts share this listener"},
		{"trusted_proxies: [nope]\nsites: []", "f.yaml:1:19: trusted_proxies[0]"},
		{"sites:\n  - listen: [\":80\"]\n    routes:\n      - path: /\n        static: {root: /does/not/exist}\n", "is not a readable directory"},
		{"sites:\n  - listen: [\":80\"]\n    routes:\n      - path: /\n        respond: {}\n      - path: /\n        respond: {}\n", "already routed"},
		{"sites:\n  - listen: [\":80\"]\n    routes:\n      - path: /\n        proxy: {to: [1, {a: b}]}\n", "expected a URL string"},
	}
	for _, c := range cases {
		_, err := Parse([]byte(c.doc), "f.yaml")
		if err == nil || !strings.Contains(err.Error(), c.want) {
			t.Errorf("%q: got %v, want it to contain %q", c.doc, err, c.want)
		}
	}
}

func TestParseDuration(t *testing.T) {
	cases := map[string]time.Duration{"30s": 30 * time.Second, "7d": 7 * 24 * time.Hour, "1d12h": 36 * time.Hour, "90": 90 * time.Second, "1.5": 1500 * time.Millisecond}
	for in, want := range cases {
		if got, err := ParseDuration(in); err != nil || got != want {
			t.Errorf("%s: %v %v", in, got, err)
		}
	}
	for _, bad := range []string{"", "-1s", "5x", "d", "1dx"} {
		if _, err := ParseDuration(bad); err == nil {
			t.Errorf("%q accepted", bad)
		}
	}
}

func TestQuick(t *testing.T) {
	cfg, err := Quick(":8080", []string{"http://127.0.0.1:8000"})
	if err != nil || !cfg.Admin.Off() || cfg.Sites[0].Routes[0].Proxy.ResponseTimeout == 0 {
		t.Fatalf("%+v %v", cfg, err)
	}
	if _, err := Quick(":8080", []string{"ftp://x"}); err == nil {
		t.Error("bad quick target accepted")
	}
}

// FuzzParse feeds arbitrary documents to the loader: it must never panic,
// and a failure must always say where.
func FuzzParse(f *testing.F) {
	f.Add([]byte("sites:\n  - listen: [\":80\"]\n    routes:\n      - path: /\n        respond: {body: hi}\n"))
	f.Add([]byte("upstreams: {a: {servers: [x]}}\nsites: [{listen: [a], routes: [{path: '~ (', proxy: {to: a}}]}]"))
	f.Add([]byte("admin: [1, 2]\n&a b: *a"))
	f.Fuzz(func(t *testing.T, doc []byte) {
		_, err := Parse(doc, "f.yaml")
		if err != nil && !strings.HasPrefix(err.Error(), "f.yaml") {
			t.Fatalf("error does not name the file: %v", err)
		}
	})
}
